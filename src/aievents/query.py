"""OpenAI's usage and costs semantics, implemented once for every store.

:func:`usage` answers like ``GET /v1/organization/usage/images`` and
:func:`costs` like ``GET /v1/organization/costs``: UTC-aligned buckets of
``1m``, ``1h`` or ``1d``; ``start_time`` inclusive and ``end_time``
exclusive; ``group_by`` with the fields not grouped by left ``null``; the
filters; ``limit`` defaults and maxima per width; opaque ``page`` cursors; and
empty buckets with ``results: []``, as OpenAI returns them.

Usage is counted at minute resolution: a minute belongs to a query's range
when its first second does (``start_time`` and ``end_time`` that are not
whole minutes act as if rounded up to one). Bucket edges are whole minutes,
so an event exactly on an edge lands in the later bucket.

Where the numbers come from is a :class:`Source`: it sums the usage of the
events in a time range into ``(bucket start, group, totals)`` rows. The
:class:`~aievents.sinks.AggregateSink` sums in memory; a SQL store sums in
SQL. Both answer through this module, so they answer alike.

Besides OpenAI's fields, image results carry token sums and the cost; cost
results name the model and kind of each line item.

A request whose cost is unknown (a model without a price) or incomplete
(tokens without a rate) is still counted, and counted again in
``unpriced_requests``. Its cost is never shown as 0: an image result's
``cost`` is ``None`` (JSON ``null``) when nothing of it is priced, and a
lower bound when ``unpriced_requests`` is above 0; on a costs page the
unpriced requests are a result of their own with no ``amount`` at all.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Literal, Protocol

import attrs

from aievents.events import OPERATIONS
from aievents.exceptions import QueryError
from aievents.money import EXACT
from aievents.usage import BILLED_PARTS, SPLIT_FIELDS, billed_from_split

__all__ = [
    "COST_GROUPS",
    "DIMENSIONS",
    "FIELDS",
    "LIMITS",
    "USAGE_GROUPS",
    "Bucket",
    "CostsResult",
    "ImagesResult",
    "Page",
    "QueryError",
    "Reports",
    "Scan",
    "Source",
    "costs",
    "minute_up",
    "new_totals",
    "usage",
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

#: The dimensions of a usage series, in key order (``source`` is the event's ``operation``).
DIMENSIONS: Final = ("model", "size", "source", "project_id", "user_id", "api_key_id")
USAGE_GROUPS: Final = frozenset(DIMENSIONS)
COST_GROUPS: Final = frozenset({"project_id", "line_item", "api_key_id"})

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
    "cost_input_text",
    "cost_input_image",
    "cost_cached_input",
    "cost_output_image",
    "cost_output_text",
    "cost_per_image",
    "cost_other",
)
INDEX: Final[Mapping[str, int]] = {name: i for i, name in enumerate(FIELDS)}
_COST_START: Final = INDEX["cost_input_text"]
_ZERO: Final = Decimal(0)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
#: The latest start or end a query takes (in 5138): anything later is milliseconds.
_LATEST: Final = 10**11

#: Cost line items: (cost part, kind in the line item name, quantity unit). The
#: quantity is the part's count in :func:`_billed` (none for ``other``).
LINE_ITEMS: Final = (
    ("input_text", "input text tokens", "tokens"),
    ("input_image", "input image tokens", "tokens"),
    ("cached_input", "cached input tokens", "tokens"),
    ("output_image", "output image tokens", "tokens"),
    ("output_text", "output text tokens", "tokens"),
    ("per_image", "images", "images"),
    ("other", "other", None),
)


def new_totals() -> list[Any]:
    """A zero totals vector (ints, then Decimal cost parts)."""
    return [0] * _COST_START + [_ZERO] * (len(FIELDS) - _COST_START)


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of amounts, whatever decimal context the application set."""
    with decimal.localcontext(EXACT):
        return sum(values, _ZERO)


def add_into(total: list[Any], part: Sequence[Any]) -> None:
    """Add ``part`` into ``total``, field by field."""
    for i, value in enumerate(part):
        if value:
            total[i] += value


# --------------------------------------------------------------------------- scans


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


# --------------------------------------------------------------------------- pages


def _amount(value: Decimal) -> dict[str, Any]:
    return {"value": float(value), "currency": "usd"}


@attrs.frozen(kw_only=True)
class ImagesResult:
    """One group of one bucket of an images usage page (``organization.usage.images.result``)."""

    images: int
    num_model_requests: int
    source: str | None = None
    size: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_image_tokens: int = 0
    input_cached_tokens: int = 0
    output_image_tokens: int = 0
    output_text_tokens: int = 0
    unpriced_requests: int = 0
    cost: Decimal | None = _ZERO

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's JSON, with our token sums, ``unpriced_requests`` and ``cost`` beside its fields.

        ``cost`` is ``null`` when no request of the result is priced, and the
        priced part (a lower bound) when ``unpriced_requests`` is above 0.
        """
        return {
            "object": "organization.usage.images.result",
            "images": self.images,
            "num_model_requests": self.num_model_requests,
            "source": self.source,
            "size": self.size,
            "project_id": self.project_id,
            "user_id": self.user_id,
            "api_key_id": self.api_key_id,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "input_text_tokens": self.input_text_tokens,
            "input_image_tokens": self.input_image_tokens,
            "input_cached_tokens": self.input_cached_tokens,
            "output_image_tokens": self.output_image_tokens,
            "output_text_tokens": self.output_text_tokens,
            "unpriced_requests": self.unpriced_requests,
            "cost": None if self.cost is None else _amount(self.cost),
        }


@attrs.frozen(kw_only=True)
class CostsResult:
    """One group of one bucket of a costs page (``organization.costs.result``).

    Requests whose cost is unknown or incomplete are a result of their own:
    ``amount`` is ``None`` (no ``amount`` key in the JSON, which OpenAI's
    schema allows; a number would read as $0) and ``unpriced_requests``
    counts them.
    """

    amount: Decimal | None
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    quantity: int | None = None
    quantity_unit: str | None = None
    unpriced_requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's JSON (``amount.value`` is a number; the exact amount is ``self.amount``)."""
        out: dict[str, Any] = {"object": "organization.costs.result"}
        if self.amount is not None:
            out["amount"] = _amount(self.amount)
        out.update(
            line_item=self.line_item,
            project_id=self.project_id,
            api_key_id=self.api_key_id,
            quantity=self.quantity,
            quantity_unit=self.quantity_unit,
            unpriced_requests=self.unpriced_requests,
        )
        return out


@attrs.frozen(kw_only=True)
class Bucket:
    """One time bucket: ``[start_time, end_time)`` in epoch seconds, and its results."""

    start_time: int
    end_time: int
    results: tuple[ImagesResult | CostsResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's ``bucket`` JSON."""
        return {
            "object": "bucket",
            "start_time": self.start_time,
            "end_time": self.end_time,
            "results": [result.to_dict() for result in self.results],
        }


@attrs.frozen(kw_only=True)
class Page:
    """A page of buckets, as OpenAI's ``UsageResponse``."""

    data: tuple[Bucket, ...]
    has_more: bool
    next_page: str | None

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's ``page`` JSON."""
        return {
            "object": "page",
            "data": [bucket.to_dict() for bucket in self.data],
            "has_more": self.has_more,
            "next_page": self.next_page,
        }


# --------------------------------------------------------------------------- parameters


def _error(field: str, value: Any, reason: str) -> QueryError:
    return QueryError(field, value, reason, owner="query")


def _seconds(name: str, value: Any) -> int:
    """Unix seconds from an int or an aware datetime (a part second rounds up).

    An error names the value as given: the datetime, not the seconds it
    came to.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _error(
                name,
                value,
                "must be timezone-aware (a naive datetime's zone is unknown): "
                "give tzinfo, e.g. datetime.now(timezone.utc)",
            )
        since = value - _EPOCH
        seconds = since.days * 86_400 + since.seconds + (since.microseconds > 0)
        if not 0 <= seconds <= _LATEST:
            latest = _EPOCH + dt.timedelta(seconds=_LATEST)
            raise _error(name, value, f"must be from 1970-01-01 to {latest:%Y-%m-%d} UTC")
        return seconds
    if isinstance(value, dt.date):
        raise _error(name, value, "must be an aware datetime or Unix seconds, not a date")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(name, value, "must be Unix seconds (an int) or an aware datetime")
    if value < 0:
        raise _error(name, value, "must be Unix seconds from 0 (1970-01-01 UTC) on")
    if value > _LATEST:
        raise _error(name, value, "must be Unix seconds (not milliseconds)")
    return value


def _names(name: str, values: Any, allowed: frozenset[str] | None = None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = (values,)
    if not isinstance(values, Iterable):
        raise _error(name, values, "must be a list of strings")
    items = tuple(values)
    for item in items:
        if not isinstance(item, str) or not item:
            raise _error(name, item, "must hold non-empty strings")
        if allowed is not None and item not in allowed:
            raise _error(name, item, f"must be one of {', '.join(sorted(allowed))}")
    return items


def _limit(value: Any, default: int, maximum: int, width: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise _error("limit", value, f"must be an integer from 1 to {maximum} for {width} buckets")
    return value


def _query_hash(kind: str, parts: Sequence[Any]) -> str:
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
        raise _error("page", page, "must be the next_page cursor of a previous answer")
    try:
        raw = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4))
        data = json.loads(raw)
        start: int = data["s"]
        valid = data.get("v") == 1 and isinstance(start, int) and not isinstance(start, bool)
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        raise _error("page", page, "is not a cursor aievents issued") from None
    if not valid:
        raise _error("page", page, "is not a cursor aievents issued")
    if data.get("q") != digest:
        raise _error("page", page, "belongs to a query with other parameters")
    if start < first or start >= end or (start - first) % width:
        raise _error("page", page, "points outside this query's buckets")
    return start


def _window(start_time: Any, end_time: Any, width: int, now: float | None) -> tuple[int, int, int]:
    """(first bucket start, query start, query end) in seconds."""
    start = _seconds("start_time", start_time)
    if end_time is None:
        end = int(now if now is not None else time.time()) + 1
        end = max(end, start + 1)
    else:
        end = _seconds("end_time", end_time)
        if end <= start:
            raise _error("end_time", end_time, f"must be after start_time ({start})")
    return start - start % width, start, end


def _paged(
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


def _buckets(begin: int, stop: int, width: int) -> range:
    """The UTC-aligned bucket starts of a page."""
    return range(begin, stop, width)


# --------------------------------------------------------------------------- answers


def _filters(**given: tuple[str, ...]) -> dict[str, frozenset[str]]:
    return {name: frozenset(values) for name, values in given.items() if values}


def _sum_rows(rows: Iterable[Row]) -> dict[int, dict[tuple[str | None, ...], list[Any]]]:
    buckets: dict[int, dict[tuple[str | None, ...], list[Any]]] = {}
    with decimal.localcontext(EXACT):  # whatever context the application set
        for bucket, key, totals in rows:
            groups = buckets.setdefault(bucket, {})
            total = groups.get(key)
            if total is None:
                groups[key] = list(totals)
            else:
                add_into(total, totals)
    return buckets


def _gather(
    source: Source,
    kind: str,
    *,
    times: tuple[Any, Any, float | None],
    width: int,
    count: int,
    page: Any,
    grouping: tuple[Sequence[str], Sequence[str], Mapping[str, frozenset[str]]],
) -> tuple[int, int, str | None, dict[int, dict[tuple[str | None, ...], list[Any]]]]:
    """The page's buckets and their sums: window, cursor, then one scan of the source.

    ``times`` is (start_time, end_time, now); ``grouping`` is (the query's
    group_by, the dimensions to scan by, the filters).
    """
    start_time, end_time, now = times
    groups, scan_groups, filters = grouping
    first, start, end = _window(start_time, end_time, width, now)
    digest = _query_hash(
        kind, [start, end if end_time is not None else None, width, sorted(groups), filters]
    )
    begin, stop, next_page = _paged(digest, (first, end), width, count, page)
    scan = Scan(
        start=minute_up(max(begin, start)),
        end=minute_up(stop),
        window=(minute_up(start), minute_up(end)),
        open_end=end_time is None,
        width=width,
        group_by=tuple(name for name in DIMENSIONS if name in scan_groups),
        filters=filters,
    )
    return begin, stop, next_page, _sum_rows(source.scan(scan))


def _sort_key(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, value or "") for value in key)


def _billed(t: Mapping[str, Any]) -> dict[str, int]:
    """A totals row's counts by cost part, as OpenAI's completions results count.

    Text and image input are uncached; the cached tokens are counted apart
    (``input_tokens`` covers all three).
    """
    billed = billed_from_split([t[name] for name in SPLIT_FIELDS])
    return {**dict(zip(BILLED_PARTS, billed, strict=True)), "per_image": t["images"]}


def _priced(t: Mapping[str, Any], amount: Decimal) -> Decimal | None:
    """The priced amount of a totals row: ``None`` when nothing of it is priced.

    A row whose every request is unpriced and whose priced parts add up to
    nothing has no known cost; otherwise the amount is what is known (a
    lower bound while ``unpriced_requests`` is above 0).
    """
    if amount or t["unpriced_requests"] < t["num_model_requests"]:
        return amount
    return None


def _images_result(key: tuple[str | None, ...], totals: Sequence[Any]) -> ImagesResult:
    t = dict(zip(FIELDS, totals, strict=True))
    billed = _billed(t)
    return ImagesResult(
        images=t["images"],
        num_model_requests=t["num_model_requests"],
        **dict(zip(DIMENSIONS, key, strict=True)),
        input_tokens=t["input_tokens"],
        output_tokens=t["output_tokens"],
        input_text_tokens=billed["input_text"],
        input_image_tokens=billed["input_image"],
        input_cached_tokens=billed["cached_input"],
        output_image_tokens=billed["output_image"],
        output_text_tokens=billed["output_text"],
        unpriced_requests=t["unpriced_requests"],
        cost=_priced(t, exact_sum(totals[_COST_START:])),
    )


def usage(
    source: Source,
    *,
    start_time: int | dt.datetime,
    end_time: int | dt.datetime | None = None,
    bucket_width: Literal["1m", "1h", "1d"] = "1d",
    group_by: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    sizes: Sequence[str] | None = None,
    project_ids: Sequence[str] | None = None,
    user_ids: Sequence[str] | None = None,
    api_key_ids: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    limit: int | None = None,
    page: str | None = None,
    now: float | None = None,
) -> Page:
    """Images usage, as OpenAI's ``GET /v1/organization/usage/images`` answers it.

    Args:
        source: Where the usage is summed.
        start_time: Unix seconds or an aware datetime, inclusive.
        end_time: Unix seconds or an aware datetime, exclusive; now when
            omitted.
        bucket_width: ``1m``, ``1h`` or ``1d``; buckets are aligned to UTC.
        group_by: Any of ``model``, ``size``, ``source``, ``project_id``,
            ``user_id``, ``api_key_id``.
        sources: Only these operations (``image.generation``, ``image.edit``,
            ``image.variation``).
        sizes: Only these sizes.
        project_ids: Only these projects.
        user_ids: Only these users.
        api_key_ids: Only these API keys.
        models: Only these models.
        limit: Buckets per page (1d: default 7, at most 31; 1h: 24, 168;
            1m: 60, 1440).
        page: The ``next_page`` cursor of the previous page.
        now: The current time in seconds, for an omitted ``end_time``.

    Raises:
        QueryError: a parameter is wrong; it is named.
    """
    if bucket_width not in WIDTHS:
        raise _error("bucket_width", bucket_width, "must be '1m', '1h' or '1d'")
    width = WIDTHS[bucket_width]
    groups = _names("group_by", group_by, USAGE_GROUPS)
    filters = _filters(
        source=_names("sources", sources, frozenset(OPERATIONS)),
        size=_names("sizes", sizes),
        project_id=_names("project_ids", project_ids),
        user_id=_names("user_ids", user_ids),
        api_key_id=_names("api_key_ids", api_key_ids),
        model=_names("models", models),
    )
    default, maximum = LIMITS[bucket_width]
    count = _limit(limit, default, maximum, bucket_width)
    begin, stop, next_page, sums = _gather(
        source,
        "usage",
        times=(start_time, end_time, now),
        width=width,
        count=count,
        page=page,
        grouping=(groups, groups, filters),
    )
    data = []
    for bucket_start in _buckets(begin, stop, width):
        found = sums.get(bucket_start, {})
        results = tuple(_images_result(key, found[key]) for key in sorted(found, key=_sort_key))
        data.append(Bucket(start_time=bucket_start, end_time=bucket_start + width, results=results))
    return Page(data=tuple(data), has_more=next_page is not None, next_page=next_page)


def _line_items(
    model: str | None, totals: Sequence[Any]
) -> Iterable[tuple[str, Decimal | None, int | None, str | None, int]]:
    """A model's line items: (name, amount, quantity, unit, unpriced requests)."""
    t = dict(zip(FIELDS, totals, strict=True))
    billed = _billed(t)
    unpriced = t["unpriced_requests"]
    name = model or "unknown model"
    for part, kind, unit in LINE_ITEMS:
        amount = t[f"cost_{part}"]
        quantity = billed.get(part)
        # Tokens at a rate of 0 show (amount 0); images show when billed per
        # image. Tokens without a rate are the unpriced line's, never a $0.
        if amount or (quantity and unit == "tokens" and not unpriced):
            yield f"{name}, {kind}", amount, quantity, unit, 0
    if unpriced:
        yield f"{name}, unpriced", None, unpriced, "requests", unpriced


def costs(
    source: Source,
    *,
    start_time: int | dt.datetime,
    end_time: int | dt.datetime | None = None,
    bucket_width: Literal["1d"] = "1d",
    group_by: Sequence[str] | None = None,
    project_ids: Sequence[str] | None = None,
    api_key_ids: Sequence[str] | None = None,
    limit: int | None = None,
    page: str | None = None,
    now: float | None = None,
) -> Page:
    """Costs, as OpenAI's ``GET /v1/organization/costs`` answers them.

    Args:
        source: Where the usage is summed.
        start_time: Unix seconds or an aware datetime, inclusive.
        end_time: Unix seconds or an aware datetime, exclusive; now when
            omitted.
        bucket_width: Only ``1d``.
        group_by: Any of ``project_id``, ``line_item``, ``api_key_id``. By
            line item, each result names a model and a kind (``gpt-image-1,
            output image tokens``) with its ``quantity`` and ``quantity_unit``.
        project_ids: Only these projects.
        api_key_ids: Only these API keys.
        limit: Buckets per page, 1 to 180 (default 7).
        page: The ``next_page`` cursor of the previous page.
        now: The current time in seconds, for an omitted ``end_time``.

    Raises:
        QueryError: a parameter is wrong; it is named.
    """
    if bucket_width != "1d":
        raise _error("bucket_width", bucket_width, "must be '1d' for costs")
    width = WIDTHS["1d"]
    groups = _names("group_by", group_by, COST_GROUPS)
    filters = _filters(
        project_id=_names("project_ids", project_ids),
        api_key_id=_names("api_key_ids", api_key_ids),
    )
    count = _limit(limit, *COSTS_LIMITS, "1d")
    by_line = "line_item" in groups
    scan_groups: list[str] = [name for name in ("project_id", "api_key_id") if name in groups]
    if by_line:
        scan_groups.append("model")
    begin, stop, next_page, sums = _gather(
        source,
        "costs",
        times=(start_time, end_time, now),
        width=width,
        count=count,
        page=page,
        grouping=(groups, tuple(scan_groups), filters),
    )
    data = []
    project_at, key_at, model_at = (
        DIMENSIONS.index(n) for n in ("project_id", "api_key_id", "model")
    )
    for bucket_start in _buckets(begin, stop, width):
        results: list[CostsResult] = []
        found = sums.get(bucket_start, {})
        for key in sorted(found, key=_sort_key):
            totals = found[key]
            project, api_key = key[project_at], key[key_at]
            if by_line:
                for line, amount, quantity, unit, unpriced in _line_items(key[model_at], totals):
                    results.append(
                        CostsResult(
                            amount=amount,
                            line_item=line,
                            quantity=quantity,
                            quantity_unit=unit,
                            project_id=project,
                            api_key_id=api_key,
                            unpriced_requests=unpriced,
                        )
                    )
            else:
                results.extend(_group_costs(totals, project, api_key))
        if by_line:
            results.sort(key=lambda r: (r.project_id or "", r.api_key_id or "", r.line_item or ""))
        data.append(
            Bucket(start_time=bucket_start, end_time=bucket_start + width, results=tuple(results))
        )
    return Page(data=tuple(data), has_more=next_page is not None, next_page=next_page)


def _group_costs(
    totals: Sequence[Any], project: str | None, api_key: str | None
) -> Iterable[CostsResult]:
    """A group's costs: the priced amount, then its unpriced requests apart (no amount)."""
    t = dict(zip(FIELDS, totals, strict=True))
    amount = _priced(t, exact_sum(totals[_COST_START:]))
    if amount is not None:
        yield CostsResult(amount=amount, project_id=project, api_key_id=api_key)
    if t["unpriced_requests"]:
        yield CostsResult(
            amount=None,
            project_id=project,
            api_key_id=api_key,
            unpriced_requests=t["unpriced_requests"],
        )


class Reports:
    """``usage()`` and ``costs()`` for a :class:`Source` with a ``_clock``.

    Mixed into the sinks that answer queries, so that they answer alike.
    """

    _clock: Callable[[], float]

    def scan(self, scan: Scan) -> Iterable[Row]:
        """Sum the usage for a query (see :class:`Source`)."""
        raise NotImplementedError

    def usage(
        self,
        start_time: int | dt.datetime,
        end_time: int | dt.datetime | None = None,
        bucket_width: Literal["1m", "1h", "1d"] = "1d",
        group_by: Sequence[str] | None = None,
        **filters: Any,
    ) -> Page:
        """Images usage like OpenAI's endpoint; see :func:`aievents.query.usage`."""
        return usage(
            self,
            start_time=start_time,
            end_time=end_time,
            bucket_width=bucket_width,
            group_by=group_by,
            now=self._clock(),
            **filters,
        )

    def costs(
        self,
        start_time: int | dt.datetime,
        end_time: int | dt.datetime | None = None,
        bucket_width: Literal["1d"] = "1d",
        group_by: Sequence[str] | None = None,
        **filters: Any,
    ) -> Page:
        """Costs like OpenAI's endpoint; see :func:`aievents.query.costs`."""
        return costs(
            self,
            start_time=start_time,
            end_time=end_time,
            bucket_width=bucket_width,
            group_by=group_by,
            now=self._clock(),
            **filters,
        )
