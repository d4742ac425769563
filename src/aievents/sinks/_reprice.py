"""Repricing summed or stored usage: what a reprice answers, and the parts both sinks share.

A reprice prices requests again with a price book: a store rebuilds each
row's request from its raw usage (:mod:`aievents.sinks._storereprice`),
an AggregateSink reprices the series its totals allow
(:mod:`aievents.sinks._aggreprice`). Both answer a :class:`Repricing`.
Only the computed cost changes (its lanes and ``unpriced_requests``):
counts, and a cost the provider reported, are kept as they are.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from aievents.money import EXACT, cost_units, units_to_usd
from aievents.totals import COMPUTED, FIELDS, exact_sum
from aievents.usage import ImageUsage, InputTokensDetails, OutputTokensDetails

__all__ = [
    "COMPUTED_FIELDS",
    "PRICED_FIELDS",
    "ModelRepricing",
    "NotRepriced",
    "Repricing",
    "Summary",
    "computed_total",
    "differ",
    "replace_costs",
    "usage_of",
]

#: The lanes of the computed cost (an ImageCost's units), in FIELDS.
COMPUTED_FIELDS: Final = FIELDS[COMPUTED]
#: The lanes a reprice changes: whether the request is unpriced, its computed cost.
PRICED_FIELDS: Final = ("unpriced_requests", *COMPUTED_FIELDS)
_ZERO: Final = Decimal(0)


@attrs.frozen(kw_only=True)
class ModelRepricing:
    """What a reprice found for one model.

    Attributes:
        model: The model name (as the requests named it).
        requests: Requests of the model examined.
        changed: Those whose computed cost (or unpriced flag) changed.
        old: Their computed cost before, exact USD: None when none was
            priced; with :attr:`old_unpriced` above 0, a lower bound (the
            cost of the priced ones).
        new: Their computed cost after (what a dry run would make it), read
            as :attr:`old` with :attr:`new_unpriced`.
        old_unpriced: Those unpriced (or priced in part) before.
        new_unpriced: Those unpriced (or priced in part) after.
    """

    model: str
    requests: int
    changed: int
    old: Decimal | None
    new: Decimal | None
    old_unpriced: int = 0
    new_unpriced: int = 0


@attrs.frozen(kw_only=True)
class NotRepriced:
    """A series an AggregateSink left as it was, and why.

    Attributes:
        series: Its dimensions (model, size, source, project_id, user_id,
            api_key_id).
        requests: The requests it holds.
        reason: Why its totals cannot be priced again exactly.
    """

    series: Mapping[str, str | None]
    requests: int
    reason: str


@attrs.frozen(kw_only=True)
class Repricing:
    """The answer of a reprice (:meth:`StoreSink.reprice`, :meth:`AggregateSink.reprice`).

    Attributes:
        price_version: The version of the price table used.
        dry_run: True when nothing was changed (what would change is told).
        requests: Requests examined (a store's rows).
        changed: Requests whose computed cost or unpriced flag changed.
        unpriced: Requests still unpriced (or priced in part) afterwards.
        kept: Requests left as they were because their cost did not come
            from a price table (a store's row whose cost came with the
            event as an amount, or a row no request can be rebuilt from),
            or, for an AggregateSink, the requests of the series in
            :attr:`not_repriced`.
        not_in_prices: A store's requests left as they were because the
            new prices have no entry for their model (nor for the model
            they were priced as): their cost, known or not, is kept.
        models: Per model (sorted by name), its requests and old and new
            computed totals.
        not_repriced: AggregateSink only: the series left as they were,
            each with its reason.
    """

    price_version: str
    dry_run: bool
    requests: int
    changed: int
    unpriced: int
    kept: int
    models: tuple[ModelRepricing, ...]
    not_repriced: tuple[NotRepriced, ...] = ()
    not_in_prices: int = 0

    @property
    def old_total(self) -> Decimal | None:
        """The computed cost of every request examined, before.

        None when none was priced; a lower bound when :attr:`old_unpriced`
        is above 0.
        """
        return _known([m.old for m in self.models])

    @property
    def new_total(self) -> Decimal | None:
        """The computed cost of every request examined, after (read as :attr:`old_total`)."""
        return _known([m.new for m in self.models])

    @property
    def old_unpriced(self) -> int:
        """Requests unpriced (or priced in part) before."""
        return sum(m.old_unpriced for m in self.models)


def _known(values: Sequence[Decimal | None]) -> Decimal | None:
    """The sum of the known values; None when every one is unknown (0 when there are none)."""
    known = [value for value in values if value is not None]
    if values and not known:
        return None
    return exact_sum(known)


def differ(old: Sequence[Decimal] | None, new: Sequence[Decimal] | None) -> bool:
    """Whether two extras (exact parts beside the cost lanes; None: none) differ."""
    if old is None or new is None:
        return old is not new
    return list(old) != list(new)


class Summary:
    """What a reprice counts as it goes; :meth:`result` makes the :class:`Repricing`."""

    def __init__(self) -> None:
        self.requests = self.changed = self.unpriced = self.kept = self.not_in_prices = 0
        self._models: dict[str, list[Any]] = {}
        self.not_repriced: list[NotRepriced] = []

    def add(
        self,
        model: str,
        requests: int,
        *,
        old: Decimal,
        new: Decimal,
        changed: bool,
        unpriced: int,
        old_unpriced: int,
    ) -> None:
        """Count ``requests`` of ``model``: costs and unpriced requests before and after."""
        self.requests += requests
        self.unpriced += unpriced
        moved = requests if changed else 0
        self.changed += moved
        counts = self._models.get(model)
        if counts is None:
            counts = self._models[model] = [0, 0, _ZERO, _ZERO, 0, 0]
        with decimal.localcontext(EXACT):
            counts[0] += requests
            counts[1] += moved
            counts[2] += old
            counts[3] += new
        counts[4] += old_unpriced
        counts[5] += unpriced

    def result(self, price_version: str, dry_run: bool) -> Repricing:
        """The answer."""
        return Repricing(
            price_version=price_version,
            dry_run=dry_run,
            requests=self.requests,
            changed=self.changed,
            unpriced=self.unpriced,
            kept=self.kept,
            models=tuple(
                ModelRepricing(
                    model=m,
                    requests=c[0],
                    changed=c[1],
                    old=None if c[4] == c[0] else c[2],
                    new=None if c[5] == c[0] else c[3],
                    old_unpriced=c[4],
                    new_unpriced=c[5],
                )
                for m, c in sorted(self._models.items())
            ),
            not_repriced=tuple(self.not_repriced),
            not_in_prices=self.not_in_prices,
        )


def computed_total(costs: Sequence[int], extra: Sequence[Decimal] | None) -> Decimal:
    """The computed cost of cost lanes (``FIELDS[COSTS:]``, in cost units) and their extra."""
    count = len(COMPUTED_FIELDS)
    with decimal.localcontext(EXACT):
        total = sum((units_to_usd(u) for u in costs[:count] if u), _ZERO)
        if extra is not None:
            total += sum(extra[:count], _ZERO)
    return total


def replace_costs(
    old: Sequence[int],
    old_extra: Sequence[Decimal] | None,
    new: Sequence[int] | None,
    new_extra: Sequence[Decimal] | None,
) -> tuple[list[int], list[Decimal] | None]:
    """Cost lanes (``FIELDS[COSTS:]``) and extra with the computed cost replaced.

    ``new`` and ``new_extra`` are the lanes of the new cost as a sink
    writes them (``new`` None: no cost in units). The lanes past the
    computed cost (a reported cost) keep their old value. Without such a
    value the new lanes are returned as they are; with one, the lanes are
    cost units when every one has them, else all 0 with every value in the
    extra (as a row is written).
    """
    width = len(old)
    count = len(COMPUTED_FIELDS)
    fresh = list(new) if new is not None else [0] * width
    with decimal.localcontext(EXACT):
        kept = [
            units_to_usd(u) + (old_extra[count + i] if old_extra is not None else _ZERO)
            for i, u in enumerate(old[count:])
        ]
        if not any(kept):
            return fresh, None if new_extra is None else list(new_extra)
        values = [
            units_to_usd(u) + (new_extra[i] if new_extra is not None else _ZERO)
            for i, u in enumerate(fresh[:count])
        ] + kept
    units = [cost_units(value) for value in values]
    if None not in units:
        return [u or 0 for u in units], None
    return [0] * width, values


def usage_of(counts: Mapping[str, int], billed: Any = None, *, tokens: bool = False) -> ImageUsage:
    """The usage whose tokens are these counts (``FIELDS``' token lanes, summed or one request's).

    Its :func:`~aievents.usage.token_split` is the counts' split, so it
    prices as the usage they were counted from. Token counts that are all 0
    are read as a usage that reported none (the lanes keep no difference
    between 0 and not reported) unless ``tokens`` says the usage reported
    tokens (a store's row priced by its tokens). ``billed`` is the usage's
    ``billed``.
    """
    given = counts["input_tokens"], counts["output_tokens"]
    text, image = counts["input_text_tokens"], counts["input_image_tokens"]
    cached = counts["input_cached_text_tokens"] + counts["input_cached_image_tokens"]
    out_image, out_text = counts["output_image_tokens"], counts["output_text_tokens"]
    extra: dict[str, Any] = {} if billed is None else {"billed": billed}
    reported = tokens or any(given)
    if not reported and not any((text, image, cached, out_image, out_text)):
        return ImageUsage(**extra)
    into = None
    if image or cached or text != given[0]:
        into = InputTokensDetails(text_tokens=text, image_tokens=image, cached_tokens=cached)
    out = None
    if out_text or out_image != given[1]:
        out = OutputTokensDetails(image_tokens=out_image, text_tokens=out_text)
    return ImageUsage(
        input_tokens=given[0] if reported else None,
        output_tokens=given[1] if reported else None,
        input_tokens_details=into,
        output_tokens_details=out,
        **extra,
    )
