"""Batching sinks drain when the process ends: at exit, on SIGTERM, in multiprocessing children.

Every test runs a real program (``exit_child.py``) that emits through a
client it never closes, and looks at what reached the targets: a SQLite
file, a local HTTP collector, a JSONL file.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collector_server import Collector

from faults import record
from helpers import locked_store

CHILD = Path(__file__).with_name("exit_child.py")


def run(config: dict[str, Any], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the program to its end."""
    return subprocess.run(
        [sys.executable, str(CHILD), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(config: dict[str, Any]) -> subprocess.Popen[str]:
    """Start the program; it prints ``queued`` once it has emitted."""
    return subprocess.Popen(
        [sys.executable, str(CHILD), json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_queued(child: subprocess.Popen[str]) -> None:
    """Read the program's output up to its ``queued`` line."""
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "queued":
            return
    raise AssertionError(f"the program ended first: {child.wait()}")


def stored(path: Path) -> set[str]:
    """The request ids in a store's SQLite file."""
    if not path.exists():
        return set()
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT request_id FROM aievents_usage")}


def lines(path: Path) -> set[str]:
    """The request ids in a JSONL file."""
    if not path.exists():
        return set()
    return {json.loads(line)["request_id"] for line in path.read_text().splitlines() if line}


def received(collector: Collector) -> set[str]:
    """The request ids the collector received."""
    with collector._lock:
        return {str(event.get("request_id")) for event in collector.events}


def ids(count: int) -> set[str]:
    """The request ids the program emits."""
    return {f"e{index}" for index in range(count)}


def undrained(stderr: str) -> int:
    """The events the exit drain logged as not drained in time (0 without such a line)."""
    found = re.findall(r"exit_undrained events=(\d+)", stderr)
    return sum(map(int, found))


class TestNormalExit:
    """A program that ends normally has written everything it queued."""

    @pytest.mark.parametrize("count", [300, 5000])
    def test_store_sink(self, tmp_path: Path, count: int) -> None:
        """Every event emitted to a StoreSink is in the database after a normal exit."""
        db = tmp_path / "usage.db"
        result = run({"sinks": [{"kind": "store", "target": str(db)}], "count": count})
        assert result.returncode == 0, result.stderr
        got = stored(db)
        record(f"StoreSink at exit ({count:,} events)", sent=count, received=len(got), counted=0)
        assert got == ids(count)

    def test_every_kind_together(self, tmp_path: Path, collector: Collector) -> None:
        """A ForwardSink to HTTP, a StoreSink and a ForwardSink to JSONL all drain at exit."""
        db, jsonl, count = tmp_path / "usage.db", tmp_path / "events.jsonl", 2500
        slow = {"max_delay": 60.0}  # nothing leaves before the exit but the drain
        sinks = [
            {"kind": "http", "target": collector.url, **slow},
            {"kind": "store", "target": str(db), **slow},
            {"kind": "jsonl", "target": str(jsonl), **slow},
        ]
        result = run({"sinks": sinks, "count": count})
        assert result.returncode == 0, result.stderr
        assert collector.wait_for(count, timeout=30)
        got = (received(collector), stored(db), lines(jsonl))
        record(
            "HTTP, store and JSONL sinks at exit",
            sent=3 * count,
            received=sum(len(found) for found in got),
            counted=0,
        )
        assert got == (ids(count), ids(count), ids(count))


class TestDeadline:
    """Sinks drain together: the process waits for the longest exit_timeout, not the sum."""

    @pytest.mark.parametrize("kinds", [("http", "http", "http"), ("http", "http", "store")])
    def test_hung_targets(
        self, tmp_path: Path, collector: Collector, kinds: tuple[str, ...]
    ) -> None:
        """Three sinks whose targets never answer, 3 s each: the program ends well before 9 s."""
        db, count = tmp_path / "usage.db", 200
        locked = locked_store(db) if "store" in kinds else contextlib.nullcontext()
        collector.hang(120.0, times=100)
        sinks: list[dict[str, Any]] = [
            {"kind": "store", "target": str(db), "exit_timeout": 3}
            if kind == "store"
            else {"kind": kind, "target": collector.url, "exit_timeout": 3, "name": f"hung-{i}"}
            for i, kind in enumerate(kinds)
        ]
        try:
            with locked, start({"sinks": sinks, "count": count}) as child:
                wait_queued(child)
                queued = time.monotonic()
                child.wait(60)
                ended = time.monotonic() - queued
                assert child.stderr is not None
                stderr = child.stderr.read()
        finally:
            collector.release.set()
        assert child.returncode == 0, stderr
        # The deadline contract: one exit_timeout (3 s) and a margin, not the sum (9 s).
        assert ended < 6.0, (ended, stderr)
        counted = undrained(stderr)
        record(
            f"Three hung sinks at exit ({', '.join(kinds)})",
            sent=len(kinds) * count,
            received=len(stored(db)) if "store" in kinds else 0,
            counted=counted,
            note="logged as exit_undrained",
        )


class TestSigterm:
    """SIGTERM, when opted in, ends the program normally, so that it drains."""

    def test_store_sink(self, tmp_path: Path) -> None:
        """A StoreSink with handle_sigterm=True writes its queue on SIGTERM; the status is 143."""
        db, count = tmp_path / "usage.db", 3000
        sinks = [{"kind": "store", "target": str(db), "handle_sigterm": True, "max_delay": 60}]
        with start({"sinks": sinks, "count": count, "wait": True}) as child:
            wait_queued(child)
            child.send_signal(signal.SIGTERM)
            assert child.wait(60) == 128 + signal.SIGTERM
        got = stored(db)
        record("StoreSink on SIGTERM", sent=count, received=len(got), counted=0)
        assert got == ids(count)

    def test_application_handler_kept(self, tmp_path: Path) -> None:
        """A program's own SIGTERM handler stays in charge; its exit still drains."""
        db, count = tmp_path / "usage.db", 500
        sinks = [{"kind": "store", "target": str(db), "handle_sigterm": True, "max_delay": 60}]
        config = {"sinks": sinks, "count": count, "wait": True, "own_sigterm": True}
        with start(config) as child:
            wait_queued(child)
            child.send_signal(signal.SIGTERM)
            assert child.wait(60) == 7
        assert stored(db) == ids(count)


class TestMultiprocessing:
    """multiprocessing children end with os._exit, and still drain their sinks."""

    @pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
    def test_child_drains(self, tmp_path: Path, collector: Collector, method: str) -> None:
        """A child's StoreSink and ForwardSink deliver everything when the child ends."""
        db, count = tmp_path / "usage.db", 1000
        sinks = [
            {"kind": "store", "target": str(db), "max_delay": 60},
            {"kind": "http", "target": collector.url, "max_delay": 60},
        ]
        result = run({"sinks": sinks, "count": count, "process": method})
        assert result.returncode == 0, result.stderr
        assert "child 0" in result.stdout, result.stderr
        assert collector.wait_for(count, timeout=30)
        got = (stored(db), received(collector))
        record(
            f"multiprocessing child at exit ({method})",
            sent=2 * count,
            received=sum(len(found) for found in got),
            counted=0,
        )
        assert got == (ids(count), ids(count))

    def test_inherited_sinks(self, tmp_path: Path, collector: Collector) -> None:
        """Sinks made before a fork drain the child's events when the child ends."""
        db, count = tmp_path / "usage.db", 1000
        sinks = [
            {"kind": "store", "target": str(db), "max_delay": 60},
            {"kind": "http", "target": collector.url, "max_delay": 60},
        ]
        config = {"sinks": sinks, "count": count, "process": "fork", "inherit": True}
        result = run(config)
        assert result.returncode == 0, result.stderr
        assert "child 0" in result.stdout, result.stderr
        assert collector.wait_for(count, timeout=30)
        assert (stored(db), received(collector)) == (ids(count), ids(count))


class TestImport:
    """``import aievents`` registers no exit or signal hook: the first sink does."""

    def test_no_hooks(self) -> None:
        """Importing adds no atexit callback, signal handler or multiprocessing import."""
        code = """
import atexit, signal, sys
import attrs, blinker, cattrs, logging, structlog
try:
    import sqlalchemy, sqlalchemy.pool  # an optional dependency's own hooks
except ImportError:
    pass
before = atexit._ncallbacks()
import aievents
import aievents.sinks
assert atexit._ncallbacks() == before, "import registered an exit hook"
assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
assert "multiprocessing" not in sys.modules
from aievents.sinks import StoreSink
import tempfile, os
sink = StoreSink("sqlite:///" + os.path.join(tempfile.mkdtemp(), "u.db"))
assert atexit._ncallbacks() == before + 1, "the first sink registers the exit drain"
print("ok")
"""
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.stdout == "ok\n", result.stderr


class TestRegistry:
    """Joining the exit drain keeps no sink alive."""

    def test_closed_sinks_collected(self, tmp_path: Path) -> None:
        """Closed and dropped, a StoreSink and a ForwardSink are garbage like any object."""
        import gc
        import weakref

        from aievents.sinks import ForwardSink, StoreSink
        from aievents.transports.jsonl import JsonlTransport

        from helpers import usage_event

        sinks: list[Any] = [
            StoreSink(f"sqlite:///{tmp_path / 'usage.db'}"),
            ForwardSink(JsonlTransport(tmp_path / "events.jsonl")),
        ]
        for sink in sinks:
            sink.handle(usage_event())
            assert sink.close(10.0)
        refs = [weakref.ref(sink) for sink in sinks]
        del sinks, sink
        gc.collect()
        assert [ref() for ref in refs] == [None, None]


def closed_port() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens (connections are refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/events"


class TestSpillLockFiles:
    """A spill directory keeps no lock file of a process that has ended."""

    def test_none_left(self, tmp_path: Path) -> None:
        """Normal exits, a SIGKILL, forked children that never spill: no lock file stays."""
        spill = tmp_path / "spill"
        sink = {"kind": "http", "target": closed_port(), "spill_dir": str(spill),
                "max_retries": 0, "exit_timeout": 10}  # fmt: skip

        def locks() -> list[str]:
            return sorted(path.name for path in spill.glob("owner-*.lock"))

        for _ in range(3):
            assert run({"sinks": [sink], "count": 20}).returncode == 0
            assert locks() == []
        with start({"sinks": [sink], "count": 20, "wait": True}) as child:
            wait_queued(child)
            assert len(locks()) == 1
            child.kill()
            child.wait(60)
        assert len(locks()) == 1  # the killed process could not remove its own
        done = run({"sinks": [sink], "count": 0, "process": "fork", "inherit": True})
        assert done.returncode == 0, done.stderr
        assert "child 0" in done.stdout
        assert locks() == []  # the next process removed it, then its own
        assert list(spill.glob("seg-*"))  # the spilled events are still there

    def test_sigterm_wish_in_a_thread(self, tmp_path: Path) -> None:
        """handle_sigterm=True on a sink made outside the main thread says it cannot be kept."""
        import threading

        from structlog.testing import capture_logs

        from aievents.sinks import ForwardSink
        from aievents.transports.jsonl import JsonlTransport

        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            pytest.skip("this test process has a SIGTERM handler of its own")
        made: list[Any] = []
        with capture_logs() as logs:
            thread = threading.Thread(
                target=lambda: made.append(
                    ForwardSink(JsonlTransport(tmp_path / "events.jsonl"), handle_sigterm=True)
                )
            )
            thread.start()
            thread.join(30)
        assert made
        assert made[0].close(10.0).done
        said = [entry for entry in logs if entry["event"] == "sigterm_not_handled"]
        assert len(said) == 1, logs
        assert said[0]["log_level"] == "warning"
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
