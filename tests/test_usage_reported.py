"""Tests for what a provider reports beside the tokens: Billed, CostDetails, reported_cost."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aievents
from aievents.exceptions import EventValidationError
from aievents.usage import (
    BILLED_UNITS,
    Billed,
    CostDetails,
    ImageUsage,
    flat_reported,
)

from helpers import check_names

D = Decimal


class TestBilled:
    """Billed: a finite, non-negative Decimal quantity in one of the billed units."""

    @pytest.mark.parametrize("unit", BILLED_UNITS)
    def test_every_unit(self, unit: str) -> None:
        """Each unit is taken, by position or by keyword."""
        assert Billed(2, unit) == Billed(quantity=D(2), unit=unit)

    @pytest.mark.parametrize(
        ("given_quantity", "expected"),
        [
            (3, "3"),
            ("3.008", "3.008"),
            (" 1.50 ", "1.50"),
            (D("0.5"), "0.5"),
            (1.1, "1.1"),  # through repr, not the binary expansion
            (0, "0"),
        ],
    )
    def test_quantity_converted_exactly(self, given_quantity: Any, expected: str) -> None:
        """Ints, numeric strings, Decimals and floats (through repr) become exact Decimals."""
        quantity = Billed(given_quantity, "units").quantity
        assert type(quantity) is Decimal
        assert str(quantity) == expected

    @given(value=st.one_of(st.just(0.0), st.floats(min_value=1e-13, max_value=9.99e17)))
    def test_any_float_round_trips(self, value: float) -> None:
        """Every float in bounds is kept as its shortest decimal (17 digits reach 1E-29)."""
        assert Billed(value, "seconds").quantity == Decimal(repr(value))

    @pytest.mark.parametrize(
        "bad", ["abc", "", "1,5", math.nan, math.inf, True, None, [1], b"1", object()]
    )
    def test_garbage_quantity(self, bad: Any) -> None:
        """A quantity that is no number is refused, naming the field and the value as given."""
        with pytest.raises(EventValidationError) as info:
            Billed(bad, "units")
        check_names(info.value, "quantity", bad)
        assert "Billed" in str(info.value)

    @pytest.mark.parametrize(("bad", "shown"), [(-1, "-1"), ("-0.5", "-0.5"), ("NaN", "NaN")])
    def test_negative_or_not_finite(self, bad: Any, shown: str) -> None:
        """A negative or non-finite number is refused, named as its Decimal."""
        with pytest.raises(EventValidationError) as info:
            Billed(bad, "units")
        assert info.value.field == "quantity"
        assert str(info.value.value) == shown

    @pytest.mark.parametrize("bad", ["unit", "Images", "", 3, None, "credits"])
    def test_unknown_unit(self, bad: Any) -> None:
        """A unit outside BILLED_UNITS is refused, naming it and listing the units."""
        with pytest.raises(EventValidationError) as info:
            Billed(1, bad)
        check_names(info.value, "unit", bad)
        assert "'megapixels'" in str(info.value)

    @pytest.mark.parametrize("missing", ["quantity", "unit"])
    def test_both_required(self, missing: str) -> None:
        """Neither field has a default: leaving one out names it as missing."""
        given_fields: dict[str, Any] = {"quantity": 1, "unit": "images"}
        del given_fields[missing]
        with pytest.raises(EventValidationError) as info:
            Billed(**given_fields)
        assert info.value.field == missing
        assert info.value.missing

    def test_frozen_and_hashable(self) -> None:
        """A Billed cannot be changed, and equal ones hash alike."""
        billed = Billed(1, "images")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            billed.quantity = D(2)  # type: ignore[misc]
        assert hash(billed) == hash(Billed("1", "images"))


class TestBounds:
    """Amounts below 1E+15 USD, quantities below 1E+18, no digit finer than 1E-30: summable."""

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            ("1e999999999", "must be below 1E+18"),
            ("1E+400", "must be below 1E+18"),
            (D(10**18), "must be below 1E+18"),
            ("1E-400", "has a digit finer than 1E-30"),
            ("0.1000000000000000000000000000001", "has a digit finer than 1E-30"),
        ],
    )
    def test_quantity_refused(self, bad: Any, reason: str) -> None:
        """A quantity past the bounds is refused, naming the field and the value."""
        with pytest.raises(EventValidationError) as info:
            Billed(bad, "units")
        assert info.value.field == "quantity"
        assert reason in str(info.value)

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            ("1e999999999", "must be below 1E+15 USD"),
            ("1E+400", "must be below 1E+15 USD"),
            (1e15, "must be below 1E+15 USD"),
            ("1E-400", "has a digit finer than 1E-30"),
        ],
    )
    def test_amount_refused(self, bad: Any, reason: str) -> None:
        """A reported amount past the bounds is refused, naming the field and the value."""
        for build, field in (
            (lambda a: ImageUsage(cost=a), "cost"),
            (lambda a: CostDetails(upstream_cost=a), "upstream_cost"),
        ):
            with pytest.raises(EventValidationError) as info:
                build(bad)
            assert info.value.field == field
            assert reason in str(info.value)

    @pytest.mark.parametrize(
        "good",
        [
            "999999999999999.999999999999999999999999999999",
            "1E-30",
            "0E-400",
            "1.50000000000000000000000000000000000000",
        ],
    )
    def test_edges_kept(self, good: str) -> None:
        """The largest and finest amounts kept, and trailing zeros are no finer digit."""
        assert ImageUsage(cost=good).cost == D(good)
        assert Billed(good, "units").quantity == D(good)

    def test_cost_past_the_bound_unknown(self) -> None:
        """A cost a price would make past 1E+15 USD is unknown (None), never an error or inf."""
        from aievents.pricing import PriceBook

        # gpt-image-1 output image tokens at $40.00/M (pricing.md):
        # 10**20 tokens x 40 / 10**6 = $4 x 10**15, past the bound.
        usage = ImageUsage(input_tokens=0, output_tokens=10**20)
        assert PriceBook().image_cost("gpt-image-1", usage=usage) is None
        # 10**6 tokens: $40.00, priced as ever.
        fine = PriceBook().image_cost("gpt-image-1", usage=ImageUsage(output_tokens=10**6))
        assert fine is not None
        assert fine.total == D(40)


class TestCostDetails:
    """CostDetails: three optional amounts, converted as ImageUsage.cost is."""

    def test_defaults_to_none(self) -> None:
        """Nothing reported is None, not 0."""
        assert attrs.asdict(CostDetails()) == {
            "upstream_cost": None,
            "upstream_input_cost": None,
            "upstream_output_cost": None,
        }

    def test_converted_exactly(self) -> None:
        """Floats through repr, strings and ints exactly."""
        details = CostDetails(
            upstream_cost=0.04, upstream_input_cost="0.001", upstream_output_cost=0
        )
        assert details == CostDetails(
            upstream_cost=D("0.04"), upstream_input_cost=D("0.001"), upstream_output_cost=D(0)
        )

    @pytest.mark.parametrize(
        "field", ["upstream_cost", "upstream_input_cost", "upstream_output_cost"]
    )
    @pytest.mark.parametrize("bad", ["cheap", math.nan, True, [1]])
    def test_bad_amount(self, field: str, bad: Any) -> None:
        """An amount that is no number is refused, naming the field and the value."""
        with pytest.raises(EventValidationError) as info:
            CostDetails(**{field: bad})
        check_names(info.value, field, bad)

    def test_keyword_only(self) -> None:
        """The three amounts cannot be passed by position, where they would be easy to swap."""
        with pytest.raises(TypeError):
            CostDetails(1, 2, 3)  # type: ignore[misc]


class TestImageUsageReported:
    """ImageUsage.billed, cost_details and reported_cost."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("billed", {"quantity": 1, "unit": "images"}),
            ("billed", CostDetails()),
            ("cost_details", {"upstream_cost": 1}),
            ("cost_details", Billed(1, "images")),
        ],
    )
    def test_wrong_type(self, field: str, value: Any) -> None:
        """billed must be a Billed and cost_details a CostDetails, not a dict."""
        with pytest.raises(EventValidationError) as info:
            ImageUsage(**{field: value})
        check_names(info.value, field, value)

    @pytest.mark.parametrize(
        ("usage", "expected"),
        [
            pytest.param(ImageUsage(), None, id="nothing-reported"),
            pytest.param(ImageUsage(cost="0.05"), D("0.05"), id="cost"),
            pytest.param(
                ImageUsage(cost_details=CostDetails(upstream_cost="0.04")),
                D("0.04"),
                id="upstream-only",
            ),
            pytest.param(
                ImageUsage(cost="0.042", cost_details=CostDetails(upstream_cost="0.04")),
                D("0.042"),
                id="cost-first",
            ),
            pytest.param(
                ImageUsage(cost_details=CostDetails(upstream_input_cost="0.01")),
                None,
                id="parts-are-not-a-total",
            ),
            pytest.param(ImageUsage(billed=Billed(3, "units")), None, id="billed-is-no-cost"),
        ],
    )
    def test_reported_cost(self, usage: ImageUsage, expected: Decimal | None) -> None:
        """cost, else the upstream cost, else None (never 0)."""
        assert usage.reported_cost == expected

    def test_billed_leaves_tokens_alone(self) -> None:
        """What was billed is no token count: the split stays that of the tokens."""
        usage = ImageUsage(input_tokens=5, billed=Billed(2, "images"))
        assert usage.split == ImageUsage(input_tokens=5).split

    def test_exported(self) -> None:
        """Billed and CostDetails are aievents' own names too."""
        assert aievents.Billed is Billed
        assert aievents.CostDetails is CostDetails


class TestFlatReported:
    """flat_reported: the provider's figures as the flat fields of logs and OTLP."""

    def test_everything(self) -> None:
        """The reported cost, the billed quantity and unit."""
        usage = ImageUsage(
            billed=Billed("3.008", "seconds"), cost_details=CostDetails(upstream_cost="0.09024")
        )
        assert flat_reported(usage) == {
            "reported_cost_usd": D("0.09024"),
            "billed_quantity": D("3.008"),
            "billed_unit": "seconds",
        }

    def test_nothing(self) -> None:
        """Nothing reported: no fields, rather than zeros."""
        assert flat_reported(ImageUsage(input_tokens=5)) == {}
