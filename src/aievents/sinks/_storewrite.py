"""How a StoreSink writes: an event's row, a batch in one transaction, retries, losses.

Every ``image:usage`` event becomes one row (its request id unique: a
duplicate is ignored); the roll-ups (hourly, daily) are added to in the
same transaction. A batch that meets a failure that may pass is tried again,
waiting longer each time, until it is written or the sink's close deadline
gives it up; a batch the database refuses is written one event at a time,
so that only the refused events are lost.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final

from aievents._diag import RateLimitedLog, describe
from aievents._fork import after_fork
from aievents._outbound import outbound
from aievents.events import ImageUsageEvent
from aievents.exceptions import first_line
from aievents.money import ImageCost
from aievents.policy import Retry
from aievents.pricing import PriceBook
from aievents.sinks._batch import Closing
from aievents.sinks._storedb import SETTLE, StoreDB
from aievents.sinks._storeledger import Ledger
from aievents.sinks._storepg import add_to_roll_up, insert_new, lock_timeout
from aievents.sinks._storeschema import (
    BIGINT_MAX,
    LANE_COLUMNS,
    LOOKUP,
    plain_text,
    roll_ups,
    unfit_text,
)
from aievents.sinks._tally import DIM_SLOTS
from aievents.totals import fit, request_lanes, row_lanes

__all__ = ["StoreWriter", "event_lanes", "price_columns"]

#: An event never set: a wait that only a timeout ends.
_NEVER: Final = threading.Event()
#: An event's dimensions, in aievents.query.DIMENSIONS order (its row's columns).
_DIMS: Final = attrgetter(*DIM_SLOTS)
#: Series and prices whose texts StoreWriter keeps checked: cleared when full.
_TEXTS_KEPT: Final = 10_000
#: A series' dimensions and a request's price columns, as its row writes them.
_Texts = tuple[tuple[Any, ...], tuple[Any, ...]]


def event_lanes(
    event: ImageUsageEvent, prices: PriceBook, price: bool
) -> tuple[Sequence[int], list[Decimal] | None, Any]:
    """How a store prices one request: its lanes (``FIELDS[1:]``), extra, and the cost.

    The event's own cost when it has one in cost units and its usage
    reports no cost of its own (the common case); else
    :meth:`PriceBook.cost_for` (with ``price``: priced by ``prices`` when it
    carries none). A row is written from this answer, and repricing a row
    (:mod:`aievents.sinks._storereprice`) prices the request it rebuilds
    through this same function, so that a repriced store equals one written
    with the new prices from the start.
    """
    cost: Any = event.cost
    units = None if cost is None or type(cost) is not ImageCost else cost.units
    usage = event.usage
    if units is not None and usage.reported_cost is None:  # the common case, without a list
        unpriced = 1 if cost.unpriced else 0
        return request_lanes(event.images, usage, usage.split, units, unpriced=unpriced), None, cost
    cost = prices.cost_for(event, price=price)
    lanes, extra = row_lanes(event, cost)
    return lanes, extra, cost


def price_columns(cost: Any, usage: Any) -> tuple[str | None, ...]:
    """A row's PRICE_COLUMNS: its cost's table version and entry, what was billed, its basis."""
    version = priced_as = basis = None
    if isinstance(cost, ImageCost):
        version, priced_as, basis = cost.price_version, cost.priced_model, cost.basis
    billed = getattr(usage, "billed", None)  # Billed(quantity, unit), when usage has it
    if billed is None:
        return version, priced_as, None, None, basis
    return version, priced_as, str(billed.quantity), str(billed.unit), basis


class StoreWriter:
    """Writes events to a store, counting in a ledger what became of each.

    Args:
        db: The store.
        ledger: The sink's counters and losses.
        diag: The sink's diagnostic log.
        prices: The price book for events that carry no cost.
        price_events: Price events that carry no cost with ``prices``.
        retry: How a write that failed for a reason that may pass is tried again.
    """

    def __init__(
        self,
        db: StoreDB,
        ledger: Ledger,
        diag: RateLimitedLog,
        *,
        prices: PriceBook,
        price_events: bool,
        retry: Retry,
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._diag = diag
        #: The book rows are priced with.
        self.prices = prices
        self._price_events = price_events
        self.retry = retry
        #: (dims, price columns) -> as a row writes them, once checked (see _row).
        self._texts: dict[tuple[Any, ...], _Texts] = {}
        self._wake = threading.Event()  # set by close(): a retry's wait ends
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: an event of its own to wake a retry's wait."""
        self._wake = threading.Event()

    def wake(self) -> None:
        """End the wait of a batch to be tried again (the sink is closing): it is tried now."""
        self._wake.set()

    def deliver(self, batch: list[Any], deadline: float | None, closing: Closing) -> None:
        """Write a batch (on the worker thread); retry what may pass; count what cannot be written.

        ``deadline`` (a flush's or a close's) does not end the retries: a
        flush that runs out of time leaves the batch to be written later.
        Only a close's deadline gives it up (counted as ``failed``, and the
        time of its events marked as never complete).
        """
        del deadline
        try:
            self._persist(functools.partial(self.write, batch), len(batch), closing)
        except self._db.refusals:
            # The database refuses a row: write one at a time, so that only
            # the refused ones are lost (and counted).
            self._write_each(batch, closing)
        except self._db.failures as error:
            self._give_up(batch, error)

    def _write_each(self, batch: list[Any], closing: Closing) -> None:
        for event in batch:
            try:
                self._persist(functools.partial(self.write, [event]), 1, closing)
            except self._db.refusals as error:
                self._ledger.count(rejected=1)
                self._reject(event, self._db.hide(first_line(error)))
            except self._db.failures as error:
                self._give_up([event], error)

    def _persist(self, write: Callable[[], object], count: int, closing: Closing) -> None:
        """Run ``write``, again after each transient failure (by the sink's :class:`Retry`).

        Raises the first failure that is not transient, or the last one once
        the retries are spent or the sink is closing and its deadline has
        passed.
        """

        def worth(error: Exception) -> bool:
            db = self._db
            refused = isinstance(error, db.refusals)
            return not refused and isinstance(error, db.failures) and db.transient(error)

        def retrying(_attempt: int, error: Exception) -> None:
            self._ledger.count(retried=count)
            said = self._db.hide(describe(error))
            self._diag("retrying", "warning", "write_retrying", error=said, events=count)

        self.retry.call(
            write,
            wait=functools.partial(self._pause, closing),
            retryable=worth,
            retrying=retrying,
        )

    def _pause(self, closing: Closing, delay: float) -> bool:
        """Wait ``delay`` before another attempt; False: the sink is closing, its deadline past."""
        by = closing.deadline
        if by is None:
            self._wake.wait(delay)  # close() ends the wait
            return True
        left = by - time.monotonic()
        if left <= 0:
            return False
        _NEVER.wait(min(delay, left))
        return True

    def _give_up(self, events: list[Any], error: BaseException) -> None:
        """Events that cannot be written: counted, logged, and their time marked incomplete."""
        self._ledger.lose(events, failed=True)
        said = self._db.hide(describe(error))
        self._diag("write_failed", "error", "write_failed", error=said, events=len(events))

    def _reject(self, event: ImageUsageEvent, reason: str) -> None:
        self._diag(
            ("rejected", reason),
            "warning",
            "event_rejected",
            request_id=event.request_id[:80],
            reason=reason,
        )

    def write(self, events: Iterable[ImageUsageEvent]) -> tuple[int, int]:
        """Write events now, in one transaction: ``(written, duplicates)``.

        Raises the database's own errors (the sink words them).
        """
        rows: dict[str, tuple[Any, ...]] = {}
        seen = 0
        rejected = 0
        for event in map(outbound, events):  # the store keeps no secret
            seen += 1
            if event.request_id in rows:
                continue
            row = self._row(event)
            if row is None:
                rejected += 1
                continue
            rows[event.request_id] = row
        written = 0
        if rows:
            deadline = time.monotonic() + 2 * self._db.busy + SETTLE
            written = len(self._db.on_store(lambda: self._insert_rows(rows), deadline))
        duplicates = seen - rejected - written
        self._ledger.count(written=written, duplicates=duplicates, rejected=rejected)
        return written, duplicates

    def _row(self, event: ImageUsageEvent) -> tuple[Any, ...] | None:
        """The event's row of aievents_usage (in USAGE_COLUMNS order), or None to reject.

        A column left NULL holds the store's ``null`` (:data:`SQLITE_NULL` for
        SQLite). The texts of a series and price (its dimensions, the price
        table's version and entry) are checked once, and kept as the row
        writes them (not those of a request with a billed quantity, which is
        its own); the request id is checked each time.
        """
        lanes, extra, cost = event_lanes(event, self.prices, self._price_events)
        if max(lanes) > BIGINT_MAX:
            fitted, extra = fit(lanes, extra, BIGINT_MAX)
            if fitted is None:
                lane, value = next(
                    (n, v) for n, v in zip(LANE_COLUMNS, lanes, strict=True) if v > BIGINT_MAX
                )
                self._reject(
                    event,
                    f"{lane} is a {value.bit_length()}-bit count; a store keeps up to 2**63 - 1",
                )
                return None
            lanes = fitted
        dims = _DIMS(event)
        priced = price_columns(cost, event.usage)
        request_id = event.request_id
        texts: _Texts | str | None = self._texts.get((dims, priced))
        if texts is None or not plain_text(request_id):
            texts = self._checked(dims, priced, request_id)
            if isinstance(texts, str):
                self._reject(event, texts)
                return None
        timestamp = event.timestamp
        return (
            request_id,
            timestamp,
            timestamp // 60_000,
            *texts[0],
            *lanes,
            self._db.null if extra is None else json.dumps([str(v) for v in extra]),
            *texts[1],
        )

    def _checked(
        self, dims: tuple[Any, ...], priced: tuple[str | None, ...], request_id: str
    ) -> _Texts | str:
        """The dimensions and price columns as a row writes them, or why they cannot be stored.

        Kept for the next request of the same series and price (up to
        _TEXTS_KEPT of them), unless its billed quantity is its own.
        """
        texts = [t for t in (request_id, *dims, *priced[:2], priced[3]) if t is not None]
        refusal = unfit_text(texts)
        if refusal is not None:
            return refusal
        null = self._db.null
        written = (
            tuple(null if d is None else d for d in dims),
            tuple(null if p is None else p for p in priced),
        )
        if priced[2] is None:
            if len(self._texts) >= _TEXTS_KEPT:
                self._texts.clear()
            self._texts[dims, priced] = written
        return written

    def _insert_rows(self, rows: dict[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Insert the rows not stored yet and add them to the roll-up, in one transaction.

        Only the rows inserted reach the roll-up, so every roll-up counts
        each request once, whichever process or host wrote it first.
        SQLite: the file's one writer until it commits (``BEGIN IMMEDIATE``);
        PostgreSQL: no table lock (:mod:`aievents.sinks._storepg`).
        Returns the rows written.
        """
        # The roll-ups of every row, summed before the transaction: they are
        # the ones added when every row is new (the common case), so that the
        # transaction holds its locks no longer than the statements take.
        sqlite = self._db.sqlite
        every = roll_ups(list(rows.values()), whole=sqlite)
        raw = self._db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if sqlite:
                new = self._new_rows(cursor, rows)
            else:
                # A writer never waits forever on another's row, nor on a statement.
                cursor.execute(lock_timeout(self._db.busy))
                cursor.execute("SET LOCAL statement_timeout = '60s'")
                new = insert_new(cursor, rows)
            sums = every if len(new) == len(rows) else roll_ups(new, whole=sqlite)
            # Keyed by statement (SQLite: whole lanes too), in one order of the tables.
            for statement, rollup in sums.items():
                if not rollup:
                    continue
                if sqlite:
                    cursor.executemany(self._db.sql[statement], rollup)
                else:
                    add_to_roll_up(cursor, statement, rollup)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        return new

    def _new_rows(self, cursor: Any, rows: dict[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """SQLite: take the file's write lock, insert the rows whose request id is not stored.

        ``BEGIN IMMEDIATE`` makes this the file's one writer until it
        commits. The insert skips a request id stored already; when it
        skipped any, the rows it inserted are those past the table's last
        rowid before it: SQLite numbers a new row one past the last, unless
        the last is the largest rowid there is (then it picks unused ones at
        random, and the ids stored are looked up first instead).
        """
        cursor.execute("BEGIN IMMEDIATE")
        (last,) = cursor.execute("SELECT coalesce(max(rowid), 0) FROM aievents_usage").fetchone()
        if last >= BIGINT_MAX:
            stored = self._stored(cursor, list(rows))
            every = [row for rid, row in rows.items() if rid not in stored]
        else:
            every = list(rows.values())
        if not every:
            return every
        cursor.executemany(self._db.sql["insert"], every)
        if cursor.rowcount == len(every):  # every one new: the common case
            return every
        inserted = {found for (found,) in cursor.execute(self._db.sql["inserted"], (last,))}
        return [row for rid, row in rows.items() if rid in inserted]

    def _stored(self, cursor: Any, ids: list[str]) -> set[str]:
        """SQLite: which of these request ids are stored already."""
        stored: set[str] = set()
        for first in range(0, len(ids), LOOKUP):
            part = ids[first : first + LOOKUP]
            marks = ", ".join([self._db.mark] * len(part))
            cursor.execute(self._db.sql["lookup"].format(marks), part)
            stored.update(found[0] for found in cursor.fetchall())
        return stored
