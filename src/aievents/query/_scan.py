"""What a query asks of a :class:`Source`: the :class:`Scan`, and the rows it answers with."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs

__all__ = ["COST_GROUPS", "DIMENSIONS", "USAGE_GROUPS", "Row", "Scan", "Source"]

#: The dimensions of a usage series, in key order (``source`` is the event's
#: ``operation``): OpenAI's six, then ``provider`` and ``quality``, an
#: extension (OpenAI's images usage does not group by them).
DIMENSIONS: Final = (
    "model",
    "size",
    "source",
    "project_id",
    "user_id",
    "api_key_id",
    "provider",
    "quality",
)
USAGE_GROUPS: Final = frozenset(DIMENSIONS)
COST_GROUPS: Final = frozenset({"project_id", "line_item", "api_key_id"})


@attrs.frozen(kw_only=True)
class Scan:
    """What a :class:`Source` is asked to sum.

    Attributes:
        start: First second included (epoch seconds, a whole minute).
        end: First second excluded (a whole minute).
        width: Bucket width in seconds; buckets start at multiples of it (UTC).
        group_by: Dimensions to keep; the others are summed over (``None``
            in the rows).
        filters: Allowed values per dimension; a dimension not named is not
            filtered.
        window: The whole query's ``(start, end)`` (whole minutes) when this
            scan is one page of it; ``None``: the same as ``start``, ``end``.
            A source that holds totals summed over a span (not by the
            minute) must not count them short where the window's own
            edges cut such a span; page edges only choose the page.
        open_end: Whether the query gave no ``end_time`` (it ends now): a
            span that reaches past now is then counted whole, as "up to
            now" asks, rather than refused.
    """

    start: int
    end: int
    width: int
    group_by: tuple[str, ...]
    filters: Mapping[str, frozenset[str]]
    window: tuple[int, int] | None = None
    open_end: bool = False

    @property
    def bounds(self) -> tuple[int, int]:
        """The whole query's ``(start, end)`` in seconds (whole minutes)."""
        return (self.start, self.end) if self.window is None else self.window

    def group_key(self, dims: Sequence[str | None]) -> tuple[str | None, ...]:
        """The group of a series with these dimension values (ungrouped ones None)."""
        return tuple(
            value if name in self.group_by else None
            for name, value in zip(DIMENSIONS, dims, strict=True)
        )

    def admits(self, dims: Sequence[str | None]) -> bool:
        """Whether a series with these dimension values passes the filters."""
        for name, allowed in self.filters.items():
            if dims[DIMENSIONS.index(name)] not in allowed:
                return False
        return True


Row = tuple[int, tuple[str | None, ...], Sequence[Any]]


class Source(Protocol):
    """Something that can sum its usage for a :class:`Scan`."""

    def scan(self, scan: Scan) -> Iterable[Row]:
        """Rows of ``(bucket start in seconds, group key, totals)``.

        The group key has one value per :data:`DIMENSIONS` (``None`` for the
        dimensions not in ``scan.group_by``). Several rows may share a bucket
        and group: they are added up.
        """
