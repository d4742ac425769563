"""The totals vector: the one layout every sum of usage shares, and its arithmetic.

A series' totals are a vector of :data:`FIELDS`: counts (requests, images,
tokens, unpriced requests, requests with a reported cost), then the cost
parts: the computed cost's (:data:`COMPUTED`), then ``cost_reported``, the
sum of the costs providers or gateways reported, which is never part of the
computed cost (:func:`cost_total`). Queries sum such vectors
(costs as exact ``Decimal`` USD); AggregateSink keeps them as *entries*
(costs as whole cost units, see :func:`aievents.money.cost_units`, plus an
*extra* of finer ``Decimal`` parts); a store writes one request's *lanes*
(``FIELDS[1:]``) per row and rolls rows up by day. Everything that knows
where a field sits, or how two vectors add, is here; the compiled
``aievents._speedups`` checks at import that it was built for this layout.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final

from aievents.money import COST_COMPONENTS, EXACT, ImageCost, cost_units, units_to_usd
from aievents.usage import token_split

__all__ = [
    "COMPUTED",
    "COSTS",
    "DAY_MINUTES",
    "EXTRA",
    "FIELDS",
    "INDEX",
    "LANES",
    "add_extra",
    "add_into",
    "add_lanes",
    "add_request",
    "amount_lanes",
    "as_totals",
    "cost_lanes",
    "cost_total",
    "day_of",
    "entry_from_export",
    "exact_sum",
    "fit",
    "merge_entry",
    "new_entry",
    "new_totals",
    "reported_total",
    "request_lanes",
    "requests_of",
    "row_lanes",
    "sum_by_day",
    "unit_totals",
    "unpriced",
]

#: The totals of a series, in vector order: counts, then exact cost parts.
FIELDS: Final = (
    "num_model_requests",
    "images",
    "input_tokens",
    "output_tokens",
    "input_text_tokens",
    "input_image_tokens",
    "output_image_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_cached_image_tokens",
    "unpriced_requests",
    "reported_requests",
    "cost_input_text",
    "cost_input_image",
    "cost_cached_input",
    "cost_output_image",
    "cost_output_text",
    "cost_per_image",
    "cost_other",
    "cost_reported",
)
#: Where each field sits in the vector.
INDEX: Final = {name: i for i, name in enumerate(FIELDS)}
#: How many lanes a vector has.
LANES: Final = len(FIELDS)
#: The first cost lane: counts before it, cost parts from it on.
COSTS: Final = INDEX["cost_input_text"]
#: The lanes of the computed cost: COSTS up to ``cost_reported``.
COMPUTED: Final = slice(COSTS, INDEX["cost_reported"])
#: Where an entry keeps its extra (None, or the cost parts finer than cost units).
EXTRA: Final = LANES
#: Minutes in a UTC day, the roll-up's period.
DAY_MINUTES: Final = 1440

_ZERO: Final = Decimal(0)
#: The cost lanes, as cost units, of a request that costs nothing.
_NO_UNITS: Final = (0,) * (LANES - COSTS)
#: The computed cost lanes (ImageCost.units), as cost units, of a request that costs nothing.
_NO_COMPUTED: Final = _NO_UNITS[:-1]
#: The reported lanes (reported_requests, cost_reported in units) of a request without one.
_NOT_REPORTED: Final = (0, 0)
_COST_FIELDS: Final = attrgetter(*COST_COMPONENTS)


# --------------------------------------------------------------------------- vectors


def new_totals() -> list[Any]:
    """A zero totals vector (ints, then Decimal cost parts)."""
    return [0] * COSTS + [_ZERO] * (LANES - COSTS)


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of amounts, whatever decimal context the application set."""
    with decimal.localcontext(EXACT):
        return sum(values, _ZERO)


def cost_total(totals: Sequence[Any]) -> Decimal:
    """The exact sum of a totals vector's computed cost parts (Decimal USD).

    ``cost_reported`` is not one of them: see :func:`reported_total`.
    """
    return exact_sum(totals[COMPUTED])


def reported_total(totals: Sequence[Any]) -> Decimal:
    """The sum of the costs reported by providers in a totals vector (Decimal USD)."""
    return Decimal(totals[INDEX["cost_reported"]])


def requests_of(totals: Sequence[Any]) -> int:
    """The requests a totals vector or an entry counts."""
    return int(totals[0])


def add_into(total: Any, part: Sequence[Any]) -> None:
    """Add ``part`` into ``total``, lane by lane (as many lanes as ``part`` has)."""
    for i, value in enumerate(part):
        if value:
            total[i] += value


def day_of(minute: int) -> int:
    """The first minute of the UTC day of ``minute``."""
    return minute - minute % DAY_MINUTES


def sum_by_day(
    rows: Iterable[Sequence[Any]], minute: int, dims: slice, lanes: slice
) -> dict[tuple[Any, ...], list[int]]:
    """Requests summed per UTC day and series: ``(day's first minute, *dims)`` to totals.

    Each row is one request: its minute at ``minute``, its dimensions at
    ``dims`` and its lanes (``FIELDS[1:]``, costs in cost units) at ``lanes``.
    """
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        at = row[minute]
        key = (at - at % DAY_MINUTES, *row[dims])
        total = sums.get(key)
        if total is None:
            total = sums[key] = [0] * LANES
        total[0] += 1
        for lane, value in enumerate(row[lanes], 1):
            if value:
                total[lane] += value
    return sums


# --------------------------------------------------------------------------- one request


def unpriced(cost: Any) -> int:
    """1 when a request's cost is unknown (None) or incomplete (unpriced parts), else 0."""
    if cost is None:
        return 1
    return 1 if isinstance(cost, ImageCost) and cost.unpriced else 0


def request_lanes(
    images: int | None,
    usage: Any,
    split: tuple[int, ...],
    units: tuple[int, ...] | None,
    *,
    unpriced: int,
    reported: tuple[int, int] = _NOT_REPORTED,
) -> tuple[int, ...]:
    """One request's lanes after the request count (``FIELDS[1:]``).

    ``split`` is token_split()'s answer; ``units`` the computed cost's units
    (ImageCost.units; None: no cost in units); ``unpriced`` is
    :func:`unpriced`'s answer; ``reported`` is (1, the reported cost in
    units) when the provider reported one (see :func:`row_lanes`).
    """
    return (
        images or 0,
        usage.input_tokens or 0,
        usage.output_tokens or 0,
        split[0],  # input text
        split[1],  # input image
        split[4],  # output image
        split[5],  # output text
        split[2],  # cached text
        split[3],  # cached image
        unpriced,
        reported[0],
        *(units if units is not None else _NO_COMPUTED),
        reported[1],
    )


def add_request(total: Any, lanes: Iterable[int]) -> None:
    """Count one request with these lanes (``FIELDS[1:]``) into ``total``."""
    total[0] += 1
    for lane, value in enumerate(lanes, 1):
        if value:
            total[lane] += value


def add_lanes(
    total: Any,
    images: int | None,
    usage: Any,
    split: tuple[int, ...],
    units: tuple[int, ...] | None,
    *,
    unpriced: int,
) -> None:
    """Count one request without a reported cost into an entry: its images,
    tokens, whether unpriced, and computed cost units."""
    add_request(total, request_lanes(images, usage, split, units, unpriced=unpriced))


def amount_lanes(amount: Decimal) -> tuple[int | None, Decimal | None]:
    """(cost units, None) for an amount that has them, else (None, the amount)."""
    units = cost_units(amount)
    return (units, None) if units is not None else (None, amount)


def cost_lanes(
    cost: ImageCost | Decimal | None, reported: Decimal | None = None
) -> tuple[tuple[int, ...] | None, list[Any] | None]:
    """The computed cost lanes of a request and its reported one (``cost_reported``).

    ``cost`` is the computed cost (None: unknown), ``reported`` what the
    provider reported (None: nothing). Returns (units, None): every lane
    from ``COSTS`` on in cost units; or (None, the same lanes as exact
    Decimal USD) when one of them is finer than cost units.
    """
    units: tuple[int, ...] | None
    parts: list[Any] | None = None
    if cost is None:
        units = _NO_COMPUTED
    elif isinstance(cost, Decimal):
        whole = cost_units(cost)
        units = None if whole is None else (*_NO_COMPUTED[:-1], whole)
        if units is None:
            parts = [*(_ZERO for _ in _NO_COMPUTED[:-1]), cost]
    else:
        units = cost.units
        if units is None:
            parts = list(_COST_FIELDS(cost))
            parts.append(_ZERO if any(parts) else cost.total)
    said = 0 if reported is None else cost_units(reported)
    if units is not None and said is not None:
        return (*units, said), None
    if parts is None:
        parts = [units_to_usd(u) for u in units or _NO_COMPUTED]
    return None, [*parts, reported if reported is not None else _ZERO]


def row_lanes(event: Any, cost: Any) -> tuple[tuple[int, ...], list[Decimal] | None]:
    """One request's lanes (``FIELDS[1:]``, costs in cost units) and extra.

    ``cost`` is the event's computed cost: its ImageCost, a bare Decimal, or
    None (unknown). The cost its provider reported is read from its usage.
    When a cost lane is finer than cost units, the cost lanes are all 0 and
    the extra holds them all, as exact Decimal USD.
    """
    usage = event.usage
    reported: Decimal | None = usage.reported_cost
    units, extra = cost_lanes(cost, reported)
    computed, said = (None, 0) if units is None else (units[:-1], units[-1])
    lanes = request_lanes(
        event.images,
        usage,
        token_split(usage),
        computed,
        unpriced=unpriced(cost),
        reported=(0 if reported is None else 1, said),
    )
    return lanes, extra


def fit(
    lanes: Sequence[int], extra: Sequence[Decimal] | None, limit: int
) -> tuple[list[int] | None, list[Decimal] | None]:
    """A request's lanes (``FIELDS[1:]``) with none over ``limit``, and its extra.

    Cost lanes over ``limit`` move, all of them, to the extra (exact Decimal
    USD, added to what it held) and become 0; (None, None) when a count
    lane is still over ``limit``.
    """
    fitted = list(lanes)
    costs = slice(COSTS - 1, None)  # a request's lanes start at FIELDS[1]
    if max(fitted[costs]) > limit:
        held = extra or [_ZERO] * (LANES - COSTS)
        with decimal.localcontext(EXACT):
            extra = [units_to_usd(u) + e for u, e in zip(fitted[costs], held, strict=True)]
        fitted[costs] = _NO_UNITS
    if max(fitted) > limit:
        return None, None
    return fitted, None if extra is None else list(extra)


# --------------------------------------------------------------------------- entries


def new_entry() -> list[Any]:
    """A zero entry: every lane 0 (costs in cost units), then no extra."""
    return [0] * LANES + [None]


def add_extra(entry: Any, extra: Sequence[Decimal]) -> None:
    """Add Decimal cost parts to an entry's extra (exactly)."""
    held = entry[EXTRA]
    with decimal.localcontext(EXACT):
        entry[EXTRA] = (
            list(extra) if held is None else [a + b for a, b in zip(held, extra, strict=True)]
        )


def merge_entry(into: Any, other: Any) -> None:
    """Add the entry ``other`` to ``into``."""
    for index in range(EXTRA):
        if other[index]:
            into[index] += other[index]
    if other[EXTRA] is not None:
        add_extra(into, other[EXTRA])


def entry_from_export(values: Mapping[str, Any]) -> list[Any]:
    """An entry from exported totals: each of :data:`FIELDS` by name, counts
    as ints, cost parts as exact Decimal USD (each kept as cost units when it
    has them). A lane an older export did not have is 0, but for
    ``unpriced_requests``: an export from before it could not tell an
    unknown cost from $0, so totals without any cost are unpriced, never a
    $0 that may be false.
    """
    amounts = [values.get(name, _ZERO) for name in FIELDS[COSTS:]]
    counts = [values.get(name, 0) for name in FIELDS[:COSTS]]
    if "unpriced_requests" not in values:
        counts[INDEX["unpriced_requests"]] = 0 if any(amounts) else counts[0]
    units, extra = zip(*(amount_lanes(a) for a in amounts), strict=True)
    entry = [*counts, *(u or 0 for u in units), None]
    if any(extra):
        entry[EXTRA] = [e or _ZERO for e in extra]
    return entry


def unit_totals(lanes: Sequence[int]) -> list[Any]:
    """Lanes with costs in cost units as a totals vector (costs in Decimal USD)."""
    return [*lanes[:COSTS], *(units_to_usd(units) for units in lanes[COSTS:LANES])]


def as_totals(entry: Any) -> list[Any]:
    """An entry as a totals vector: counts, then exact Decimal USD cost parts."""
    lanes = list(entry)
    totals = unit_totals(lanes)
    extra = lanes[EXTRA]
    if extra is not None:
        with decimal.localcontext(EXACT):
            add_into(totals, [0] * COSTS + list(extra))
    return totals
