"""The usage model's classes: what :mod:`aievents.usage` exports, defined below it.

:class:`ImageUsage` and its details live here so that the provider adapters
(:mod:`aievents.adapters`), which build them, do not import
:mod:`aievents.usage`: that module serves the adapters' functions under their
old names (``aievents.usage.from_openai``), and the two would otherwise ask
for each other. Everything here is public in :mod:`aievents.usage`, and is
documented and imported from there; the library's own modules import it
from there too, but for the adapters.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import attrs

from aievents import _validate as v
from aievents._diag import RateLimitedLog

__all__ = [
    "BILLED_UNITS",
    "Billed",
    "CostDetails",
    "ImageUsage",
    "InputTokensDetails",
    "OutputTokensDetails",
    "add_usage",
    "split_tokens",
]

_DIAG: Final = RateLimitedLog("usage")

#: The units a provider bills in (TanStack's ``billed.unit``).
BILLED_UNITS: Final = (
    "tokens",
    "seconds",
    "characters",
    "images",
    "videos",
    "megapixels",
    "requests",
    "units",
)


@attrs.frozen(kw_only=True, slots=True)
class InputTokensDetails:
    """Breakdown of the input tokens of a request.

    Attributes:
        text_tokens: Tokens of the text prompt.
        image_tokens: Tokens of the input images (edits, references).
        cached_tokens: Input tokens served from the provider's cache (a
            subset of the input, billed at the cached rate).
    """

    text_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    image_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    cached_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)


@attrs.frozen(kw_only=True, slots=True)
class OutputTokensDetails:
    """Breakdown of the output tokens of a request.

    Attributes:
        text_tokens: Text the model produced (reasoning included, when the
            provider counts it as output).
        image_tokens: Tokens of the produced images.
    """

    text_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    image_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)


def _quantity(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is v.REQUIRED:
        raise v.fail(instance, attribute.name, value, "is required")
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise v.fail(instance, attribute.name, value, "must be a finite, non-negative number")


@attrs.frozen(slots=True)
class Billed:
    """What the provider billed for a request, in its own unit (TanStack's ``billed``).

    ``Billed(3, "units")`` is fal's ``x-fal-billable-units: 3``;
    ``Billed("1.5", "megapixels")`` a megapixel-billed image.

    Attributes:
        quantity: How many units were billed, a finite non-negative
            ``Decimal``; ints, numeric strings and floats (through their
            shortest ``repr``) are converted.
        unit: One of ``BILLED_UNITS``: ``tokens``, ``seconds``,
            ``characters``, ``images``, ``videos``, ``megapixels``,
            ``requests`` or ``units`` (a unit of the provider's own, as fal's).
    """

    quantity: Decimal = attrs.field(default=v.REQUIRED, converter=v.to_decimal, validator=_quantity)
    unit: str = attrs.field(default=v.REQUIRED, validator=v.required(v.choice(BILLED_UNITS)))


@attrs.frozen(kw_only=True, slots=True)
class CostDetails:
    """The upstream provider's share of a gateway's cost (TanStack's ``costDetails``).

    A gateway (OpenRouter) reports what it charged as ``cost`` and what the
    provider behind it charged here. Every amount is optional, in USD, a
    ``Decimal`` (converted as ``ImageUsage.cost`` is).

    Attributes:
        upstream_cost: What the upstream provider charged in all.
        upstream_input_cost: Its charge for the input.
        upstream_output_cost: Its charge for the output.
    """

    upstream_cost: Decimal | None = attrs.field(
        default=None, converter=v.to_decimal, validator=v.OPT_MONEY
    )
    upstream_input_cost: Decimal | None = attrs.field(
        default=None, converter=v.to_decimal, validator=v.OPT_MONEY
    )
    upstream_output_cost: Decimal | None = attrs.field(
        default=None, converter=v.to_decimal, validator=v.OPT_MONEY
    )


_INPUT_DETAILS_HINT: Final = "an InputTokensDetails"
_OUTPUT_DETAILS_HINT: Final = "an OutputTokensDetails"
_BILLED_HINT: Final = "a Billed (aievents.usage.Billed)"
_COST_DETAILS_HINT: Final = "a CostDetails (aievents.usage.CostDetails)"


@attrs.frozen(kw_only=True, slots=True)
class ImageUsage:
    """Usage of one image request as the provider reported it: tokens, what it billed, its cost.

    Every count is optional: a provider that reports no tokens (DALL-E,
    Imagen, Stability) leaves them ``None``, which is different from ``0``.
    The totals cover every image of the request: they are never multiplied by
    the number of images again.

    ``cost``, ``cost_details`` and ``billed`` are the provider's (or the
    gateway's) own figures, never aievents' price: the cost aievents works
    out from its price table is the event's ``cost``
    (:attr:`aievents.ImageUsageEvent.cost`), beside this one.

    Attributes:
        input_tokens: Tokens of the input (text and images).
        output_tokens: Tokens of the output (images and text).
        total_tokens: As reported by the provider, or input + output.
        input_tokens_details: Breakdown of the input.
        output_tokens_details: Breakdown of the output.
        cost: The cost in USD the provider or gateway reported (TanStack's
            ``usage.cost``, OpenRouter's ``cost``), as a ``Decimal``; floats,
            ints and numeric strings are converted (floats through their
            shortest ``repr``). ``None`` when it reported none.
        billed: What the provider billed, in its unit (TanStack's
            ``billed``, fal's ``x-fal-billable-units``), when reported.
        cost_details: The upstream provider's share of a gateway's cost
            (TanStack's ``costDetails``, OpenRouter's ``cost_details``), when
            reported.
        split: Read-only, worked out when the usage is built: the tokens by
            how they are billed, one count per name of :data:`SPLIT_FIELDS`
            (see :func:`token_split`). Pricing and every sink read it, the
            compiled tally (``aievents._speedups``) included: this slot, its
            name and its order are the contract with it.
    """

    input_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    output_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    total_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    input_tokens_details: InputTokensDetails | None = attrs.field(
        default=None,
        validator=v.optional(v.instance_of(InputTokensDetails, _INPUT_DETAILS_HINT)),
    )
    output_tokens_details: OutputTokensDetails | None = attrs.field(
        default=None,
        validator=v.optional(v.instance_of(OutputTokensDetails, _OUTPUT_DETAILS_HINT)),
    )
    cost: Decimal | None = attrs.field(default=None, converter=v.to_decimal, validator=v.OPT_MONEY)
    billed: Billed | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(Billed, _BILLED_HINT))
    )
    cost_details: CostDetails | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(CostDetails, _COST_DETAILS_HINT))
    )
    split: tuple[int, int, int, int, int, int] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "split", split_tokens(self))

    @property
    def reported_cost(self) -> Decimal | None:
        """The request's cost as the provider or gateway reported it, or None.

        ``cost``, else the upstream provider's ``cost_details.upstream_cost``,
        else ``None`` (nothing reported: unknown, never 0).
        """
        if self.cost is not None:
            return self.cost
        details = self.cost_details
        return None if details is None else details.upstream_cost

    @property
    def input_text_tokens(self) -> int | None:
        """Text tokens of the input, when reported."""
        details = self.input_tokens_details
        return None if details is None else details.text_tokens

    @property
    def input_image_tokens(self) -> int | None:
        """Image tokens of the input, when reported."""
        details = self.input_tokens_details
        return None if details is None else details.image_tokens

    @property
    def input_cached_tokens(self) -> int | None:
        """Cached input tokens, when reported."""
        details = self.input_tokens_details
        return None if details is None else details.cached_tokens

    @property
    def output_text_tokens(self) -> int | None:
        """Text tokens of the output, when reported."""
        details = self.output_tokens_details
        return None if details is None else details.text_tokens

    @property
    def output_image_tokens(self) -> int | None:
        """Image tokens of the output, when reported.

        When the provider gives no breakdown, the output of an image request
        is its images, so this is ``output_tokens``.
        """
        details = self.output_tokens_details
        if details is None or details.image_tokens is None:
            return self.output_tokens if details is None else None
        return details.image_tokens


def split_tokens(usage: ImageUsage) -> tuple[int, int, int, int, int, int]:
    """The tokens of ``usage`` by how they are billed (``aievents.usage.SPLIT_FIELDS``)."""
    text = image = 0
    details = usage.input_tokens_details
    if details is not None:
        text = details.text_tokens or 0
        image = details.image_tokens or 0
        cached = details.cached_tokens or 0
        if details.text_tokens is None and details.image_tokens is None:
            text = usage.input_tokens or 0
    else:
        text = usage.input_tokens or 0
        cached = 0
    cached_text = cached if cached <= text else text
    cached_image = min(cached - cached_text, image)
    out = usage.output_tokens_details
    if out is None:
        return text, image, cached_text, cached_image, usage.output_tokens or 0, 0
    return text, image, cached_text, cached_image, out.image_tokens or 0, out.text_tokens or 0


def add_usage(a: ImageUsage, b: ImageUsage) -> ImageUsage:
    """Two usages of one request added up (several streamed results, say).

    Every figure is added field by field: the token counts and their
    details, ``cost``, each amount of ``cost_details`` and ``billed``. A
    figure only one side reported is kept as it is; one neither reported
    stays ``None`` (unknown, never 0). A missing ``total_tokens`` counts as
    input + output.

    ``billed`` adds up only in one unit. Quantities in two different units
    (``images`` and ``megapixels``) have no sum: the result's ``billed`` is
    ``None`` (the request is then priced by its other figures, or left
    unpriced), and a warning ``billed_units_differ`` gives both quantities
    and units (once a minute per pair of units), so that nothing is dropped
    unsaid.
    """
    return ImageUsage(
        input_tokens=_plus(a.input_tokens, b.input_tokens),
        output_tokens=_plus(a.output_tokens, b.output_tokens),
        total_tokens=_plus(_total(a), _total(b)),
        input_tokens_details=_details(a.input_tokens_details, b.input_tokens_details),
        output_tokens_details=_details(a.output_tokens_details, b.output_tokens_details),
        cost=_plus(a.cost, b.cost),
        billed=_billed(a.billed, b.billed),
        cost_details=_details(a.cost_details, b.cost_details),
    )


def _plus(x: Any, y: Any) -> Any:
    """``x + y`` of two optional figures: one missing is the other; both missing is None."""
    if x is None:
        return y
    return x if y is None else x + y


def _total(usage: ImageUsage) -> int | None:
    if usage.total_tokens is not None:
        return usage.total_tokens
    total: int | None = _plus(usage.input_tokens, usage.output_tokens)
    return total


def _details(x: Any, y: Any) -> Any:
    """Two details of one kind added field by field (either may be None)."""
    if x is None or y is None:
        return x if y is None else y
    names = [field.name for field in attrs.fields(type(x))]
    return type(x)(**{name: _plus(getattr(x, name), getattr(y, name)) for name in names})


def _billed(x: Billed | None, y: Billed | None) -> Billed | None:
    if x is None or y is None:
        return x if y is None else y
    if x.unit == y.unit:
        return Billed(x.quantity + y.quantity, x.unit)
    _DIAG(
        ("billed_units_differ", x.unit, y.unit),
        "warning",
        "billed_units_differ",
        first=f"{x.quantity} {x.unit}",
        second=f"{y.quantity} {y.unit}",
    )
    return None
