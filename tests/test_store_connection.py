"""StoreSink's connection side on real SQLite files and a real PostgreSQL.

A store deleted, replaced or locked under a running sink; stores that must
already exist; errors that are StoreErrors without the password.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from aievents.sinks import StoreSink
from aievents.sinks.store import StoreError
from postgres_server import fresh_database
from test_cli import run

from faults import record
from helpers import until
from helpers import usage_at as event

DAY = 86_400
T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC


def query(path: Path, sql: str) -> list[Any]:
    """The rows of ``sql`` on a SQLite file (with the sqlite3 module; committed, closed)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(sql).fetchall()


def ids_in(path: Path) -> set[str]:
    """The request ids stored in a SQLite file."""
    return {row[0] for row in query(path, "SELECT request_id FROM aievents_usage")}


def requests(store: StoreSink) -> int:
    """The requests the store answers for its day."""
    data = store.usage(T0, T0 + DAY).to_dict()["data"]
    return sum(r["num_model_requests"] for bucket in data for r in bucket["results"])


def sqlite_store(path: Path, **options: Any) -> StoreSink:
    """A store on ``path`` writing in small, quick batches."""
    options.setdefault("batch_size", 50)
    options.setdefault("max_delay", 0.01)
    return StoreSink(f"sqlite:///{path}", clock=lambda: T0 + DAY, **options)


@pytest.fixture(name="path")
def _path(tmp_path: Path) -> Path:
    """Where a test's SQLite store lives."""
    return tmp_path / "usage.db"


def swapped_mid_run(
    path: Path, swap: Callable[[], None], scenario: str, note: str
) -> tuple[StoreSink, set[str]]:
    """3,000 events to a store whose file ``swap`` deletes or replaces once 300 are written.

    The old file stays readable through a hard link. Checks that every
    event is in the old file or the new one, written and counted once, and
    books the scenario; returns the sink and the ids in the file now.
    """
    sink = sqlite_store(path)
    ids = [f"r{index}" for index in range(3000)]
    for index, rid in enumerate(ids[:1000]):
        sink.handle(event(rid, T0 + index))
    until(lambda: sink.stats()["written"] >= 300)
    kept = path.with_name("old.db")
    os.link(path, kept)
    swap()
    for index, rid in enumerate(ids[1000:], 1000):
        sink.handle(event(rid, T0 + index))
    assert sink.flush(60)
    stats = sink.stats()
    new, old = ids_in(path), ids_in(kept)
    assert new | old == set(ids)
    assert (stats["failed"], stats["dropped"], stats["pending"], stats["reopened"]) == (0, 0, 0, 1)
    assert stats["written"] == len(new | old)
    assert requests(sink) == len(new) >= 2000
    record(scenario, sent=len(ids), received=len(new), counted=len(old - new), note=note)
    return sink, new


class TestDeleted:
    """A SQLite file deleted under a running sink is created again, and nothing queued is lost."""

    def test_deleted_mid_run(self, path: Path) -> None:
        """Events written after the file is deleted go to a new store, none is lost."""
        sink, _ = swapped_mid_run(
            path,
            lambda: os.remove(path),
            "StoreSink with a deleted database",
            "written before the file was deleted (stats()['written'], in the deleted file)",
        )
        sink.close(10)

    def test_query_recreates(self, path: Path) -> None:
        """A query on a deleted file answers from a new, empty store (counted, logged)."""
        sink = sqlite_store(path)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        os.remove(path)
        with structlog.testing.capture_logs() as logs:
            assert requests(sink) == 0
        assert sink.stats()["reopened"] == 1
        assert [log["reason"] for log in logs if log["event"] == "store_reopened"] == ["deleted"]
        sink.handle(event("b", T0))
        assert requests(sink) == 1
        sink.close(10)

    def test_stale_wal_and_shm(self, path: Path) -> None:
        """A deleted file's -wal and -shm, held by another program, never serve the new one."""
        sink = sqlite_store(path)
        for index in range(100):
            sink.handle(event(f"old-{index}", T0 + index))
        assert sink.flush(10)
        other = subprocess.Popen(  # another program, with changes not yet checkpointed
            [sys.executable, "-c", HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert other.stdout is not None
        assert other.stdin is not None
        assert other.stdout.readline().strip() == "holding"
        assert Path(f"{path}-wal").stat().st_size > 0
        os.remove(path)
        for index in range(50):
            sink.handle(event(f"new-{index}", T0 + index))
        assert sink.flush(10)
        assert sink.stats()["failed"] == 0
        assert ids_in(path) == {f"new-{index}" for index in range(50)}
        other.communicate(timeout=30)  # the other program closes its connection, then exits
        assert other.returncode == 0
        assert query(path, "PRAGMA integrity_check") == [("ok",)]
        assert ids_in(path) == {f"new-{index}" for index in range(50)}
        assert requests(sink) == 50
        sink.close(10)


#: Holds a SQLite store open in WAL mode with a change not checkpointed, until stdin closes.
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA wal_autocheckpoint=0")
conn.execute("UPDATE aievents_usage SET user_id = 'changed'")
conn.execute("UPDATE aievents_hourly SET user_id = 'changed'")  # what 1h queries read
print("holding", flush=True)
sys.stdin.read()
conn.close()
"""


class TestReplaced:
    """A SQLite file replaced under a running sink gets the tables it lacks."""

    def test_replaced_mid_run(self, path: Path, tmp_path: Path) -> None:
        """Another database moved over the store: the sink writes on into it, losing nothing."""
        other = tmp_path / "other.db"
        query(other, "CREATE TABLE notes (body TEXT)")
        query(other, "INSERT INTO notes VALUES ('kept')")
        sink, _ = swapped_mid_run(
            path,
            lambda: os.replace(other, path),
            "StoreSink with a replaced database",
            "written before the file was replaced (stats()['written'], in the old file)",
        )
        assert query(path, "SELECT body FROM notes") == [("kept",)]
        sink.close(10)

    def test_replaced_by_not_a_database(self, path: Path, tmp_path: Path) -> None:
        """Not a database: queries raise, batches fail counted; their day stays unanswered."""
        sink = sqlite_store(path)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        junk = tmp_path / "junk"
        junk.write_bytes(b"not a database, " * 1024)
        kept = tmp_path / "kept.db"
        os.link(path, kept)
        os.replace(junk, path)
        with pytest.raises(StoreError, match="file is not a database") as caught:
            requests(sink)
        assert caught.value.field == "url"
        assert caught.value.value == f"sqlite:///{path}"
        with structlog.testing.capture_logs() as logs:
            sink.handle(event("b", T0))
            assert sink.flush(10)
        assert sink.stats()["failed"] == 1
        assert any(log["event"] == "write_failed" for log in logs)
        os.replace(kept, path)  # the store is put back
        sink.handle(event("c", T0))
        assert sink.flush(10)
        assert ids_in(path) == {"a", "c"}
        with pytest.raises(StoreError, match="1 of its events were never stored"):
            requests(sink)  # "b" is not in the store: no answer for its day
        assert not sink.usage(T0 + DAY, T0 + 2 * DAY).data[0].results
        sink.close(10)

    def test_close_says_what_failed(self, path: Path, tmp_path: Path) -> None:
        """A batch that fails while close drains it makes close return False."""
        sink = sqlite_store(path, max_delay=3600)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        junk = tmp_path / "junk"
        junk.write_bytes(b"not a database, " * 1024)
        os.replace(junk, path)
        sink.handle(event("b", T0))
        assert not sink.close(30)
        assert sink.stats()["failed"] == 1


@contextmanager
def locked(path: Path, *statements: str) -> Iterator[None]:
    """Another connection to the file holds the locks ``statements`` take, then rolls back."""
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        for statement in statements:
            other.execute(statement)
        try:
            yield
        finally:
            other.execute("ROLLBACK")


class TestLocked:
    """A query never answers from partial data: it waits, boundedly, then says what is missing."""

    def test_writer_lock_during_usage(self, path: Path) -> None:
        """Events held up by another writer's lock make usage() raise, naming how many."""
        sink = sqlite_store(path, query_wait=0.3)
        sink.handle(event("before", T0))
        assert sink.flush(10)
        with locked(path, "BEGIN IMMEDIATE"):  # the write lock
            for index in range(200):
                sink.handle(event(f"r{index}", T0 + index))
            with pytest.raises(StoreError, match="has 200 events not stored yet") as caught:
                sink.usage(T0, T0 + DAY)
            assert caught.value.field == "url"
            with pytest.raises(StoreError, match="not stored yet"):
                sink.costs(T0, T0 + DAY)
        assert sink.flush(30)
        assert requests(sink) == 201
        stats = sink.stats()
        assert (stats["written"], stats["failed"], stats["dropped"]) == (201, 0, 0)
        record(
            "StoreSink with a locked database",
            sent=201,
            received=len(ids_in(path)),
            counted=0,
            note="queries refused while events were queued; all written once the lock went",
        )
        sink.close(10)

    def test_read_lock_past_busy_timeout(self, path: Path) -> None:
        """A snapshot that cannot be had within busy_timeout is a StoreError, not a raw error."""
        sink = sqlite_store(path, busy_timeout=0.2)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        exclusive = (  # readers are shut out too
            "PRAGMA locking_mode=EXCLUSIVE",
            "BEGIN EXCLUSIVE",
            "INSERT INTO aievents_meta VALUES ('held', 'x')",
        )
        with (
            locked(path, *exclusive),
            pytest.raises(StoreError, match="cannot be read: database is locked"),
        ):
            sink.usage(T0, T0 + DAY)
        assert requests(sink) == 1
        sink.close(10)

    def test_steady_stream(self, path: Path) -> None:
        """A query waits for what was queued before it, not for events that keep coming.

        Each connection the sink opens (every write) queues one more event,
        so the queue is never empty: a query that waited for an empty queue
        would run out of query_wait and raise.
        """
        sink = sqlite_store(path, query_wait=5)
        sent = 0
        streaming = True

        def one_more(*_args: object) -> None:
            nonlocal sent
            if streaming:
                sink.handle(event(f"r{sent}", T0 + sent % DAY))
                sent += 1

        sa.event.listen(sink._db.engine, "checkout", one_more)
        try:
            one_more()
            until(lambda: sink.stats()["written"] >= 20)
            for _ in range(3):
                before = sent
                assert requests(sink) >= before  # no error, and nothing queued before missing
                assert sink.stats()["pending"] > 0  # the stream goes on
        finally:
            streaming = False
            sa.event.remove(sink._db.engine, "checkout", one_more)
        assert sink.flush(60)
        assert requests(sink) == sent
        assert sink.stats()["dropped"] == 0
        sink.close(10)


class TestExisting:
    """create=False opens only a store that exists, and never makes one."""

    def test_missing_file(self, tmp_path: Path) -> None:
        """A SQLite file that does not exist is a StoreError naming the URL; no file is made."""
        with pytest.raises(StoreError, match="names no store") as caught:
            StoreSink(f"sqlite:///{tmp_path / 'typo.db'}", create=False)
        assert caught.value.field == "url"
        assert caught.value.value == f"sqlite:///{tmp_path / 'typo.db'}"
        assert list(tmp_path.iterdir()) == []

    def test_database_without_tables(self, path: Path) -> None:
        """A SQLite file without aievents' tables is refused and left as it was."""
        query(path, "CREATE TABLE notes (body TEXT)")
        with pytest.raises(StoreError, match="no aievents tables"):
            StoreSink(f"sqlite:///{path}", create=False)
        assert query(path, "SELECT name FROM sqlite_master") == [("notes",)]

    def test_existing_store(self, path: Path) -> None:
        """An existing store opens and answers; deleted later, it is an error, not recreated."""
        writer = sqlite_store(path)
        writer.handle(event("a", T0))
        assert writer.close(10)
        reader = sqlite_store(path, create=False)
        assert requests(reader) == 1
        os.remove(path)
        with pytest.raises(StoreError, match="the SQLite file was deleted"):
            requests(reader)
        reader.handle(event("b", T0))
        assert reader.flush(10)
        assert reader.stats()["failed"] == 1
        assert not path.exists()
        reader.close(10)

    def test_relative_path_stays(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A relative SQLite path is resolved when the sink is made: chdir does not move it."""
        first, second = tmp_path / "first", tmp_path / "second"
        first.mkdir()
        second.mkdir()
        monkeypatch.chdir(first)
        sink = StoreSink("sqlite:///usage.db", batch_size=10, max_delay=0.01)
        monkeypatch.chdir(second)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        assert sink.stats()["written"] == 1
        assert ids_in(first / "usage.db") == {"a"}
        assert list(second.iterdir()) == []
        sink.close(10)


class TestCommand:
    """`aievents usage`/`costs` need an existing store; `ingest` makes one."""

    @pytest.mark.parametrize("command", ["usage", "costs"])
    def test_typo(self, tmp_path: Path, command: str) -> None:
        """A store that does not exist: exit 1, one line on stderr, no file created."""
        done = run(command, "--store", "sqlite:///typo.db", cwd=tmp_path)
        assert done.returncode == 1
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("aievents: error: ")
        assert "typo.db" in lines[0]
        assert "names no store" in lines[0]
        assert list(tmp_path.iterdir()) == []

    def test_not_a_store(self, tmp_path: Path) -> None:
        """A database without aievents' tables: exit 1, one line, the file untouched."""
        query(tmp_path / "other.db", "CREATE TABLE notes (body TEXT)")
        before = (tmp_path / "other.db").read_bytes()
        done = run("usage", "--store", "sqlite:///other.db", cwd=tmp_path)
        assert done.returncode == 1
        assert len(done.stderr.splitlines()) == 1
        assert "no aievents tables" in done.stderr
        assert (tmp_path / "other.db").read_bytes() == before


# --------------------------------------------------------------------------- secrets

PASSWORD = "S3cr@t/P4ss:W0rd"
#: Pieces of PASSWORD, none of which may be shown.
PIECES = ("S3cr", "t/P4ss", "P4ss", "W0rd")


def shown(text: str) -> list[str]:
    """The pieces of PASSWORD (raw or percent-encoded) found in ``text``."""
    return [piece for piece in PIECES if piece in text or piece.replace("/", "%2F") in text]


class TestPasswordsHidden:
    """A password is hidden whole, whatever characters it holds, in every output."""

    @pytest.mark.parametrize(
        "url",
        [
            f"postgresql://bob:{PASSWORD}@127.0.0.1:1/none",
            f"postgresql://bob@127.0.0.1:1/none?password={PASSWORD}",
            f"postgresql://bob@127.0.0.1:1/none?sslmode=disable&sslpassword={PASSWORD}",
            f"postgresql://bob:{PASSWORD.replace('@', '%40')}@127.0.0.1:1/none",
            f"postgresql://bob:{PASSWORD}@[::1]:1/none?password={PASSWORD}&sslmode=disable",
            f"mysql://bob:{PASSWORD}@db/x",
            f"sqlite://bob:{PASSWORD}@/x.db",
            f"sqlite:///x.db?password={PASSWORD}&mode=ro",
        ],
    )
    def test_in_errors(self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A URL that cannot be opened: the StoreError shows none of the password."""
        monkeypatch.chdir(tmp_path)  # a relative SQLite file would land here
        with pytest.raises(StoreError) as caught:
            StoreSink(url)
        assert caught.value.field == "url"
        assert shown(str(caught.value)) == []
        assert shown(repr(caught.value.value)) == []
        assert "[redacted]" in str(caught.value)

    def test_at_in_password_is_explained(self) -> None:
        """An '@' not percent-encoded is refused with how to write it, not misread as a host."""
        with pytest.raises(StoreError, match=r"write an '@'.* as %40") as caught:
            StoreSink(f"postgresql://bob:{PASSWORD}@127.0.0.1:1/none")
        assert shown(str(caught.value)) == []

    def test_postgres_everywhere(self, postgres_server: str) -> None:
        """On a real server: url, repr, logs and errors never hold the password."""
        base = fresh_database(postgres_server, f"aievents_{uuid.uuid4().hex[:12]}")
        name = base.rpartition("/")[2]
        secret = PASSWORD.replace("@", "%40").replace("/", "%2F")
        url = base.replace("postgres@", f"postgres:{secret}@", 1) + f"?sslpassword={secret}"
        sink = StoreSink(url, batch_size=10, max_delay=0.01)
        assert shown(sink.url) == []
        assert shown(repr(sink)) == []
        assert "[redacted]" in sink.url
        sink.handle(event("a", T0))
        assert sink.flush(10)
        admin = sa.create_engine(postgres_server.replace("postgresql://", "postgresql+psycopg://"))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        with structlog.testing.capture_logs() as logs:
            sink.handle(event("b", T0))
            assert not sink.flush(0.3)  # the server refuses the connection: tried again
            assert not sink.close(0.3)
            until(lambda: sink.stats()["failed"] == 1)  # given up at close
            with pytest.raises(StoreError) as caught:
                sink.usage(T0 + DAY, T0 + 2 * DAY)
        assert "does not exist" in str(caught.value)
        assert shown(str(caught.value)) == []
        with pytest.raises(StoreError, match="cannot be written") as caught:
            sink.write([event("c", T0)])
        assert shown(str(caught.value)) == []
        assert logs
        assert shown(repr(logs)) == []


class TestPostgres:
    """PostgreSQL: tables dropped under the sink come back; create=False needs a store."""

    @pytest.fixture(name="database")
    def _database(self, postgres_server: str) -> str:
        return fresh_database(postgres_server, f"aievents_{uuid.uuid4().hex[:12]}")

    def test_tables_dropped(self, database: str) -> None:
        """Tables dropped while the sink runs are created again; the next events are kept."""
        sink = StoreSink(database, batch_size=10, max_delay=0.01, clock=lambda: T0 + DAY)
        for index in range(50):
            sink.handle(event(f"a{index}", T0 + index))
        assert sink.flush(10)
        engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE aievents_usage, aievents_daily, aievents_meta"))
        for index in range(50):
            sink.handle(event(f"b{index}", T0 + index))
        assert sink.flush(30)
        stats = sink.stats()
        assert (stats["written"], stats["failed"], stats["reopened"]) == (100, 0, 1)
        assert requests(sink) == 50
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM aievents_usage")).scalar() == 50
        engine.dispose()
        sink.close(10)

    def test_existing_only(self, database: str) -> None:
        """create=False on a database without aievents' tables is a StoreError; none made."""
        with pytest.raises(StoreError, match="no aievents tables"):
            StoreSink(database, create=False)
        engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            assert not sa.inspect(conn).get_table_names()
        engine.dispose()
        StoreSink(database).close(10)
        reader = StoreSink(database, create=False, clock=lambda: T0 + DAY)
        assert requests(reader) == 0
        reader.close(10)
