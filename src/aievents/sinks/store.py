"""StoreSink: usage events kept in SQLite or PostgreSQL, answered like OpenAI's usage API.

Every ``image:usage`` event becomes one row (its request id unique: a
duplicate is ignored) with its dimensions, tokens, images and exact cost,
its text scrubbed of secrets as every output writes it.
Rows are written in batches by a background thread, so ``handle`` only
queues the event. A daily roll-up, kept in the same transaction as the
rows, answers ``1d`` queries over whole days; the edges of a window, and
``1m`` and ``1h`` queries, are summed from the rows. One query reads one
snapshot of the database.

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
``unpriced_requests`` 1. Opening a store of schema version 1 upgrades it,
in one transaction: its rows without any cost become unpriced (version 1
could not tell an unknown cost from $0) and the roll-up is summed again
from the rows.

Needs the ``store`` extra: ``pip install 'aievents[store]'``.
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import quote

from aievents._diag import RateLimitedLog, describe
from aievents._extras import missing_extra
from aievents._fork import after_fork
from aievents._outbound import outbound
from aievents._redact import REDACTED, scrub_text
from aievents._validate import setting
from aievents.events import BaseEvent, ImageUsageEvent
from aievents.exceptions import (
    StoreAccessError,
    StoreConnectionError,
    StoreError,
    StoreSettingError,
    first_line,
)
from aievents.money import ImageCost
from aievents.policy import STORE_BATCHING, STORE_RETRY, Batching, Options, Retry, resolve
from aievents.pricing import PriceBook, PriceTable, book_for
from aievents.query import DIMENSIONS, Reports, Row, Scan
from aievents.sinks import _exit
from aievents.sinks._batch import BatchWorker, Closing
from aievents.sinks._sqlitefile import (
    Gate,
    GateTimeoutError,
    create_file,
    identity,
    open_failure,
    readable_only,
    set_aside,
)
from aievents.sinks._storeschema import (
    BIGINT_MAX,
    DAILY,
    DAILY_COLUMNS,
    DAY,
    LANE_COLUMNS,
    LOOKUP,
    SCHEMA_VERSION,
    daily,
    daily_row,
    fit,
    joined,
    lane_sums,
    statements,
    tables,
    unfit_text,
)
from aievents.sinks._storeurl import RefusedError, Target, parse
from aievents.totals import COSTS, lanes_of, request_lanes, unit_totals

#: Why SQLAlchemy could not be imported, if it could not.
_NO_SQLALCHEMY = ""
try:
    import sqlalchemy as sa
except ImportError as _error:  # the store extra is not installed
    sa = None  # type: ignore[assignment]
    _NO_SQLALCHEMY = str(_error)


if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "SCHEMA_VERSION",
    "StoreAccessError",
    "StoreConnectionError",
    "StoreError",
    "StoreSettingError",
    "StoreSink",
]

_T = TypeVar("_T")

#: The default store: a SQLite file in the working directory.
DEFAULT_URL: Final = "sqlite:///aievents.db"
#: Times a write or read runs again on a store that moved under it, before
#: it fails (a write is then tried again after a while).
_ATTEMPTS: Final = 3
#: Seconds a write waits, at least, for other threads of the sink (beside
#: twice the busy timeout), and setting a store up waits for a file that
#: keeps moving.
_SETTLE: Final = 5.0
#: SQLite's result codes (primary) that may pass: BUSY, LOCKED, FULL.
_SQLITE_TRANSIENT: Final = frozenset({5, 6, 13})
_SQLITE_TRANSIENT_WORDS: Final = ("database is locked", "table is locked", "is full")
#: PostgreSQL's SQLSTATE classes and codes that may pass: connection,
#: transaction rollback (serialization, deadlock), insufficient resources,
#: operator intervention (a restart), lock not available, object in use.
_PG_TRANSIENT_CLASSES: Final = frozenset({"08", "40", "53", "57"})
_PG_TRANSIENT_STATES: Final = frozenset({"55P03", "55006"})
#: Slots of time a sink keeps counts of lost events for, at most.
_LOSS_SLOTS: Final = 4096
#: An event never set: a wait that only a timeout ends.
_NEVER: Final = threading.Event()


def _require_sqlalchemy() -> None:
    if sa is None:
        raise missing_extra("StoreSink", "store", _NO_SQLALCHEMY)


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
        busy_timeout: Seconds a statement waits for a lock another
            connection holds (SQLite's busy timeout; PostgreSQL's
            ``lock_timeout``) before it fails. A batch that fails so is
            tried again (``stats()["retried"]``) until it is written, or
            until :meth:`close`'s deadline gives it up.
        query_wait: Seconds :meth:`usage` and :meth:`costs` wait for the
            events queued before them to be written. When some are still
            not written by then, the query raises a :class:`StoreError`
            saying how many, rather than answer without them. A query
            whose window holds the time of an event this sink gave up or
            dropped raises too.
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
            are of a newer version, or (``create=False``) there is no store
            there.
    """

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
        busy_timeout: float = 10.0,
        query_wait: float = 10.0,
        exit_timeout: float = 5.0,
        handle_sigterm: bool = False,
        **options: Unpack[Options],
    ) -> None:
        _require_sqlalchemy()
        self.batching, self.retry = resolve(batching, retry, options)
        self.exit_timeout = float(setting("exit_timeout", exit_timeout, fraction=True))
        target = Target(DEFAULT_URL if url is None else url)
        del url  # from here on the URL as given is only in target, which shows it masked
        self._create = create
        self._busy = float(setting("busy_timeout", busy_timeout, fraction=True))
        self._query_wait = float(setting("query_wait", query_wait, fraction=True))
        self._prices = book_for(prices)
        self._price_events = price_events
        self._clock = clock
        self._setup_locks()
        self._diag = RateLimitedLog("store")
        self.written = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.dropped = 0
        self.reopened = 0
        self.retried = 0
        #: Events that will never be stored (failed, dropped), by when they happened.
        self._lost = _Losses()
        try:
            self._attach(target)
        except StoreError as error:
            # Raised again from here, without the frames below: a renderer that
            # prints every frame's local variables (rich, in structlog's console
            # output) finds no password in them.
            raise error.with_traceback(None) from None
        self._worker = BatchWorker(
            self._deliver,
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
        self._gate = Gate()
        self._wake = threading.Event()  # set by close(): a retry's wait ends

    def _after_fork(self) -> None:
        """In a forked child: locks and a gate of its own (the parent's may have been held).

        A thread of the parent may have been writing or reading at the fork:
        the child has no such thread, and must not wait for it.
        """
        self._setup_locks()

    def _attach(self, target: Target) -> None:
        """Parse the URL, make the engine and open the store (create it when allowed)."""
        try:
            parsed = parse(target)
        except RefusedError as refused:
            reason = refused.reason
            raise StoreSettingError("url", target.shown, reason, owner="StoreSink") from None
        self._sqlite = parsed.get_backend_name() == "sqlite"
        #: The store's URL without a password (in the user info or the query).
        self.url = target.shown
        self._secrets = target.secrets
        #: The SQLite file (an absolute path), else None.
        self._path: str | None = parsed.database if self._sqlite else None
        #: Only read, from a read-only file system: opened as a file nothing changes.
        self._read_only = self._path is not None and not self._create and readable_only(self._path)
        self._identity: tuple[int, int] | None = None
        self._leftovers = False  # a -wal and -shm of a moved file, under its name
        self._dbapi: Any = None
        self._engine = self._connect(target)
        self._metadata = sa.MetaData()
        self._t = tables(self._metadata)
        self._mark = "?" if self._sqlite else "%s"
        self._sql = statements(self._mark)
        self._dbapi = dbapi = self._engine.dialect.loaded_dbapi
        self._errors: tuple[type[BaseException], ...] = (
            sa.exc.DBAPIError,
            dbapi.Error,
            UnicodeError,
        )
        #: Errors a batch may meet: the database's, and the store gone for good.
        self._failures: tuple[type[BaseException], ...] = (StoreError, *self._errors)
        #: Errors that say a row is wrong rather than the database away.
        self._refusals: tuple[type[BaseException], ...] = (
            dbapi.DataError,
            dbapi.IntegrityError,
            UnicodeError,
        )
        self._open(time.monotonic() + max(self._busy, _SETTLE))

    def __repr__(self) -> str:
        return f"StoreSink({self.url!r})"

    # ------------------------------------------------------------------ setup

    def _connect(self, target: Target) -> Any:
        # A connection per batch or query, closed after it: a sink holds no
        # idle connection (nor leaves one to the garbage collector).
        kwargs: dict[str, Any] = {"poolclass": sa.pool.NullPool}
        if self._sqlite:
            # Connections open the file only if it exists ("mode=rw"): a file
            # deleted under the sink is not silently created anew, empty, by
            # SQLite; _open creates it when that is allowed.
            kwargs["connect_args"] = {"timeout": self._busy}
            # On a read-only file system SQLite cannot make the -shm that WAL
            # mode needs to read: the file is read as one that nothing changes.
            mode = {"mode": "ro", "immutable": "1"} if self._read_only else {"mode": "rw"}
            try:
                engine = sa.create_engine(
                    target.parsed.set(
                        database=f"file:{quote(target.parsed.database)}",
                        query={**target.parsed.query, **mode, "uri": "true"},
                    ),
                    **kwargs,
                )
            except (sa.exc.ArgumentError, ValueError, TypeError) as error:
                raise self._error("cannot be opened", error, setting=True) from None
            busy = round(self._busy * 1000)

            @sa.event.listens_for(engine, "connect")
            def _pragmas(connection: Any, _record: Any) -> None:
                cursor = connection.cursor()
                cursor.execute(f"PRAGMA busy_timeout={busy}")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

            return engine
        kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            return sa.create_engine(target.parsed, **kwargs)
        except ImportError as error:  # the database driver (psycopg) is not installed
            raise missing_extra("StoreSink", "store", error) from None
        except (sa.exc.ArgumentError, ValueError, TypeError) as error:  # ?port=abc...
            raise self._error("cannot be opened", error, setting=True) from None

    def _error(
        self,
        reason: str,
        error: BaseException | None = None,
        *,
        transient: bool = False,
        setting: bool = False,
    ) -> StoreError:
        """A StoreError about the store's URL; the database's words, without secrets.

        A :class:`StoreSettingError` for a URL that cannot be used
        (``setting``), a :class:`StoreConnectionError` for a server that
        cannot be reached, else a :class:`StoreAccessError`.
        """
        kind: type[StoreError] = StoreSettingError if setting else StoreAccessError
        if error is not None:
            reason = f"{reason}: {self._hide(first_line(error))}"
            transient = transient or self._transient(error)
            if not setting and self._unreachable(error):
                kind = StoreConnectionError
        return kind("url", self.url, reason, owner="StoreSink", transient=transient)

    def _hide(self, text: str) -> str:
        """``text`` without the store's password (nor any secret-looking value)."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return scrub_text(text)

    def _transient(self, error: BaseException) -> bool:
        """Whether a failure may pass by itself, so that the same write may succeed later.

        A lock held past the busy timeout, a full disk, the store being set
        up again or moved meanwhile, a server that does not answer or is
        restarting: yes. A file that is not a database, a store that is gone
        with ``create=False``, a refused row, a missing privilege: no.
        """
        if isinstance(error, StoreError):
            return error.transient
        original = getattr(error, "orig", None) or error
        code = getattr(original, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_TRANSIENT
        if self._sqlite:  # Python 3.10's sqlite3 errors carry no code
            return any(words in str(original) for words in _SQLITE_TRANSIENT_WORDS)
        state = getattr(original, "sqlstate", None)
        if not state:
            return self._unreachable(error)
        return state[:2] in _PG_TRANSIENT_CLASSES or state in _PG_TRANSIENT_STATES

    def _unreachable(self, error: BaseException) -> bool:
        """Whether a failure says the database server could not be reached or went away."""
        if self._sqlite or isinstance(error, StoreError):
            return isinstance(error, StoreConnectionError)
        original = getattr(error, "orig", None) or error
        state = getattr(original, "sqlstate", None)
        if state:
            return bool(state[:2] == "08")  # connection exception
        # No answer from the server (psycopg puts no SQLSTATE on a failed
        # connection): it is away, restarting or refusing connections.
        dbapi = self._dbapi
        return isinstance(error, sa.exc.OperationalError) or (
            dbapi is not None and isinstance(original, dbapi.OperationalError)
        )

    def _file_identity(self, path: str) -> tuple[int, int] | None:
        """The SQLite file's identity (None: there is none); a StoreError when it cannot be read."""
        try:
            return identity(path)
        except OSError as error:
            raise self._error("cannot be opened", error) from None

    def _open(self, deadline: float) -> None:
        """Open the store: create the SQLite file when allowed, set up its tables, note the file.

        The file noted is the one that was set up: its identity is read
        before and after, and a file deleted or replaced meanwhile is set up
        again, until ``deadline`` (a ``time.monotonic()`` value).

        Raises:
            StoreError: it cannot be opened or created, it is not there and
                ``create=False``, or it keeps moving until ``deadline``
                (``transient``).
        """
        path = self._path
        if path is None:
            self._migrate()
            return
        for attempt in itertools.count():
            if attempt and time.monotonic() >= deadline:
                raise self._error(
                    "keeps being deleted or replaced while it is set up", transient=True
                )
            with self._lock:
                leftovers, self._leftovers = self._leftovers, False
            if leftovers:
                try:
                    set_aside(path)
                except OSError as error:
                    raise self._error("cannot be opened again", error) from None
            before = self._file_identity(path)
            if before is None:
                if not self._create:
                    raise self._error("names no store: the SQLite file does not exist")
                try:
                    create_file(path)
                except OSError as error:
                    raise self._error("cannot be created", error) from None
                continue  # set up the file that is there now
            try:
                self._migrate()
                if not self._read_only:
                    with self._engine.connect() as conn:
                        # WAL mode stays with the file; set once it is known to be a store.
                        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            except self._failures as error:
                if self._file_identity(path) == before:
                    if isinstance(error, StoreError):
                        raise
                    raise self._error(open_failure(path), error) from None
            else:
                if self._file_identity(path) == before:
                    self._identity = before
                    return
            # The file moved while it was set up: a connection that was open on
            # the old one may have left its -wal and -shm under the name.
            with self._lock:
                self._leftovers = True
        raise AssertionError("unreachable")  # pragma: no cover

    def _changed(self) -> str | None:
        """Why the SQLite file is not the one set up (``deleted``, ``replaced``), else None."""
        if self._path is None:
            return None
        try:
            now = identity(self._path)
        except OSError:
            return None  # cannot tell: the next connection says what is wrong
        if now is None:
            return "deleted"  # whatever was noted: a missing file is always a change
        return None if now == self._identity else "replaced"

    def _reopen(self, reason: str, deadline: float) -> bool:
        """Set the store up again (its file or tables went away); whether it was needed.

        Waits (until ``deadline``) for no connection of this sink to be in
        use, so none of them is left on a deleted file while a new one takes
        its name.

        Raises:
            StoreError: it cannot be set up again (or, ``create=False``, the
                store is gone).
            GateTimeoutError: the connections in use did not end by ``deadline``.
        """
        with self._gate.exclusive(deadline):
            if reason != "tables_missing":
                reason = self._changed() or ""
                if not reason:
                    return False  # another thread set it up meanwhile
            elif self._tables_present():
                return False
            if reason == "deleted" and not self._create:
                raise self._error("names no store any more: the SQLite file was deleted")
            self._open(deadline)
            with self._lock:
                self.reopened += 1
        self._diag(("reopened", reason), "warning", "store_reopened", reason=reason, url=self.url)
        return True

    def _tables_present(self) -> bool:
        try:
            with self._engine.connect() as conn:
                inspector = sa.inspect(conn)
                return all(inspector.has_table(table.name) for table in self._t.values())
        except self._errors:
            return True  # cannot tell: report the original error rather than rebuild

    def _migrate(self) -> None:
        """Create or upgrade the tables, once, whoever else is doing the same."""
        last: Exception | None = None
        for _ in range(5):
            try:
                with self._engine.begin() as conn:
                    if not self._sqlite:
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7240811)"))
                    if not self._create and not sa.inspect(conn).has_table("aievents_meta"):
                        raise self._error("names no store: the database has no aievents tables")
                    self._t["meta"].create(conn, checkfirst=True)
                    meta = self._t["meta"]
                    version = self._version(conn)
                    if version < SCHEMA_VERSION and self._sqlite:
                        # One writer changes the tables, in one transaction (the
                        # driver would commit each DDL statement by itself).
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                        version = self._version(conn)
                    if 1 <= version < SCHEMA_VERSION:
                        self._upgrade(conn)
                    # Every start: tables dropped under a running sink come back.
                    self._metadata.create_all(conn, checkfirst=True)
                    if version < SCHEMA_VERSION:
                        conn.execute(meta.delete().where(meta.c.key == "schema_version"))
                        conn.execute(
                            meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
                        )
                return
            except StoreError:
                raise
            except sa.exc.DBAPIError as error:  # another process got there first, or no server
                last = error
        raise self._error(open_failure(self._path) if self._path else "cannot be opened", last)

    def _version(self, conn: Any) -> int:
        """The schema version of the tables (0: none yet); a newer one is refused."""
        meta = self._t["meta"]
        found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        try:
            version = int(found or 0)
        except ValueError:
            raise StoreAccessError(
                "schema_version", found, "must be a number", owner=self.url
            ) from None
        if version > SCHEMA_VERSION:
            raise StoreAccessError(
                "schema_version",
                version,
                f"is newer than this aievents writes ({SCHEMA_VERSION}); upgrade it",
                owner=self.url,
            )
        return version

    def _upgrade(self, conn: Any) -> None:
        """Tables of version 1 to version 2, in the caller's transaction.

        The rows get ``unpriced_requests``: 1 for a row without any cost
        (version 1 stored an unknown cost as 0, so a cost of 0 is taken as
        unknown, never as a $0 that may be false). The roll-up, whose sums
        version 1 could let turn into floats, is summed again from the rows.
        """
        usage = self._t["usage"]
        if not sa.inspect(conn).has_table(usage.name):
            return  # nothing to upgrade: the tables are made anew
        conn.exec_driver_sql(
            "ALTER TABLE aievents_usage ADD COLUMN unpriced_requests BIGINT NOT NULL DEFAULT 0"
        )
        costs = [usage.c[lane] == 0 for lane in LANE_COLUMNS[COSTS - 1 :]]
        conn.execute(
            usage.update().where(*costs, usage.c.cost_exact.is_(None)).values(unpriced_requests=1)
        )
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {DAILY}")
        daily = self._t[DAILY]
        daily.create(conn)
        day = (usage.c.minute // DAY).label("day")
        dims = [usage.c[name] for name in DIMENSIONS]
        query = sa.select(day, *dims, *lane_sums(usage, raw=True)).group_by(day, *dims)
        rows = []
        for record in conn.execute(query):
            lanes = joined(record[1 + len(dims) :])
            row = daily_row(record[0] * DAY, tuple(record[1 : 1 + len(dims)]), lanes)
            rows.append(dict(zip(DAILY_COLUMNS, row, strict=True)))
            if len(rows) >= LOOKUP:
                conn.execute(daily.insert(), rows)
                rows.clear()
        if rows:
            conn.execute(daily.insert(), rows)

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
        with self._lock:
            self.dropped += count
        self._diag(("dropped", reason), "warning", "events_dropped", reason=reason, count=count)

    def _count_lost(self, events: list[Any]) -> None:
        """Events that will never be stored: queries over their time raise from now on."""
        with self._lock:
            self._lost.add(events)

    def _deliver(self, batch: list[Any], deadline: float | None, closing: Closing) -> None:
        """Write a batch (on the worker thread); retry what may pass; count what cannot be written.

        ``deadline`` (a flush's or a close's) does not end the retries: a
        flush that runs out of time leaves the batch to be written later.
        Only a close's deadline gives it up (counted as ``failed``, and the
        time of its events marked as never complete).
        """
        del deadline
        try:
            self._persist(functools.partial(self._write, batch), len(batch), closing)
        except self._refusals:
            # The database refuses a row: write one at a time, so that only
            # the refused ones are lost (and counted).
            self._write_each(batch, closing)
        except self._failures as error:
            self._give_up(batch, error)

    def _write_each(self, batch: list[Any], closing: Closing) -> None:
        for event in batch:
            try:
                self._persist(functools.partial(self._write, [event]), 1, closing)
            except self._refusals as error:
                with self._lock:
                    self.rejected += 1
                self._reject(event, self._hide(first_line(error)))
            except self._failures as error:
                self._give_up([event], error)

    def _persist(self, write: Callable[[], object], count: int, closing: Closing) -> None:
        """Run ``write``, again after each transient failure (by the sink's :class:`Retry`).

        Raises the first failure that is not transient, or the last one once
        the retries are spent or the sink is closing and its deadline has
        passed.
        """

        def worth(error: Exception) -> bool:
            refused = isinstance(error, self._refusals)
            return not refused and isinstance(error, self._failures) and self._transient(error)

        def retrying(_attempt: int, error: Exception) -> None:
            with self._lock:
                self.retried += count
            said = self._hide(describe(error))
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
        with self._lock:
            self.failed += len(events)
            self._lost.add(events)
        said = self._hide(describe(error))
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

        Events whose counts do not fit a 64-bit column are counted in
        :attr:`rejected` and logged, not written.

        Raises:
            StoreError: the store cannot be written (none of the events is).
        """
        try:
            return self._write(events)
        except self._errors as error:
            raise self._error("cannot be written", error) from None

    def _write(self, events: Iterable[ImageUsageEvent]) -> tuple[int, int]:
        """:meth:`write`, raising the database's own errors."""
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
            deadline = time.monotonic() + 2 * self._busy + _SETTLE
            written = len(self._on_store(lambda: self._insert_rows(rows), deadline))
        with self._lock:
            self.written += written
            self.duplicates += seen - rejected - written
            self.rejected += rejected
        return written, seen - rejected - written

    def _row(self, event: ImageUsageEvent) -> tuple[Any, ...] | None:
        """The event's row of aievents_usage (in USAGE_COLUMNS order), or None to reject."""
        cost: Any = event.cost
        units = None if cost is None or type(cost) is not ImageCost else cost.units
        usage = event.usage
        if units is not None:  # the common case, without a list
            unpriced = 1 if cost.unpriced else 0
            lanes: Sequence[int] = request_lanes(
                event.images, usage, usage.split, units, unpriced=unpriced
            )
            extra = None
        else:
            if cost is None:
                cost = usage.cost
                if cost is None and self._price_events:
                    cost = self._prices.cost_of(event)
            lanes, extra = lanes_of(event, cost)
            lanes = lanes[1:]
        if max(lanes) > BIGINT_MAX:
            fitted, extra = fit(list(lanes), extra)
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
        timestamp = event.timestamp
        fields = (event.request_id, event.provider, event.quality, event.model, event.size)
        more = (event.operation, event.project_id, event.user_id, event.api_key_id)
        texts = [t for t in (*fields, *more) if t is not None]
        refusal = unfit_text(texts)
        if refusal is not None:
            self._reject(event, refusal)
            return None
        return (
            event.request_id,
            timestamp,
            timestamp // 60_000,
            event.provider,
            event.quality,
            event.model,
            event.size,
            event.operation,
            event.project_id,
            event.user_id,
            event.api_key_id,
            *lanes,
            None if extra is None else json.dumps([str(v) for v in extra]),
        )

    def _insert_rows(self, rows: dict[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Insert the rows not stored yet and add them to the roll-up, in one transaction.

        Writers take the table's write lock first (SQLite: ``BEGIN
        IMMEDIATE``; PostgreSQL: a lock that only writers conflict on), so
        the ids found missing are still missing when inserted, and every
        roll-up counts each request once. Returns the rows written.
        """
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self._sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            else:
                # A writer never waits forever on another's lock, nor on a statement.
                cursor.execute(f"SET LOCAL lock_timeout = '{round(self._busy * 1000)}ms'")
                cursor.execute("SET LOCAL statement_timeout = '60s'")
                cursor.execute("LOCK TABLE aievents_usage IN SHARE ROW EXCLUSIVE MODE")
            ids = list(rows)
            stored: set[str] = set()
            for first in range(0, len(ids), LOOKUP):
                part = ids[first : first + LOOKUP]
                cursor.execute(
                    self._sql["lookup"].format(", ".join([self._mark] * len(part))), part
                )
                stored.update(found[0] for found in cursor.fetchall())
            new = [row for rid, row in rows.items() if rid not in stored]
            if new:
                cursor.executemany(self._sql["insert"], new)
                cursor.executemany(self._sql["roll_up"], daily(new))
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        return new

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
        self._wake.set()  # a batch waiting to be tried again is tried now
        left = self._worker.close(timeout)
        if left:
            with self._lock:
                self.failed += len(left)
                self._lost.add(left)
            self._diag("closed", "error", "closed_unwritten", events=len(left))
        # Read after pending: a batch given up on is counted before it stops being pending.
        pending = self._worker.pending
        with self._lock:
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
        with self._lock:
            return {
                "written": self.written,
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "failed": self.failed,
                "dropped": self.dropped,
                "reopened": self.reopened,
                "retried": self.retried,
                "pending": self._worker.pending,
            }

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
            raise self._error(
                f"has {left} events not stored yet after {self._query_wait:g} s (the database "
                "is busy or unreachable; the store's log says why): ask again later",
                transient=True,
            )
        with self._lock:
            lost = self._lost.within(scan.start * 1000, scan.end * 1000)
        if lost:
            raise self._error(
                f"cannot answer for this window: {lost} of its events were never stored "
                "(counted in stats() as failed or dropped; the store's log says why)"
            )
        first, stop = scan.start // 60, scan.end // 60
        width = scan.width // 60
        spans: list[tuple[Any, int, int]] = []
        period = DAY if width >= DAY else None
        if period is not None:
            whole_first = -(-first // period) * period
            whole_stop = stop - stop % period
            if whole_first < whole_stop:
                table = self._t[DAILY]
                spans = [(None, first, whole_first), (table, whole_first, whole_stop)]
                spans.append((None, whole_stop, stop))
        if not spans:
            spans = [(None, first, stop)]
        deadline = max(began + self._query_wait, time.monotonic() + self._busy)
        try:
            rows = self._on_store(lambda: self._read(scan, spans, first, stop), deadline)
        except self._errors as error:
            raise self._error("cannot be read", error) from None
        yield from rows

    def _read(
        self, scan: Scan, spans: list[tuple[Any, int, int]], first: int, stop: int
    ) -> list[Row]:
        with self._engine.connect() as connection:
            # Every part of the answer from one snapshot, whatever commits meanwhile.
            conn = connection
            if self._sqlite:
                conn.exec_driver_sql("BEGIN")
            else:
                conn = connection.execution_options(isolation_level="REPEATABLE READ")
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{round(self._busy * 1000)}ms'")
            rows = [
                row
                for table, low, high in spans
                if low < high
                for row in self._sums(conn, scan, table, low, high)
            ]
            rows += self._exact(conn, scan, first, stop)
        return rows

    def _on_store(self, action: Callable[[], _T], deadline: float) -> _T:
        """Run ``action`` (it opens a connection and closes it) on the store as set up.

        A SQLite file deleted or replaced before or while ``action`` ran, or
        tables gone, are set up again, and ``action`` runs again: what it
        wrote may be in a file that is gone, or only in a -wal that SQLite
        left behind (it does not checkpoint a file that moved). Rows are
        keyed by request id, so a batch written twice is stored once.
        Waits for other threads of this sink (setting the store up again,
        or using it while this one would) end at ``deadline``.

        Raises:
            StoreError: the store cannot be set up again, or keeps moving or
                losing its tables, or the wait for other threads ran out
                (both ``transient``).
        """
        what = "keeps being deleted or replaced"
        try:
            for _ in range(_ATTEMPTS):
                reason = self._changed()
                if reason is not None:
                    self._reopen(reason, deadline)
                with self._gate.shared(deadline):
                    opened = self._identity  # no reopening while the gate is shared
                    try:
                        return_value = action()
                    except self._errors as error:
                        if self._moved_from(opened):
                            what = "keeps being deleted or replaced"
                            continue
                        if not _missing_table(error):
                            raise
                        failure = error
                    else:
                        if not self._moved_from(opened):
                            return return_value
                        what = "keeps being deleted or replaced"
                        continue
                what = "keeps losing its tables (dropped again each time they are made)"
                if not self._reopen("tables_missing", deadline):  # outside the gate: it waits
                    raise failure
        except GateTimeoutError:
            what = "is being set up again by another thread of this sink"
        raise self._error(f"{what}: ask again later", transient=True)

    def _moved_from(self, opened: tuple[int, int] | None) -> bool:
        """Whether the SQLite file is no longer the one a connection just closed was opened on.

        If so, the -wal and -shm under the file's name are that connection's
        and are set aside before the file there now is opened.
        """
        if self._path is None:
            return False
        try:
            moved = identity(self._path) != opened
        except OSError:
            return False
        if moved:
            with self._lock:
                self._leftovers = True
        return moved

    def _where(self, table: Any, column: str, scan: Scan, low: int, high: int) -> list[Any]:
        clauses = [table.c[column] >= low, table.c[column] < high]
        for name, allowed in scan.filters.items():
            clauses.append(table.c[name].in_(sorted(allowed)))
        return clauses

    def _sums(self, conn: Any, scan: Scan, table: Any, low: int, high: int) -> Iterator[Row]:
        width = scan.width // 60
        raw = table is None
        source = self._t["usage"] if raw else table
        time_column = source.c["minute" if raw else "period"]
        bucket = (time_column // width).label("bucket")
        groups = [source.c[name] for name in scan.group_by]
        query = (
            sa.select(bucket, *groups, *lane_sums(source, raw))
            .where(*self._where(source, "minute" if raw else "period", scan, low, high))
            .group_by(bucket, *groups)
        )
        for record in conn.execute(query):
            values = list(record)
            start = values[0] * width * 60
            found = dict(zip(scan.group_by, values[1 : 1 + len(groups)], strict=True))
            key = tuple(found.get(name) for name in DIMENSIONS)
            yield start - start % scan.width, key, unit_totals(joined(values[1 + len(groups) :]))

    def _exact(self, conn: Any, scan: Scan, low: int, high: int) -> Iterator[Row]:
        """Cost parts kept as exact text (finer than cost units), one row each."""
        usage = self._t["usage"]
        query = sa.select(
            usage.c.minute, *[usage.c[d] for d in DIMENSIONS], usage.c.cost_exact
        ).where(usage.c.cost_exact.is_not(None), *self._where(usage, "minute", scan, low, high))
        zeros = [0] * COSTS
        for record in conn.execute(query):
            start = record[0] * 60
            dims = record[1:-1]
            parts = [Decimal(v) for v in json.loads(record[-1])]
            yield start - start % scan.width, scan.group_key(dims), [*zeros, *parts]

    def dispose(self) -> None:
        """Close the database connections (after :meth:`close`)."""
        self._engine.dispose()


def _missing_table(error: BaseException) -> bool:
    """Whether a database error says one of the tables does not exist."""
    original = getattr(error, "orig", None) or error
    return getattr(original, "sqlstate", None) == "42P01" or "no such table" in str(original)


class _Losses:
    """How many events will never be stored, by when they happened (epoch milliseconds).

    Counted per slot of time (an hour at first); when more than
    ``_LOSS_SLOTS`` slots are in use, slots are made twice as wide, so the
    memory stays bounded whatever the times.
    """

    def __init__(self) -> None:
        self._width = 3_600_000
        self._counts: dict[int, int] = {}

    def add(self, events: Iterable[Any]) -> None:
        counts, width = self._counts, self._width
        for event in events:
            slot = getattr(event, "timestamp", 0) // width
            counts[slot] = counts.get(slot, 0) + 1
        while len(counts) > _LOSS_SLOTS:
            self._width *= 2
            wider: dict[int, int] = {}
            for slot, count in counts.items():
                wider[slot // 2] = wider.get(slot // 2, 0) + count
            self._counts = counts = wider

    def within(self, start: int, end: int) -> int:
        """Events lost whose slot overlaps ``[start, end)`` (milliseconds)."""
        width = self._width
        return sum(
            count
            for slot, count in self._counts.items()
            if slot * width < end and (slot + 1) * width > start
        )
