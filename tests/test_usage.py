"""Tests for aievents.usage: ImageUsage, and the one rule its tokens are billed by."""

from __future__ import annotations

import inspect
import math
from decimal import Decimal
from types import MemberDescriptorType
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievents import adapters, money
from aievents import usage as usage_module
from aievents._genai import usage_values
from aievents.exceptions import EventValidationError
from aievents.money import COST_COMPONENTS
from aievents.query import FIELDS
from aievents.usage import (
    BILLED_PARTS,
    FLAT_TOKEN_FIELDS,
    SPLIT_FIELDS,
    ImageUsage,
    InputTokensDetails,
    OutputTokensDetails,
    billed_from_split,
    billed_tokens,
    flat_tokens,
    token_split,
)

from helpers import check_names, usage_event

# The usage of the generation body of the OpenAI spec (reference/openai-usage-api.md).
SPEC_USAGE = ImageUsage(
    input_tokens=50,
    output_tokens=50,
    total_tokens=100,
    input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
)

# A newer model's usage, with output_tokens_details.
DETAILED_USAGE = ImageUsage(
    input_tokens=60,
    output_tokens=1100,
    total_tokens=1160,
    input_tokens_details=InputTokensDetails(text_tokens=20, image_tokens=40),
    output_tokens_details=OutputTokensDetails(text_tokens=44, image_tokens=1056),
)

# Values an ImageUsage built directly refuses as a count.
bad_counts = st.one_of(
    st.integers(max_value=-1),
    st.floats(),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=1),
)


class TestImageUsage:
    """ImageUsage itself."""

    def test_everything_defaults_to_none(self) -> None:
        """A provider reporting no tokens leaves every count None, which is not 0."""
        usage = ImageUsage()
        assert attrs.asdict(usage, filter=lambda field, _: field.init) == {
            "input_tokens": None,
            "output_tokens": None,
            "total_tokens": None,
            "input_tokens_details": None,
            "output_tokens_details": None,
            "cost": None,
            "billed": None,
            "cost_details": None,
        }
        assert usage.reported_cost is None
        assert usage != ImageUsage(input_tokens=0, output_tokens=0, total_tokens=0)

    def test_is_frozen(self) -> None:
        """ImageUsage and its details cannot be changed."""
        usage = SPEC_USAGE
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            usage.input_tokens = 1  # type: ignore[misc]
        assert usage.input_tokens_details is not None
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            usage.input_tokens_details.text_tokens = 1  # type: ignore[misc]
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            OutputTokensDetails().image_tokens = 1  # type: ignore[misc]

    def test_is_keyword_only(self) -> None:
        """Counts cannot be passed by position, where they would be easy to swap."""
        with pytest.raises(TypeError):
            ImageUsage(50, 50)  # type: ignore[misc]

    @pytest.mark.parametrize("field", ["input_tokens", "output_tokens", "total_tokens"])
    @given(value=bad_counts)
    def test_bad_count(self, field: str, value: Any) -> None:
        """Counts refuse negatives, floats, bools and strings, naming the field."""
        with pytest.raises(EventValidationError) as info:
            ImageUsage(**{field: value})
        check_names(info.value, field, value)
        assert "ImageUsage" in str(info.value)

    @pytest.mark.parametrize(
        ("cls", "field"),
        [
            (InputTokensDetails, "text_tokens"),
            (InputTokensDetails, "image_tokens"),
            (InputTokensDetails, "cached_tokens"),
            (OutputTokensDetails, "text_tokens"),
            (OutputTokensDetails, "image_tokens"),
        ],
    )
    @given(value=bad_counts)
    def test_bad_detail_count(self, cls: type, field: str, value: Any) -> None:
        """The details' counts are validated the same way."""
        with pytest.raises(EventValidationError) as info:
            cls(**{field: value})
        check_names(info.value, field, value)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("input_tokens_details", {"text_tokens": 1}),
            ("input_tokens_details", OutputTokensDetails()),
            ("output_tokens_details", InputTokensDetails()),
            ("output_tokens_details", [1, 2]),
        ],
    )
    def test_details_of_the_wrong_type(self, field: str, value: Any) -> None:
        """Details must be the matching details class, not a dict or the other class."""
        with pytest.raises(EventValidationError) as info:
            ImageUsage(**{field: value})
        check_names(info.value, field, value)

    def test_breakdown_properties(self) -> None:
        """The flat properties read the details, and are None where nothing was reported."""
        assert DETAILED_USAGE.input_text_tokens == 20
        assert DETAILED_USAGE.input_image_tokens == 40
        assert DETAILED_USAGE.input_cached_tokens is None
        assert DETAILED_USAGE.output_text_tokens == 44
        assert DETAILED_USAGE.output_image_tokens == 1056
        empty = ImageUsage()
        assert empty.input_text_tokens is None
        assert empty.input_image_tokens is None
        assert empty.input_cached_tokens is None
        assert empty.output_text_tokens is None
        assert empty.output_image_tokens is None

    def test_output_image_tokens_without_breakdown(self) -> None:
        """Without an output breakdown, an image request's output is its images."""
        assert ImageUsage(output_tokens=272).output_image_tokens == 272
        partial = ImageUsage(output_tokens=272, output_tokens_details=OutputTokensDetails())
        assert partial.output_image_tokens is None


class TestCost:
    """ImageUsage.cost is an exact Decimal amount."""

    def test_float_goes_through_repr(self) -> None:
        """A float cost becomes the Decimal of its repr: 0.04 is Decimal('0.04')."""
        cost = ImageUsage(cost=0.04).cost
        assert type(cost) is Decimal
        assert cost == Decimal("0.04")
        assert cost != Decimal.from_float(0.04)  # not the binary expansion

    @given(value=st.one_of(st.just(0.0), st.floats(min_value=1e-13, max_value=9.99e14)))
    def test_any_float_round_trips(self, value: float) -> None:
        """Every float in bounds is kept as its shortest decimal, exactly (17 digits: 1E-29)."""
        cost = ImageUsage(cost=value).cost
        assert cost == Decimal(repr(value))
        assert float(cost) == value  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("given_cost", "expected"),
        [
            ("0.04", Decimal("0.04")),
            (" 1.50 ", Decimal("1.50")),
            ("0.0000001", Decimal("1E-7")),
            (2, Decimal(2)),
            (0, Decimal(0)),
            (Decimal("0.011"), Decimal("0.011")),
        ],
    )
    def test_str_int_and_decimal(self, given_cost: Any, expected: Decimal) -> None:
        """Numeric strings, ints and Decimals are taken exactly."""
        cost = ImageUsage(cost=given_cost).cost
        assert type(cost) is Decimal
        assert cost == expected
        assert str(cost) == str(expected)

    @pytest.mark.parametrize(
        "bad", [math.nan, math.inf, -math.inf, "abc", "", "1,5", "$0.04", True, [0.04], b"1"]
    )
    def test_garbage_is_refused(self, bad: Any) -> None:
        """NaN, infinities, non-numeric strings, bools and containers are refused as given."""
        with pytest.raises(EventValidationError) as info:
            ImageUsage(cost=bad)
        check_names(info.value, "cost", bad)

    @pytest.mark.parametrize(
        ("bad", "shown"),
        [
            (-0.01, "-0.01"),
            (-1, "-1"),
            ("-1", "-1"),
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("-inf", "-Infinity"),
            (Decimal("-0.5"), "-0.5"),
            (Decimal("sNaN"), "sNaN"),
        ],
    )
    def test_negative_and_non_finite_numbers_are_refused(self, bad: Any, shown: str) -> None:
        """Negative and non-finite amounts are refused, naming the amount as a Decimal."""
        with pytest.raises(EventValidationError) as info:
            ImageUsage(cost=bad)
        err = info.value
        assert err.field == "cost"
        assert isinstance(err.value, Decimal)
        assert str(err.value) == shown
        assert "'cost'" in str(err)
        assert repr(err.value) in str(err)

    @given(value=st.floats(max_value=-1e-300))
    def test_any_negative_float_is_refused(self, value: float) -> None:
        """No negative float is a cost."""
        with pytest.raises(EventValidationError, match="'cost'"):
            ImageUsage(cost=value)


class TestBilledTokens:
    """billed_tokens counts as OpenAI's usage API does: cached input apart, from text first."""

    @pytest.mark.parametrize(
        ("cached", "expected"),
        [
            pytest.param(0, (20, 40, 0, 1056, 44), id="none-cached"),
            pytest.param(15, (5, 40, 15, 1056, 44), id="cached-within-text"),
            pytest.param(30, (0, 30, 30, 1056, 44), id="cached-past-text"),
        ],
    )
    def test_split(self, cached: int, expected: tuple[int, ...]) -> None:
        """Uncached text, uncached image, cached, output image, output text."""
        usage = ImageUsage(
            input_tokens=60,
            output_tokens=1100,
            input_tokens_details=InputTokensDetails(
                text_tokens=20, image_tokens=40, cached_tokens=cached
            ),
            output_tokens_details=OutputTokensDetails(text_tokens=44, image_tokens=1056),
        )
        assert billed_tokens(usage) == expected
        assert sum(expected) == 60 + 1100

    def test_without_details(self) -> None:
        """No details: all input is text, all output is image."""
        assert billed_tokens(ImageUsage(input_tokens=50, output_tokens=1056)) == (
            50,
            0,
            0,
            1056,
            0,
        )


class TestSplit:
    """ImageUsage.split: token_split's answer, a read-only slot in SPLIT_FIELDS order."""

    USAGE = ImageUsage(
        input_tokens=60,
        output_tokens=1100,
        total_tokens=1160,
        input_tokens_details=InputTokensDetails(text_tokens=20, image_tokens=40, cached_tokens=30),
        output_tokens_details=OutputTokensDetails(text_tokens=44, image_tokens=1056),
    )

    def test_by_name(self) -> None:
        """Each count sits under its name in SPLIT_FIELDS."""
        assert dict(zip(SPLIT_FIELDS, self.USAGE.split, strict=True)) == {
            "input_text_tokens": 20,
            "input_image_tokens": 40,
            "input_cached_text_tokens": 20,
            "input_cached_image_tokens": 10,
            "output_image_tokens": 1056,
            "output_text_tokens": 44,
        }
        assert token_split(self.USAGE) is self.USAGE.split

    def test_names_are_token_lanes(self) -> None:
        """SPLIT_FIELDS name lanes of the usage totals, where sinks add the split."""
        assert set(SPLIT_FIELDS) <= set(FIELDS)

    def test_read_only(self) -> None:
        """It cannot be set, given, nor does it take part in equality or repr."""
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            self.USAGE.split = (0,) * 6  # type: ignore[misc]
        with pytest.raises(TypeError):
            ImageUsage(split=(0,) * 6)  # type: ignore[call-arg]
        assert "split" not in repr(self.USAGE)

    def test_a_slot(self) -> None:
        """It is an object slot: what the compiled tally reads at an offset."""
        assert "split" in ImageUsage.__slots__
        assert isinstance(inspect.getattr_static(ImageUsage, "split"), MemberDescriptorType)

    def test_made_without_init(self) -> None:
        """A usage copied slot by slot without __init__ gets its split when first asked."""
        bare = object.__new__(ImageUsage)
        for field in attrs.fields(ImageUsage):
            if field.init:
                object.__setattr__(bare, field.name, getattr(self.USAGE, field.name))
        assert token_split(bare) == self.USAGE.split
        assert bare.split == self.USAGE.split


class TestBilledFromSplit:
    """billed_from_split: the one rule for a usage and for summed totals alike."""

    @given(split=st.tuples(*[st.integers(0, 10**6)] * 6))
    def test_rule(self, split: tuple[int, int, int, int, int, int]) -> None:
        """Uncached text, uncached image, cached of both, output image, output text."""
        text, image, cached_text, cached_image, out_image, out_text = split
        assert billed_from_split(split) == (
            text - cached_text,
            image - cached_image,
            cached_text + cached_image,
            out_image,
            out_text,
        )

    def test_of_a_usage(self) -> None:
        """billed_tokens is the rule applied to the usage's split."""
        usage = TestSplit.USAGE
        assert billed_tokens(usage) == billed_from_split(usage.split) == (0, 30, 30, 1056, 44)

    def test_parts_are_the_token_cost_components(self) -> None:
        """The billed parts name the token components of a cost, in order."""
        assert COST_COMPONENTS[: len(BILLED_PARTS)] == BILLED_PARTS


class TestFlatTokens:
    """flat_tokens: the flat token fields logs and metrics carry."""

    def test_detailed(self) -> None:
        """Reported counts, billed counts, and image tokens of both sides."""
        flat = flat_tokens(TestSplit.USAGE)
        assert flat == {
            "input_tokens": 60,
            "output_tokens": 1100,
            "total_tokens": 1160,
            "input_text_tokens": 0,
            "input_image_tokens": 30,
            "cached_tokens": 30,
            "output_image_tokens": 1056,
            "output_text_tokens": 44,
            "image_tokens": 40 + 1056,
        }
        assert tuple(flat) == FLAT_TOKEN_FIELDS

    def test_one_side(self) -> None:
        """A count not reported is left out; the others are counted."""
        assert flat_tokens(ImageUsage(input_tokens=7)) == {
            "input_tokens": 7,
            "input_text_tokens": 7,
            "input_image_tokens": 0,
            "cached_tokens": 0,
            "output_image_tokens": 0,
            "output_text_tokens": 0,
            "image_tokens": 0,
        }

    def test_no_tokens_reported(self) -> None:
        """A provider that reports no tokens has no counts, not zeros."""
        assert flat_tokens(ImageUsage()) == {}
        assert flat_tokens(ImageUsage(cost="0.04", total_tokens=None)) == {}

    @given(
        counts=st.tuples(*(st.one_of(st.none(), st.integers(0, 10**6)) for _ in range(8))),
        inputs=st.booleans(),
        outputs=st.booleans(),
        unknown=st.booleans(),
    )
    def test_otel_attributes_are_the_flat_counts(
        self, counts: tuple[int | None, ...], inputs: bool, outputs: bool, unknown: bool
    ) -> None:
        """The OpenTelemetry attributes (spans, OTLP records) carry exactly flat_tokens' counts."""
        given_, taken, text, image, cached, out_image, out_text, total = counts
        usage = ImageUsage(
            input_tokens=given_,
            output_tokens=taken,
            total_tokens=total,
            input_tokens_details=InputTokensDetails(
                text_tokens=text, image_tokens=image, cached_tokens=cached
            )
            if inputs
            else None,
            output_tokens_details=OutputTokensDetails(image_tokens=out_image, text_tokens=out_text)
            if outputs
            else None,
        )
        values = usage_values(usage_event(usage=usage, cost=None), unknown=unknown)
        names = {
            "input_tokens": "gen_ai.usage.input_tokens",
            "output_tokens": "gen_ai.usage.output_tokens",
        }
        flat = flat_tokens(usage).items()
        expected = {names.get(name, f"aievents.{name}"): n for name, n in flat}
        if unknown:  # the conventions' two counts are there, None when not reported
            expected.setdefault("gen_ai.usage.input_tokens", None)
            expected.setdefault("gen_ai.usage.output_tokens", None)
        assert values == expected


class TestMovedNames:
    """The money and adapter names are still found in aievents.usage, as their new homes' own."""

    @pytest.mark.parametrize(
        "name", ["COST_BASES", "COST_COMPONENTS", "COST_SCALE", "EXACT", "ImageCost", "cost_units"]
    )
    def test_money(self, name: str) -> None:
        """aievents.usage.<name> is aievents.money.<name>."""
        assert getattr(usage_module, name) is getattr(money, name)

    @pytest.mark.parametrize(
        "name", ["from_gemini", "from_openai", "from_orq", "from_tanstack", "to_image_usage"]
    )
    def test_adapters(self, name: str) -> None:
        """aievents.usage.<name> is aievents.adapters.<name>."""
        assert getattr(usage_module, name) is getattr(adapters, name)

    def test_other_names_are_missing(self) -> None:
        """A name that never lived here is an AttributeError naming it."""
        with pytest.raises(AttributeError, match="'from_nowhere'"):
            usage_module.from_nowhere  # noqa: B018
        assert "ImageCost" not in usage_module.__all__
