"""StoreSink under a store that keeps moving, a long lock, a fork and another writer.

Real SQLite files, real threads, a real fork and a real second process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import warnings
from contextlib import suppress
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog

from aievents.sinks import StoreSink
from aievents.sinks.store import StoreError
from disks import Disks
from test_cli import WINDOW, run
from test_store_connection import (
    DAY,
    HOLDER,
    T0,
    ids_in,
    locked,
    query,
    requests,
    sqlite_store,
)

from faults import record
from helpers import until
from helpers import usage_at as event


@pytest.fixture(name="path")
def _path(tmp_path: Path) -> Path:
    """Where a test's SQLite store lives."""
    return tmp_path / "usage.db"


class Readers:
    """Threads that query a sink over and over until stopped; they keep any other error."""

    def __init__(self, sink: StoreSink, count: int = 2) -> None:
        self.sink = sink
        self.stop = threading.Event()
        self.answered = 0
        self.refused = 0
        self.raw: list[BaseException] = []
        self.threads = [threading.Thread(target=self._read) for _ in range(count)]

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                self.sink.usage(T0, T0 + DAY)
            except StoreError:
                self.refused += 1  # a StoreError is an answer too: never a raw error
            except Exception as error:  # noqa: BLE001 - kept for the test to show
                self.raw.append(error)
            else:
                self.answered += 1

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


class TestDeletedAgainAndAgain:
    """A file deleted over and over during a write stream, read all along, loses no batch."""

    def test_ten_deletes_with_readers(self, path: Path) -> None:
        """Ten deletes while writers and readers run: nothing failed, the file is there.

        Each delete comes as one of the sink's connections closes, the
        first to the tenth after the last delete: so some land while the
        file is being set up again, some while a batch or a query runs.
        """
        sink = sqlite_store(path, batch_size=20, max_delay=0.002)
        sent = 0
        closes = 0
        due: list[int] = []  # the close counts at which to delete
        deleted = threading.Event()

        def emit(count: int) -> list[str]:
            nonlocal sent
            ids = [f"r{index}" for index in range(sent, sent + count)]
            for rid in ids:
                sink.handle(event(rid, T0 + sent % DAY))
                sent += 1
            return ids

        def on_close(*_args: object) -> None:  # a connection of the sink closes
            nonlocal closes
            closes += 1
            if due and closes >= due[0]:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    return  # not made again yet: at a later close
                due.pop(0)
                deleted.set()

        sa.event.listen(sink._db.engine, "close", on_close)
        try:
            with Readers(sink) as readers:
                for round_ in range(1, 11):
                    deleted.clear()
                    due.append(closes + round_)
                    emit(200)
                    assert deleted.wait(30)
                last = emit(400)
                assert sink.flush(60)
                until(lambda: readers.answered > 0)
        finally:
            sa.event.remove(sink._db.engine, "close", on_close)
        assert readers.raw == []
        stats = sink.stats()
        assert (stats["failed"], stats["dropped"], stats["pending"]) == (0, 0, 0)
        assert stats["reopened"] > 0  # a delete while set up is set up again at once
        assert stats["written"] >= sent
        assert path.exists()
        assert query(path, "PRAGMA integrity_check") == [("ok",)]
        stored = ids_in(path)
        assert set(last) <= stored
        assert requests(sink) == len(stored)
        record(
            "StoreSink with its database deleted 10 times",
            sent=sent,
            received=len(stored),
            counted=sent - len(stored),
            note="written to the files deleted since (stats()['written'])",
        )
        sink.close(10)

    def test_deleted_while_set_up(self, path: Path) -> None:
        """Deleted as each connection closes, set-up ones too: set up again until it stays."""
        sink = sqlite_store(path)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        deletes = 12

        def delete(*_args: object) -> None:  # as a connection of the sink closes
            nonlocal deletes
            if deletes > 0:
                deletes -= 1
                with suppress(FileNotFoundError):
                    os.remove(path)

        sa.event.listen(sink._db.engine, "close", delete)
        try:
            for index in range(100):
                sink.handle(event(f"r{index}", T0 + index))
            assert sink.flush(60)
        finally:
            sa.event.remove(sink._db.engine, "close", delete)
        assert deletes == 0
        sink.handle(event("after", T0))
        assert sink.flush(60)
        stats = sink.stats()
        assert (stats["failed"], stats["dropped"], stats["pending"]) == (0, 0, 0)
        assert path.exists()
        stored = ids_in(path)
        assert "after" in stored
        assert requests(sink) == len(stored)
        sink.close(10)


class TestGate:
    """A query's connection open on a file that is replaced holds the reopening back."""

    def test_replaced_while_a_query_runs(self, path: Path, tmp_path: Path) -> None:
        """Set up again only once the query on the old file is done: no file shares a -wal."""
        sink = sqlite_store(path)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        entered, released = threading.Event(), threading.Event()

        def hold(*_args: object) -> None:  # the query's connection stays open on the old file
            if threading.current_thread().name == "held-query" and not released.is_set():
                entered.set()
                released.wait(30)

        sa.event.listen(sink._db.engine, "before_cursor_execute", hold)
        answers: list[object] = []

        def ask() -> None:
            try:
                answers.append(requests(sink))
            except StoreError as error:
                answers.append(error)

        asking = threading.Thread(target=ask, name="held-query")
        asking.start()
        try:
            assert entered.wait(30)
            for index in range(50):  # into the old file's -wal: the open query keeps it there
                sink.handle(event(f"old-{index}", T0 + index))
            assert sink.flush(30)
            assert Path(f"{path}-wal").stat().st_size > 0
            other = tmp_path / "other.db"
            query(other, "CREATE TABLE notes (body TEXT)")
            query(other, "INSERT INTO notes VALUES ('kept')")
            os.replace(other, path)
            for index in range(10):
                sink.handle(event(f"new-{index}", T0 + index))
            until(lambda: sink._db.gate._reopening)  # the worker waits for the query
        finally:
            released.set()
            asking.join(30)
            sa.event.remove(sink._db.engine, "before_cursor_execute", hold)
        assert sink.flush(30)
        assert len(answers) == 1
        assert query(path, "PRAGMA integrity_check") == [("ok",)]
        assert query(path, "SELECT body FROM notes") == [("kept",)]
        assert ids_in(path) == {f"new-{index}" for index in range(10)}
        assert requests(sink) == 10
        assert sink.stats()["failed"] == 0
        sink.close(10)


class TestLongLock:
    """A writer lock held far past busy_timeout: batches wait and are written, never given up."""

    def test_lock_past_three_busy_timeouts(self, path: Path) -> None:
        """Held for more than 3 x busy_timeout: queries refuse, nothing fails, all written after."""
        sink = sqlite_store(path, busy_timeout=0.05, query_wait=0.05)
        sink.handle(event("before", T0))
        assert sink.flush(10)
        with structlog.testing.capture_logs() as logs, locked(path, "BEGIN IMMEDIATE"):
            for index in range(100):
                sink.handle(event(f"r{index}", T0 + index))
            # Each try waits busy_timeout for the lock: six tries of a batch of
            # 50 hold the lock for six busy timeouts at least.
            until(lambda: sink.stats().get("retried", 0) >= 6 * 50 or sink.stats()["failed"] > 0)
            assert sink.stats()["failed"] == 0
            with pytest.raises(StoreError, match="events not stored yet") as caught:
                requests(sink)
            assert caught.value.transient
        assert sink.flush(30)
        stats = sink.stats()
        assert (stats["written"], stats["failed"], stats["dropped"]) == (101, 0, 0)
        assert requests(sink) == 101
        assert ids_in(path) == {"before", *(f"r{index}" for index in range(100))}
        retrying = [line for line in logs if line["event"] == "write_retrying"]
        assert len(retrying) == 1  # rate-limited
        assert "database is locked" in retrying[0]["error"]
        record(
            "StoreSink with a lock held past 3 busy timeouts",
            sent=101,
            received=len(ids_in(path)),
            counted=0,
            note="tried again until the lock went; queries refused meanwhile",
        )
        sink.close(10)

    def test_given_up_at_close(self, path: Path) -> None:
        """Still locked when close() runs out: counted failed, and their day is never answered."""
        sink = sqlite_store(path, busy_timeout=0.05)
        sink.handle(event("before", T0 - DAY))
        assert sink.flush(10)
        with locked(path, "BEGIN IMMEDIATE"):
            for index in range(10):
                sink.handle(event(f"r{index}", T0 + index))
            until(lambda: sink.stats().get("retried", 0) >= 10 or sink.stats()["failed"] > 0)
            assert not sink.close(0.2)
            until(lambda: (sink.stats()["failed"], sink.stats()["pending"]) == (10, 0))
        for _ in range(2):  # not once: every time
            with pytest.raises(StoreError, match="10 of its events were never stored") as caught:
                requests(sink)
            assert not caught.value.transient
        with pytest.raises(StoreError, match="never stored"):
            sink.costs(T0, T0 + DAY)
        yesterday = sink.usage(T0 - DAY, T0).to_dict()["data"]
        assert [r["num_model_requests"] for r in yesterday[0]["results"]] == [1]
        record(
            "StoreSink closed while its database stays locked",
            sent=11,
            received=len(ids_in(path)),
            counted=sink.stats()["failed"],
            note="failed at close; queries over their time raise",
        )

    def test_dropped_while_locked(self, path: Path) -> None:
        """Events the full queue drops are never stored: queries over their time raise."""
        sink = sqlite_store(path, busy_timeout=0.05, max_queue=5, overflow="drop_newest")
        with locked(path, "BEGIN IMMEDIATE"):
            for index in range(100):
                sink.handle(event(f"r{index}", T0 + index))
            dropped = sink.stats()["dropped"]
            assert dropped > 0
        assert sink.flush(30)
        assert sink.stats()["written"] + dropped == 100
        with pytest.raises(StoreError, match=f"{dropped} of its events were never stored"):
            requests(sink)
        sink.close(10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    """A child forked while the parent's worker uses the store sets it up and answers."""

    def test_worker_inside_at_fork(self, path: Path) -> None:
        """The parent's worker waits on a lock at the fork; the child reopens and answers."""
        sink = sqlite_store(path, batch_size=1, busy_timeout=30)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        with locked(path, "BEGIN IMMEDIATE"):
            sink.handle(event("b", T0))
            until(lambda: sink._db.gate._users == 1)  # the worker is writing "b", waiting
            read_fd, write_fd = os.pipe()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # threads at fork (3.12+)
                pid = os.fork()
            if pid == 0:  # the child: no pytest machinery past this point
                code = 1
                try:
                    os.close(read_fd)
                    os.remove(path)  # the child's first query must set the store up again
                    sink.handle(event("child", T0))
                    done = sink.flush(20)
                    answer = f"{done} {requests(sink)} {sink.stats()['reopened']}"
                    os.write(write_fd, answer.encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(write_fd)
            answer = read_within(read_fd, 60)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert answer == "True 1 1"
        assert sink.flush(30)  # "b" goes to the child's file, once the lock is let go
        assert ids_in(path) == {"b", "child"}
        assert sink.stats()["failed"] == 0
        sink.close(10)


def read_within(fd: int, timeout: float) -> str:
    """What a child writes to ``fd`` before closing it; fails when it takes longer."""
    chunks: list[bytes] = []
    finished = threading.Event()

    def read() -> None:
        with os.fdopen(fd, "rb") as pipe:
            chunks.append(pipe.read())
        finished.set()

    threading.Thread(target=read, daemon=True).start()
    assert finished.wait(timeout), "the child did not answer: it hangs"
    return b"".join(chunks).decode()


#: Another program: a StoreSink that creates the file anew and writes to it,
#: with a connection kept open (so its commits stay in its -wal), until stdin closes.
OTHER_WRITER = textwrap.dedent(
    """
    import sqlite3, sys
    sys.path.insert(0, {tests!r})
    from helpers import usage_at
    from aievents.sinks import StoreSink
    sink = StoreSink("sqlite:///" + {path!r}, batch_size=10, max_delay=0.01)
    holder = sqlite3.connect({path!r})
    holder.execute("SELECT count(*) FROM aievents_usage").fetchall()
    for index in range(40):
        sink.handle(usage_at(f"other-{{index}}", {t0} + index))
    assert sink.flush(30)
    print("written", flush=True)
    sys.stdin.read()
    sink.close(30)
    holder.close()
    """
)


def other_writer(path: Path) -> str:
    """OTHER_WRITER for the store at ``path``."""
    return OTHER_WRITER.format(tests=str(Path(__file__).parent), path=str(path), t0=T0)


class TestAnotherWriter:
    """The -wal and -shm of a new file another process writes are never taken for leftovers."""

    def test_new_file_written_by_another_process(self, path: Path) -> None:
        """This sink's write straddles a delete; another process's commits in the new file stay."""
        sink = sqlite_store(path, busy_timeout=30)
        sink.handle(event("a", T0))
        assert sink.flush(10)
        opened = threading.Event()

        def on_connect(*_args: object) -> None:
            if threading.current_thread().name == "aievents-store":
                opened.set()

        sa.event.listen(sink._db.engine, "connect", on_connect)
        with locked(path, "BEGIN IMMEDIATE"):  # on the file about to be deleted
            for index in range(10):
                sink.handle(event(f"mine-{index}", T0 + index))
            assert opened.wait(30)  # the worker has the old file open, and waits for the lock
            sa.event.remove(sink._db.engine, "connect", on_connect)
            os.remove(path)
            other = subprocess.Popen(
                [sys.executable, "-c", other_writer(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert other.stdout is not None
            assert other.stdout.readline().strip() == "written"
            assert Path(f"{path}-wal").stat().st_size > 0  # its commits, not checkpointed
        # The lock goes: the batch is written to the deleted file, then again to the new one.
        assert sink.flush(30)
        mine = {f"mine-{index}" for index in range(10)}
        theirs = {f"other-{index}" for index in range(40)}
        assert ids_in(path) == mine | theirs
        assert requests(sink) == 50
        other.communicate(timeout=60)
        assert other.returncode == 0
        assert query(path, "PRAGMA integrity_check") == [("ok",)]
        assert ids_in(path) == mine | theirs
        assert requests(sink) == 50
        assert sink.stats()["failed"] == 0
        sink.close(10)


def written_store(folder: Path) -> Path:
    """A store with one event, in a new ``folder``; its path."""
    folder.mkdir()
    path = folder / "usage.db"
    writer = sqlite_store(path)
    writer.handle(event("a", T0))
    assert writer.close(10)
    return path


class TestReadOnlyMount:
    """A store on a read-only file system is read with create=False, or the error says why."""

    def test_read(self, disks: Disks, tmp_path: Path) -> None:
        """create=False reads it (the command too); create=True says the folder is read-only."""
        folder = tmp_path / "stores"
        path = written_store(folder)
        with disks.read_only(folder):
            reader = sqlite_store(path, create=False)
            assert requests(reader) == 1
            reader.close(10)
            with pytest.raises(StoreError, match="read-only file system"):
                sqlite_store(path)
            done = run("usage", "--store", f"sqlite:///{path}", "--format", "json", *WINDOW)
        assert done.returncode == 0, done.stderr
        assert '"num_model_requests": 1' in done.stdout

    def test_with_a_wal(self, disks: Disks, tmp_path: Path) -> None:
        """A -wal and -shm another program keeps: read with them, not as if they were not there."""
        folder = tmp_path / "stores"
        path = written_store(folder)
        holder = subprocess.Popen(  # a change, not checkpointed, in the -wal
            [sys.executable, "-c", HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        try:
            with disks.read_only(folder):
                reader = sqlite_store(path, create=False)
                page = reader.usage(
                    T0, T0 + 3600, bucket_width="1h", group_by=["user_id"]
                ).to_dict()
                reader.close(10)
        finally:
            holder.communicate(timeout=30)
        assert [r["user_id"] for r in page["data"][0]["results"]] == ["changed"]
