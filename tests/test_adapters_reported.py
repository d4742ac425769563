"""Adapters: what providers and gateways report beside the tokens (cost, upstream cost, billed).

OpenRouter (through the openai SDK, which keeps fields it does not declare
among a model's extra fields), TanStack's TokenUsage, and fal's response
headers, each in the shape it really has.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.images_response import ImagesResponse

from aievents import EventClient, ImageUsageEvent
from aievents.adapters import from_fal, from_openai, from_tanstack, to_image_usage
from aievents.exceptions import EventValidationError
from aievents.instrument import instrument_openai
from aievents.testing import ImageServer, capture_events
from aievents.usage import Billed, CostDetails, ImageUsage, InputTokensDetails
from test_adapters import SPEC_BODY

from helpers import check_names

D = Decimal

#: An OpenRouter image generation (chat completions with image output), as it
#: answers: the cost it charged and the upstream provider's share in the usage.
OPENROUTER_CHAT: dict[str, Any] = {
    "id": "gen-1764000000-abc",
    "object": "chat.completion",
    "created": 1764000000,
    "model": "google/gemini-3.1-flash-image",
    "provider": "Google AI Studio",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {
                "role": "assistant",
                "content": "",
                "images": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}
                ],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 1290,
        "total_tokens": 1302,
        "cost": 0.0387,
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": 0.000006,
            "upstream_inference_completions_cost": 0.0387,
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 1290},
    },
}

#: The OpenAI spec's images answer through a gateway that adds its cost to the usage.
GATEWAY_IMAGES: dict[str, Any] = {
    **SPEC_BODY,
    "usage": {
        **SPEC_BODY["usage"],
        "cost": 0.0026,
        "cost_details": {"upstream_inference_cost": 0.00245},
    },
}
GATEWAY_USAGE = ImageUsage(
    input_tokens=50,
    output_tokens=50,
    total_tokens=100,
    input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
    cost=D("0.0026"),
    cost_details=CostDetails(upstream_cost=D("0.00245")),
)


class TestOpenRouter:
    """OpenRouter's cost and cost_details, read off the openai SDK's objects and off dicts."""

    def test_sdk_keeps_them_as_extra_fields(self) -> None:
        """The SDK declares neither field: they sit in model_extra, and are read from there."""
        usage = ImagesResponse.model_validate(GATEWAY_IMAGES).usage
        assert usage is not None
        assert "cost" not in type(usage).model_fields
        assert usage.model_extra == {
            "cost": 0.0026,
            "cost_details": {"upstream_inference_cost": 0.00245},
        }
        assert from_openai(usage) == GATEWAY_USAGE

    def test_dict(self) -> None:
        """The same usage as a dict gives the same ImageUsage."""
        assert from_openai(GATEWAY_IMAGES["usage"]) == GATEWAY_USAGE

    def test_chat_completion_with_image_output(self) -> None:
        """An image made through chat completions: tokens, cost, upstream parts; null is absent."""
        completion = ChatCompletion.model_validate(OPENROUTER_CHAT)
        usage = to_image_usage(completion)
        assert (usage.input_tokens, usage.output_tokens, usage.output_image_tokens) == (
            12,
            1290,
            1290,
        )
        assert usage.cost == D("0.0387")
        assert usage.cost_details == CostDetails(
            upstream_input_cost=D("0.000006"), upstream_output_cost=D("0.0387")
        )
        assert usage.reported_cost == D("0.0387")
        assert usage == to_image_usage(OPENROUTER_CHAT)

    @pytest.mark.parametrize(
        ("details", "expected"),
        [
            pytest.param(
                {"upstream_inference_cost": 19, "upstream_inference_input_cost": "5.5"},
                CostDetails(upstream_cost=D(19), upstream_input_cost=D("5.5")),
                id="current-names",
            ),
            pytest.param(
                {"upstreamInferenceCost": 0.5, "upstreamInferenceOutputCost": 0.25},
                CostDetails(upstream_cost=D("0.5"), upstream_output_cost=D("0.25")),
                id="typescript-sdk-names",
            ),
        ],
    )
    def test_other_spellings(self, details: dict[str, Any], expected: CostDetails) -> None:
        """The upstream amounts under each name OpenRouter has used."""
        usage = from_openai({"input_tokens": 1, "cost": 1, "cost_details": details})
        assert usage.cost_details == expected

    def test_cost_without_tokens(self) -> None:
        """A usage that reports only a cost is still recognised and kept."""
        assert to_image_usage({"cost": "0.04"}) == ImageUsage(cost=D("0.04"))

    @pytest.mark.parametrize("bad", ["free", math.nan, -0.01, [1], True])
    def test_bad_cost_in_extra_fields(self, bad: Any) -> None:
        """A malformed cost among the SDK's extra fields is refused, naming cost."""
        body = {**GATEWAY_IMAGES, "usage": {**GATEWAY_IMAGES["usage"], "cost": bad}}
        usage = ImagesResponse.model_validate(body).usage
        with pytest.raises(EventValidationError) as info:
            from_openai(usage)
        assert info.value.field == "cost"
        assert "openai usage" in str(info.value)

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            ("1e999999999", "must be below 1E+15 USD"),
            ("1E+400", "must be below 1E+15 USD"),
            (1e300, "must be below 1E+15 USD"),
            ("1E-400", "has a digit finer than 1E-30"),
        ],
    )
    def test_cost_out_of_bounds(self, bad: Any, reason: str) -> None:
        """A cost that cannot be summed exactly is refused, naming the key and the value."""
        for payload in ({"cost": bad}, {"cost_details": {"upstream_inference_cost": bad}}):
            with pytest.raises(EventValidationError) as info:
                from_openai({"input_tokens": 1, **payload})
            assert info.value.field in ("cost", "cost_details.upstream_inference_cost")
            assert reason in str(info.value)

    @pytest.mark.parametrize("bad", ["x", -1, {"a": 1}])
    def test_bad_upstream_cost(self, bad: Any) -> None:
        """A malformed upstream amount is named by its path, as the payload spelled it."""
        payload = {"input_tokens": 1, "cost_details": {"upstream_inference_cost": bad}}
        with pytest.raises(EventValidationError) as info:
            from_openai(payload)
        assert info.value.field == "cost_details.upstream_inference_cost"

    @pytest.mark.parametrize("bad", [[1], "x", 3])
    def test_cost_details_not_an_object(self, bad: Any) -> None:
        """cost_details that is not an object is refused, naming it."""
        with pytest.raises(EventValidationError) as info:
            from_openai({"input_tokens": 1, "cost_details": bad})
        check_names(info.value, "cost_details", bad)


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


class TestThroughTheSdk:
    """A gateway's answer, over HTTP, through the real openai SDK and the instrumentation."""

    def test_adapter_reads_the_parsed_answer(self, server: ImageServer) -> None:
        """What the SDK parsed from the wire carries the gateway's cost to the adapter."""
        server.answer_next(GATEWAY_IMAGES)
        with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client:
            response = client.images.generate(model="gpt-image-1", prompt="a fox")
        assert from_openai(response.usage) == GATEWAY_USAGE

    def test_event_keeps_both_costs(self, server: ImageServer) -> None:
        """usage.cost is the gateway's figure; the event's cost is the table's, apart."""
        server.answer_next(GATEWAY_IMAGES)
        events = EventClient()
        raw = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        with (
            capture_events(events) as seen,
            instrument_openai(raw, events=events) as client,
        ):
            client.images.generate(model="gpt-image-1", prompt="a fox")
        (usage,) = [e for e in seen if isinstance(e, ImageUsageEvent)]
        assert usage.usage == GATEWAY_USAGE
        assert usage.usage.reported_cost == D("0.0026")
        assert usage.cost is not None
        # gpt-image-1: 10 text in at $5/M, 40 image in at $10/M, 50 image out at $40/M
        # = 0.00005 + 0.0004 + 0.002 = 0.00245
        assert usage.cost.total == D("0.00245")
        assert usage.priced_as == "gpt-image-1"


class TestTanstack:
    """TanStack's billed {quantity, unit} and costDetails."""

    def test_billed_and_cost_details(self) -> None:
        """Both are read, with the cost, beside the tokens."""
        usage = from_tanstack(
            {
                "promptTokens": 12,
                "completionTokens": 0,
                "billed": {"quantity": 1.5, "unit": "megapixels"},
                "cost": 0.0375,
                "costDetails": {
                    "upstreamCost": 0.0375,
                    "upstreamInputCost": 0,
                    "upstreamOutputCost": 0.0375,
                },
            }
        )
        assert usage.billed == Billed(D("1.5"), "megapixels")
        assert usage.cost == D("0.0375")
        assert usage.cost_details == CostDetails(
            upstream_cost=D("0.0375"), upstream_input_cost=D(0), upstream_output_cost=D("0.0375")
        )

    def test_early_image_usage_with_billed(self) -> None:
        """The early ImageUsage shape carries them too."""
        usage = from_tanstack({"inputTokens": 5, "billed": {"quantity": 2, "unit": "images"}})
        assert usage == ImageUsage(input_tokens=5, total_tokens=5, billed=Billed(2, "images"))

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param({"billed": {"quantity": 4, "unit": "seconds"}}, id="billed-only"),
            pytest.param({"costDetails": {"upstreamCost": "0.2"}}, id="cost-details-only"),
        ],
    )
    def test_detected_without_tokens(self, payload: dict[str, Any]) -> None:
        """A usage with no tokens but a figure the provider reported is recognised."""
        usage = to_image_usage(payload)
        assert usage == from_tanstack(payload)
        assert usage.input_tokens is None
        assert usage.billed is not None or usage.reported_cost == D("0.2")

    @pytest.mark.parametrize(
        ("billed", "field", "value"),
        [
            ({"quantity": "lots", "unit": "images"}, "billed.quantity", "lots"),
            ({"quantity": 1, "unit": "credits"}, "billed.unit", "credits"),
            ({"quantity": None, "unit": "images"}, "billed.quantity", None),
        ],
    )
    def test_bad_billed(self, billed: dict[str, Any], field: str, value: Any) -> None:
        """A malformed billed is refused, naming its path and the value."""
        with pytest.raises(EventValidationError) as info:
            from_tanstack({"promptTokens": 1, "billed": billed})
        check_names(info.value, field, value)
        assert "tanstack usage" in str(info.value)

    @pytest.mark.parametrize("missing", ["quantity", "unit"])
    def test_billed_part_missing(self, missing: str) -> None:
        """billed without its quantity or its unit names the missing part."""
        billed = {"quantity": 1, "unit": "images"}
        del billed[missing]
        with pytest.raises(EventValidationError) as info:
            from_tanstack({"promptTokens": 1, "billed": billed})
        assert info.value.field == f"billed.{missing}"
        assert info.value.missing

    @pytest.mark.parametrize("bad", [[1], "1 image", 3])
    def test_billed_not_an_object(self, bad: Any) -> None:
        """billed that is not an object is refused, naming it."""
        with pytest.raises(EventValidationError) as info:
            from_tanstack({"promptTokens": 1, "billed": bad})
        check_names(info.value, "billed", bad)

    def test_bad_upstream_cost(self) -> None:
        """A malformed costDetails amount is named by its camelCase path."""
        with pytest.raises(EventValidationError) as info:
            from_tanstack({"promptTokens": 1, "costDetails": {"upstreamOutputCost": "n/a"}})
        check_names(info.value, "costDetails.upstreamOutputCost", "n/a")


class TestFal:
    """from_fal: the x-fal-billable-units response header as what fal billed."""

    def test_real_response(self, server: ImageServer) -> None:
        """The header of a real HTTP answer (httpx) becomes billed units; the body is not read."""
        server.answer_next(
            {"images": [{"url": "http://127.0.0.1/a.png"}]},
            headers={"x-fal-billable-units": "3.008", "x-fal-request-id": "fal-req-1"},
        )
        response = httpx.post(server.base_url + "/fal-ai/flux/dev", json={"prompt": "a fox"})
        usage = from_fal(response.headers)
        assert usage == ImageUsage(billed=Billed(D("3.008"), "units"))
        assert from_fal(response) == usage  # the response itself
        assert to_image_usage(response.headers) == usage  # recognised by its header

    @pytest.mark.parametrize(
        "headers",
        [{"X-Fal-Billable-Units": "2"}, {"x-fal-billable-units": "2"}, {"x-fal-billable-units": 2}],
    )
    def test_any_case(self, headers: dict[str, Any]) -> None:
        """A plain dict's header is found in any case."""
        assert from_fal(headers).billed == Billed(2, "units")

    def test_absent(self) -> None:
        """Without the header, fal reported nothing: an empty usage, still on the books."""
        assert from_fal(httpx.Headers({"content-type": "application/json"})) == ImageUsage()

    @pytest.mark.parametrize("bad", ["abc", "", "-1", "NaN", "1, 1", "inf"])
    def test_bad_header(self, bad: str) -> None:
        """A header that is no finite non-negative number names the header and its value."""
        with pytest.raises(EventValidationError) as info:
            from_fal(httpx.Headers({"x-fal-billable-units": bad}))
        assert (info.value.field, info.value.value) == ("x-fal-billable-units", bad)
        assert "'x-fal-billable-units' must be a finite, non-negative number" in str(info.value)
        assert f"got {bad!r}" in str(info.value)
        assert "fal headers" in str(info.value)

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            ("1e999999999", "must be below 1E+18"),
            ("1E+18", "must be below 1E+18"),
            ("1E-400", "has a digit finer than 1E-30"),
        ],
    )
    def test_header_out_of_bounds(self, bad: str, reason: str) -> None:
        """A billed quantity that cannot be summed exactly is refused, naming the header."""
        with pytest.raises(EventValidationError) as info:
            from_fal(httpx.Headers({"x-fal-billable-units": bad}))
        assert (info.value.field, info.value.value) == ("x-fal-billable-units", bad)
        assert reason in str(info.value)

    @pytest.mark.parametrize("bad", [None, "x-fal-billable-units: 1", 5])
    def test_not_headers(self, bad: Any) -> None:
        """Something that is no headers mapping is refused, naming headers."""
        with pytest.raises(EventValidationError) as info:
            from_fal(bad)
        check_names(info.value, "headers", bad)
