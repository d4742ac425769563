"""Tests for aievents.adapters: ImageUsage from each provider family's usage shapes."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.image_gen_completed_event import ImageGenCompletedEvent
from openai.types.images_response import ImagesResponse
from openai.types.images_response import Usage as OpenAIUsage

from aievents.adapters import from_gemini, from_openai, from_orq, from_tanstack, to_image_usage
from aievents.exceptions import EventValidationError
from aievents.usage import Billed, CostDetails, ImageUsage, InputTokensDetails, OutputTokensDetails
from test_usage import DETAILED_USAGE, SPEC_USAGE

from helpers import check_names

Adapter = Callable[[Any], ImageUsage]

# The generation body of the OpenAI spec (reference/openai-usage-api.md).
SPEC_BODY: dict[str, Any] = {
    "created": 1713833628,
    "data": [{"b64_json": "aGVsbG8="}],
    "usage": {
        "total_tokens": 100,
        "input_tokens": 50,
        "output_tokens": 50,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
    },
}

# A newer model's usage, with output_tokens_details.
DETAILED_DICT: dict[str, Any] = {
    "input_tokens": 60,
    "output_tokens": 1100,
    "total_tokens": 1160,
    "input_tokens_details": {"text_tokens": 20, "image_tokens": 40},
    "output_tokens_details": {"text_tokens": 44, "image_tokens": 1056},
}

# orq's CreateImageEditUsage / CreateImageVariationUsage: every field required.
ORQ_FULL_CAMEL: dict[str, Any] = {
    "totalTokens": 7200,
    "inputTokens": 3096,
    "outputTokens": 4104,
    "inputTokensDetails": {"textTokens": 1409, "imageTokens": 1687},
}
ORQ_FULL_SNAKE: dict[str, Any] = {
    "total_tokens": 7200,
    "input_tokens": 3096,
    "output_tokens": 4104,
    "input_tokens_details": {"text_tokens": 1409, "image_tokens": 1687},
}
ORQ_FULL_USAGE = ImageUsage(
    input_tokens=3096,
    output_tokens=4104,
    total_tokens=7200,
    input_tokens_details=InputTokensDetails(text_tokens=1409, image_tokens=1687),
)

# TanStack's early ImageUsage.
TANSTACK_EARLY: dict[str, Any] = {"inputTokens": 50, "outputTokens": 50, "totalTokens": 100}

# TanStack's current TokenUsage.
TOKEN_USAGE: dict[str, Any] = {
    "promptTokens": 60,
    "completionTokens": 1100,
    "totalTokens": 1160,
    "promptTokensDetails": {
        "textTokens": 20,
        "imageTokens": 40,
        "cachedTokens": 8,
        "audioTokens": 0,
        "cacheWriteTokens": 0,
    },
    "completionTokensDetails": {"textTokens": 44, "imageTokens": 1056, "reasoningTokens": 30},
    "billed": {"quantity": 1, "unit": "images"},
    "cost": 0.042,
    "costDetails": {"upstreamCost": 0.04},
    "providerUsageDetails": {"anything": "goes"},
}
TOKEN_USAGE_RESULT = ImageUsage(
    input_tokens=60,
    output_tokens=1100,
    total_tokens=1160,
    input_tokens_details=InputTokensDetails(text_tokens=20, image_tokens=40, cached_tokens=8),
    output_tokens_details=OutputTokensDetails(text_tokens=44, image_tokens=1056),
    cost=Decimal("0.042"),
    billed=Billed(Decimal(1), "images"),
    cost_details=CostDetails(upstream_cost=Decimal("0.04")),
)

# Gemini REST usageMetadata of an image generation.
GEMINI_REST: dict[str, Any] = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 1290,
    "totalTokenCount": 1302,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
    "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
}
GEMINI_SNAKE: dict[str, Any] = {
    "prompt_token_count": 12,
    "candidates_token_count": 1290,
    "total_token_count": 1302,
    "prompt_tokens_details": [{"modality": "TEXT", "token_count": 12}],
    "candidates_tokens_details": [{"modality": "IMAGE", "token_count": 1290}],
}
GEMINI_USAGE = ImageUsage(
    input_tokens=12,
    output_tokens=1290,
    total_tokens=1302,
    input_tokens_details=InputTokensDetails(text_tokens=12),
    output_tokens_details=OutputTokensDetails(image_tokens=1290),
)


class Modality(enum.Enum):
    """Stands in for google-genai's ``MediaModality`` enum."""

    TEXT = "TEXT"
    IMAGE = "IMAGE"


counts = st.integers(min_value=0, max_value=10**12)
# Values no adapter takes as a token count.
bad_adapter_counts = st.one_of(
    st.integers(max_value=-1),
    st.floats().filter(lambda f: not (f.is_integer() and f >= 0)),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


def with_path(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``payload`` with the dotted ``path`` set to ``value``."""
    head, _, rest = path.partition(".")
    copy = dict(payload)
    if rest:
        copy[head] = with_path(dict(copy.get(head) or {}), rest, value)
    else:
        copy[head] = value
    return copy


class TestFromOpenAI:
    """from_openai() on dicts and on the real openai SDK objects."""

    def test_spec_example_dict(self) -> None:
        """The spec's example usage dict gives its counts and input breakdown."""
        assert from_openai(SPEC_BODY["usage"]) == SPEC_USAGE

    def test_with_output_tokens_details(self) -> None:
        """A newer model's output_tokens_details is kept."""
        assert from_openai(DETAILED_DICT) == DETAILED_USAGE

    def test_sdk_usage_object(self) -> None:
        """The SDK's ImagesResponse.usage object converts like the dict."""
        response = ImagesResponse.model_validate(SPEC_BODY)
        assert isinstance(response.usage, OpenAIUsage)
        assert response.usage.output_tokens_details is None
        assert from_openai(response.usage) == SPEC_USAGE

    def test_sdk_usage_object_with_output_details(self) -> None:
        """The SDK's Usage with output_tokens_details converts like the dict."""
        response = ImagesResponse.model_validate({"created": 1713833628, "usage": DETAILED_DICT})
        assert response.usage is not None
        assert response.usage.output_tokens_details is not None
        assert from_openai(response.usage) == DETAILED_USAGE

    def test_sdk_stream_completed_event_usage(self) -> None:
        """The usage of a streamed image_generation.completed event converts too."""
        event = ImageGenCompletedEvent.model_validate(
            {
                "type": "image_generation.completed",
                "b64_json": "aGVsbG8=",
                "background": "auto",
                "created_at": 1713833628,
                "output_format": "png",
                "quality": "high",
                "size": "1024x1024",
                "usage": SPEC_BODY["usage"],
            }
        )
        assert from_openai(event.usage) == SPEC_USAGE

    def test_sdk_response_is_unwrapped_by_to_image_usage(self) -> None:
        """to_image_usage() takes the whole SDK ImagesResponse."""
        assert to_image_usage(ImagesResponse.model_validate(SPEC_BODY)) == SPEC_USAGE

    def test_dalle_response_without_usage(self) -> None:
        """A DALL-E response carries no usage: to_image_usage() says so instead of guessing."""
        response = ImagesResponse.model_validate({"created": 1713833628, "data": [{"url": "u"}]})
        assert response.usage is None
        with pytest.raises(EventValidationError) as info:
            to_image_usage(response)
        assert info.value.field == "usage"

    def test_total_derived_when_omitted(self) -> None:
        """Without total_tokens, the total is input + output."""
        usage = from_openai({"input_tokens": 50, "output_tokens": 150})
        assert usage.total_tokens == 200

    def test_inconsistent_total_kept(self) -> None:
        """A reported total that does not add up is kept as the provider said."""
        usage = from_openai({"input_tokens": 50, "output_tokens": 50, "total_tokens": 120})
        assert usage.total_tokens == 120

    @pytest.mark.parametrize("payload", [None, [SPEC_BODY["usage"]], "usage", 100, 1.5, b"{}"])
    def test_not_an_object(self, payload: Any) -> None:
        """None, a list, a string or a number is not usage."""
        with pytest.raises(EventValidationError) as info:
            from_openai(payload)
        err = info.value
        assert err.field == "usage"
        assert err.value is payload
        assert "'usage'" in str(err)
        assert "openai usage" in str(err)

    @pytest.mark.parametrize(
        "path",
        [
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "input_tokens_details.text_tokens",
            "input_tokens_details.image_tokens",
            "output_tokens_details.text_tokens",
            "output_tokens_details.image_tokens",
        ],
    )
    @given(value=bad_adapter_counts)
    def test_bad_count_names_its_path(self, path: str, value: Any) -> None:
        """A bad count anywhere is named by its dotted path, with the value."""
        with pytest.raises(EventValidationError) as info:
            from_openai(with_path(DETAILED_DICT, path, value))
        check_names(info.value, path, value)

    @pytest.mark.parametrize(
        ("path", "value"),
        [("input_tokens", "50"), ("input_tokens", -1), ("input_tokens_details.text_tokens", "10")],
    )
    def test_string_and_negative_counts(self, path: str, value: Any) -> None:
        """The usual suspects: a count sent as a string, a negative count."""
        with pytest.raises(EventValidationError) as info:
            from_openai(with_path(SPEC_BODY["usage"], path, value))
        check_names(info.value, path, value)

    @pytest.mark.parametrize("field", ["input_tokens_details", "output_tokens_details"])
    @pytest.mark.parametrize("value", [[10, 40], "10", 50, True])
    def test_details_not_an_object(self, field: str, value: Any) -> None:
        """Details that are not an object are refused, naming the details field."""
        with pytest.raises(EventValidationError) as info:
            from_openai({**SPEC_BODY["usage"], field: value})
        check_names(info.value, field, value)

    def test_null_details_are_absent(self) -> None:
        """Details sent as null are simply not reported."""
        usage = from_openai({**SPEC_BODY["usage"], "output_tokens_details": None})
        assert usage.output_tokens_details is None

    @given(value=st.integers(min_value=0, max_value=10**9).map(float))
    def test_integral_float_counts_accepted(self, value: float) -> None:
        """A JSON parser's 50.0 is the integer count 50."""
        usage = from_openai({"input_tokens": value})
        assert usage.input_tokens == value
        assert type(usage.input_tokens) is int


class TestFromOrq:
    """from_orq() on orq.ai's three usage objects, camelCase and snake_case."""

    def test_create_image_usage_minimal_example(self) -> None:
        """A minimal CreateImageUsage (details only, every count omitted) is valid."""
        usage = from_orq({"inputTokensDetails": {}})
        assert usage == ImageUsage(input_tokens_details=InputTokensDetails())
        assert usage.total_tokens is None

    @pytest.mark.parametrize(
        "payload",
        [
            {"inputTokens": 50, "inputTokensDetails": {"textTokens": 10}},
            {"input_tokens": 50, "input_tokens_details": {"text_tokens": 10}},
        ],
    )
    def test_create_image_usage_optional_counts(self, payload: dict[str, Any]) -> None:
        """CreateImageUsage with only some counts keeps what was sent."""
        usage = from_orq(payload)
        assert usage.input_tokens == 50
        assert usage.output_tokens is None
        assert usage.total_tokens == 50
        assert usage.input_tokens_details == InputTokensDetails(text_tokens=10)

    def test_create_image_usage_counts_from_details(self) -> None:
        """When only the input breakdown is sent, the input count is its sum."""
        usage = from_orq({"inputTokensDetails": {"textTokens": 10, "imageTokens": 40}})
        assert usage.input_tokens == 50
        assert usage.total_tokens == 50

    @pytest.mark.parametrize("payload", [ORQ_FULL_CAMEL, ORQ_FULL_SNAKE], ids=["camel", "snake"])
    def test_edit_and_variation_usage(self, payload: dict[str, Any]) -> None:
        """CreateImageEditUsage / CreateImageVariationUsage convert in either spelling."""
        assert from_orq(payload) == ORQ_FULL_USAGE

    def test_edit_example_with_integral_floats(self) -> None:
        """An edit example's numbers, sent as integral floats, become ints."""
        usage = from_orq(
            {
                "totalTokens": 7200.0,
                "inputTokens": 3096.0,
                "outputTokens": 4104.0,
                "inputTokensDetails": {"textTokens": 1409.0, "imageTokens": 1687.0},
            }
        )
        assert usage == ORQ_FULL_USAGE
        assert type(usage.total_tokens) is int
        assert usage.input_tokens_details is not None
        assert type(usage.input_tokens_details.text_tokens) is int

    def test_edit_example_fractional_is_refused(self) -> None:
        """An example with fractional counts (like 3095.89) is refused."""
        example = {
            "totalTokens": 7200.49,
            "inputTokens": 3095.89,
            "outputTokens": 5953.75,
            "inputTokensDetails": {"textTokens": 1409.04, "imageTokens": 1162.42},
        }
        with pytest.raises(EventValidationError) as info:
            from_orq(example)
        assert info.value.value in (7200.49, 3095.89, 5953.75)
        assert "orq usage" in str(info.value)

    @pytest.mark.parametrize(
        ("camel", "snake"),
        [
            ("inputTokens", "input_tokens"),
            ("outputTokens", "output_tokens"),
            ("totalTokens", "total_tokens"),
        ],
    )
    @given(value=st.floats(min_value=0, max_value=1e9).filter(lambda f: not f.is_integer()))
    def test_fractional_count_refused(self, camel: str, snake: str, value: float) -> None:
        """A fractional count is refused in either spelling, named by its wire name."""
        for payload in ({**ORQ_FULL_CAMEL, camel: value}, {**ORQ_FULL_SNAKE, snake: value}):
            with pytest.raises(EventValidationError) as info:
                from_orq(payload)
            check_names(info.value, snake, value)

    @given(
        text=counts,
        image=counts,
        output=counts,
        camel=st.booleans(),
    )
    def test_integral_floats_accepted(
        self, text: int, image: int, output: int, camel: bool
    ) -> None:
        """Any integral float count is taken as that integer."""
        if camel:
            payload: dict[str, Any] = {
                "inputTokens": float(text + image),
                "outputTokens": float(output),
                "inputTokensDetails": {"textTokens": float(text), "imageTokens": float(image)},
            }
        else:
            payload = {
                "input_tokens": float(text + image),
                "output_tokens": float(output),
                "input_tokens_details": {"text_tokens": float(text), "image_tokens": float(image)},
            }
        usage = from_orq(payload)
        assert (usage.input_text_tokens, usage.input_image_tokens) == (text, image)
        assert usage.output_tokens == output
        assert usage.total_tokens == text + image + output

    @given(value=bad_adapter_counts)
    def test_bad_detail_count_camel_case(self, value: Any) -> None:
        """A bad camelCase detail count is named by its path."""
        with pytest.raises(EventValidationError) as info:
            from_orq(with_path(ORQ_FULL_CAMEL, "inputTokensDetails.imageTokens", value))
        check_names(info.value, "input_tokens_details.image_tokens", value)

    @pytest.mark.parametrize("payload", [None, [], "usage"])
    def test_not_an_object(self, payload: Any) -> None:
        """A payload that is not an object is refused, naming orq."""
        with pytest.raises(EventValidationError, match="orq usage") as info:
            from_orq(payload)
        assert info.value.field == "usage"


class TestFromTanstack:
    """from_tanstack() on the early ImageUsage and the current TokenUsage."""

    def test_early_image_usage(self) -> None:
        """The early ImageUsage {inputTokens, outputTokens, totalTokens} converts."""
        assert from_tanstack(TANSTACK_EARLY) == ImageUsage(
            input_tokens=50, output_tokens=50, total_tokens=100
        )

    def test_early_image_usage_with_details(self) -> None:
        """The orq-style inputTokensDetails on an early ImageUsage is kept."""
        usage = from_tanstack(
            {**TANSTACK_EARLY, "inputTokensDetails": {"textTokens": 10, "imageTokens": 40}}
        )
        assert usage == SPEC_USAGE

    def test_early_image_usage_all_optional(self) -> None:
        """Every field of the early ImageUsage is optional."""
        assert from_tanstack({}) == ImageUsage()
        assert from_tanstack({"outputTokens": 7}) == ImageUsage(output_tokens=7, total_tokens=7)

    def test_token_usage(self) -> None:
        """The current TokenUsage converts, cost included; unknown extras are ignored."""
        assert from_tanstack(TOKEN_USAGE) == TOKEN_USAGE_RESULT

    def test_token_usage_minimal(self) -> None:
        """A TokenUsage without details gives just the counts, total derived if omitted."""
        usage = from_tanstack({"promptTokens": 10, "completionTokens": 1056})
        assert usage == ImageUsage(input_tokens=10, output_tokens=1056, total_tokens=1066)

    def test_token_usage_inconsistent_total_kept(self) -> None:
        """A TokenUsage total that does not add up is kept."""
        usage = from_tanstack({"promptTokens": 10, "completionTokens": 20, "totalTokens": 99})
        assert usage.total_tokens == 99

    def test_reasoning_counts_as_output_text_when_no_text_count(self) -> None:
        """Reasoning tokens are the output text when textTokens is not given."""
        usage = from_tanstack(
            {
                "promptTokens": 10,
                "completionTokens": 1086,
                "completionTokensDetails": {"reasoningTokens": 30, "imageTokens": 1056},
            }
        )
        assert usage.output_tokens_details == OutputTokensDetails(text_tokens=30, image_tokens=1056)

    def test_token_usage_snake_case(self) -> None:
        """TokenUsage in snake_case converts like camelCase."""
        usage = from_tanstack(
            {
                "prompt_tokens": 60,
                "completion_tokens": 1100,
                "total_tokens": 1160,
                "prompt_tokens_details": {
                    "text_tokens": 20,
                    "image_tokens": 40,
                    "cached_tokens": 8,
                },
                "completion_tokens_details": {"text_tokens": 44, "image_tokens": 1056},
                "billed": {"quantity": "1", "unit": "images"},
                "cost": "0.042",
                "cost_details": {"upstream_cost": "0.04"},
            }
        )
        assert usage == TOKEN_USAGE_RESULT

    @pytest.mark.parametrize(
        "path",
        [
            "promptTokens",
            "completionTokens",
            "totalTokens",
            "promptTokensDetails.imageTokens",
            "promptTokensDetails.cachedTokens",
            "completionTokensDetails.imageTokens",
            "completionTokensDetails.textTokens",
        ],
    )
    @given(value=bad_adapter_counts)
    def test_bad_count_names_its_path(self, path: str, value: Any) -> None:
        """A bad TokenUsage count is named by its camelCase path."""
        with pytest.raises(EventValidationError) as info:
            from_tanstack(with_path(TOKEN_USAGE, path, value))
        check_names(info.value, path, value)
        assert "tanstack usage" in str(info.value)

    @pytest.mark.parametrize("field", ["promptTokensDetails", "completionTokensDetails"])
    @pytest.mark.parametrize("value", [[1], "x", 3])
    def test_details_not_an_object(self, field: str, value: Any) -> None:
        """TokenUsage details that are not objects are refused, naming them."""
        with pytest.raises(EventValidationError) as info:
            from_tanstack({**TOKEN_USAGE, field: value})
        check_names(info.value, field, value)

    @pytest.mark.parametrize("cost", ["abc", math.nan, [1]])
    def test_bad_cost(self, cost: Any) -> None:
        """A TokenUsage cost that is no amount is refused, naming cost."""
        with pytest.raises(EventValidationError) as info:
            from_tanstack({**TOKEN_USAGE, "cost": cost})
        check_names(info.value, "cost", cost)
        assert "tanstack usage" in str(info.value)

    def test_negative_cost(self) -> None:
        """A negative TokenUsage cost is refused."""
        with pytest.raises(EventValidationError) as info:
            from_tanstack({**TOKEN_USAGE, "cost": -0.5})
        assert info.value.field == "cost"
        assert info.value.value == Decimal("-0.5")


class TestFromGemini:
    """from_gemini() on usageMetadata in the REST and the SDK spelling."""

    def test_rest_camel_case(self) -> None:
        """REST usageMetadata: IMAGE candidates tokens are the output image tokens."""
        assert from_gemini(GEMINI_REST) == GEMINI_USAGE

    def test_snake_case(self) -> None:
        """The snake_case spelling converts the same."""
        assert from_gemini(GEMINI_SNAKE) == GEMINI_USAGE

    def test_sdk_object_with_enum_modalities(self) -> None:
        """An SDK-like object with enum modalities converts the same."""
        metadata = SimpleNamespace(
            prompt_token_count=12,
            candidates_token_count=1290,
            total_token_count=1302,
            prompt_tokens_details=[SimpleNamespace(modality=Modality.TEXT, token_count=12)],
            candidates_tokens_details=[SimpleNamespace(modality=Modality.IMAGE, token_count=1290)],
            thoughts_token_count=None,
            cached_content_token_count=None,
        )
        assert from_gemini(metadata) == GEMINI_USAGE

    def test_total_derived_when_omitted(self) -> None:
        """Without totalTokenCount, the total is prompt + candidates."""
        payload = {k: v for k, v in GEMINI_REST.items() if k != "totalTokenCount"}
        assert from_gemini(payload).total_tokens == 1302

    def test_inconsistent_total_kept(self) -> None:
        """A reported total that does not add up is kept."""
        assert from_gemini({**GEMINI_REST, "totalTokenCount": 2000}).total_tokens == 2000

    def test_thoughts_are_output_text(self) -> None:
        """Thinking tokens count as output text and as output, as Gemini bills them."""
        usage = from_gemini({**GEMINI_REST, "thoughtsTokenCount": 100, "totalTokenCount": 1402})
        assert usage.output_tokens == 1390
        assert usage.output_tokens_details == OutputTokensDetails(
            text_tokens=100, image_tokens=1290
        )

    def test_cached_tokens(self) -> None:
        """cachedContentTokenCount is the cached part of the input."""
        usage = from_gemini({**GEMINI_REST, "cachedContentTokenCount": 4})
        assert usage.input_cached_tokens == 4

    def test_mixed_modalities(self) -> None:
        """Text and image candidates are split; repeated and lowercase modalities add up."""
        usage = from_gemini(
            {
                "promptTokenCount": 270,
                "candidatesTokenCount": 1300,
                "promptTokensDetails": [
                    {"modality": "TEXT", "tokenCount": 12},
                    {"modality": "IMAGE", "tokenCount": 258},
                ],
                "candidatesTokensDetails": [
                    {"modality": "TEXT", "tokenCount": 10},
                    {"modality": "IMAGE", "tokenCount": 1000},
                    {"modality": "image", "tokenCount": 290},
                ],
            }
        )
        assert usage.input_tokens_details == InputTokensDetails(text_tokens=12, image_tokens=258)
        assert usage.output_tokens_details == OutputTokensDetails(text_tokens=10, image_tokens=1290)
        assert usage.total_tokens == 1570

    @pytest.mark.parametrize(
        "field", ["promptTokenCount", "candidatesTokenCount", "totalTokenCount"]
    )
    @given(value=bad_adapter_counts)
    def test_bad_count(self, field: str, value: Any) -> None:
        """A bad top-level count is named."""
        with pytest.raises(EventValidationError) as info:
            from_gemini({**GEMINI_REST, field: value})
        check_names(info.value, field, value)
        assert "gemini usageMetadata" in str(info.value)

    @given(value=bad_adapter_counts)
    def test_bad_modality_count(self, value: Any) -> None:
        """A bad tokenCount inside a modality list is named by index."""
        details = [
            {"modality": "TEXT", "tokenCount": 1},
            {"modality": "IMAGE", "tokenCount": value},
        ]
        with pytest.raises(EventValidationError) as info:
            from_gemini({**GEMINI_REST, "candidatesTokensDetails": details})
        check_names(info.value, "candidatesTokensDetails[1].tokenCount", value)

    @pytest.mark.parametrize("value", [{"modality": "IMAGE", "tokenCount": 1}, "IMAGE", 5])
    def test_modality_list_not_a_list(self, value: Any) -> None:
        """The per-modality details must be a list."""
        with pytest.raises(EventValidationError) as info:
            from_gemini({**GEMINI_REST, "candidatesTokensDetails": value})
        check_names(info.value, "candidatesTokensDetails", value)

    @pytest.mark.parametrize("modality", [5, None, ["IMAGE"]])
    def test_bad_modality_name(self, modality: Any) -> None:
        """A modality that is not a name is refused, naming it."""
        details = [{"modality": modality, "tokenCount": 1}]
        with pytest.raises(EventValidationError) as info:
            from_gemini({**GEMINI_REST, "candidatesTokensDetails": details})
        check_names(info.value, "candidatesTokensDetails[0].modality", modality)

    def test_missing_modality(self) -> None:
        """An entry without a modality is refused as missing one (None), not an internal marker."""
        with pytest.raises(EventValidationError) as info:
            from_gemini({**GEMINI_REST, "candidatesTokensDetails": [{"tokenCount": 1}]})
        check_names(info.value, "candidatesTokensDetails[0].modality", None)

    @pytest.mark.parametrize("item", ["IMAGE", 1290, ["IMAGE", 1290]])
    def test_modality_entry_not_an_object(self, item: Any) -> None:
        """An entry of the modality list that is not an object is named by its index."""
        with pytest.raises(EventValidationError) as info:
            from_gemini({**GEMINI_REST, "candidatesTokensDetails": [item]})
        check_names(info.value, "candidatesTokensDetails[0]", item)

    @pytest.mark.parametrize("payload", [None, [GEMINI_REST], "usageMetadata"])
    def test_not_an_object(self, payload: Any) -> None:
        """A usageMetadata that is not an object is refused."""
        with pytest.raises(EventValidationError) as info:
            from_gemini(payload)
        assert info.value.field == "usage"
        assert info.value.value is payload


class TestToImageUsage:
    """to_image_usage() recognises every shape and unwraps responses."""

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            pytest.param(SPEC_BODY["usage"], SPEC_USAGE, id="openai-dict"),
            pytest.param(DETAILED_DICT, DETAILED_USAGE, id="openai-dict-output-details"),
            pytest.param(
                OpenAIUsage.model_validate(DETAILED_DICT), DETAILED_USAGE, id="openai-sdk"
            ),
            pytest.param(ORQ_FULL_CAMEL, ORQ_FULL_USAGE, id="orq-camel"),
            pytest.param(ORQ_FULL_SNAKE, ORQ_FULL_USAGE, id="orq-snake"),
            pytest.param(
                {"inputTokensDetails": {}},
                ImageUsage(input_tokens_details=InputTokensDetails()),
                id="orq-create-image-minimal",
            ),
            pytest.param(
                TANSTACK_EARLY,
                ImageUsage(input_tokens=50, output_tokens=50, total_tokens=100),
                id="tanstack-early",
            ),
            pytest.param(TOKEN_USAGE, TOKEN_USAGE_RESULT, id="tanstack-token-usage"),
            pytest.param(
                {"totalTokens": 100, "cost": 0.25},
                ImageUsage(total_tokens=100, cost=Decimal("0.25")),
                id="totals-and-cost-only",
            ),
            pytest.param(GEMINI_REST, GEMINI_USAGE, id="gemini-rest"),
            pytest.param(GEMINI_SNAKE, GEMINI_USAGE, id="gemini-snake"),
            pytest.param(SimpleNamespace(**SPEC_BODY["usage"]), SPEC_USAGE, id="object"),
        ],
    )
    def test_detects_each_shape(self, payload: Any, expected: ImageUsage) -> None:
        """Each provider's usage is recognised by its keys and converted."""
        assert to_image_usage(payload) == expected

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            pytest.param(SPEC_BODY, SPEC_USAGE, id="openai-response-dict"),
            pytest.param(
                ImagesResponse.model_validate(SPEC_BODY), SPEC_USAGE, id="openai-response-sdk"
            ),
            pytest.param(
                {"candidates": [{"content": {}}], "usageMetadata": GEMINI_REST},
                GEMINI_USAGE,
                id="gemini-response-rest",
            ),
            pytest.param(
                SimpleNamespace(candidates=[], usage_metadata=GEMINI_SNAKE),
                GEMINI_USAGE,
                id="gemini-response-sdk",
            ),
            pytest.param({"usage": TOKEN_USAGE}, TOKEN_USAGE_RESULT, id="wrapped-token-usage"),
        ],
    )
    def test_unwraps_responses(self, payload: Any, expected: ImageUsage) -> None:
        """A response holding usage under usage/usageMetadata/usage_metadata is unwrapped."""
        assert to_image_usage(payload) == expected

    def test_image_usage_returned_as_is(self) -> None:
        """An ImageUsage is returned unchanged."""
        assert to_image_usage(DETAILED_USAGE) is DETAILED_USAGE

    @pytest.mark.parametrize("payload", [None, [SPEC_BODY["usage"]], "usage", 5, 2.0, b"x"])
    def test_not_an_object(self, payload: Any) -> None:
        """None, a list, a string or a number is refused, naming usage."""
        with pytest.raises(EventValidationError) as info:
            to_image_usage(payload)
        check_names(info.value, "usage", payload)

    @pytest.mark.parametrize(
        "payload", [{}, {"usage": None}, {"created": 1713833628, "data": []}, SimpleNamespace()]
    )
    def test_no_usage_shape(self, payload: Any) -> None:
        """Something with no usage in it is refused rather than turned into empty usage."""
        with pytest.raises(EventValidationError) as info:
            to_image_usage(payload)
        assert info.value.field == "usage"
        assert "usage" in str(info.value)

    def test_malformed_wrapped_usage(self) -> None:
        """A bad count inside a wrapped usage is named by its path."""
        body = {**SPEC_BODY, "usage": with_path(SPEC_BODY["usage"], "input_tokens", -1)}
        with pytest.raises(EventValidationError) as info:
            to_image_usage(body)
        assert info.value.field == "input_tokens"
        assert info.value.value == -1

    @pytest.mark.parametrize("value", [[10, 40], "x"])
    def test_malformed_details(self, value: Any) -> None:
        """Details that are not an object are refused through auto-detection too."""
        with pytest.raises(EventValidationError) as info:
            to_image_usage({**SPEC_BODY["usage"], "input_tokens_details": value})
        check_names(info.value, "input_tokens_details", value)


class TestTotals:
    """total_tokens: derived when omitted, kept as reported otherwise."""

    # (adapter, input key, output key, total key)
    SHAPES: tuple[tuple[Adapter, str, str, str], ...] = (
        (from_openai, "input_tokens", "output_tokens", "total_tokens"),
        (from_orq, "inputTokens", "outputTokens", "totalTokens"),
        (from_tanstack, "inputTokens", "outputTokens", "totalTokens"),
        (from_tanstack, "promptTokens", "completionTokens", "totalTokens"),
        (from_gemini, "promptTokenCount", "candidatesTokenCount", "totalTokenCount"),
        (to_image_usage, "input_tokens", "output_tokens", "total_tokens"),
        (to_image_usage, "promptTokens", "completionTokens", "totalTokens"),
        (to_image_usage, "promptTokenCount", "candidatesTokenCount", "totalTokenCount"),
    )
    IDS = tuple(f"{adapter.__name__}-{inp}" for adapter, inp, _, _ in SHAPES)

    @pytest.mark.parametrize("shape", SHAPES, ids=IDS)
    @given(a=counts, b=counts)
    def test_derived_when_omitted(
        self, shape: tuple[Adapter, str, str, str], a: int, b: int
    ) -> None:
        """Without a total, total_tokens is input + output."""
        adapter, inp, out, _ = shape
        usage = adapter({inp: a, out: b})
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (a, b, a + b)

    @pytest.mark.parametrize("shape", SHAPES, ids=IDS)
    @given(a=counts, b=counts, t=counts)
    def test_reported_total_kept(
        self, shape: tuple[Adapter, str, str, str], a: int, b: int, t: int
    ) -> None:
        """A reported total is kept, whether or not it adds up."""
        adapter, inp, out, total = shape
        assert adapter({inp: a, out: b, total: t}).total_tokens == t

    @pytest.mark.parametrize("shape", SHAPES, ids=IDS)
    def test_one_side_only(self, shape: tuple[Adapter, str, str, str]) -> None:
        """With only the input reported, the total is the input."""
        adapter, inp, _, _ = shape
        usage = adapter({inp: 42})
        assert (usage.output_tokens, usage.total_tokens) == (None, 42)
