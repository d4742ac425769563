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
  than ``retention`` are dropped. A rolled-up total remembers the first and
  last minute of its events: a query counts it whole in the bucket of its
  first minute (so a ``1m`` or ``1h`` query over rolled-up time shows each
  roll-up in one bucket), and a query whose start or end falls between
  those minutes is refused (:class:`~aievents.query.QueryError` naming the
  edges to use) rather than answered short or long.

:meth:`AggregateSink.export` and :meth:`AggregateSink.merge` move the totals
between processes so that several processes' aggregates can be combined.

Costs are summed exactly, as whole numbers of 10**-15 USD (a part with finer
digits as a ``Decimal``). The common case, an event for a series already
held, is added by ``aievents._speedups`` when it was built (see
:attr:`AggregateSink.compiled`), else by its pure Python twin; both give the
same totals.
"""

from __future__ import annotations

import decimal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from aievents._diag import RateLimitedLog
from aievents._validate import setting
from aievents.events import BaseEvent, ImageUsageEvent
from aievents.money import EXACT, ImageCost, units_to_usd
from aievents.pricing import PriceBook, PriceTable, book_for
from aievents.query import DIMENSIONS, FIELDS, INDEX, QueryError, Reports, Row, Scan
from aievents.sinks._tally import (
    EVENT_FIELDS,
    MAINTAIN,
    MAINTAIN_EVERY,
    PyTally,
    Tally,
    add_lanes,
    amount_lanes,
    cost_lanes,
    expiry,
    tally_class,
    unpriced,
)
from aievents.usage import ImageUsage, token_split

__all__ = ["OVERFLOW", "AggregateSink"]

#: The dimension value of the overflow series.
OVERFLOW: Final = "(overflow)"
_OVERFLOW_DIMS: Final = (OVERFLOW,) * len(DIMENSIONS)
_STATE_FORMAT: Final = 2
#: The fields of format 1 exports (before ``unpriced_requests``).
_FORMAT_1_FIELDS: Final = tuple(name for name in FIELDS if name != "unpriced_requests")
_COUNTERS: Final = ("events", "duplicates", "overflowed", "expired")
_DAY_MINUTES: Final = 1440
#: An entry is a list: the FIELDS as ints (costs in cost units, see
#: aievents.money.cost_units), then None or the cost parts (as Decimal USD,
#: cost lanes in FIELDS order) that have finer digits than cost units.
_COSTS: Final = INDEX["cost_input_text"]
_EXTRA: Final = len(FIELDS)
Dims = tuple[str | None, ...]


class AggregateSink(Reports):
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
        prices: The :class:`~aievents.pricing.PriceBook` that prices events
            that carry no cost (the process default book by default).
        price_events: Price events that carry no cost (neither ``cost`` nor
            ``usage.cost``) with ``prices``; a request left without a
            cost (an unknown model) is counted in ``unpriced_requests``.
        clock: Seconds since the epoch; for tests.
        compiled: Add events with the compiled ``aievents._speedups`` (built
            when the package was installed with a C compiler at hand):
            ``None`` when it is there and ``AIEVENTS_PURE_PYTHON`` is not set,
            ``True`` always (``ImportError`` without it), ``False`` never.
            Both give the same totals.

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
        prices: PriceBook | PriceTable | None = None,
        price_events: bool = True,
        clock: Any = time.time,
        compiled: bool | None = None,
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
        self._prices = book_for(prices)
        self._price_events = price_events
        self._clock = clock
        self._lock = threading.Lock()
        #: Minute entries (see _EXTRA), where the tally adds events.
        self._series: dict[tuple[int, Dims], Any] = {}
        #: Hour and day entries, keyed by the hour's or day's first minute.
        self._rolled: dict[tuple[int, Dims], _Rolled] = {}
        #: Stored entries per dimension combination (a combination at 0 is gone).
        self._dims: dict[Dims, int] = {}
        self._canonical: dict[Dims, Dims] = {}
        #: Entries the tally opened, booked by _settle.
        self._opened: list[tuple[int, Dims]] = []
        #: Keys of minute, hour and day entries, oldest first, for roll-ups.
        self._levels: tuple[deque[tuple[int, Dims]], ...] = (deque(), deque(), deque())
        self._tally: Tally = tally_class(compiled)(
            event_cls=ImageUsageEvent,
            usage_cls=ImageUsage,
            cost_cls=ImageCost,
            series=self._series,
            canonical=self._canonical,
            opened=self._opened,
            lock=self._lock,
            size=self._max_ids,
            fallback=self._fallback,
            clock=clock,
            # Past 10**12 minutes (two million years) nothing can expire.
            retention=min(self._retention, 10**12),
        )
        # The tally's own handle, without a Python frame in between.
        self.handle = self._tally.handle  # type: ignore[method-assign]
        self._diag = RateLimitedLog("aggregate")
        self.evicted = 0
        self.future = 0
        self.overflowed = 0
        #: Requests older than ``retention`` when they arrived (an event, or
        #: totals merged in): counted here and logged, not added.
        self.expired = 0

    @property
    def events(self) -> int:
        """Events counted (neither a duplicate nor an expired one is)."""
        return self._tally.events

    @property
    def duplicates(self) -> int:
        """Events ignored because their request id was already counted."""
        return self._tally.duplicates

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (events are ignored then)."""
        return bool(self._tally.closed)

    @property
    def compiled(self) -> bool:
        """Whether events are added by the compiled ``aievents._speedups``."""
        return type(self._tally) is not PyTally

    # ------------------------------------------------------------------ intake

    def handle(self, event: BaseEvent) -> None:
        """Add an ``image:usage`` event to its series (other events are ignored)."""
        self._tally.handle(event)

    def _fallback(self, event: BaseEvent, status: int) -> None:
        """What the tally leaves to the sink: maintenance, and the general path."""
        if status == MAINTAIN:
            with self._tally:
                self._maintain(MAINTAIN_EVERY)
        elif isinstance(event, ImageUsageEvent):
            self._add(event)

    def _add(self, event: ImageUsageEvent) -> None:
        """The general path: a new series, an unpriced event, a cost in finer units."""
        fields = EVENT_FIELDS(event)
        usage = fields[2]
        split = token_split(usage)
        cost: ImageCost | Decimal | None = fields[3]
        if cost is None:
            cost = usage.cost
            if cost is None and self._price_events:
                cost = self._prices.cost_of(event)
        units, extra = cost_lanes(cost)
        # Only exact strs are kept: hashing or comparing them runs no code.
        key = (fields[1] // 60_000, tuple(map(_exact, fields[5:])))
        request_id = _exact(fields[0])
        tally = self._tally
        if key[0] < expiry(self._clock(), self._retention):
            self._expire(request_id, fields[1])
            return
        with self._tally:
            if tally.closed:
                return
            if not tally.remember(request_id):
                tally.duplicates += 1
                return
            tally.events += 1
            totals = self._series.get(key)
            if totals is None:
                totals = self._open(*key)
            add_lanes(totals, fields[4], usage, split, units, unpriced=unpriced(cost))
            if extra is not None:
                _add_extra(totals, extra)
            tally.ticks += 1
            if tally.ticks >= MAINTAIN_EVERY:
                tally.ticks = 0
                self._maintain(MAINTAIN_EVERY)

    def _expire(self, request_id: str, timestamp: int) -> None:
        """Count an event older than the retention, then log it (outside the lock)."""
        with self._tally:
            if self._tally.closed:
                return
            self.expired += 1
            expired = self.expired
        self._diag(
            "expired",
            "warning",
            "event_expired",
            request_id=request_id[:80],
            timestamp=timestamp,
            retention_days=self._retention / 1440,
            expired=expired,
        )

    def _open(self, minute: int, dims: Dims) -> Any:
        """A new entry (under the lock), or the overflow series past the cap."""
        self._settle()
        if dims not in self._dims and len(self._dims) >= self._max_series:
            self.overflowed += 1
            dims = _OVERFLOW_DIMS
            existing = self._series.get((minute, dims))
            if existing is not None:
                return existing
        key = (minute, self._canonical.get(dims, dims))  # one tuple per combination
        totals = self._series[key] = self._tally.new_entry()
        self._book(key, self._clock() + 86_400)
        return totals

    def _book(self, key: tuple[int, Dims], horizon: float) -> None:
        """Count a new entry for its combination and queue it for roll-ups."""
        minute, dims = key
        self._dims[dims] = self._dims.get(dims, 0) + 1
        self._canonical.setdefault(dims, dims)
        self._levels[0].append(key)
        if minute * 60 > horizon:
            self.future += 1  # kept, and rolled up once its time has come

    def _settle(self) -> None:
        """Book the entries the tally opened (under the lock)."""
        if self._opened:
            horizon = self._clock() + 86_400
            for key in self._opened:
                self._book(key, horizon)
            self._opened.clear()

    def _forget(self, dims: Dims) -> None:
        """One entry of ``dims`` is gone (merged or dropped)."""
        left = self._dims.get(dims, 1) - 1
        if left > 0:
            self._dims[dims] = left
        else:
            self._dims.pop(dims, None)
            self._canonical.pop(dims, None)
            self._tally.drop(dims)

    def _maintain(self, budget: int | None) -> None:
        """Roll minutes into hours and hours into days as they age, by the clock.

        Ages come from the sink's clock, never from an event's timestamp: an
        event dated in the future changes nothing for the others. At most
        ``budget`` entries of each level are looked at (``None``: all that are
        due), so ``handle`` stays O(1) amortized, and a level whose entries
        are all due (minutes) never starves the next (hours, days). Past
        ``max_entries`` the oldest detail is rolled up early, and past that
        the oldest days are dropped.
        """
        self._settle()
        now = int(self._clock()) // 60
        limits = (self._minute_detail, self._hour_detail, self._retention)
        steps = (60, _DAY_MINUTES, None)
        minutes, rolled = self._series, self._rolled
        for level, (queue, limit, step) in enumerate(zip(self._levels, limits, steps, strict=True)):
            held: dict[tuple[int, Dims], Any] = rolled if level else minutes
            left = budget
            while queue and (left is None or left > 0):
                minute, dims = queue[0]
                crowded = len(minutes) + len(rolled) > self._max_entries
                if now - minute < limit and not crowded:
                    break
                queue.popleft()
                if left is not None:
                    left -= 1
                entry = held.pop((minute, dims), None)
                if entry is None:
                    continue
                self._tally.invalidate()  # the tally may hold it as a series' latest
                if step is None:  # past retention (or crowded out): gone
                    self._forget(dims)
                    if now - minute < limit:
                        self.evicted += 1
                    continue
                part = entry if level else _Rolled(entry, minute, minute)
                target = (minute - minute % step, dims)
                into = rolled.get(target)
                if into is None:
                    rolled[target] = part
                    self._levels[level + 1].append(target)
                else:
                    into.add(part)
                    self._forget(dims)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing is buffered: the sums are always current."""
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking events; the totals can still be queried and exported."""
        with self._tally:
            self._tally.closed = True
        return True

    # ------------------------------------------------------------------ queries

    def scan(self, scan: Scan) -> Iterator[Row]:
        """Sum the series for a query (the :class:`aievents.query.Source` protocol).

        A rolled-up total counts in the bucket of its first event's minute.

        Raises:
            QueryError: the query's start or its given end falls between the
                first and the last minute of a rolled-up total it would
                count: the sink no longer knows which of its events are
                inside. (Without an end, "up to now", such a total counts
                whole.)
        """
        first, last = scan.start // 60, (scan.end - 1) // 60
        low, high = scan.bounds[0] // 60, (scan.bounds[1] - 1) // 60
        width = scan.width
        with self._tally:
            self._maintain(None)
            items = [
                (dims, minute, minute, _totals(totals))
                for (minute, dims), totals in self._series.items()
                if first <= minute <= last
            ]
            items += [
                (dims, part.first, part.last, _totals(part.totals))
                for (_, dims), part in self._rolled.items()
                if part.first <= last and part.last >= first
            ]
        for dims, begins, ends, totals in items:
            if scan.filters and not scan.admits(dims):
                continue
            if begins < low <= ends or (begins <= high < ends and not scan.open_end):
                raise _cut(scan.bounds, begins, ends, low=begins < low <= ends)
            if first <= begins:
                seconds = begins * 60
                yield seconds - seconds % width, scan.group_key(dims), totals

    # ------------------------------------------------------------------ state

    @property
    def series_count(self) -> int:
        """Distinct dimension combinations held (the overflow series included)."""
        with self._tally:
            self._settle()
            return len(self._dims)

    def export(self) -> dict[str, Any]:
        """The totals as a JSON-ready dict, for :meth:`merge` in another process."""
        with self._tally:
            self._maintain(None)
            items = [(k, _totals(v)) for k, v in self._series.items()]
            items += [(k, _totals(part.totals)) for k, part in self._rolled.items()]
            counters = {
                "events": self.events,
                "duplicates": self.duplicates,
                "overflowed": self.overflowed,
                "expired": self.expired,
            }
        rows = [
            [minute, list(dims), [str(v) if isinstance(v, Decimal) else v for v in totals]]
            for (minute, dims), totals in items
        ]
        return {"format": _STATE_FORMAT, "fields": list(FIELDS), "series": rows, **counters}

    def merge(self, state: Mapping[str, Any] | AggregateSink) -> None:
        """Add the totals of another sink (or its :meth:`export`) to these.

        Totals older than this sink's ``retention`` are not added: their
        requests are counted in :attr:`expired` (and logged).

        Raises:
            QueryError: the state is not an export of a compatible version;
                nothing is merged then.
        """
        if isinstance(state, AggregateSink):
            state = state.export()
        parsed, counters = _parse_state(state)
        cutoff = expiry(self._clock(), self._retention)
        expired = 0
        with self._tally:
            for minute, dims, totals in parsed:
                if minute < cutoff:
                    expired += totals[0]
                    continue
                existing = self._series.get((minute, dims))
                if existing is None:
                    existing = self._open(minute, dims)
                _merge_entry(existing, totals)
            self._tally.events += counters["events"]
            self._tally.duplicates += counters["duplicates"]
            self.overflowed += counters["overflowed"]
            self.expired += counters["expired"] + expired
        if expired:
            self._diag(
                "expired_merged",
                "warning",
                "totals_expired",
                requests=expired,
                retention_days=self._retention / 1440,
            )


def _parse_state(state: Any) -> tuple[list[tuple[int, Dims, list[Any]]], dict[str, int]]:
    """Every row and counter of an export, checked before anything is merged."""

    def bad(field: str, value: Any, reason: str) -> QueryError:
        return QueryError(field, value, reason, owner="aggregate state")

    if not isinstance(state, Mapping):
        raise bad("state", state, "must be the dict export() returned")
    version = state.get("format")
    if version not in (1, _STATE_FORMAT) or isinstance(version, bool):
        raise bad("format", version, f"must be 1 or {_STATE_FORMAT}")
    fields = FIELDS if version == _STATE_FORMAT else _FORMAT_1_FIELDS
    if state.get("fields") != list(fields):
        raise bad("fields", state.get("fields"), f"must list format {version}'s fields")
    counters = {}
    for name in _COUNTERS:
        value = state.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= sys.maxsize:
            raise bad(name, value, f"must be an integer from 0 to {sys.maxsize}")
        counters[name] = value
    rows = state.get("series")
    if not isinstance(rows, list):
        raise bad("series", rows, "must be a list")
    split = fields.index("cost_input_text")
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
                "must be [minute, six dimensions (string or null), counts and amounts]",
            ) from None
        counts = list(totals[:split])
        if version == 1:
            # Format 1 could not tell an unknown cost from $0: totals without
            # any cost are unpriced, never a $0 that may be false.
            counts.append(0 if any(amounts) else counts[0])
        entry = [*counts, *(0 for _ in amounts), None]
        units, extra = zip(*(amount_lanes(a) for a in amounts), strict=True)
        entry[_COSTS:_EXTRA] = [u or 0 for u in units]
        entry[_EXTRA] = None if not any(extra) else [e or _ZERO for e in extra]
        parsed.append((minute, tuple(map(_exact, dims)), entry))
    return parsed, counters


# ---------------------------------------------------------------------- entries


class _Rolled:
    """An hour's or a day's totals, with the first and last minute of their events."""

    __slots__ = ("first", "last", "totals")

    def __init__(self, totals: Any, first: int, last: int) -> None:
        self.totals = totals
        self.first = first
        self.last = last

    def add(self, other: _Rolled) -> None:
        """Add another part of the same hour or day."""
        _merge_entry(self.totals, other.totals)
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)


def _cut(bounds: tuple[int, int], first: int, last: int, *, low: bool) -> QueryError:
    """The error for a query edge that falls inside a rolled-up total."""
    since, until = _utc(first * 60), _utc(last * 60 + 60)
    field, value = ("start_time", bounds[0]) if low else ("end_time", bounds[1])
    return QueryError(
        field,
        value,
        f"falls inside totals this sink rolled up (events from {since} to before {until} "
        f"UTC, summed together once older than minute_detail or hour_detail): "
        f"use {since} or earlier, or {until} or later, or keep finer detail longer",
        owner="AggregateSink",
    )


def _utc(seconds: int) -> str:
    """A whole minute as ISO 8601 UTC, to the minute."""
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(seconds))


def _exact(value: Any) -> Any:
    """A str as an exact str (a subclass's hash or eq could run code); else as is."""
    return value if value is None or type(value) is str else str.__str__(value)


_ZERO: Final = Decimal(0)


def _add_extra(totals: Any, extra: Sequence[Decimal]) -> None:
    """Add Decimal cost parts to an entry's extra (exactly)."""
    held = totals[_EXTRA]
    with decimal.localcontext(EXACT):
        totals[_EXTRA] = (
            list(extra) if held is None else [a + b for a, b in zip(held, extra, strict=True)]
        )


def _merge_entry(into: Any, other: Any) -> None:
    """Add the entry ``other`` to ``into``."""
    for index in range(_EXTRA):
        if other[index]:
            into[index] += other[index]
    if other[_EXTRA] is not None:
        _add_extra(into, other[_EXTRA])


def _totals(entry: Any) -> list[Any]:
    """An entry as aievents.query totals: counts, then exact Decimal USD cost parts."""
    lanes = list(entry)
    costs = [units_to_usd(units) for units in lanes[_COSTS:_EXTRA]]
    extra = lanes[_EXTRA]
    if extra is not None:
        with decimal.localcontext(EXACT):
            costs = [a + b for a, b in zip(costs, extra, strict=True)]
    return [*lanes[:_COSTS], *costs]
