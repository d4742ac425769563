"""The series table of an AggregateSink: its totals by series and time, and all it does with them.

A *series* is one combination of dimensions (model, size, source, project,
user, API key, provider, quality: aievents.query.DIMENSIONS); the table
holds an entry (see :mod:`aievents.totals`) per series and minute, and
rolls minutes into hours and hours into days as they age (a rolled-up
entry remembers the first and last minute of its events).
It bounds what it holds (``max_series``, then the overflow series;
``max_entries``, then early roll-ups; ``retention``), answers scans, and
exports and merges its totals.

Adding is the table's tally (:mod:`aievents.sinks._tally`): made here, it
reads the table's minute entries, series, request-id ring, lock (and the
count of its takes), clock and ``take``; it adds an event to a series
already held, and hands the table (:meth:`SeriesTable.take`) what it
declines and the roll-ups it finds due.
The table owns all that state and never changes the tally's counters: it
counts what it adds itself, and its own counters and the tally's make the
sink's. It remembers request ids in its own ring (the compiled twin does
the same, in C, over the same set and ring), opens entries of the tally's
kind (``new_entry``, a class-level factory: the compiled twin adds only to
its own entry type), and moves or drops entries as it likes, counting that
in ``moves``, where the compiled twin sees that the entry it keeps at hand
for a series may be gone.

The table takes its lock through its own guard, which counts each take and
release in ``held``: the compiled twin adds without taking the lock (a
finalizer run during an add may emit an event to the same sink, and must
not deadlock), and declines while the count says the table's code holds
the lock, or took it meanwhile. From the table the tally is only closed
(``close``) and read (``events``, ``duplicates``, ``closed``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

from aievents._diag import RateLimitedLog
from aievents.events import ImageUsageEvent
from aievents.exceptions import QueryError
from aievents.money import ImageCost
from aievents.pricing import PriceBook
from aievents.query import DIMENSIONS, Row, Scan
from aievents.sinks._aggreprice import reprice_entries
from aievents.sinks._export import COUNTERS, OVERFLOW, exact, export_state, parse_state
from aievents.sinks._reprice import Repricing
from aievents.sinks._tally import (
    EVENT_FIELDS,
    MAINTAIN,
    MAINTAIN_EVERY,
    PyTally,
    expiry,
    tally_class,
)
from aievents.totals import (
    DAY_MINUTES,
    add_extra,
    add_request,
    as_totals,
    merge_entry,
    requests_of,
    row_lanes,
)
from aievents.usage import ImageUsage

__all__ = ["OVERFLOW", "SeriesTable"]

_OVERFLOW_DIMS: Final = (OVERFLOW,) * len(DIMENSIONS)
Dims = tuple[str | None, ...]


class SeriesTable:
    """The totals of an AggregateSink (see the module docstring).

    Args:
        max_series: Distinct dimension combinations kept.
        max_entries: Entries kept in all.
        max_request_ids: Request ids remembered (to count each request once).
        detail: Minutes of minute detail, of hour detail, and of totals at
            all (the retention).
        prices: The price book for events that carry no cost.
        price_events: Whether to price such events.
        clock: Seconds since the epoch.
        compiled: Which tally to add with (see ``tally_class``).
    """

    def __init__(
        self,
        *,
        max_series: int,
        max_entries: int,
        max_request_ids: int,
        detail: tuple[int, int, int],
        prices: PriceBook,
        price_events: bool,
        clock: Callable[[], float],
        compiled: bool | None,
    ) -> None:
        self._max_series = max_series
        self._max_entries = max_entries
        self._detail = detail
        self._retention = detail[2]
        #: The book events are priced with.
        self.prices = prices
        self._price_events = price_events
        self.clock = clock
        self.lock = threading.Lock()
        #: How many times the table's code took and released the lock (odd
        #: while it holds it): the compiled tally declines meanwhile.
        self.held = [0]
        self._guard = _Guard(self.lock, self.held)
        #: Minute entries, where the tally adds events.
        self.minutes: dict[tuple[int, Dims], Any] = {}
        #: Hour and day entries, keyed by the hour's or day's first minute.
        self.rolled: dict[tuple[int, Dims], _Rolled] = {}
        #: The dims of every series held, to one tuple each.
        self.canonical: dict[Dims, Dims] = {}
        #: Entries the tally opened, booked by _settle.
        self.opened: list[tuple[int, Dims]] = []
        #: How many times entries were moved or dropped: a tally that keeps
        #: a series' latest entry at hand looks here to see it still holds.
        self.moves = [0]
        if max_request_ids < 1:
            raise ValueError("max_request_ids must be at least 1")
        #: The request ids remembered, to count each request once: those
        #: in ``ring``, whose slot ``ring_at[0]`` is overwritten next.
        self.seen: set[str] = set()
        self.ring: list[str | None] = [None] * max_request_ids
        self.ring_at = [0]
        #: Stored entries per dimension combination (a combination at 0 is gone).
        self._dims: dict[Dims, int] = {}
        #: Keys of minute, hour and day entries, oldest first, for roll-ups.
        self._levels: tuple[deque[tuple[int, Dims]], ...] = (deque(), deque(), deque())
        self._diag = RateLimitedLog("aggregate")
        #: Counted here (the tally counts what it adds): events and
        #: duplicates of the general path and of merges, and the rest.
        self.counts = dict.fromkeys((*COUNTERS, "evicted", "future"), 0)
        self._ticks = 0
        twin = tally_class(compiled)
        #: A zero entry of the kind the tally adds to.
        self._new_entry: Callable[[], Any] = twin.new_entry
        #: The tally (typed as the Python twin: the compiled one does the same).
        self.tally: PyTally = twin(
            self,
            (ImageUsageEvent, ImageUsage, ImageCost),
            # Past 10**12 minutes (two million years) nothing can expire.
            retention=min(self._retention, 10**12),
        )

    @property
    def compiled(self) -> bool:
        """Whether the tally is the compiled one."""
        return type(self.tally) is not PyTally

    def count(self, name: str) -> int:
        """One of the sink's counters: the table's, plus the tally's for events and duplicates."""
        own = self.counts[name]
        if name == "events":
            return own + self.tally.events
        if name == "duplicates":
            return own + self.tally.duplicates
        return own

    # ------------------------------------------------------------------ intake

    def remember(self, request_id: str) -> bool:
        """Remember a request id (under the lock); ``False`` when it is already remembered.

        The compiled tally does the same in C over the same set and ring.
        """
        seen = self.seen
        if request_id in seen:
            return False
        ring, pos = self.ring, self.ring_at[0]
        old = ring[pos]
        if old is not None:
            seen.discard(old)
        seen.add(request_id)
        ring[pos] = request_id
        self.ring_at[0] = (pos + 1) % len(ring)
        return True

    def take(self, event: Any, status: int) -> None:
        """What the tally leaves to the table: maintenance, and the general path."""
        if status == MAINTAIN:
            with self._guard:
                self._maintain(MAINTAIN_EVERY)
        elif isinstance(event, ImageUsageEvent):
            self._add(event)

    def _add(self, event: ImageUsageEvent) -> None:
        """The general path: a new series, an unpriced event, a cost in finer units, a
        reported cost."""
        fields = EVENT_FIELDS(event)
        lanes, extra = row_lanes(event, self.prices.cost_for(event, price=self._price_events))
        # Only exact strs are kept: hashing or comparing them runs no code.
        key = (fields[1] // 60_000, tuple(map(exact, fields[5:])))
        request_id = exact(fields[0])
        if key[0] < expiry(self.clock(), self._retention):
            self._expire(request_id, fields[1])
            return
        with self._guard:
            if self.tally.closed:
                return
            if not self.remember(request_id):
                self.counts["duplicates"] += 1
                return
            self.counts["events"] += 1
            totals = self.minutes.get(key)
            if totals is None:
                totals = self._open(*key)
            add_request(totals, lanes)
            if extra is not None:
                add_extra(totals, extra)
            self._ticks += 1
            if self._ticks >= MAINTAIN_EVERY:
                self._ticks = 0
                self._maintain(MAINTAIN_EVERY)

    def _expire(self, request_id: str, timestamp: int) -> None:
        """Count an event older than the retention, then log it (outside the lock)."""
        with self._guard:
            if self.tally.closed:
                return
            self.counts["expired"] += 1
            expired = self.counts["expired"]
        self._diag(
            "expired",
            "warning",
            "event_expired",
            request_id=request_id[:80],
            timestamp=timestamp,
            retention_days=self._retention / 1440,
            expired=expired,
        )

    def close(self) -> None:
        """Ignore every event from now on."""
        with self._guard:
            self.tally.close()

    # ------------------------------------------------------------------ entries

    def _open(self, minute: int, dims: Dims) -> Any:
        """A new entry (under the lock), or the overflow series past the cap."""
        self._settle()
        if dims not in self._dims and len(self._dims) >= self._max_series:
            self.counts["overflowed"] += 1
            dims = _OVERFLOW_DIMS
            existing = self.minutes.get((minute, dims))
            if existing is not None:
                return existing
        key = (minute, self.canonical.get(dims, dims))  # one tuple per combination
        totals = self.minutes[key] = self._new_entry()
        self._book(key, self.clock() + 86_400)
        return totals

    def _book(self, key: tuple[int, Dims], horizon: float) -> None:
        """Count a new entry for its combination and queue it for roll-ups."""
        minute, dims = key
        self._dims[dims] = self._dims.get(dims, 0) + 1
        self.canonical.setdefault(dims, dims)
        self._levels[0].append(key)
        if minute * 60 > horizon:
            self.counts["future"] += 1  # kept, and rolled up once its time has come

    def _settle(self) -> None:
        """Book the entries the tally opened (under the lock)."""
        if self.opened:
            horizon = self.clock() + 86_400
            for key in self.opened:
                self._book(key, horizon)
            self.opened.clear()

    def _forget(self, dims: Dims) -> None:
        """One entry of ``dims`` is gone (merged or dropped)."""
        left = self._dims.get(dims, 1) - 1
        if left > 0:
            self._dims[dims] = left
        else:
            self._dims.pop(dims, None)
            self.canonical.pop(dims, None)

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
        now = int(self.clock()) // 60
        limits = self._detail
        steps = (60, DAY_MINUTES, None)
        minutes, rolled = self.minutes, self.rolled
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
                self.moves[0] += 1
                if step is None:  # past retention (or crowded out): gone
                    self._forget(dims)
                    if now - minute < limit:
                        self.counts["evicted"] += 1
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

    # ------------------------------------------------------------------ reading

    def series_count(self) -> int:
        """Distinct dimension combinations held (the overflow series included)."""
        with self._guard:
            self._settle()
            return len(self._dims)

    def scan(self, scan: Scan) -> list[Row]:
        """The rows of a query: a roll-up counts in the bucket of its first minute.

        Raises:
            QueryError: the query's start or its given end falls inside a roll-up.
        """
        first, last = scan.start // 60, (scan.end - 1) // 60
        low, high = scan.bounds[0] // 60, (scan.bounds[1] - 1) // 60
        with self._guard:
            self._maintain(None)
            items = [
                (dims, minute, minute, as_totals(totals))
                for (minute, dims), totals in self.minutes.items()
                if first <= minute <= last
            ]
            items += [
                (dims, part.first, part.last, as_totals(part.totals))
                for (_, dims), part in self.rolled.items()
                if part.first <= last and part.last >= first
            ]
        rows: list[Row] = []
        for dims, begins, ends, totals in items:
            if scan.filters and not scan.admits(dims):
                continue
            if begins < low <= ends or (begins <= high < ends and not scan.open_end):
                raise _cut(scan.bounds, begins, ends, low=begins < low <= ends)
            if first <= begins:
                seconds = begins * 60
                rows.append((seconds - seconds % scan.width, scan.group_key(dims), totals))
        return rows

    def reprice(self, book: PriceBook) -> Repricing:
        """Price the series again with ``book`` where their sums allow (AggregateSink.reprice)."""
        with self._guard:
            self._settle()
            entries = [(dims, totals) for (_, dims), totals in self.minutes.items()]
            entries += [(dims, part.totals) for (_, dims), part in self.rolled.items()]
            return reprice_entries(entries, book, _OVERFLOW_DIMS, self.prices)

    def export(self) -> dict[str, Any]:
        """The totals as a JSON-ready dict, for :meth:`merge` in another process."""
        with self._guard:
            self._maintain(None)
            items = [(k, as_totals(v)) for k, v in self.minutes.items()]
            items += [(k, as_totals(part.totals)) for k, part in self.rolled.items()]
            counters = {name: self.count(name) for name in COUNTERS}
        return export_state(items, counters)

    def merge(self, state: Mapping[str, Any]) -> None:
        """Add the totals of an export (see AggregateSink.merge)."""
        parsed, counters = parse_state(state)
        cutoff = expiry(self.clock(), self._retention)
        expired = 0
        with self._guard:
            for minute, dims, totals in parsed:
                if minute < cutoff:
                    expired += requests_of(totals)
                    continue
                existing = self.minutes.get((minute, dims))
                if existing is None:
                    existing = self._open(minute, dims)
                merge_entry(existing, totals)
            for name in COUNTERS:
                self.counts[name] += counters[name]
            self.counts["expired"] += expired
        if expired:
            self._diag(
                "expired_merged",
                "warning",
                "totals_expired",
                requests=expired,
                retention_days=self._retention / 1440,
            )


# ---------------------------------------------------------------------- entries


class _Guard:
    """The table's lock as its code takes it: each take and release counted in ``held``."""

    __slots__ = ("_held", "_lock")

    def __init__(self, lock: threading.Lock, held: list[int]) -> None:
        self._lock = lock
        self._held = held

    def __enter__(self) -> None:
        self._lock.acquire()
        self._held[0] += 1

    def __exit__(self, *exc: object) -> None:
        self._held[0] += 1
        self._lock.release()


class _Rolled:
    """An hour's or a day's totals, with the first and last minute of their events."""

    __slots__ = ("first", "last", "totals")

    def __init__(self, totals: Any, first: int, last: int) -> None:
        self.totals = totals
        self.first = first
        self.last = last

    def add(self, other: _Rolled) -> None:
        """Add another part of the same hour or day."""
        merge_entry(self.totals, other.totals)
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
