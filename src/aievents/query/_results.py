"""A bucket's results rendered from its sums by group: usage's, and costs' by group or line item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aievents.query._pages import (
    CostsResult,
    ImagesResult,
    costs_result,
    group_costs,
    images_result,
    line_items,
    sort_key,
    unknown_counts,
)
from aievents.query._scan import DIMENSIONS

__all__ = ["Sums", "group_results", "images_results", "line_results"]

#: A bucket's sums: the totals of each group (its key, the dimensions' values).
Sums = dict[tuple[str | None, ...], list[Any]]


def images_results(found: Sums, cost: str) -> tuple[ImagesResult, ...]:
    """A usage bucket's results: one a group."""
    return tuple(images_result(key, found[key], cost) for key in sorted(found, key=sort_key))


def _named(key: tuple[str | None, ...], named: Sequence[str]) -> dict[str, str | None]:
    """The group fields a costs result names: the grouped dimensions' values."""
    return {name: key[DIMENSIONS.index(name)] for name in named}


def group_results(found: Sums, cost: str, named: Sequence[str]) -> tuple[CostsResult, ...]:
    """A costs bucket's results by group: the priced amount, then the unpriced requests."""
    results: list[CostsResult] = []
    for key in sorted(found, key=sort_key):
        results.extend(group_costs(found[key], _named(key, named), cost))
    return tuple(results)


def line_results(found: Sums, cost: str, named: Sequence[str]) -> tuple[CostsResult, ...]:
    """A costs bucket's results by line item: a model's cost parts, sorted by name."""
    model_at = DIMENSIONS.index("model")
    results = [
        costs_result(
            _named(key, named),
            amount=amount,
            line_item=line,
            quantity=quantity,
            quantity_unit=unit,
            unpriced_requests=unknown_counts(unpriced, cost)[0],
            unreported_requests=unknown_counts(unpriced, cost)[1],
            cost_source=cost,
        )
        for key in sorted(found, key=sort_key)
        for line, amount, quantity, unit, unpriced in line_items(key[model_at], found[key], cost)
    ]
    order = ("project_id", "api_key_id", "user_id", "provider", "line_item")
    results.sort(key=lambda r: tuple(getattr(r, name) or "" for name in order))
    return tuple(results)
