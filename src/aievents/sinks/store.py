"""StoreSink: usage events kept in SQLite or PostgreSQL, answered like OpenAI's usage API.

Every ``image:usage`` event becomes one row (its request id unique: a
duplicate is ignored) with its dimensions, tokens, images and exact cost.
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
batch being written is written again, so nothing queued is lost. Every
error from opening, writing or reading a store is a :class:`StoreError`
naming the URL, never with its password.

Needs the ``store`` extra: ``pip install 'aievents[store]'``.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from typing import Any, Final, TypeVar
from urllib.parse import quote, unquote

from aievents._diag import RateLimitedLog, describe
from aievents._redact import scrub_text
from aievents._validate import setting
from aievents.events import BaseEvent, ImageUsageEvent
from aievents.exceptions import FieldValueError, first_line
from aievents.pricing import PriceTable, cost_of
from aievents.query import DIMENSIONS, FIELDS, Reports, Row, Scan
from aievents.sinks import _exit
from aievents.sinks._batch import BatchWorker, Overflow
from aievents.sinks._tally import LANES, lanes_of, request_lanes
from aievents.usage import EXACT, ImageCost, units_to_usd

if sys.platform != "win32":
    import fcntl

try:
    import sqlalchemy as sa
except ImportError:  # pragma: no cover - the store extra is not installed
    sa = None  # type: ignore[assignment]

__all__ = ["SCHEMA_VERSION", "StoreError", "StoreSink"]

_T = TypeVar("_T")

#: The version of the tables this release writes (see ``aievents_meta``).
SCHEMA_VERSION: Final = 1
#: The default store: a SQLite file in the working directory.
DEFAULT_URL: Final = "sqlite:///aievents.db"
_BIGINT_MAX: Final = 2**63 - 1
#: Roll-ups keep cost sums as (units // _SPLIT, units % _SPLIT), so that no
#: column outgrows 64 bits.
_SPLIT: Final = 10**12
#: Column of each lane past num_model_requests (FIELDS[1:]).
_LANE_COLUMNS: Final = FIELDS[1:]
_COSTS: Final = FIELDS.index("cost_input_text")
#: The roll-up: one row per day and series.
_DAILY: Final = "aievents_daily"
_DAY: Final = 1440
#: Request ids looked up per statement (SQLite allows 999 parameters at least).
_LOOKUP: Final = 500


class StoreError(FieldValueError):
    """A store could not be opened or used; ``field`` and ``value`` say which.

    For a store that cannot be reached, read or written, ``field`` is
    ``url`` and ``value`` the store's URL without its password; the message
    says what went wrong (the database's own words, without the password).
    """


def _require_sqlalchemy() -> None:
    if sa is None:
        raise ImportError("StoreSink needs the store extra: pip install 'aievents[store]'")


def _tables(metadata: Any) -> dict[str, Any]:
    """The tables of schema version 1."""
    dims = [sa.Column(name, sa.String(255), nullable=True) for name in DIMENSIONS]
    lanes = [sa.Column(name, sa.BigInteger, nullable=False, default=0) for name in _LANE_COLUMNS]
    tables = {
        "meta": sa.Table(
            "aievents_meta",
            metadata,
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.String(255), nullable=False),
        ),
        "usage": sa.Table(
            "aievents_usage",
            metadata,
            sa.Column("request_id", sa.String(255), primary_key=True),
            sa.Column("timestamp", sa.BigInteger, nullable=False),
            sa.Column("minute", sa.BigInteger, nullable=False, index=True),
            sa.Column("provider", sa.String(255), nullable=True),
            sa.Column("quality", sa.String(255), nullable=True),
            *dims,
            *lanes,
            sa.Column("cost_exact", sa.Text, nullable=True),
            # The few rows with exact-text costs, found without a scan.
            sa.Index(
                "aievents_usage_exact",
                "minute",
                sqlite_where=sa.text("cost_exact IS NOT NULL"),
                postgresql_where=sa.text("cost_exact IS NOT NULL"),
            ),
        ),
    }
    for name in (_DAILY,):
        tables[name] = sa.Table(
            name,
            metadata,
            sa.Column("period", sa.BigInteger, nullable=False),
            # A digest of the dimensions: the unique key (NULLs would all differ there).
            sa.Column("series", sa.String(64), nullable=False),
            *[sa.Column(d, sa.String(255), nullable=True) for d in DIMENSIONS],
            sa.Column("num_model_requests", sa.BigInteger, nullable=False),
            *[sa.Column(c, sa.BigInteger, nullable=False) for c in _LANE_COLUMNS[: _COSTS - 1]],
            *[
                sa.Column(f"{c}_{part}", sa.BigInteger, nullable=False)
                for c in _LANE_COLUMNS[_COSTS - 1 :]
                for part in ("hi", "lo")
            ],
            sa.UniqueConstraint("period", "series", name=f"{name}_key"),
        )
    return tables


class StoreSink(Reports):
    """Writes ``image:usage`` events to a database; answers usage and costs pages.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///path.db`` (the default is
            ``aievents.db`` in the working directory) or
            ``postgresql://user:password@host/db`` (psycopg 3 is used).
        batch_size: Events per write, at most.
        max_delay: Seconds an event may wait for its batch.
        max_queue: Events waiting to be written, at most.
        overflow: What a full queue does with a new event (``drop_oldest``
            by default, counted: a stalled database never holds up the
            program); ``block`` waits up to ``block_timeout``.
        block_timeout: Seconds ``block`` waits.
        prices: Price table for events that carry no cost.
        price_events: Price events that carry no cost with the price table.
        clock: Seconds since the epoch, for a query without ``end_time``.
        create: Create the store when there is none (the default). With
            ``False`` only an existing store is opened: a SQLite file that
            does not exist, or a database without aievents' tables, is a
            :class:`StoreError` (and no file is created), as is such a file
            deleted later.
        busy_timeout: Seconds a statement waits for a lock another
            connection holds (SQLite's busy timeout; PostgreSQL's
            ``lock_timeout``) before it fails.
        query_wait: Seconds :meth:`usage` and :meth:`costs` wait for the
            events queued before them to be written. When some are still
            not written by then, the query raises a :class:`StoreError`
            saying how many, rather than answer without them.
        exit_timeout: Seconds to write what is queued when the process ends
            (at interpreter exit, on SIGTERM with ``handle_sigterm``, at the
            end of a ``multiprocessing`` child). All sinks drain together:
            the process waits for the longest ``exit_timeout``, not the sum.
        handle_sigterm: When the application has no SIGTERM handler of its
            own, make SIGTERM exit the process through ``SystemExit`` (status
            143), so that the queued events are written at exit instead of
            lost. Off by default: it changes how the program ends.

    Raises:
        StoreError: the URL is not a database URL, the database cannot be
            reached, its tables are of a newer version, or (``create=False``)
            there is no store there.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        batch_size: int = 1000,
        max_delay: float = 0.5,
        max_queue: int = 100_000,
        overflow: Overflow = "drop_oldest",
        block_timeout: float = 0.05,
        prices: PriceTable | None = None,
        price_events: bool = True,
        clock: Any = time.time,
        create: bool = True,
        busy_timeout: float = 10.0,
        query_wait: float = 10.0,
        exit_timeout: float = 5.0,
        handle_sigterm: bool = False,
    ) -> None:
        _require_sqlalchemy()
        self.exit_timeout = float(setting("exit_timeout", exit_timeout, fraction=True))
        url = DEFAULT_URL if url is None else url
        parsed = _parse(url)
        self._sqlite = parsed.get_backend_name() == "sqlite"
        #: The store's URL without a password (in the user info or the query).
        self.url = (
            f"sqlite:///{parsed.database}"
            if self._sqlite
            else _masked(parsed.render_as_string(hide_password=True))
        )
        self._secrets = _secrets(url, parsed)
        #: The SQLite file (an absolute path), else None.
        self._path: str | None = parsed.database if self._sqlite else None
        self._identity: tuple[int, int] | None = None
        self._leftovers = False  # a -wal and -shm of a moved file, under its name
        self._create = create
        self._busy = float(setting("busy_timeout", busy_timeout, fraction=True))
        self._query_wait = float(setting("query_wait", query_wait, fraction=True))
        self._prices = prices
        self._price_events = price_events
        self._clock = clock
        self._lock = threading.Lock()
        self._gate = _Gate()
        self._diag = RateLimitedLog("store")
        self.written = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.dropped = 0
        self.reopened = 0
        self._engine = self._connect(parsed)
        self._metadata = sa.MetaData()
        self._t = _tables(self._metadata)
        self._mark = "?" if self._sqlite else "%s"
        self._sql = _statements(self._mark)
        dbapi = self._engine.dialect.loaded_dbapi
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
        self._open()
        self._worker = BatchWorker(
            self._deliver,
            name="aievents-store",
            batch_size=setting("batch_size", batch_size, positive=True),
            max_delay=max_delay,
            max_queue=max_queue,
            overflow=overflow,
            block_timeout=block_timeout,
            dropped=self._count_dropped,
        )
        self.closed = False
        _exit.register(self, self._worker, handle_sigterm=handle_sigterm)

    def __repr__(self) -> str:
        return f"StoreSink({self.url!r})"

    # ------------------------------------------------------------------ setup

    def _connect(self, url: Any) -> Any:
        # A connection per batch or query, closed after it: a sink holds no
        # idle connection (nor leaves one to the garbage collector).
        kwargs: dict[str, Any] = {"poolclass": sa.pool.NullPool}
        if self._sqlite:
            # Connections open the file only if it exists ("mode=rw"): a file
            # deleted under the sink is not silently created anew, empty, by
            # SQLite; _open creates it when that is allowed.
            url = url.set(
                database=f"file:{quote(url.database)}",
                query={**url.query, "mode": "rw", "uri": "true"},
            )
            kwargs["connect_args"] = {"timeout": self._busy}
        else:
            kwargs["connect_args"] = {"connect_timeout": 10}
        engine = sa.create_engine(url, **kwargs)
        if self._sqlite:
            busy = round(self._busy * 1000)

            @sa.event.listens_for(engine, "connect")
            def _pragmas(connection: Any, _record: Any) -> None:
                cursor = connection.cursor()
                cursor.execute(f"PRAGMA busy_timeout={busy}")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

        return engine

    def _error(self, reason: str, error: BaseException | None = None) -> StoreError:
        """A StoreError about the store's URL; the database's words, without secrets."""
        if error is not None:
            reason = f"{reason}: {self._hide(first_line(error))}"
        return StoreError("url", self.url, reason, owner="StoreSink")

    def _hide(self, text: str) -> str:
        """``text`` without the store's password (nor any secret-looking value)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return scrub_text(text)

    def _open(self) -> None:
        """Open the store: create the SQLite file when allowed, set up its tables, note the file."""
        path = self._path
        if path is not None and not os.path.exists(path):
            if not self._create:
                raise self._error("names no store: the SQLite file does not exist")
            try:
                _create_file(path)
            except OSError as error:
                raise self._error("cannot be created", error) from None
        self._migrate()
        if path is not None:
            # WAL mode stays with the file; set once it is known to be a store.
            try:
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            except self._errors as error:
                raise self._error("cannot be opened", error) from None
            self._identity = _identity(path)

    def _changed(self) -> str | None:
        """Why the SQLite file is not the one set up (``deleted``, ``replaced``), else None."""
        if self._path is None:
            return None
        try:
            now = _identity(self._path)
        except OSError:
            return None  # cannot tell: the next connection says what is wrong
        if now == self._identity:
            return None
        return "deleted" if now is None else "replaced"

    def _reopen(self, reason: str) -> bool:
        """Set the store up again (its file or tables went away); whether it was needed.

        Waits until no connection of this sink is in use, so none of them is
        left on a deleted file while a new one takes its name.

        Raises:
            StoreError: it cannot be set up again (or, ``create=False``, the
                store is gone).
        """
        with self._gate.exclusive():
            if reason != "tables_missing":
                reason = self._changed() or ""
                if not reason:
                    return False  # another thread set it up meanwhile
            elif self._tables_present():
                return False
            if reason == "deleted" and not self._create:
                raise self._error("names no store any more: the SQLite file was deleted")
            with self._lock:
                leftovers, self._leftovers = self._leftovers, False
            if leftovers and self._path is not None:
                try:
                    _set_aside(self._path)
                except OSError as error:
                    raise self._error("cannot be opened again", error) from None
            self._open()
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
                    found = conn.execute(
                        sa.select(meta.c.value).where(meta.c.key == "schema_version")
                    ).scalar()
                    try:
                        version = int(found or 0)
                    except ValueError:
                        raise StoreError(
                            "schema_version", found, "must be a number", owner=self.url
                        ) from None
                    if version > SCHEMA_VERSION:
                        raise StoreError(
                            "schema_version",
                            version,
                            f"is newer than this aievents writes ({SCHEMA_VERSION}); upgrade it",
                            owner=self.url,
                        )
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
        raise self._error("cannot be opened", last)

    # ------------------------------------------------------------------ intake

    def handle(self, event: BaseEvent) -> None:
        """Queue an ``image:usage`` event to be written (other events are ignored).

        After :meth:`close`, an event is counted as dropped.
        """
        if isinstance(event, ImageUsageEvent):
            self._worker.put(event)

    def _count_dropped(self, reason: str, count: int) -> None:
        with self._lock:
            self.dropped += count
        self._diag(("dropped", reason), "warning", "events_dropped", reason=reason, count=count)

    def _deliver(self, batch: list[Any], deadline: float | None) -> None:
        """Write a batch (on the worker thread), retrying briefly; count what fails."""
        for attempt in range(3):
            try:
                self._write(batch)
                return
            except self._refusals:
                # The database refuses a row: write one at a time, so that only
                # the refused ones are lost (and counted).
                self._write_each(batch)
                return
            except self._failures as error:
                if attempt == 2 or (deadline is not None and time.monotonic() >= deadline):
                    with self._lock:
                        self.failed += len(batch)
                    said = self._hide(describe(error))
                    self._diag(
                        "write_failed", "error", "write_failed", error=said, events=len(batch)
                    )
                    return
                time.sleep(0.05 * (attempt + 1))

    def _write_each(self, batch: list[Any]) -> None:
        for event in batch:
            try:
                self._write([event])
            except self._errors as error:
                with self._lock:
                    self.rejected += 1
                self._reject(event, self._hide(first_line(error)))

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
        for event in events:
            seen += 1
            if event.request_id in rows:
                continue
            row = self._row(event)
            if row is None:
                rejected += 1
                continue
            rows[event.request_id] = row
        written = len(self._on_store(lambda: self._insert_rows(rows))) if rows else 0
        with self._lock:
            self.written += written
            self.duplicates += seen - rejected - written
            self.rejected += rejected
        return written, seen - rejected - written

    def _row(self, event: ImageUsageEvent) -> tuple[Any, ...] | None:
        """The event's row of aievents_usage (in _USAGE_COLUMNS order), or None to reject."""
        cost: Any = event.cost
        units = None if cost is None or type(cost) is not ImageCost else cost._units
        usage = event.usage
        split = usage._split
        if units is not None and split is not None:  # the common case, without a list
            lanes: Sequence[int] = request_lanes(event.images, usage, split, units)
            extra = None
        else:
            if cost is None:
                cost = usage.cost
                if cost is None and self._price_events:
                    cost = cost_of(event, table=self._prices)
            lanes, extra = lanes_of(event, cost)
            lanes = lanes[1:]
        if max(lanes) > _BIGINT_MAX:
            fitted, extra = _fit(list(lanes), extra)
            if fitted is None:
                self._reject(event, "a count does not fit 64 bits")
                return None
            lanes = fitted
        timestamp = event.timestamp
        fields = (event.request_id, event.provider, event.quality, event.model, event.size)
        more = (event.operation, event.project_id, event.user_id, event.api_key_id)
        texts = [t for t in (*fields, *more) if t is not None]
        refusal = _unfit_text(texts)
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
            for first in range(0, len(ids), _LOOKUP):
                part = ids[first : first + _LOOKUP]
                cursor.execute(
                    self._sql["lookup"].format(", ".join([self._mark] * len(part))), part
                )
                stored.update(found[0] for found in cursor.fetchall())
            new = [row for rid, row in rows.items() if rid not in stored]
            if new:
                cursor.executemany(self._sql["insert"], new)
                cursor.executemany(self._sql["roll_up"], _daily(new))
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

        Returns whether everything was written in time: ``False`` when events
        were still queued (counted in ``failed``) or a batch was still being
        written at the deadline (counted in :attr:`pending` until it ends).
        """
        if self.closed:
            return self._worker.pending == 0
        self.closed = True
        left = self._worker.close(timeout)
        if left:
            with self._lock:
                self.failed += len(left)
            self._diag("closed", "error", "closed_unwritten", events=len(left))
        return not left and self._worker.pending == 0

    @property
    def pending(self) -> int:
        """Events queued or being written now."""
        return self._worker.pending

    def stats(self) -> dict[str, int]:
        """Counters: written, duplicates, rejected, failed, dropped, reopened, pending."""
        with self._lock:
            return {
                "written": self.written,
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "failed": self.failed,
                "dropped": self.dropped,
                "reopened": self.reopened,
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
        left = self._worker.settle(self._query_wait)
        if left:
            raise self._error(
                f"has {left} events not stored yet after {self._query_wait:g} s (the database "
                "is busy or unreachable; the store's log says why): ask again later"
            )
        first, stop = scan.start // 60, scan.end // 60
        width = scan.width // 60
        spans: list[tuple[Any, int, int]] = []
        period = _DAY if width >= _DAY else None
        if period is not None:
            whole_first = -(-first // period) * period
            whole_stop = stop - stop % period
            if whole_first < whole_stop:
                table = self._t[_DAILY]
                spans = [(None, first, whole_first), (table, whole_first, whole_stop)]
                spans.append((None, whole_stop, stop))
        if not spans:
            spans = [(None, first, stop)]
        try:
            rows = self._on_store(lambda: self._read(scan, spans, first, stop))
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

    def _on_store(self, action: Callable[[], _T]) -> _T:
        """Run ``action`` (it opens a connection and closes it) on the store as set up.

        A SQLite file deleted or replaced before or while ``action`` ran, or
        tables gone, are set up again, and ``action`` runs again: what it
        wrote may be in a file that is gone, or only in a -wal that SQLite
        left behind (it does not checkpoint a file that moved). Rows are
        keyed by request id, so a batch written twice is stored once.
        """
        for _ in range(3):
            reason = self._changed()
            if reason is not None:
                self._reopen(reason)
            with self._gate.shared():
                opened = self._identity  # no reopening while the gate is shared
                try:
                    return_value = action()
                except self._errors as error:
                    if self._moved_from(opened):
                        continue
                    if not _missing_table(error):
                        raise
                    failure = error
                else:
                    if not self._moved_from(opened):
                        return return_value
                    continue
            if not self._reopen("tables_missing"):  # outside the gate: it waits for it
                raise failure
        raise self._error("keeps being deleted or replaced")

    def _moved_from(self, opened: tuple[int, int] | None) -> bool:
        """Whether the SQLite file is no longer the one a connection just closed was opened on.

        If so, the -wal and -shm under the file's name are that connection's
        and are set aside before the file there now is opened.
        """
        if self._path is None:
            return False
        try:
            moved = _identity(self._path) != opened
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
        columns: list[Any] = [bucket, *groups]
        columns.append(sa.func.count() if raw else sa.func.sum(source.c.num_model_requests))
        for index, column in enumerate(_LANE_COLUMNS, 1):
            if index < _COSTS:
                columns.append(sa.func.sum(source.c[column]))
            elif raw:
                columns += [
                    sa.func.sum(source.c[column] // _SPLIT),
                    sa.func.sum(source.c[column] % _SPLIT),
                ]
            else:
                columns += [
                    sa.func.sum(source.c[f"{column}_hi"]),
                    sa.func.sum(source.c[f"{column}_lo"]),
                ]
        query = (
            sa.select(*columns)
            .where(*self._where(source, "minute" if raw else "period", scan, low, high))
            .group_by(bucket, *groups)
        )
        for record in conn.execute(query):
            values = list(record)
            start = values[0] * width * 60
            found = dict(zip(scan.group_by, values[1 : 1 + len(groups)], strict=True))
            key = tuple(found.get(name) for name in DIMENSIONS)
            sums = [int(v or 0) for v in values[1 + len(groups) :]]
            counts = sums[:_COSTS]
            halves = sums[_COSTS:]
            costs = [
                units_to_usd(hi * _SPLIT + lo)
                for hi, lo in zip(halves[::2], halves[1::2], strict=True)
            ]
            yield start - start % scan.width, key, [*counts, *costs]

    def _exact(self, conn: Any, scan: Scan, low: int, high: int) -> Iterator[Row]:
        """Cost parts kept as exact text (finer than cost units), one row each."""
        usage = self._t["usage"]
        query = sa.select(
            usage.c.minute, *[usage.c[d] for d in DIMENSIONS], usage.c.cost_exact
        ).where(usage.c.cost_exact.is_not(None), *self._where(usage, "minute", scan, low, high))
        zeros = [0] * _COSTS
        for record in conn.execute(query):
            start = record[0] * 60
            dims = record[1:-1]
            parts = [Decimal(v) for v in json.loads(record[-1])]
            yield start - start % scan.width, scan.group_key(dims), [*zeros, *parts]

    def dispose(self) -> None:
        """Close the database connections (after :meth:`close`)."""
        self._engine.dispose()


#: The columns of a row of aievents_usage, in the order _row builds them.
_USAGE_COLUMNS: Final = (
    "request_id",
    "timestamp",
    "minute",
    "provider",
    "quality",
    *DIMENSIONS,
    *_LANE_COLUMNS,
    "cost_exact",
)
_DAILY_COLUMNS: Final = (
    "period",
    "series",
    *DIMENSIONS,
    "num_model_requests",
    *_LANE_COLUMNS[: _COSTS - 1],
    *(f"{c}_{part}" for c in _LANE_COLUMNS[_COSTS - 1 :] for part in ("hi", "lo")),
)


def _statements(mark: str) -> dict[str, str]:
    """The write statements, with the driver's parameter mark."""

    def marks(count: int) -> str:
        return ", ".join([mark] * count)

    modulo = "%%" if mark == "%s" else "%"  # a bare % would be a placeholder there
    updates = [f"num_model_requests = {_DAILY}.num_model_requests + excluded.num_model_requests"]
    for column in _LANE_COLUMNS[: _COSTS - 1]:
        updates.append(f"{column} = {_DAILY}.{column} + excluded.{column}")
    for column in _LANE_COLUMNS[_COSTS - 1 :]:
        hi, lo = f"{column}_hi", f"{column}_lo"
        low = f"({_DAILY}.{lo} + excluded.{lo})"
        updates.append(f"{hi} = {_DAILY}.{hi} + excluded.{hi} + {low} / {_SPLIT}")
        updates.append(f"{lo} = {low} {modulo} {_SPLIT}")
    return {
        "lookup": "SELECT request_id FROM aievents_usage WHERE request_id IN ({})",
        "insert": (
            f"INSERT INTO aievents_usage ({', '.join(_USAGE_COLUMNS)}) "
            f"VALUES ({marks(len(_USAGE_COLUMNS))})"
        ),
        "roll_up": (
            f"INSERT INTO {_DAILY} ({', '.join(_DAILY_COLUMNS)}) "
            f"VALUES ({marks(len(_DAILY_COLUMNS))}) "
            f"ON CONFLICT (period, series) DO UPDATE SET {', '.join(updates)}"
        ),
    }


#: Where things are in a row of aievents_usage.
_MINUTE: Final = _USAGE_COLUMNS.index("minute")
_DIMS: Final = slice(_USAGE_COLUMNS.index(DIMENSIONS[0]), _USAGE_COLUMNS.index(DIMENSIONS[-1]) + 1)
_LANES: Final = slice(_USAGE_COLUMNS.index(_LANE_COLUMNS[0]), _USAGE_COLUMNS.index("cost_exact"))


def _daily(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The roll-up rows of written usage rows: sums per day and series."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        minute = row[_MINUTE]
        key = (minute - minute % _DAY, *row[_DIMS])
        total = sums.get(key)
        if total is None:
            total = sums[key] = [0] * LANES
        total[0] += 1
        for index, value in enumerate(row[_LANES], 1):
            if value:
                total[index] += value
    out = []
    for key, total in sums.items():
        costs = [part for units in total[_COSTS:] for part in divmod(units, _SPLIT)]
        series = hashlib.sha256(json.dumps(key[1:]).encode()).hexdigest()
        out.append((key[0], series, *key[1:], *total[:_COSTS], *costs))
    return out


def _unfit_text(texts: list[str]) -> str | None:
    """Why these strings cannot be stored (at most 255 characters, no NUL, valid Unicode)."""
    if max(map(len, texts)) > 255:
        return "a text field is longer than 255 characters"
    joined = "".join(texts)
    if "\x00" in joined:
        return "a text field holds a NUL character"
    try:
        joined.encode()
    except UnicodeEncodeError:
        return "a text field is not valid Unicode (a lone surrogate)"
    return None


def _fit(
    lanes: list[int], extra: list[Decimal] | None
) -> tuple[list[int] | None, list[Decimal] | None]:
    """Lanes that fit 64-bit columns: costs too large go to the exact text; else None."""
    costs = slice(_COSTS - 1, None)
    if max(lanes[costs]) > _BIGINT_MAX:
        held = extra or [Decimal(0)] * (LANES - _COSTS)
        with decimal.localcontext(EXACT):
            extra = [units_to_usd(u) + e for u, e in zip(lanes[costs], held, strict=True)]
        lanes[costs] = [0] * (LANES - _COSTS)
    if max(lanes) > _BIGINT_MAX:
        return None, None
    return lanes, extra


def _parse(url: Any) -> Any:
    """A store's URL, checked: SQLAlchemy's URL, with a SQLite file's path made absolute.

    The path is resolved now: a later ``os.chdir`` does not move the store.
    """
    if sa is not None and isinstance(url, sa.engine.URL):
        url = url.render_as_string(hide_password=False)
    shown = _masked(url) if isinstance(url, str) else url

    def refuse(reason: str) -> StoreError:
        return StoreError("url", shown, reason, owner="StoreSink")

    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise refuse("is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise refuse("must be a sqlite:// or postgresql:// URL")
    written = _user_secret(url) if isinstance(url, str) else None
    if unquote(written or "") != (parsed.password or ""):
        # SQLAlchemy ends the password at the first "@", so "user:p@ss@host" reads
        # as host "ss@host", and "host:5432/db?password=p@ss" as user "host",
        # password "5432/db?password=p", host "ss": the rest would be shown.
        raise refuse(
            "cannot be read as user:password@host/database?parameters: write an '@', '/',"
            " '?', '&' or '#' inside a user name, password or parameter as %40, %2F, %3F,"
            " %26 or %23"
        )
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if parsed.database in (None, "", ":memory:"):
        raise refuse("must name a SQLite file (a database in memory is not shared with the writer)")
    if parsed.username or parsed.password or parsed.host or parsed.port:
        raise refuse("must be sqlite:///path/to/file.db, without a user, password or host")
    if "uri" in parsed.query or "mode" in parsed.query:
        raise refuse("must be sqlite:///path/to/file.db, without SQLite URI options")
    return parsed.set(database=os.path.abspath(parsed.database))


#: Query parameters that hold secrets: password, sslpassword, api_key...
_SECRET_NAME: Final = "pass|pwd|secret|token|key"
#: A secret in a URL's query: up to the next ``&name=`` (an ``&`` that starts
#: no parameter is taken as part of it).
_QUERY_SECRET: Final = re.compile(
    rf"(?i)(?<=[?&])(?P<key>[^=&#]*(?:{_SECRET_NAME})[^=&#]*)="
    r"(?P<secret>[^&]*(?:&(?![^&=]*=)[^&]*)*)"
)
#: The password in a URL's user info: after ``scheme://user:``, up to the
#: *last* ``@``, so that one holding ``@``, ``/`` or ``:`` is hidden whole.
_USER_SECRET: Final = re.compile(r"(?s)(?<=://)(?P<user>[^/:]*):(?P<secret>.*)@")


def _masked(url: str) -> str:
    """A URL as it may be shown: passwords (in user info or query) replaced by ``***``.

    Whatever characters a password holds: one with ``@`` or ``/`` that was
    not percent-encoded is hidden whole (with more of the URL, rather than
    less of the password).
    """
    url = _QUERY_SECRET.sub(lambda m: f"{m['key']}=***", url)
    return _USER_SECRET.sub(lambda m: f"{m['user']}:***@", url, count=1)


def _user_secret(url: str) -> str | None:
    """The password of a URL's user info, as written (up to the last ``@``), or None."""
    found = _USER_SECRET.search(_QUERY_SECRET.sub("", url))
    return None if found is None else found["secret"]


def _secrets(url: Any, parsed: Any) -> tuple[str, ...]:
    """A URL's passwords, as written and as decoded, longest first (hidden from messages).

    Passwords shorter than 4 characters are not searched for: they would
    garble every message, and drivers do not quote passwords.
    """
    text = url if isinstance(url, str) else ""
    found = {parsed.password or ""}
    for key, value in parsed.query.items():
        if re.search(_SECRET_NAME, key, re.IGNORECASE):
            found.update([value] if isinstance(value, str) else value)
    for pattern in (_QUERY_SECRET, _USER_SECRET):
        for match in pattern.finditer(text):
            found.update((match["secret"], unquote(match["secret"])))
    return tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True))


def _create_file(path: str) -> None:
    """Create an empty SQLite file (an empty database), unless another process just did.

    What a deleted file of that name left (its -wal, -shm, -journal) is set
    aside first: a connection still open on the deleted file shares its
    -shm, which must not become the new file's. The folder is locked while
    this is done, so that no other process sets aside the new file's.
    """
    with _folder_locked(os.path.dirname(path)):
        if not os.path.exists(path):
            _set_aside(path, locked=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def _set_aside(path: str, *, locked: bool = False) -> None:
    """Remove the -wal, -shm and -journal under a SQLite file's name: a moved file's.

    SQLite does not checkpoint a file deleted or replaced while it was open:
    the next file of that name would read the frames left as its own.
    """
    if not locked:
        with _folder_locked(os.path.dirname(path)):
            _set_aside(path, locked=True)
        return
    for suffix in ("-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            os.remove(path + suffix)


@contextmanager
def _folder_locked(folder: str) -> Iterator[None]:
    """An exclusive lock on a folder, between processes (where the system has flock)."""
    if sys.platform == "win32":  # pragma: no cover - open files cannot be deleted there
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # lets go of the lock


def _identity(path: str) -> tuple[int, int] | None:
    """The file's device and inode, or None when there is no file."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _missing_table(error: BaseException) -> bool:
    """Whether a database error says one of the tables does not exist."""
    original = getattr(error, "orig", None) or error
    return getattr(original, "sqlstate", None) == "42P01" or "no such table" in str(original)


class _Gate:
    """This sink's connections in use (shared) against setting the store up again (exclusive).

    A connection left open on a deleted SQLite file, while a new file takes
    its name, would remove the new file's -wal and -shm when it closes.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._users = 0
        self._reopening = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._reopening)
            self._users += 1
        try:
            yield
        finally:
            with self._changed:
                self._users -= 1
                self._changed.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._reopening)
            self._reopening = True
            self._changed.wait_for(lambda: not self._users)
        try:
            yield
        finally:
            with self._changed:
                self._reopening = False
                self._changed.notify_all()
