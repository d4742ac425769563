"""StoreSink on a real PostgreSQL written by many hosts: no table lock, a writer role's privileges.

The writer role is made with the very statements the PostgreSQL guide
shows (read from the page), so that the guide and what is tested agree.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from aievents.query import DIMENSIONS
from aievents.sinks import StoreSink
from aievents.sinks._storeschema import ROLLUPS
from aievents.sinks.store import SCHEMA_VERSION, StoreAccessError, StoreError
from aievents.totals import FIELDS
from postgres_server import fresh_database
from store_writer import T0, expected, request

from helpers import until

HERE = Path(__file__).resolve().parent
GUIDE = HERE.parent / "docs" / "guides" / "postgresql.md"
DAY = 86_400
#: Table lock modes a writer may hold: reading, and inserting or updating rows.
ROW_MODES = frozenset({"AccessShareLock", "RowExclusiveLock"})
#: What a writer may wait for: another transaction writing the same request
#: id or roll-up row (until that transaction ends: ``transactionid``,
#: ``tuple``), another backend adding a page to a table's file (``extend``:
#: held only while the page is added, by any inserts at once), or another
#: writer's set-up at start (``advisory``). Never a table (``relation``).
ROW_WAITS = frozenset({"transactionid", "tuple", "extend", "advisory"})
#: A writer process that writes one request, then prints (written, duplicates).
BLOCKED = """
import sys
sys.path.insert(0, sys.argv[2])
from store_writer import T0, request
from aievents.sinks import StoreSink
sink = StoreSink(sys.argv[1], busy_timeout=60)
print(*sink.write([request("blocked", 1, T0)]))
"""


def guide_grants(role: str, database: str) -> list[str]:
    """The GRANT statements of the guide's writer role, for ``role`` on ``database``."""
    text = GUIDE.read_text(encoding="utf-8")
    block = re.search(r"```sql\n(.*?)```", text, re.S)
    assert block is not None, "the guide shows the writer role's SQL"
    grants = [line for line in block[1].splitlines() if line.startswith("GRANT ")]
    assert grants
    return [
        line.replace("aievents_writer", role).replace("DATABASE usage", f'DATABASE "{database}"')
        for line in grants
    ]


class Writer:
    """A writer role on a fresh database whose tables its owner made: its URL, its grants."""

    def __init__(self, server: str) -> None:
        self.database = f"aievents_{uuid.uuid4().hex[:12]}"
        self.owner = fresh_database(server, self.database)
        self.server = server
        self.role = f"aievents_w_{uuid.uuid4().hex[:8]}"
        self.password = f"pw-{secrets.token_hex(8)}"
        psql(server, f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}'")
        base = sa.engine.make_url(self.owner).set(username=self.role, password=self.password)
        self.url = base.render_as_string(hide_password=False)

    def set_up(self) -> None:
        """The owner makes the tables with the guide's command, then grants the role."""
        command = [sys.executable, "-m", "aievents", "ingest", "/dev/null", "--store", self.owner]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        self.grant()

    def grant(self) -> None:
        """Run the guide's grants (again)."""
        for statement in guide_grants(self.role, self.database):
            psql(self.owner, statement)

    def drop(self) -> None:
        psql(self.server, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        psql(self.server, f"DROP ROLE IF EXISTS {self.role}")


def psql(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement (autocommit) on ``url``; its rows, if any."""
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(name="writer")
def _writer(postgres_server: str) -> Iterator[Writer]:
    """A writer role on a fresh database (the tables not made yet); dropped after."""
    writer = Writer(postgres_server)
    try:
        yield writer
    finally:
        writer.drop()


def requests(sink: StoreSink, days: int = 1) -> int:
    """Requests the sink's daily roll-up counts over ``days`` days from T0."""
    page = sink.usage(T0, T0 + days * DAY, "1d", limit=days)
    return sum(r.num_model_requests for bucket in page.data for r in bucket.results)


class TestWriterRole:
    """A role with only the guide's grants writes, skips duplicates and queries; no more."""

    def test_writes_and_queries(self, writer: Writer) -> None:
        """Rows, duplicates and queries work as the writer; its password is never shown."""
        writer.set_up()
        sink = StoreSink(writer.url, clock=lambda: T0 + DAY)
        assert writer.password not in repr(sink) + sink.url
        assert sink.write([request(f"r{i}", i, T0 + i) for i in range(30)]) == (30, 0)
        assert sink.write([request(f"r{i}", i, T0 + i) for i in range(20, 40)]) == (10, 10)
        for i in range(35, 50):
            sink.handle(request(f"r{i}", i, T0 + i))
        assert sink.close(30)
        assert (sink.stats()["written"], sink.stats()["duplicates"]) == (50, 15)
        assert requests(sink) == 50
        hour = sink.usage(T0, T0 + 3600, "1h").data[0].results[0]
        assert hour.num_model_requests == 50

    def test_no_more_privileges(self, writer: Writer) -> None:
        """The role may not change or delete rows, nor lock or make tables."""
        writer.set_up()
        sink = StoreSink(writer.url)
        sink.write([request("r1", 1, T0)])
        sink.close(10)
        refused = [
            "UPDATE aievents_usage SET images = 2",
            "DELETE FROM aievents_usage",
            "DELETE FROM aievents_daily",
            "TRUNCATE aievents_daily",
            "UPDATE aievents_meta SET value = '1'",
            "INSERT INTO aievents_meta VALUES ('k', 'v')",
            "CREATE TABLE aievents_more (x int)",
            "ALTER TABLE aievents_usage ADD COLUMN x int",
            # The lock writers took before: PostgreSQL asks for UPDATE, DELETE or TRUNCATE.
            "LOCK TABLE aievents_usage IN SHARE ROW EXCLUSIVE MODE",
        ]
        for statement in refused:
            with (
                pytest.raises(psycopg.errors.InsufficientPrivilege),
                psycopg.connect(writer.url) as conn,
            ):
                conn.execute(statement)
        grants = psql(
            writer.owner,
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            f" WHERE grantee = '{writer.role}' ORDER BY 1, 2",
        )
        assert grants == [
            ("aievents_daily", "INSERT"),
            ("aievents_daily", "SELECT"),
            ("aievents_daily", "UPDATE"),
            ("aievents_hourly", "INSERT"),
            ("aievents_hourly", "SELECT"),
            ("aievents_hourly", "UPDATE"),
            ("aievents_meta", "SELECT"),
            ("aievents_usage", "INSERT"),
            ("aievents_usage", "SELECT"),
        ]
        assert psql(writer.owner, "SELECT count(*) FROM aievents_usage") == [(1,)]

    def test_no_tables(self, writer: Writer) -> None:
        """Without tables the role is told to run the set-up as the owner; nothing is made."""
        psql(writer.owner, f'GRANT CONNECT ON DATABASE "{writer.database}" TO {writer.role}')
        with pytest.raises(StoreAccessError) as caught:
            StoreSink(writer.url)
        said = str(caught.value)
        assert "cannot create its tables as this role (permission denied" in said
        assert "`aievents ingest /dev/null --store URL`" in said
        assert writer.password not in said + repr(caught.value)
        assert not caught.value.transient
        tables = "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'aievents%'"
        assert psql(writer.owner, tables) == [(0,)]

    def test_older_schema(self, writer: Writer) -> None:
        """Older tables: the role is told to upgrade them as the owner; then it writes."""
        writer.set_up()
        StoreSink(writer.owner).write([request("r1", 1, T0)])
        older = SCHEMA_VERSION - 1
        psql(writer.owner, "ALTER TABLE aievents_usage DROP COLUMN cost_basis")
        psql(writer.owner, f"UPDATE aievents_meta SET value = '{older}'")
        with pytest.raises(StoreAccessError) as caught:
            StoreSink(writer.url)
        said = str(caught.value)
        assert f"cannot upgrade its tables from schema version {older} to {SCHEMA_VERSION}" in said
        assert "`aievents ingest /dev/null --store URL`" in said
        assert writer.password not in said
        assert psql(writer.owner, "SELECT value FROM aievents_meta") == [(str(older),)]
        writer.set_up()  # the owner upgrades, then grants again
        sink = StoreSink(writer.url, clock=lambda: T0 + DAY)
        assert sink.write([request("r1", 1, T0), request("r2", 2, T0)]) == (1, 1)
        assert requests(sink) == 2
        sink.close(10)


class LockWatch:
    """Samples pg_locks of a database from another connection, until stopped.

    Notes every table lock on an aievents table stronger than a writer's row
    locks, and every lock a backend waits for, by kind (``relation`` being a
    table lock). Between samples it waits on its stop event (0.01 s).
    """

    QUERY = """
        SELECT l.locktype, l.mode, l.granted, c.relname
        FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
        JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.pid <> pg_backend_pid()
          AND a.backend_type = 'client backend'
          AND (l.database IS NULL OR l.database =
               (SELECT oid FROM pg_database WHERE datname = current_database()))
    """

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)
        self._stop = threading.Event()
        self.samples = 0
        #: Samples in which a writer held a row lock on aievents_usage.
        self.writing = 0
        self.table_locks: Counter[tuple[str, str]] = Counter()
        self.waits: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.close()

    def close(self) -> None:
        self._conn.close()

    def sample(self) -> None:
        """One look at the locks held and waited for."""
        writing = False
        for locktype, mode, granted, relname in self._conn.execute(self.QUERY).fetchall():
            if not granted:
                self.waits[locktype] += 1
            if relname and relname.startswith("aievents_") and locktype == "relation":
                writing = writing or (relname == "aievents_usage" and mode == "RowExclusiveLock")
                if mode not in ROW_MODES:
                    self.table_locks[(relname, mode)] += 1
        self.samples += 1
        self.writing += writing

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.01)


class TestManyWriters:
    """Eight writer processes on one PostgreSQL, request ids shared: each counted once."""

    def test_watch_sees_a_table_lock(self, writer: Writer) -> None:
        """The lock watch notices a table lock held, and a writer waiting for it."""
        writer.set_up()
        with psycopg.connect(writer.owner) as holder:
            holder.execute("LOCK TABLE aievents_usage IN SHARE ROW EXCLUSIVE MODE")
            blocked = subprocess.Popen(
                [sys.executable, "-c", BLOCKED, writer.url, str(HERE)],
                stdout=subprocess.PIPE,
                text=True,
            )
            watch = LockWatch(writer.owner)
            until(lambda: watch.sample() or watch.waits["relation"] > 0, timeout=120)
            watch.close()
            holder.rollback()
        assert blocked.communicate(timeout=60)[0].split() == ["1", "0"]
        assert watch.table_locks[("aievents_usage", "ShareRowExclusiveLock")] > 0

    @pytest.mark.timeout(1200)
    def test_eight_writers(self, writer: Writer) -> None:
        """8 x 25,000 events, 20% shared: once each, roll-up = rows, no table lock waited for."""
        writers, count = 8, 25_000
        writer.set_up()
        distinct, repeated = expected(writers, count)
        deadlocks = f"SELECT deadlocks FROM pg_stat_database WHERE datname = '{writer.database}'"
        before = psql(writer.owner, deadlocks)
        script = str(HERE / "store_writer.py")
        with LockWatch(writer.owner) as watch:
            processes = [
                subprocess.Popen(
                    [sys.executable, script, writer.url, str(n), str(writers), str(count)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for n in range(writers)
            ]
            outputs = [p.communicate(timeout=1100)[0] for p in processes]
        assert [p.returncode for p in processes] == [0] * writers, outputs
        stats = [json.loads(out) for out in outputs]
        assert all(s["closed"] and s["failed"] == s["dropped"] == s["rejected"] == 0 for s in stats)
        assert sum(s["written"] for s in stats) == distinct
        assert sum(s["duplicates"] for s in stats) == repeated
        rows = psql(writer.owner, "SELECT count(*), count(DISTINCT request_id) FROM aievents_usage")
        assert rows == [(distinct, distinct)]
        reader = StoreSink(writer.url, create=False, clock=lambda: T0 + 10 * DAY)
        assert requests(reader, days=5) == distinct
        for table, period in ROLLUPS.items():
            assert roll_up(writer.owner, table) == recount(writer.owner, period), table
        reader.close(10)
        assert watch.writing > 0, "the watch saw the writers at work"
        assert watch.table_locks == Counter(), "no writer takes a table lock"
        assert set(watch.waits) <= ROW_WAITS, watch.waits
        assert psql(writer.owner, deadlocks) == before
        retried = [s["retried"] for s in stats]
        print(f"lock watch: {watch.samples} samples, waits {dict(watch.waits)}; retried {retried}")


def roll_up(url: str, table: str) -> dict[tuple[Any, ...], list[int]]:
    """A roll-up: each lane (FIELDS) per period and series, its halves joined."""
    dims = ", ".join(DIMENSIONS)
    lanes = ", ".join(f"sum({f}_hi) * 4294967296 + sum({f}_lo)" for f in FIELDS)
    query = f"SELECT period, {dims}, {lanes} FROM {table} GROUP BY period, {dims}"
    return _keyed(psql(url, query))


def recount(url: str, period: int) -> dict[tuple[Any, ...], list[int]]:
    """The same sums counted again from the rows, per ``period`` minutes."""
    dims = ", ".join(DIMENSIONS)
    lanes = ", ".join(["count(*)", *(f"sum({f})" for f in FIELDS[1:])])
    start = f"minute / {period} * {period}"
    query = f"SELECT {start}, {dims}, {lanes} FROM aievents_usage GROUP BY {start}, {dims}"
    return _keyed(psql(url, query))


def _keyed(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[int]]:
    width = 1 + len(DIMENSIONS)
    found = {tuple(row[:width]): [int(v) for v in row[width:]] for row in rows}
    assert found
    return found


class TestHourly:
    """1h queries are answered from the hourly roll-up, written with the rows."""

    def test_read_and_made_again(self, tmp_path: Path) -> None:
        """Whole hours come from aievents_hourly; a missing one is made again from the rows."""
        url = f"sqlite:///{tmp_path / 'usage.db'}"
        sink = StoreSink(url, clock=lambda: T0 + DAY)
        sink.write([request(f"r{i}", i, T0 + i * 60) for i in range(180)])  # 3 hours
        hours = [b.results[0].num_model_requests for b in sink.usage(T0, T0 + 3 * 3600, "1h").data]
        assert hours == [60, 60, 60]
        engine = sa.create_engine(url)
        with engine.begin() as conn:  # the roll-up is what is read: a change there shows
            conn.exec_driver_sql("UPDATE aievents_hourly SET num_model_requests_lo = 1")
        changed = sink.usage(T0, T0 + 3 * 3600, "1h", group_by=["user_id"]).data
        assert sum(r.num_model_requests for b in changed for r in b.results) < 180
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE aievents_hourly")
        engine.dispose()
        sink.close(10)
        again = StoreSink(url, clock=lambda: T0 + DAY)
        hours = [b.results[0].num_model_requests for b in again.usage(T0, T0 + 3 * 3600, "1h").data]
        assert hours == [60, 60, 60]
        again.close(10)


class TestBusyTimeout:
    """busy_timeout bounds a PostgreSQL writer's wait for a lock (0 as on SQLite); it must fit."""

    def test_zero_waits_for_no_lock(self, writer: Writer) -> None:
        """busy_timeout=0: a write meeting a held lock fails at once (transient), never waits on."""
        writer.set_up()
        sink = StoreSink(writer.owner, busy_timeout=0, clock=lambda: T0 + DAY)
        try:
            with psycopg.connect(writer.owner) as other:  # its transaction holds the lock
                other.execute("LOCK TABLE aievents_usage IN ACCESS EXCLUSIVE MODE")
                with pytest.raises(StoreError, match="lock") as caught:
                    sink.write([request("held", 1, T0)])
                assert caught.value.transient
                other.rollback()
            assert sink.write([request("held", 1, T0)]) == (1, 0)
            assert requests(sink) == 1
        finally:
            sink.close(30)

    @pytest.mark.parametrize("busy", [float("inf"), 2_000_001])
    def test_longer_than_fits_refused(self, busy: float, tmp_path: Path) -> None:
        """A busy_timeout past what the databases keep (2**31 - 1 ms) is refused, named."""
        with pytest.raises(ValueError, match="busy_timeout must be a number from 0 to 2e"):
            StoreSink(f"sqlite:///{tmp_path / 'usage.db'}", busy_timeout=busy)
        assert not (tmp_path / "usage.db").exists()
