"""Repricing an AggregateSink's totals, series by series, where the sums allow it exactly.

An AggregateSink keeps sums, not requests: a series (one model, size,
source, project, user, key, provider and quality) is priced again only when
its sums say how each of its requests was priced and the new price of the
sum is the sum of the new prices:

- every request priced by its tokens (costs in the token parts only): a
  token price is linear in the counts, so the summed tokens price as the
  requests did, one by one;
- every request priced per image (no tokens, costs in ``per_image`` only),
  when the new price of an image depends on nothing the series lacks and
  ``n`` images cost ``n`` times one. A series names its provider and
  quality when its requests did; one whose requests named none (or merged
  from an export of before provider and quality were dimensions, where
  they are ``None``) is priced only where they make no difference.

Anything else is left as it is and named, with the reason: the overflow
series, models priced (before or after) by what the provider billed,
requests unpriced when counted (whether each one reported tokens
or images is not kept), costs that came with the events as one amount,
series mixing both kinds, and new prices that depend on what is not kept.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from aievents.money import EXACT, ImageCost
from aievents.pricing import PriceBook
from aievents.query import DIMENSIONS
from aievents.sinks._reprice import (
    COMPUTED_FIELDS,
    NotRepriced,
    Repricing,
    Summary,
    computed_total,
    differ,
    replace_costs,
    usage_of,
)
from aievents.totals import (
    COMPUTED,
    COSTS,
    EXTRA,
    FIELDS,
    INDEX,
    LANES,
    as_totals,
    cost_lanes,
    exact_sum,
)

__all__ = ["reprice_entries"]

_UNPRICED: Final = INDEX["unpriced_requests"]
_TOKENS: Final = [INDEX[name] for name in FIELDS[: INDEX["unpriced_requests"]] if "tokens" in name]
#: The computed cost's lanes: the token parts, per_image, cost_other.
_TOKEN_COSTS: Final = slice(0, len(COMPUTED_FIELDS) - 2)
_PER_IMAGE: Final = len(COMPUTED_FIELDS) - 2
_OTHER: Final = len(COMPUTED_FIELDS) - 1

Dims = tuple[str | None, ...]
#: Where each dimension is in a series' dims, and those a price can depend on.
_AT: Final = {name: i for i, name in enumerate(DIMENSIONS)}
_KEPT: Final = ("model", "size", "provider", "quality")


def reprice_entries(
    entries: Iterable[tuple[Dims, Any]], book: PriceBook, overflow: Dims, counted: PriceBook
) -> Repricing:
    """Price the entries (``(dims, entry)``, changed in place) again, series by series.

    ``counted`` is the book the entries were priced with when counted.
    """
    series: dict[Dims, list[Any]] = {}
    for dims, entry in entries:
        series.setdefault(dims, []).append(entry)
    summary = Summary()
    for dims, held in series.items():
        requests = sum(int(entry[0]) for entry in held)
        unpriced = sum(int(entry[_UNPRICED]) for entry in held)
        old = [computed_total(_costs(entry), entry[EXTRA]) for entry in held]
        model = str(dims[0])
        plan = (
            _plan(dims, held, book, counted)
            if dims != overflow
            else "the overflow series mixes series"
        )
        if isinstance(plan, str):
            summary.kept += requests
            summary.not_repriced.append(
                NotRepriced(
                    series=dict(zip(DIMENSIONS, dims, strict=True)), requests=requests, reason=plan
                )
            )
            total = exact_sum(old)
            summary.add(
                model,
                requests,
                old=total,
                new=total,
                changed=False,
                unpriced=unpriced,
                old_unpriced=unpriced,
            )
            continue
        for entry, before, cost in zip(held, old, plan, strict=True):
            costs, extra = _apply(entry, cost)
            after = computed_total(costs, extra)
            changed = costs != _costs(entry) or differ(entry[EXTRA], extra)
            for i, value in enumerate(costs):
                entry[COSTS + i] = value
            entry[EXTRA] = extra
            count = int(entry[0])
            summary.add(
                model, count, old=before, new=after, changed=changed, unpriced=0, old_unpriced=0
            )
    return summary.result(book.table.version, False)


def _costs(entry: Any) -> list[int]:
    return [int(entry[i]) for i in range(COSTS, LANES)]


def _apply(entry: Any, cost: ImageCost) -> tuple[list[int], list[Decimal] | None]:
    """An entry's cost lanes and extra with the computed cost ``cost`` (the rest kept)."""
    units, extra = cost_lanes(cost)
    return replace_costs(_costs(entry), entry[EXTRA], units, extra)


def _plan(
    dims: Dims, held: list[Any], book: PriceBook, counted: PriceBook
) -> list[ImageCost] | str:
    """Each entry's new cost, or why the series cannot be priced again exactly."""
    unpriced = sum(int(entry[_UNPRICED]) for entry in held)
    if unpriced:
        return (
            f"{unpriced} of its requests were unpriced when counted: whether each one "
            "reported tokens or images is not kept"
        )
    kinds = set()
    for entry in held:
        parts = as_totals(entry)[COMPUTED]
        if parts[_OTHER]:
            return "its costs came with the events as amounts, without a breakdown to price again"
        tokens = any(entry[i] for i in _TOKENS)
        if tokens and parts[_PER_IMAGE]:
            return "it mixes requests priced by tokens and requests priced per image"
        kinds.add("tokens" if tokens else "images")
    if len(kinds) > 1:
        return "it mixes requests priced by tokens and requests priced per image"
    model, size, provider, quality = (dims[_AT[name]] for name in _KEPT)
    if model is None:
        return "it has no model"
    table = book.table
    price = table.lookup(model, provider)
    if price is None:
        return "the new table has no price for its model"
    if provider is None and sum(1 for _, name in table.models if name == price.model) > 1:
        return "its model is priced by provider, and the series does not name its provider"
    before = counted.table.lookup(model, provider)
    if price.per_billed_unit or (before is not None and before.per_billed_unit):
        # A billed charge sits in per_image, beside image charges: the sums
        # do not say which requests were billed, nor in what quantity.
        return (
            "its model is priced by what the provider billed (per_billed_unit), "
            "which the series does not keep"
        )
    if kinds == {"tokens"}:
        return _by_tokens(model, provider, held, book)
    if quality is not None:  # every request of the series was of this quality
        qualities: list[str | None] = [quality]
    else:
        found = {None, *(row.quality for row in (*price.per_image, *price.estimates))}
        qualities = sorted(found, key=str)
    return _per_image((model, provider, size), qualities, held, book)


def _by_tokens(
    model: str, provider: str | None, held: list[Any], book: PriceBook
) -> list[ImageCost] | str:
    found = []
    for entry in held:
        counts = {name: int(entry[INDEX[name]]) for name in FIELDS[: INDEX["unpriced_requests"]]}
        cost = book.image_cost(
            model,
            provider=provider,
            usage=usage_of(counts),
            images=counts["images"] or None,
        )
        if cost is None or cost.basis != "tokens":
            return "the new table does not price its model by tokens"
        if cost.unpriced:
            return "the new table has no rate for some of its tokens"
        found.append(cost)
    return found


def _per_image(
    what: tuple[str, str | None, str | None],
    qualities: list[str | None],
    held: list[Any],
    book: PriceBook,
) -> list[ImageCost] | str:
    """Each entry's new per-image cost, priced at each of ``qualities`` (they must agree)."""
    model, provider, size = what
    one = [
        book.image_cost(model, provider=provider, images=1, size=size, quality=q) for q in qualities
    ]
    if all(cost is None for cost in one):
        return "the new table has no per-image price for its size"
    if any(cost is None for cost in one) or len({c.total for c in one if c is not None}) != 1:
        return "its new price depends on the quality, which the series does not name"
    first = one[0]
    assert first is not None
    found = []
    for entry in held:
        images = int(entry[INDEX["images"]])
        cost = book.image_cost(
            model, provider=provider, images=images, size=size, quality=qualities[0]
        )
        with decimal.localcontext(EXACT):
            linear = cost is not None and cost.total == first.total * images
        if cost is None or not linear or cost.basis not in ("images", "estimate"):
            return "the new table does not price its model per image"
        found.append(cost)
    return found
