"""Tests for aievents.money: ImageCost and exact arithmetic in cost units."""

from __future__ import annotations

import decimal
import inspect
from decimal import Decimal
from types import MemberDescriptorType

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievents.money import (
    COST_COMPONENTS,
    COST_SCALE,
    EXACT,
    UNIT_FIELDS,
    ImageCost,
    cost_units,
    units_to_usd,
)
from aievents.query import FIELDS

from helpers import priced_cost

D = Decimal
UNIT = D(1).scaleb(-COST_SCALE)


class TestCostUnits:
    """cost_units: whole units of 10**-COST_SCALE USD, or None for finer amounts."""

    @pytest.mark.parametrize(
        ("amount", "units"),
        [
            pytest.param(D(0), 0, id="zero"),
            pytest.param(D("0.00"), 0, id="zero-with-digits"),
            pytest.param(D("0.04"), 40 * 10**12, id="cents"),
            pytest.param(D("1E-15"), 1, id="one-unit"),
            pytest.param(D("123456789.000000000000001"), 123456789 * 10**15 + 1, id="large"),
        ],
    )
    def test_exact(self, amount: Decimal, units: int) -> None:
        """An amount of whole units is that many units."""
        assert cost_units(amount) == units

    @pytest.mark.parametrize("amount", [D("1E-16"), D("0.0000000000000015"), D("NaN"), D("Inf")])
    def test_finer_or_not_finite(self, amount: Decimal) -> None:
        """A finer amount, or no number, has no units."""
        assert cost_units(amount) is None

    def test_whatever_the_application_context(self) -> None:
        """A context with few digits and traps set changes nothing."""
        with decimal.localcontext(decimal.Context(prec=2, traps=[decimal.Inexact])):
            assert cost_units(D("123.456789")) == 123456789 * 10**9

    @given(units=st.integers(min_value=-(10**30), max_value=10**30))
    def test_round_trip(self, units: int) -> None:
        """units_to_usd is exact, and cost_units takes it back."""
        usd = units_to_usd(units)
        assert usd == EXACT.multiply(D(units), UNIT)
        assert cost_units(usd) == units

    def test_no_trailing_zeros(self) -> None:
        """The amount is written without the zeros of its scale."""
        assert str(units_to_usd(40 * 10**12)) == "0.04"
        assert str(units_to_usd(0)) == "0"
        assert str(units_to_usd(7 * 10**15)) == "7"

    def test_exact_context(self) -> None:
        """EXACT sums far past the default precision, without traps."""
        assert EXACT.add(D("1E+30"), UNIT) == D("1000000000000000000000000000000.000000000000001")


class TestImageCostUnits:
    """ImageCost.units: its parts in cost units, in UNIT_FIELDS order, a read-only slot."""

    def test_by_name(self) -> None:
        """Each component under its name, then nothing other."""
        cost = priced_cost(input_text="0.001", output_image="0.04", per_image="0.5")
        assert dict(zip(UNIT_FIELDS, cost.units or (), strict=True)) == {
            "cost_input_text": 10**12,
            "cost_input_image": 0,
            "cost_cached_input": 0,
            "cost_output_image": 40 * 10**12,
            "cost_output_text": 0,
            "cost_per_image": 500 * 10**12,
            "cost_other": 0,
        }

    def test_total_without_components(self) -> None:
        """A total with no breakdown is counted as other."""
        cost = ImageCost(total="0.25", basis="estimate", price_version="t", priced_model="m")
        assert cost.units == (0, 0, 0, 0, 0, 0, 250 * 10**12)

    def test_finer_digits(self) -> None:
        """One component finer than a unit: no units, the parts are summed as Decimal."""
        assert priced_cost(input_text="1E-16", output_image="0.04").units is None

    def test_names_are_cost_lanes(self) -> None:
        """UNIT_FIELDS are the components, then other: the cost lanes of the totals."""
        assert tuple(f"cost_{name}" for name in (*COST_COMPONENTS, "other")) == UNIT_FIELDS
        start = FIELDS.index(UNIT_FIELDS[0])
        assert FIELDS[start : start + len(UNIT_FIELDS)] == UNIT_FIELDS

    def test_read_only_slot(self) -> None:
        """It cannot be set nor given, takes no part in equality, and is an object slot."""
        cost = priced_cost(output_image="0.04")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            cost.units = None  # type: ignore[misc]
        with pytest.raises(TypeError):
            ImageCost(total=1, basis="tokens", price_version="t", priced_model="m", units=())  # type: ignore[call-arg]
        assert cost == attrs.evolve(cost)
        assert "units" not in repr(cost)
        assert isinstance(inspect.getattr_static(ImageCost, "units"), MemberDescriptorType)
