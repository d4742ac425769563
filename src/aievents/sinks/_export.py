"""The export of an AggregateSink's totals: what export() writes and merge() reads back.

An export is a JSON-ready dict: its ``format``, the ``fields`` of its totals
(:data:`aievents.totals.FIELDS`), the ``series`` (``[minute, dimensions,
totals]``, cost parts as decimal strings) and the sink's counters. Exports
of formats 1 (before ``unpriced_requests``) and 2 (before
``reported_requests`` and ``cost_reported``) are still read: the lanes they
lack are 0. Formats 1 to 3 keyed a series by six dimensions (before
``provider`` and ``quality``): their series are read with those two ``None``
(the overflow series with those two :data:`OVERFLOW`, as its others).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from aievents.exceptions import QueryError
from aievents.query import DIMENSIONS
from aievents.totals import COSTS, FIELDS, entry_from_export

__all__ = ["COUNTERS", "OVERFLOW", "STATE_FORMAT", "exact", "export_state", "parse_state"]

#: The dimension value of the overflow series (every dimension holds it).
OVERFLOW: Final = "(overflow)"

#: The format export() writes.
STATE_FORMAT: Final = 4
#: The fields of format 2 exports (before the reported cost), then of format 1.
_FORMAT_2_FIELDS: Final = tuple(
    name for name in FIELDS if name not in ("reported_requests", "cost_reported")
)
_FIELDS_OF: Final = {
    1: tuple(name for name in _FORMAT_2_FIELDS if name != "unpriced_requests"),
    2: _FORMAT_2_FIELDS,
    3: FIELDS,
    STATE_FORMAT: FIELDS,
}
#: The dimensions of a series in exports of format 3 and before: OpenAI's six.
_SIX: Final = 6
#: The sink's counters an export carries.
COUNTERS: Final = ("events", "duplicates", "overflowed", "expired")
Dims = tuple[str | None, ...]


def export_state(
    items: Iterable[tuple[tuple[int, Dims], list[Any]]], counters: Mapping[str, int]
) -> dict[str, Any]:
    """The export of these totals (``(minute, dims)`` to a totals vector) and counters."""
    rows = [
        [minute, list(dims), [str(v) if isinstance(v, Decimal) else v for v in totals]]
        for (minute, dims), totals in items
    ]
    return {"format": STATE_FORMAT, "fields": list(FIELDS), "series": rows, **counters}


def parse_state(state: Any) -> tuple[list[tuple[int, Dims, list[Any]]], dict[str, int]]:
    """Every row and counter of an export, checked before anything is merged."""

    def bad(field: str, value: Any, reason: str) -> QueryError:
        return QueryError(field, value, reason, owner="aggregate state")

    if not isinstance(state, Mapping):
        raise bad("state", state, "must be the dict export() returned")
    version = state.get("format")
    if version not in _FIELDS_OF or isinstance(version, bool):
        raise bad("format", version, f"must be 1 to {STATE_FORMAT}")
    fields = _FIELDS_OF[version]
    count = len(DIMENSIONS) if version == STATE_FORMAT else _SIX
    padding = (None,) * (len(DIMENSIONS) - count)
    if state.get("fields") != list(fields):
        raise bad("fields", state.get("fields"), f"must list format {version}'s fields")
    counters = {}
    for name in COUNTERS:
        value = state.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= sys.maxsize:
            raise bad(name, value, f"must be an integer from 0 to {sys.maxsize}")
        counters[name] = value
    rows = state.get("series")
    if not isinstance(rows, list):
        raise bad("series", rows, "must be a list")
    split = fields.index(FIELDS[COSTS])  # counts before it, amounts from it on
    parsed = []
    for index, row in enumerate(rows):
        try:
            minute, dims, totals = row
            valid = (
                isinstance(minute, int)
                and not isinstance(minute, bool)
                and isinstance(dims, list)
                and len(dims) == count
                and all(d is None or isinstance(d, str) for d in dims)
                and isinstance(totals, list)
                and len(totals) == len(fields)
                and all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0
                    for v in totals[:split]
                )
                and all(isinstance(v, str) for v in totals[split:])
            )
            if not valid:
                raise ValueError
            amounts = [Decimal(v) for v in totals[split:]]
            if not all(a.is_finite() and a >= 0 for a in amounts):
                raise ValueError
        except (ValueError, TypeError, ArithmeticError):
            raise bad(
                f"series[{index}]",
                row,
                f"must be [minute, {count} dimensions (string or null), counts and amounts]",
            ) from None
        entry = entry_from_export(dict(zip(fields, [*totals[:split], *amounts], strict=True)))
        more = (OVERFLOW,) * len(padding) if set(dims) == {OVERFLOW} else padding
        parsed.append((minute, (*map(exact, dims), *more), entry))
    return parsed, counters


def exact(value: Any) -> Any:
    """A str as an exact str (a subclass's hash or eq could run code); else as is."""
    return value if value is None or type(value) is str else str.__str__(value)
