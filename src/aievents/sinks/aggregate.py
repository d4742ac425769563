"""AggregateSink: usage and cost sums in memory, answered as OpenAI's usage API answers.

Every ``image:usage`` event is added, in O(1), to the totals of its series:
its UTC minute and its dimensions (model, size, source, project, user, API
key). :meth:`AggregateSink.usage` and :meth:`AggregateSink.costs` answer
from those totals through :mod:`aievents.query`.

Memory stays bounded whatever the load:

- a request id already counted is not counted again (the last
  ``max_request_ids`` ids are remembered);
- at most ``max_series`` distinct dimension combinations are kept; events of
  any further combination are added to one overflow series (every
  dimension ``"(overflow)"``) and counted in :attr:`AggregateSink.overflowed`;
- minute detail is kept for ``minute_detail`` seconds, then rolled into its
  hour; hour detail for ``hour_detail``, then rolled into its day; days older
  than ``retention`` are dropped. A ``1m`` or ``1h`` query over rolled-up
  time shows each roll-up in the first bucket of its hour or day.

:meth:`AggregateSink.export` and :meth:`AggregateSink.merge` move the totals
between processes so that several processes' aggregates can be combined.
"""

from __future__ import annotations

import decimal
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final, Literal

from aievents._validate import setting
from aievents.events import BaseEvent, ImageUsageEvent
from aievents.pricing import PriceTable, cost_of
from aievents.query import (
    DIMENSIONS,
    FIELDS,
    INDEX,
    Page,
    QueryError,
    Row,
    Scan,
    add_into,
    new_totals,
)
from aievents.query import costs as costs_page
from aievents.query import usage as usage_page
from aievents.usage import COST_COMPONENTS, EXACT, token_split

__all__ = ["OVERFLOW", "AggregateSink"]

#: The dimension value of the overflow series.
OVERFLOW: Final = "(overflow)"
_OVERFLOW_DIMS: Final = (OVERFLOW,) * len(DIMENSIONS)
_STATE_FORMAT: Final = 1
#: Roll-ups are looked at every this many events, for as many entries.
_MAINTAIN_EVERY: Final = 256
_DAY_MINUTES: Final = 1440
_COST_FIELDS: Final = attrgetter(*COST_COMPONENTS)
_COST_INDEXES: Final = tuple(INDEX[f"cost_{name}"] for name in COST_COMPONENTS)
#: What ``handle`` reads of an event, in one call: id, time, usage, cost,
#: images, then the dimensions in DIMENSIONS order.
_EVENT_FIELDS: Final = attrgetter(
    "request_id",
    "timestamp",
    "usage",
    "cost",
    "images",
    "model",
    "size",
    "operation",
    "project_id",
    "user_id",
    "api_key_id",
)
_COST_OTHER: Final = INDEX["cost_other"]

Dims = tuple[str | None, ...]


class AggregateSink:
    """Sums ``image:usage`` events; answers OpenAI-shaped usage and costs pages.

    Args:
        max_series: Distinct dimension combinations kept; beyond, events go
            to the overflow series (a combination whose totals all aged out
            frees its place).
        max_entries: Totals kept in all (one per combination and minute,
            hour or day); past it, the oldest detail is rolled up early, and
            past that the oldest days go. Bounds memory (about 600 bytes each).
        max_request_ids: Request ids remembered to count each request once.
        minute_detail: Seconds of minute detail kept (default one day).
        hour_detail: Seconds of hour detail kept (default seven days).
        retention: Seconds of totals kept at all (default 400 days).
        prices: Price table for events that carry no cost (the process-wide
            table by default).
        price_events: Price events that carry no cost (neither ``cost`` nor
            ``usage.cost``) with the price table; an unknown model adds none.
        clock: Seconds since the epoch; for tests.

    Thread-safe; ``handle`` is O(1).
    """

    def __init__(
        self,
        *,
        max_series: int = 10_000,
        max_entries: int = 25_000,
        max_request_ids: int = 100_000,
        minute_detail: int = 86_400,
        hour_detail: int = 7 * 86_400,
        retention: int = 400 * 86_400,
        prices: PriceTable | None = None,
        price_events: bool = True,
        clock: Any = time.time,
    ) -> None:
        self._max_series = setting("max_series", max_series, positive=True)
        self._max_entries = setting("max_entries", max_entries, positive=True)
        self._max_ids = setting("max_request_ids", max_request_ids, positive=True)
        minute_detail = setting("minute_detail", minute_detail, positive=True)
        hour_detail = setting("hour_detail", hour_detail, positive=True)
        retention = setting("retention", retention, positive=True)
        if not minute_detail <= hour_detail <= retention:
            raise ValueError("minute_detail <= hour_detail <= retention must hold")
        self._minute_detail = minute_detail // 60
        self._hour_detail = hour_detail // 60
        self._retention = retention // 60
        self._prices = prices
        self._price_events = price_events
        self._clock = clock
        self._lock = threading.Lock()
        self._series: dict[tuple[int, Dims], list[Any]] = {}
        #: Stored entries per dimension combination (a combination at 0 is gone).
        self._dims: dict[Dims, int] = {}
        self._canonical: dict[Dims, Dims] = {}
        self._seen: set[str] = set()
        self._ring: deque[str] = deque()
        #: Entries at minute, hour and day resolution, oldest first, for roll-ups.
        self._levels: tuple[deque[tuple[int, Dims]], ...] = (deque(), deque(), deque())
        self._ticks = 0
        self._pending: list[tuple[list[Any], Any]] = []
        self.evicted = 0
        self.future = 0
        self.duplicates = 0
        self.overflowed = 0
        self.events = 0
        self.closed = False

    # ------------------------------------------------------------------ intake

    def handle(self, event: BaseEvent) -> None:
        """Add an ``image:usage`` event to its series (other events are ignored)."""
        if type(event) is not ImageUsageEvent and not isinstance(event, ImageUsageEvent):
            return
        fields = _EVENT_FIELDS(event)
        usage = fields[2]
        text, image, cached_text, cached_image, out_image, out_text = token_split(usage)
        cost = fields[3]
        if cost is None and usage.cost is None and self._price_events:
            cost = cost_of(event, table=self._prices)
        key = (fields[1] // 60_000, fields[5:])
        request_id = fields[0]
        with self._lock:
            seen = self._seen
            if request_id in seen or self.closed:
                if not self.closed:
                    self.duplicates += 1
                return
            seen.add(request_id)
            ring = self._ring
            ring.append(request_id)
            if len(ring) > self._max_ids:
                seen.discard(ring.popleft())
            self.events += 1
            totals = self._series.get(key)
            if totals is None:
                totals = self._open(*key)
            totals[0] += 1
            totals[1] += fields[4] or 0
            totals[2] += usage.input_tokens or 0
            totals[3] += usage.output_tokens or 0
            totals[4] += text
            totals[5] += image
            totals[6] += out_image
            if out_text:
                totals[7] += out_text
            if cached_text or cached_image:
                totals[8] += cached_text
                totals[9] += cached_image
            if cost is not None or usage.cost:
                # Decimal sums are folded in batches by _maintain (so at most
                # _MAINTAIN_EVERY wait), in an exact decimal context.
                self._pending.append((totals, cost if cost is not None else usage.cost))
            self._ticks += 1
            if self._ticks >= _MAINTAIN_EVERY:
                self._ticks = 0
                self._maintain(_MAINTAIN_EVERY)

    def _open(self, minute: int, dims: Dims) -> list[Any]:
        """A new entry (under the lock), or the overflow series past the cap."""
        count = self._dims.get(dims)
        if count is None and len(self._dims) >= self._max_series:
            self.overflowed += 1
            dims = _OVERFLOW_DIMS
            existing = self._series.get((minute, dims))
            if existing is not None:
                return existing
            count = self._dims.get(dims)
        self._dims[dims] = (count or 0) + 1
        dims = self._canonical.setdefault(dims, dims)  # one tuple per combination
        totals = self._series[(minute, dims)] = new_totals()
        self._levels[0].append((minute, dims))
        if minute * 60 > self._clock() + 86_400:
            self.future += 1  # kept, and rolled up once its time has come
        return totals

    def _forget(self, dims: Dims) -> None:
        """One entry of ``dims`` is gone (merged or dropped)."""
        left = self._dims.get(dims, 1) - 1
        if left > 0:
            self._dims[dims] = left
        else:
            self._dims.pop(dims, None)
            self._canonical.pop(dims, None)

    def _fold(self) -> None:
        """Add the pending costs (ImageCost, or a bare Decimal) to their series (locked)."""
        pending = self._pending
        with decimal.localcontext(EXACT):
            for totals, cost in pending:
                if isinstance(cost, Decimal):
                    totals[_COST_OTHER] += cost
                    continue
                parts = _COST_FIELDS(cost)
                if not any(parts):  # a total without a breakdown
                    totals[_COST_OTHER] += cost.total
                    continue
                for index, part in zip(_COST_INDEXES, parts, strict=True):
                    if part:
                        totals[index] += part
        pending.clear()

    def _maintain(self, budget: int | None) -> None:
        """Roll minutes into hours and hours into days as they age, by the clock.

        Ages come from the sink's clock, never from an event's timestamp: an
        event dated in the future changes nothing for the others. At most
        ``budget`` entries are looked at (``None``: all that are due), so
        ``handle`` stays O(1) amortized. Past ``max_entries`` the oldest
        detail is rolled up early, and past that the oldest days are dropped.
        """
        self._fold()
        now = int(self._clock()) // 60
        limits = (self._minute_detail, self._hour_detail, self._retention)
        steps = (60, _DAY_MINUTES, None)
        series = self._series
        for level, (queue, limit, step) in enumerate(zip(self._levels, limits, steps, strict=True)):
            while queue and (budget is None or budget > 0):
                minute, dims = queue[0]
                crowded = len(series) > self._max_entries
                if now - minute < limit and not crowded:
                    break
                queue.popleft()
                if budget is not None:
                    budget -= 1
                totals = series.pop((minute, dims), None)
                if totals is None:
                    continue
                if step is None:  # past retention (or crowded out): gone
                    self._forget(dims)
                    if now - minute < limit:
                        self.evicted += 1
                    continue
                target = minute - minute % step
                into = series.get((target, dims))
                if into is None:
                    series[(target, dims)] = totals
                    self._levels[level + 1].append((target, dims))
                else:
                    with decimal.localcontext(EXACT):
                        add_into(into, totals)
                    self._forget(dims)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing is buffered: the sums are always current."""
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking events; the totals can still be queried and exported."""
        with self._lock:
            self.closed = True
        return True

    # ------------------------------------------------------------------ queries

    def scan(self, scan: Scan) -> Iterator[Row]:
        """Sum the series for a query (the :class:`aievents.query.Source` protocol)."""
        first, last = scan.start // 60, (scan.end - 1) // 60
        width = scan.width
        with self._lock:
            self._maintain(None)
            items = [(k, list(v)) for k, v in self._series.items() if first <= k[0] <= last]
        for (minute, dims), totals in items:
            if scan.filters and not scan.admits(dims):
                continue
            seconds = minute * 60
            yield seconds - seconds % width, scan.group_key(dims), totals

    def usage(
        self,
        start_time: int,
        end_time: int | None = None,
        bucket_width: Literal["1m", "1h", "1d"] = "1d",
        group_by: Sequence[str] | None = None,
        **filters: Any,
    ) -> Page:
        """Images usage like OpenAI's endpoint; see :func:`aievents.query.usage`."""
        return usage_page(
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
        start_time: int,
        end_time: int | None = None,
        bucket_width: Literal["1d"] = "1d",
        group_by: Sequence[str] | None = None,
        **filters: Any,
    ) -> Page:
        """Costs like OpenAI's endpoint; see :func:`aievents.query.costs`."""
        return costs_page(
            self,
            start_time=start_time,
            end_time=end_time,
            bucket_width=bucket_width,
            group_by=group_by,
            now=self._clock(),
            **filters,
        )

    # ------------------------------------------------------------------ state

    @property
    def series_count(self) -> int:
        """Distinct dimension combinations held (the overflow series included)."""
        return len(self._dims)

    def export(self) -> dict[str, Any]:
        """The totals as a JSON-ready dict, for :meth:`merge` in another process."""
        with self._lock:
            self._maintain(None)
            items = [(k, list(v)) for k, v in self._series.items()]
            counters = {
                "events": self.events,
                "duplicates": self.duplicates,
                "overflowed": self.overflowed,
            }
        rows = [
            [minute, list(dims), [str(v) if isinstance(v, Decimal) else v for v in totals]]
            for (minute, dims), totals in items
        ]
        return {"format": _STATE_FORMAT, "fields": list(FIELDS), "series": rows, **counters}

    def merge(self, state: Mapping[str, Any] | AggregateSink) -> None:
        """Add the totals of another sink (or its :meth:`export`) to these.

        Raises:
            QueryError: the state is not an export of a compatible version;
                nothing is merged then.
        """
        if isinstance(state, AggregateSink):
            state = state.export()
        parsed, counters = _parse_state(state)
        with self._lock:
            self._fold()
            self.duplicates += counters["duplicates"]
            self.overflowed += counters["overflowed"]
            for minute, dims, totals in parsed:
                existing = self._series.get((minute, dims))
                if existing is None:
                    existing = self._open(minute, dims)
                with decimal.localcontext(EXACT):
                    add_into(existing, totals)
            self.events += counters["events"]


def _parse_state(state: Any) -> tuple[list[tuple[int, Dims, list[Any]]], dict[str, int]]:
    """Every row and counter of an export, checked before anything is merged."""

    def bad(field: str, value: Any, reason: str) -> QueryError:
        return QueryError(field, value, reason, owner="aggregate state")

    if not isinstance(state, Mapping):
        raise bad("state", state, "must be the dict export() returned")
    if state.get("format") != _STATE_FORMAT:
        raise bad("format", state.get("format"), f"must be {_STATE_FORMAT}")
    if state.get("fields") != list(FIELDS):
        raise bad("fields", state.get("fields"), "must list this version's fields")
    counters = {}
    for name in ("events", "duplicates", "overflowed"):
        value = state.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(name, value, "must be a non-negative integer")
        counters[name] = value
    rows = state.get("series")
    if not isinstance(rows, list):
        raise bad("series", rows, "must be a list")
    split = INDEX["cost_input_text"]
    parsed = []
    for index, row in enumerate(rows):
        try:
            minute, dims, totals = row
            valid = (
                isinstance(minute, int)
                and not isinstance(minute, bool)
                and isinstance(dims, list)
                and len(dims) == len(DIMENSIONS)
                and all(d is None or isinstance(d, str) for d in dims)
                and isinstance(totals, list)
                and len(totals) == len(FIELDS)
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
                "must be [minute, six dimensions (string or null), counts and amounts]",
            ) from None
        parsed.append((minute, tuple(dims), [*totals[:split], *amounts]))
    return parsed, counters
