"""StoreSink: usage events kept in SQLite or PostgreSQL, answered like OpenAI's usage API.

Every ``image:usage`` event becomes one row (its request id unique: a
duplicate is ignored) with its dimensions, tokens, images and exact cost,
its text scrubbed of secrets as every output writes it.
Rows are written in batches by a background thread, so ``handle`` only
queues the event. A daily and an hourly roll-up, kept in the same
transaction as the rows, answer ``1d`` queries over whole days and ``1h``
queries over whole hours; the edges of a window, and ``1m`` queries, are
summed from the rows. One query reads one snapshot of the database.

:meth:`StoreSink.usage` and :meth:`StoreSink.costs` answer through
:mod:`aievents.query`, exactly as :class:`aievents.sinks.AggregateSink`
answers for the same events.

A SQLite file (the default) is opened in WAL mode with a busy timeout, so
several processes can write to it; PostgreSQL (``postgresql://...``, with
psycopg 3) serves several hosts. Costs are stored as whole numbers of
10**-15 USD (a part with finer digits as exact text), and summed exactly.

A store that goes away under a running sink is set up again: a SQLite file
that was deleted is created anew, a file that was replaced by another one
gets the tables it lacks, and tables dropped from a database are created
again; each time is counted (``stats()["reopened"]``) and logged, and the
batch being written is written again, so nothing queued is lost. A batch
that meets a lock or a server away is tried again until it is written;
only a close's deadline gives it up. Events given up or dropped are never
in the store: queries over their time raise rather than answer short.
Every error from opening, writing or reading a store is a
:class:`StoreError` naming the URL, never with its password: a
:class:`StoreSettingError` (a ``ValueError``) for a URL StoreSink cannot
use, a :class:`StoreConnectionError` (a ``ConnectionError``) for a server
that cannot be reached, a :class:`StoreAccessError` (an ``OSError``) for
any other store that cannot be opened, read or written.

Every count and cost is an integer in the store, never a float: a row's
counts fit 64 bits (an event with a larger one is rejected, counted and
logged); the roll-up keeps each sum as two halves, ``sum // 2**32`` and
``sum % 2**32``, and queries sum the rows' halves, so that no sum outgrows
64 bits (SQLite's ``sum()`` would fail, its ``+`` would turn to a float)
while a group holds fewer than 2**31 rows.

A request whose cost is unknown or incomplete is stored with
``unpriced_requests`` 1. Each row also keeps how it was priced
(``price_version``, ``priced_as``) and what its provider billed
(``billed_quantity`` as exact text, ``billed_unit``): with its tokens,
images, model, provider, size and quality, all that
:meth:`StoreSink.reprice` needs to price it again.

Opening a store of an older schema version upgrades it, in one
transaction, by one process at a time: every column its tables lack is
added (counts and costs 0, the rest NULL); a store of version 1 also
has its rows without any cost made unpriced (version 1 could not tell an
unknown cost from $0); and a store of version 3 or older has its roll-up
summed again from the rows, by every dimension (version 4 keys a roll-up's
series by provider and quality too, so that usage grouped or filtered by
them is answered from the roll-up). On PostgreSQL the roll-up table is
kept (its rows deleted, then summed again), and so are its grants.

Stop or upgrade the writers of an older release before or right after an
upgrade: a roll-up row of version 4 carries ``key_version`` (NOT NULL, no
default), which they do not write, so their writes fail (rows and roll-up
rolled back together) rather than count requests in series keyed without
provider and quality.

Needs the ``store`` extra: ``pip install 'aievents[store]'``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from aievents._diag import RateLimitedLog
from aievents._fork import after_fork
from aievents._validate import setting
from aievents.events import BaseEvent, ImageUsageEvent
from aievents.exceptions import (
    StoreAccessError,
    StoreConnectionError,
    StoreError,
    StoreSettingError,
)
from aievents.policy import STORE_BATCHING, STORE_RETRY, Batching, Options, Retry, resolve
from aievents.pricing import PriceBook, PriceTable, book_for
from aievents.query import Reports, Row, Scan
from aievents.sinks import _exit
from aievents.sinks._batch import BatchWorker
from aievents.sinks._reprice import Repricing
from aievents.sinks._storedb import StoreDB, require_sqlalchemy
from aievents.sinks._storeledger import Counter, Ledger
from aievents.sinks._storeread import StoreReader
from aievents.sinks._storereprice import reprice, since_ms
from aievents.sinks._storeschema import SCHEMA_VERSION
from aievents.sinks._storeurl import Target
from aievents.sinks._storewrite import StoreWriter

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "SCHEMA_VERSION",
    "Repricing",
    "StoreAccessError",
    "StoreConnectionError",
    "StoreError",
    "StoreSettingError",
    "StoreSink",
]

#: The default store: a SQLite file in the working directory.
DEFAULT_URL: Final = "sqlite:///aievents.db"
#: The longest busy_timeout, in seconds: SQLite and PostgreSQL keep it in
#: milliseconds, up to 2**31 - 1 (a longer one overflowed).
BUSY_MOST: Final = 2_000_000


class StoreSink(Reports):
    """Writes ``image:usage`` events to a database; answers usage and costs pages.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///path.db`` (the default is
            ``aievents.db`` in the working directory) or
            ``postgresql://user:password@host/db`` (psycopg 3 is used).
        batching: Batch size and delay, queue bound and overflow policy
            (:data:`~aievents.policy.STORE_BATCHING` by default: a full
            queue drops its oldest event, counted, so that a stalled
            database never holds up the program).
        retry: How a write that failed for a reason that may pass (a lock,
            the store moving, the server away) is tried again
            (:data:`~aievents.policy.STORE_RETRY` by default: until it is
            written, or until :meth:`close`'s deadline gives it up).
        options: ``batch_size``, ``max_delay``, ``max_queue``, ``overflow``,
            ``block_timeout``: each changes that field of ``batching``;
            ``max_retries``, ``backoff``, ``max_backoff``: that field of
            ``retry``.
        prices: The :class:`~aievents.pricing.PriceBook` that prices events
            that carry no cost (the process default book by default).
        price_events: Price events that carry no cost with ``prices``.
        clock: Seconds since the epoch, for a query without ``end_time``.
        create: Create the store when there is none (the default). With
            ``False`` only an existing store is opened: a SQLite file that
            does not exist, or a database without aievents' tables, is a
            :class:`StoreError` (and no file is created), as is such a file
            deleted later; a SQLite file on a read-only file system is
            read as one that nothing changes.
        upgrade: Upgrade a store of an older schema version when it is
            opened (the default). With ``False`` such a store is a
            :class:`StoreAccessError` saying it needs an upgrade first, and
            nothing in it is changed (what ``aievents reprice --dry-run``
            opens a store with).
        busy_timeout: Seconds a statement waits for a lock another
            connection holds (SQLite's busy timeout; PostgreSQL's
            ``lock_timeout``) before it fails. A batch that fails so is
            tried again (``stats()["retried"]``) until it is written, or
            until :meth:`close`'s deadline gives it up. At most
            2,000,000 (about 23 days: both databases keep it in
            milliseconds, up to 2**31 - 1).
        query_wait: Seconds :meth:`usage` and :meth:`costs` wait for the
            events queued before them to be written. When some are still
            not written by then, the query raises a :class:`StoreError`
            saying how many, rather than answer without them. A query
            whose window holds the time of an event this sink gave up or
            dropped raises too.
        read_timeout: Seconds a query (:meth:`usage`, :meth:`costs`) may run
            on PostgreSQL before the server cancels it (its
            ``statement_timeout``), a :class:`StoreError`; None (the
            default): no limit. What ``aievents serve`` sets, so that a
            query too large for the store does not run on unseen. SQLite
            queries are not limited.
        exit_timeout: Seconds to write what is queued when the process ends
            (at interpreter exit, on SIGTERM with ``handle_sigterm``, at the
            end of a ``multiprocessing`` child). All sinks drain together:
            the process waits for the longest ``exit_timeout``, not the sum.
        handle_sigterm: When the application has no SIGTERM handler of its
            own, make SIGTERM exit the process through ``SystemExit`` (status
            143), so that the queued events are written at exit instead of
            lost. Off by default: it changes how the program ends.
            Only a sink made in the main thread can (elsewhere it logs
            ``sigterm_not_handled``).

    Raises:
        StoreSettingError: the URL is not a database URL StoreSink uses
            (SQLite, or PostgreSQL with psycopg 3).
        StoreConnectionError: the database server cannot be reached.
        StoreAccessError: the store cannot be opened or created, its tables
            are of a newer version (or, ``upgrade=False``, of an older one),
            or (``create=False``) there is no store there.
    """

    #: Events written.
    written = Counter()
    #: Events not written because a row of the same request id was stored.
    duplicates = Counter()
    #: Events refused (a count past 64 bits, a text the database cannot keep).
    rejected = Counter()
    #: Events given up: the store could not be written before the sink closed.
    failed = Counter()
    #: Events dropped: the queue was full, or the sink closed.
    dropped = Counter()
    #: Times the store was set up again (its file or tables went away).
    reopened = Counter()
    #: Events whose write was tried again after a failure that may pass.
    retried = Counter()

    def __init__(
        self,
        url: str | None = None,
        *,
        batching: Batching = STORE_BATCHING,
        retry: Retry = STORE_RETRY,
        prices: PriceBook | PriceTable | None = None,
        price_events: bool = True,
        clock: Any = time.time,
        create: bool = True,
        upgrade: bool = True,
        busy_timeout: float = 10.0,
        query_wait: float = 10.0,
        read_timeout: float | None = None,
        exit_timeout: float = 5.0,
        handle_sigterm: bool = False,
        **options: Unpack[Options],
    ) -> None:
        require_sqlalchemy()
        self.batching, self.retry = resolve(batching, retry, options)
        self.exit_timeout = float(setting("exit_timeout", exit_timeout, fraction=True))
        target = Target(DEFAULT_URL if url is None else url)
        del url  # from here on the URL as given is only in target, which shows it masked
        busy = float(setting("busy_timeout", busy_timeout, fraction=True, at_most=BUSY_MOST))
        self._query_wait = float(setting("query_wait", query_wait, fraction=True))
        self._clock = clock
        self._setup_locks()
        self._diag = RateLimitedLog("store")
        self._ledger = Ledger()
        try:
            self._db = StoreDB(
                target,
                create=create,
                upgrade=upgrade,
                busy=busy,
                read_timeout=(
                    None
                    if read_timeout is None
                    else float(setting("read_timeout", read_timeout, positive=True, fraction=True))
                ),
                diag=self._diag,
                ledger=self._ledger,
            )
        except StoreError as error:
            # Raised again from here, without the frames below: a renderer that
            # prints every frame's local variables (rich, in structlog's console
            # output) finds no password in them.
            raise error.with_traceback(None) from None
        #: The store's URL without a password (in the user info or the query).
        self.url = self._db.url
        self._reader = StoreReader(self._db)
        self._writer = StoreWriter(
            self._db,
            self._ledger,
            self._diag,
            prices=book_for(prices),
            price_events=price_events,
            retry=self.retry,
        )
        self._worker = BatchWorker(
            self._writer.deliver,
            name="aievents-store",
            batching=self.batching,
            dropped=self._count_dropped,
            lost=self._count_lost,
        )
        self.closed = False
        after_fork(self)
        _exit.register(self, self._worker, handle_sigterm=handle_sigterm)

    def _setup_locks(self) -> None:
        self._lock = threading.Lock()

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (the parent's may have been held)."""
        self._setup_locks()

    def __repr__(self) -> str:
        return f"StoreSink({self.url!r})"

    # ------------------------------------------------------------------ intake

    def handle(self, event: BaseEvent) -> None:
        """Queue an ``image:usage`` event to be written (other events are ignored).

        After :meth:`close`, an event is counted as dropped (``closed``).
        """
        if isinstance(event, ImageUsageEvent):
            if self.closed:
                self._count_dropped("closed", 1)
                return
            self._worker.put(event)

    def _count_dropped(self, reason: str, count: int) -> None:
        self._ledger.count(dropped=count)
        self._diag(("dropped", reason), "warning", "events_dropped", reason=reason, count=count)

    def _count_lost(self, events: list[Any]) -> None:
        """Events that will never be stored: queries over their time raise from now on."""
        self._ledger.lose(events)

    def write(self, events: Iterable[ImageUsageEvent]) -> tuple[int, int]:
        """Write events now, in one transaction: ``(written, duplicates)``.

        Events whose counts do not fit a 64-bit column are counted in
        :attr:`rejected` and logged, not written.

        Raises:
            StoreError: the store cannot be written (none of the events is).
        """
        try:
            return self._writer.write(events)
        except self._db.errors as error:
            raise self._db.error("cannot be written", error) from None

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything queued; ``False`` when ``timeout`` ran out first."""
        return self._worker.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued (within ``timeout``), then stop; queries still work.

        Returns False when events were left unwritten (counted as
        ``failed``) or a batch is still being written.
        """
        with self._lock:  # two closes at once (the application's, the exit's): one works
            closed, self.closed = self.closed, True
            failed = self.failed
        if closed:  # closed before: whether the last batch has ended since
            return not self._worker.pending
        self._writer.wake()  # a batch waiting to be tried again is tried now
        left = self._worker.close(timeout)
        if left:
            self._ledger.lose(left, failed=True)
            self._diag("closed", "error", "closed_unwritten", events=len(left))
        # Read after pending: a batch given up on is counted before it stops being pending.
        pending = self._worker.pending
        gave_up = self.failed > failed
        return not gave_up and not pending

    @property
    def pending(self) -> int:
        """Events queued or being written now."""
        return self._worker.pending

    def stats(self) -> dict[str, int]:
        """Counters: written, duplicates, rejected, failed, dropped, reopened, retried, pending.

        ``retried`` counts events whose write was tried again after a
        failure that may pass (a lock, the store moving, the server away).
        """
        return {**self._ledger.snapshot(), "pending": self._worker.pending}

    # ------------------------------------------------------------------ queries

    def scan(self, scan: Scan) -> Iterator[Row]:
        """Sum the stored usage for a query (the :class:`aievents.query.Source` protocol).

        First waits (up to ``query_wait`` seconds) for the events queued
        before the query to be written, then reads every part of the answer
        from one snapshot of the database.

        Raises:
            StoreError: events queued before the query are still not written
                (the message says how many), or the store cannot be read
                (a lock held past ``busy_timeout``, a lost connection...).
        """
        began = time.monotonic()
        left = self._worker.settle(self._query_wait)
        if left:
            raise self._db.error(
                f"has {left} events not stored yet after {self._query_wait:g} s (the database "
                "is busy or unreachable; the store's log says why): ask again later",
                transient=True,
            )
        lost = self._ledger.lost_within(scan.start * 1000, scan.end * 1000)
        if lost:
            raise self._db.error(
                f"cannot answer for this window: {lost} of its events were never stored "
                "(counted in stats() as failed or dropped; the store's log says why)"
            )
        yield from self._reader.rows(scan, began + self._query_wait)

    # ------------------------------------------------------------------ repricing

    def reprice(
        self,
        since: int | dt.datetime | dt.date | None = None,
        prices: PriceBook | PriceTable | None = None,
        *,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Repricing:
        """Price the stored requests again: with new prices, or a model priced since.

        Each row's request is rebuilt from what the row keeps (model,
        provider, size, quality, images, tokens by modality, what the
        provider billed) and priced as a row is when written, so a store
        repriced with a table equals one written with that table from the
        start. Rows whose cost came with the event as an amount (not from a
        price table), and rows that cannot be read back as a request (named
        in a warning), are kept (:attr:`Repricing.kept`); rows whose model
        the prices do not know are kept with their cost, known or not
        (:attr:`Repricing.not_in_prices`); a cost the provider reported is
        never changed. Rows are done in batches, each read,
        priced and written in one transaction, its changes added to the
        daily roll-up as differences: an interruption leaves every batch
        whole, rows written meanwhile are kept, and running it again goes
        on where it stopped. A row written before schema version 3 has no
        record of what was billed: it is priced from its tokens and images.

        Args:
            since: Only requests from this time on: Unix seconds (an int),
                an aware datetime or a date (its start, UTC); all by default.
            prices: The book or table to price with (this sink's book by
                default).
            dry_run: Change nothing; the answer tells what would change.
            progress: Called after each batch with the rows done and the
                rows to do.

        Returns:
            What was examined and changed, and the totals per model before
            and after.

        Raises:
            QueryError: ``since`` is none of these (a naive datetime, a
                float, ...).
            StoreError: the store cannot be read or written (every batch
                written before stays written).
        """
        book = self._writer.prices if prices is None else book_for(prices)
        start = since_ms(since)
        self.flush(self._query_wait)  # the rows queued before are repriced too
        try:
            return reprice(self._db, book, since=start, dry_run=dry_run, progress=progress)
        except self._db.errors as error:
            raise self._db.error("cannot be repriced", error) from None

    def dispose(self) -> None:
        """Close the database connections (after :meth:`close`)."""
        self._db.dispose()
