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

Needs the ``store`` extra: ``pip install 'aievents[store]'``.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Final

from aievents._diag import RateLimitedLog
from aievents._validate import setting
from aievents.events import BaseEvent, ImageUsageEvent
from aievents.exceptions import FieldValueError, first_line
from aievents.pricing import PriceTable, cost_of
from aievents.query import DIMENSIONS, FIELDS, Reports, Row, Scan
from aievents.sinks import _exit
from aievents.sinks._batch import BatchWorker, Overflow
from aievents.sinks._tally import LANES, lanes_of, request_lanes
from aievents.usage import EXACT, ImageCost, units_to_usd

try:
    import sqlalchemy as sa
except ImportError:  # pragma: no cover - the store extra is not installed
    sa = None  # type: ignore[assignment]

__all__ = ["SCHEMA_VERSION", "StoreError", "StoreSink"]

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
    """A store could not be opened or used; ``field`` and ``value`` say which."""


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
            reached, or its tables are of a newer version.
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
        exit_timeout: float = 5.0,
        handle_sigterm: bool = False,
    ) -> None:
        _require_sqlalchemy()
        self.exit_timeout = float(setting("exit_timeout", exit_timeout, fraction=True))
        url = DEFAULT_URL if url is None else url
        try:
            parsed = sa.engine.make_url(url)
        except (sa.exc.ArgumentError, ValueError, TypeError):
            raise StoreError(
                "url", _masked(url), "is not a database URL", owner="StoreSink"
            ) from None
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StoreError(
                "url", _masked(url), "must be a sqlite:// or postgresql:// URL", owner="StoreSink"
            )
        if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise StoreError(
                "url",
                _masked(url),
                "must name a SQLite file (a database in memory is not shared with the writer)",
                owner="StoreSink",
            )
        if backend == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        #: The store's URL without a password (in the user info or the query).
        self.url = _masked(parsed.render_as_string(hide_password=True))
        self._sqlite = backend == "sqlite"
        self._prices = prices
        self._price_events = price_events
        self._clock = clock
        self._lock = threading.Lock()
        self._diag = RateLimitedLog("store")
        self.written = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.dropped = 0
        self._engine = self._connect(parsed)
        self._metadata = sa.MetaData()
        self._t = _tables(self._metadata)
        self._migrate()
        self._mark = "?" if self._sqlite else "%s"
        self._sql = _statements(self._mark)
        dbapi = self._engine.dialect.loaded_dbapi
        self._errors: tuple[type[BaseException], ...] = (
            sa.exc.DBAPIError,
            dbapi.Error,
            UnicodeError,
        )
        #: Errors that say a row is wrong rather than the database away.
        self._refusals: tuple[type[BaseException], ...] = (
            dbapi.DataError,
            dbapi.IntegrityError,
            UnicodeError,
        )
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

    # ------------------------------------------------------------------ setup

    def _connect(self, url: Any) -> Any:
        # A connection per batch or query, closed after it: a sink holds no
        # idle connection (nor leaves one to the garbage collector).
        kwargs: dict[str, Any] = {"poolclass": sa.pool.NullPool}
        if self._sqlite:
            kwargs["connect_args"] = {"timeout": 10}
        else:
            kwargs["connect_args"] = {"connect_timeout": 10}
        engine = sa.create_engine(url, **kwargs)
        if self._sqlite:

            @sa.event.listens_for(engine, "connect")
            def _pragmas(connection: Any, _record: Any) -> None:
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=10000")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

        return engine

    def _migrate(self) -> None:
        """Create or upgrade the tables, once, whoever else is doing the same."""
        last: Exception | None = None
        for _ in range(5):
            try:
                with self._engine.begin() as conn:
                    if not self._sqlite:
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7240811)"))
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
                    if version < 1:
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
        raise StoreError(
            "url",
            self.url,
            f"cannot be opened: {first_line(last) if last else 'unknown error'}",
            owner="StoreSink",
        )

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
                self.write(batch)
                return
            except self._refusals:
                # The database refuses a row: write one at a time, so that only
                # the refused ones are lost (and counted).
                self._write_each(batch)
                return
            except self._errors as error:
                if attempt == 2 or (deadline is not None and time.monotonic() >= deadline):
                    with self._lock:
                        self.failed += len(batch)
                    self._diag(
                        "write_failed", "error", "write_failed", error=error, events=len(batch)
                    )
                    return
                time.sleep(0.05 * (attempt + 1))

    def _write_each(self, batch: list[Any]) -> None:
        for event in batch:
            try:
                self.write([event])
            except self._errors as error:
                with self._lock:
                    self.rejected += 1
                self._reject(event, first_line(error))

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
        """
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
        written = len(self._insert_rows(rows)) if rows else 0
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
                cursor.execute("SET LOCAL lock_timeout = '10s'")
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
        """Counters: written, duplicates, rejected, failed, dropped, pending."""
        with self._lock:
            return {
                "written": self.written,
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "failed": self.failed,
                "dropped": self.dropped,
                "pending": self._worker.pending,
            }

    # ------------------------------------------------------------------ queries

    def scan(self, scan: Scan) -> Iterator[Row]:
        """Sum the stored usage for a query (the :class:`aievents.query.Source` protocol)."""
        self.flush(30.0)
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
        with self._engine.connect() as connection:
            # Every part of the answer from one snapshot, whatever commits meanwhile.
            conn = connection
            if self._sqlite:
                conn.exec_driver_sql("BEGIN")
            else:
                conn = connection.execution_options(isolation_level="REPEATABLE READ")
            rows = [
                row
                for table, low, high in spans
                if low < high
                for row in self._sums(conn, scan, table, low, high)
            ]
            rows += self._exact(conn, scan, first, stop)
        yield from rows

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


_SECRET_IN_URL: Final = re.compile(
    r"(?i)(://[^/:@]*:)[^@/]*(@)|((?:pass(?:word)?|sslpassword)=)[^&]*"
)


def _masked(url: str) -> str:
    """A URL as it may be shown: passwords (in user info or query) replaced by ``***``."""
    return _SECRET_IN_URL.sub(
        lambda m: f"{m.group(1)}***{m.group(2)}" if m.group(1) else f"{m.group(3)}***", url
    )
