"""Money: the cost of a request, and exact arithmetic on amounts of USD.

:class:`ImageCost` is what pricing answers for one request: a total in USD
and its breakdown by :data:`COST_COMPONENTS`. Amounts are ``Decimal``; sums
are made in :data:`EXACT`, whatever decimal context the application set, and
kept as whole numbers of *cost units* (``10**-COST_SCALE`` USD,
:func:`cost_units`, :func:`units_to_usd`) wherever they have no finer digits,
so that summing millions of costs is integer arithmetic.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any, Final

import attrs

from aievents import _validate as v
from aievents._redact import ScrubbedRepr

__all__ = [
    "COST_BASES",
    "COST_COMPONENTS",
    "COST_SCALE",
    "EXACT",
    "UNIT_FIELDS",
    "ImageCost",
    "cost_units",
    "units_to_usd",
]

#: How a cost was reached: from token usage, per image, per megapixel, per
#: request, from what the provider says it billed, or a per-image estimate.
COST_BASES: Final = ("tokens", "images", "megapixels", "requests", "billed", "estimate")
#: The parts of a cost, in the order of :meth:`ImageCost.breakdown`: the token
#: parts OpenAI's usage API bills (:data:`aievents.usage.BILLED_PARTS`), then
#: the images billed per image.
COST_COMPONENTS: Final = (
    "input_text",
    "input_image",
    "cached_input",
    "output_image",
    "output_text",
    "per_image",
)
#: What :attr:`ImageCost.units` holds, in order: each component, then what the
#: total has beyond them (``other``), in cost units. The names are the cost
#: lanes of the usage totals (``aievents.query.FIELDS``).
UNIT_FIELDS: Final = (*(f"cost_{name}" for name in COST_COMPONENTS), "cost_other")

_ZERO: Final = Decimal(0)
#: The decimal context cost sums are made in: exact, whatever the application set.
EXACT: Final = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[])
#: Sums of costs are kept as whole numbers of 10**-COST_SCALE USD.
COST_SCALE: Final = 15
_SCALING: Final = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])


def cost_units(amount: Decimal) -> int | None:
    """``amount`` (USD) in whole units of ``10**-COST_SCALE`` USD.

    ``None`` when it has finer digits than that (or is not finite): such an
    amount can only be summed as a ``Decimal``.
    """
    if not amount:
        return 0
    try:
        scaled = amount.scaleb(COST_SCALE, _SCALING)
    except (decimal.Inexact, decimal.InvalidOperation):
        return None
    units = int(scaled) if scaled.is_finite() else None
    return units if units == scaled else None


def units_to_usd(units: int) -> Decimal:
    """The exact USD amount of ``units`` (see :func:`cost_units`), without trailing zeros."""
    if not units:
        return _ZERO
    exponent = -COST_SCALE
    while exponent and not units % 10:
        units //= 10
        exponent += 1
    return Decimal(units).scaleb(exponent, EXACT)


def _component() -> Any:
    return attrs.field(default=_ZERO, converter=v.to_decimal, validator=v.money)


@attrs.frozen(kw_only=True, slots=True)
class ImageCost(ScrubbedRepr):
    """The cost of one image request in USD, with its breakdown.

    ``total`` is the exact sum of the components. Token-billed requests fill
    the token components; per-image requests fill ``per_image`` (price times
    images returned, never times ``n`` again).

    Attributes:
        total: The cost in USD.
        currency: Always ``"usd"``.
        basis: ``tokens`` (from usage), ``images`` (per-image price),
            ``megapixels`` (per megapixel of each image), ``requests`` (per
            request), ``billed`` (the quantity the provider says it billed,
            ``usage.billed``, at the table's price of its unit) or
            ``estimate`` (a per-image estimate for a token-billed model whose
            response reported no usage).
        input_text: Uncached text input tokens at the text rate.
        input_image: Uncached image input tokens at the image rate.
        cached_input: Cached input tokens at the cached rates.
        output_image: Image output tokens at the image output rate.
        output_text: Text output tokens at the text output rate.
        per_image: The image charge: every charge that is not by token
            (images times the per-image price or estimate, megapixels, the
            request, the billed quantity).
        price_version: Version of the price table used.
        priced_model: The model the request was priced as: the price table
            entry used (a dated snapshot, an alias or a gateway's name of a
            model is priced as that model's entry).
        unpriced: Components that had tokens but no rate in the table; the
            total leaves them out.
        units: Read-only, worked out when the cost is built: the cost in
            cost units (:func:`cost_units`), one per name of
            :data:`UNIT_FIELDS` (the components, then what the total has
            beyond them when they are all zero); ``None`` when one of them has
            finer digits. Every sink that sums costs reads it, the compiled
            tally (``aievents._speedups``) included: this slot, its name and
            its order are the contract with it.
    """

    total: Decimal = attrs.field(
        default=v.REQUIRED, converter=v.to_decimal, validator=v.required(v.money)
    )
    currency: str = attrs.field(default="usd", validator=v.choice(("usd",)))
    basis: str = attrs.field(default=v.REQUIRED, validator=v.required(v.choice(COST_BASES)))
    input_text: Decimal = _component()
    input_image: Decimal = _component()
    cached_input: Decimal = _component()
    output_image: Decimal = _component()
    output_text: Decimal = _component()
    per_image: Decimal = _component()
    price_version: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    priced_model: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    unpriced: tuple[str, ...] = attrs.field(default=(), converter=v.to_tuple, validator=v.strings)
    units: tuple[int, ...] | None = attrs.field(
        default=None, init=False, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        parts = [cost_units(getattr(self, name)) for name in COST_COMPONENTS]
        parts.append(0 if any(parts) else cost_units(self.total))
        if None not in parts:
            object.__setattr__(self, "units", tuple(parts))

    @property
    def complete(self) -> bool:
        """Whether every token had a rate (``unpriced`` is empty)."""
        return not self.unpriced

    def breakdown(self) -> dict[str, Decimal]:
        """The components that are not zero, by name."""
        return {name: value for name in COST_COMPONENTS if (value := getattr(self, name))}
