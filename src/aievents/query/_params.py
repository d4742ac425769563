"""A query's parameters: times, names, limits and page cursors, checked and named when wrong."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from aievents.exceptions import QueryError

__all__ = [
    "COSTS_LIMITS",
    "LIMITS",
    "WIDTHS",
    "error",
    "filter_sets",
    "instant",
    "minute_up",
    "names",
    "page_size",
    "paged",
    "query_hash",
    "window",
]

#: Bucket widths in seconds.
WIDTHS: Final[Mapping[str, int]] = {"1m": 60, "1h": 3600, "1d": 86400}
#: Default and maximum ``limit`` (buckets per page) per width, as OpenAI's.
LIMITS: Final[Mapping[str, tuple[int, int]]] = {
    "1m": (60, 1440),
    "1h": (24, 168),
    "1d": (7, 31),
}
COSTS_LIMITS: Final = (7, 180)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
#: The latest start or end a query takes (in 5138): anything later is milliseconds.
_LATEST: Final = 10**11


def error(field: str, value: Any, reason: str) -> QueryError:
    return QueryError(field, value, reason, owner="query")


def _seconds(name: str, value: Any) -> int:
    """Unix seconds from an int or an aware datetime (a part second rounds up).

    An error names the value as given: the datetime, not the seconds it
    came to.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise error(
                name,
                value,
                "must be timezone-aware (a naive datetime's zone is unknown): "
                "give tzinfo, e.g. datetime.now(timezone.utc)",
            )
        since = value - _EPOCH
        seconds = since.days * 86_400 + since.seconds + (since.microseconds > 0)
        if not 0 <= seconds <= _LATEST:
            latest = _EPOCH + dt.timedelta(seconds=_LATEST)
            raise error(name, value, f"must be from 1970-01-01 to {latest:%Y-%m-%d} UTC")
        return seconds
    if isinstance(value, dt.date):
        raise error(name, value, "must be an aware datetime or Unix seconds, not a date")
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(name, value, "must be Unix seconds (an int) or an aware datetime")
    if value < 0:
        raise error(name, value, "must be Unix seconds from 0 (1970-01-01 UTC) on")
    if value > _LATEST:
        raise error(name, value, "must be Unix seconds (not milliseconds)")
    return value


def instant(name: str, value: Any) -> int:
    """Unix seconds from Unix seconds (an int), an aware datetime or a date (its start, UTC).

    The times a query takes, and a date; anything else is a
    :class:`QueryError` naming ``name`` and the value.
    """
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    return _seconds(name, value)


def names(name: str, values: Any, allowed: frozenset[str] | None = None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = (values,)
    if not isinstance(values, Iterable):
        raise error(name, values, "must be a list of strings")
    items = tuple(values)
    for item in items:
        if not isinstance(item, str) or not item:
            raise error(name, item, "must hold non-empty strings")
        if allowed is not None and item not in allowed:
            raise error(name, item, f"must be one of {', '.join(sorted(allowed))}")
    return items


def page_size(value: Any, default: int, maximum: int, width: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise error("limit", value, f"must be an integer from 1 to {maximum} for {width} buckets")
    return value


def query_hash(kind: str, parts: Sequence[Any]) -> str:
    """A digest of the query's parameters, the same in every process."""

    def plain(value: Any) -> Any:
        if isinstance(value, (set, frozenset)):
            return sorted(value)
        if isinstance(value, Mapping):
            return {key: plain(item) for key, item in value.items()}
        return value

    text = json.dumps([kind, *(plain(part) for part in parts)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_MAX_CURSOR: Final = 512


def _encode_cursor(next_start: int, digest: str) -> str:
    raw = json.dumps({"v": 1, "s": next_start, "q": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(page: Any, digest: str, first: int, end: int, width: int) -> int:
    if not isinstance(page, str) or not page or len(page) > _MAX_CURSOR:
        raise error("page", page, "must be the next_page cursor of a previous answer")
    try:
        raw = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4))
        data = json.loads(raw)
        start: int = data["s"]
        valid = data.get("v") == 1 and isinstance(start, int) and not isinstance(start, bool)
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        raise error("page", page, "is not a cursor aievents issued") from None
    if not valid:
        raise error("page", page, "is not a cursor aievents issued")
    if data.get("q") != digest:
        raise error("page", page, "belongs to a query with other parameters")
    if start < first or start >= end or (start - first) % width:
        raise error("page", page, "points outside this query's buckets")
    return start


def window(start_time: Any, end_time: Any, width: int, now: float | None) -> tuple[int, int, int]:
    """(first bucket start, query start, query end) in seconds."""
    start = _seconds("start_time", start_time)
    if end_time is None:
        end = int(now if now is not None else time.time()) + 1
        end = max(end, start + 1)
    else:
        end = _seconds("end_time", end_time)
        if end <= start:
            raise error("end_time", end_time, f"must be after start_time ({start})")
    return start - start % width, start, end


def paged(
    digest: str, span: tuple[int, int], width: int, limit: int, page: Any
) -> tuple[int, int, str | None]:
    """The page's range of bucket starts ``[begin, stop)`` and the next cursor."""
    first, end = span
    begin = first if page is None else _decode_cursor(page, digest, first, end, width)
    stop = min(begin + limit * width, end)
    return begin, stop, _encode_cursor(stop, digest) if stop < end else None


def minute_up(seconds: int) -> int:
    """``seconds`` rounded up to a whole minute: usage is counted by the minute."""
    return seconds + (-seconds % 60)


def filter_sets(**given: tuple[str, ...]) -> dict[str, frozenset[str]]:
    return {name: frozenset(values) for name, values in given.items() if values}
