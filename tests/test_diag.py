"""The library's own diagnostics: rate-limited, scrubbed, outside locks, never on stdout."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import structlog

from aievents import EventClient
from aievents.events import BaseEvent
from aievents.sinks import ForwardSink

from helpers import locked_store, usage_event


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StuckTransport:
    """A transport whose sends wait for ``release``."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def send(self, batch: Sequence[BaseEvent]) -> None:
        self.release.wait(30)

    def close(self) -> None:
        pass


class TestRateLimit:
    """One key is logged at most once per interval; the next line says how many were held."""

    def test_held_back_then_counted(self) -> None:
        """Within the interval lines are held; after it, one line carries the count."""
        from aievents._diag import RateLimitedLog

        clock = Clock()
        diag = RateLimitedLog("test", interval=10.0, clock=clock)
        with structlog.testing.capture_logs() as logs:
            assert diag("k", "warning", "thing_happened", n=1) is True
            for _ in range(5):
                assert diag("k", "warning", "thing_happened") is False
            clock.now = 11.0
            assert diag("k", "warning", "thing_happened", n=2) is True
        assert [line.get("n") for line in logs] == [1, 2]
        assert "suppressed" not in logs[0]
        assert logs[1]["suppressed"] == 5

    def test_keys_apart(self) -> None:
        """Each key has its own interval."""
        from aievents._diag import RateLimitedLog

        diag = RateLimitedLog("test", interval=60.0, clock=Clock())
        with structlog.testing.capture_logs() as logs:
            diag("a", "warning", "one")
            diag("b", "error", "two")
            diag("a", "warning", "one")
        assert [(line["event"], line["log_level"]) for line in logs] == [
            ("one", "warning"),
            ("two", "error"),
        ]

    def test_many_drops_few_lines(self, tmp_path: Any) -> None:
        """18,000 events dropped by a full queue are a handful of lines, all counted."""
        release = threading.Event()
        sink = ForwardSink(
            StuckTransport(release), max_queue=10, batch_size=5, overflow="drop_newest"
        )
        try:
            with structlog.testing.capture_logs() as logs:
                for index in range(18_015):
                    sink.handle(usage_event(f"r{index}"))
            drops = [line for line in logs if line["event"] == "events_dropped"]
            assert 1 <= len(drops) <= 3
            report = sink.stats()
            assert sum(report.dropped.values()) + report.pending == 18_015
            assert sum(report.dropped.values()) >= 18_000
        finally:
            release.set()
            sink.close(5.0)

    def test_store_drops_few_lines(self, tmp_path: Any) -> None:
        """A StoreSink whose database is locked logs its drops now and then, not per event."""
        import sqlite3

        from aievents.sinks.store import StoreSink

        path = tmp_path / "locked.db"
        store = StoreSink(f"sqlite:///{path}", max_queue=10, batch_size=5)
        holder = sqlite3.connect(path, timeout=30)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with structlog.testing.capture_logs() as logs:
                for index in range(18_015):
                    store.handle(usage_event(f"r{index}"))
            drops = [line for line in logs if line["event"] == "events_dropped"]
            assert 1 <= len(drops) <= 3
            assert store.stats()["dropped"] >= 18_000
        finally:
            holder.rollback()
            holder.close()
            store.close(30.0)


class TestScrubbed:
    """No secret reaches a log line, and no exception object reaches the logger."""

    def test_fields_and_errors(self) -> None:
        """Secret fields, secret values and secrets in error messages are redacted."""
        from aievents._diag import log

        key = "sk-proj-" + "A1b2C3d4" * 5
        with structlog.testing.capture_logs() as logs:
            log(
                "test",
                "warning",
                "leak_attempt",
                error=RuntimeError(f"bad key {key}"),
                traceback=True,
                options={"api_key": "plain-secret", "n": 1},
                note=f"Bearer {key}",
            )
        (line,) = logs
        assert key not in repr(line)
        assert "plain-secret" not in repr(line)
        assert line["options"]["n"] == 1
        assert line["error"].startswith("RuntimeError: bad ")
        assert "exc_info" not in line
        assert isinstance(line["traceback"], str)

    def test_handler_failure_has_no_frames(self, client: EventClient) -> None:
        """A handler failure is logged with its traceback as text, never as frames."""
        secret = "sk-" + "x" * 40

        def broken(event: BaseEvent) -> None:
            api_key = secret
            raise RuntimeError("broken handler " + api_key[:4])

        client.on("*", broken)
        with structlog.testing.capture_logs() as logs:
            client.emit(usage_event())
        (line,) = logs
        assert "exc_info" not in line
        assert secret not in repr(line)
        assert "broken handler" in line["traceback"]


@pytest.fixture(name="hung_sink", params=["forward", "forward-block", "store"])
def _hung_sink(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """Each batching sink, with a target that takes nothing until the test ends.

    The queue holds two events, so that further ones are dropped (and logged).
    """
    if request.param == "store":
        from aievents.sinks.store import StoreSink

        with locked_store(tmp_path / "locked.db") as url:
            sink: Any = StoreSink(url, max_queue=2, batch_size=1)
            yield sink
        close_within(sink, 30.0)
        return
    release = threading.Event()
    overflow: Any = "block" if request.param == "forward-block" else "drop_oldest"
    sink = ForwardSink(
        StuckTransport(release), max_queue=2, batch_size=1, overflow=overflow, block_timeout=0.01
    )
    try:
        yield sink
    finally:
        release.set()
        close_within(sink, 5.0)


def close_within(sink: Any, timeout: float) -> None:
    """Close ``sink`` on a thread of its own: a deadlocked sink fails the test, not hangs it."""
    closer = threading.Thread(target=sink.close, args=(timeout,), daemon=True)
    closer.start()
    closer.join(timeout + 5.0)
    assert not closer.is_alive(), "close() deadlocked"


class TestOutsideLocks:
    """Logging happens after locks are let go, and never recurses."""

    def test_processor_that_emits(self, hung_sink: Any) -> None:
        """A logging processor that emits into the client neither deadlocks nor recurses."""
        client = EventClient()
        client.add_sink(hung_sink)
        seen: list[str] = []

        def emitting(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
            seen.append(event_dict["event"])
            client.emit(usage_event(f"from-log-{len(seen)}"))
            raise structlog.DropEvent

        structlog.configure(processors=[emitting])
        finished = threading.Event()

        def run() -> None:
            for index in range(50):
                client.emit(usage_event(f"r{index}"))
            finished.set()

        try:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            assert finished.wait(30), "emit deadlocked in a logging processor"
        finally:
            structlog.reset_defaults()
        assert seen
        assert seen.count("events_dropped") == 1

    def test_log_sink_failures(self) -> None:
        """A LogSink whose logging fails says so once per interval, not once per event."""
        from aievents.sinks import LogSink

        lines: list[dict[str, Any]] = []

        def broken(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
            if event_dict["event"] == "image:usage":
                raise RuntimeError("renderer broken")
            lines.append(event_dict)
            raise structlog.DropEvent

        sink = LogSink()
        structlog.configure(processors=[broken])
        try:
            for index in range(100):
                sink.handle(usage_event(f"r{index}"))
        finally:
            structlog.reset_defaults()
        assert sink.failures == 100
        assert [line["event"] for line in lines] == ["log_sink_failed"]
        assert lines[0]["error"] == "RuntimeError"


class TestNeverStdout:
    """Without a structlog configuration, diagnostics go to stderr, never stdout."""

    def test_subprocess(self) -> None:
        """A failing handler and an unknown price print nothing on stdout."""
        code = textwrap.dedent(
            """
            from aievents import EventClient, ImageUsageEvent
            from aievents.pricing import cost_of
            from aievents.usage import ImageUsage

            client = EventClient()
            client.on("*", lambda event: 1 / 0)
            client.emit(ImageUsageEvent(request_id="r", model="no-such-model",
                                        usage=ImageUsage(input_tokens=3)))
            cost_of(ImageUsageEvent(request_id="q", model="no-such-model",
                                    usage=ImageUsage(input_tokens=3)))
            print("done")
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert result.stdout == "done\n"
        assert "handler_failed" in result.stderr
        assert "price_unknown" in result.stderr


class TestOneHelper:
    """Every diagnostic goes through aievents._diag, with its one rate limit."""

    #: Modules that use logging for the user's own output, not for diagnostics:
    #: the command's terminal, the demo's printed log, and LogSink.
    USER_OUTPUT = frozenset({"_diag.py", "cli/_terminal.py", "cli/_demo.py", "sinks/log.py"})

    def test_no_logger_of_its_own(self) -> None:
        """No other module logs through the standard library or structlog directly."""
        from pathlib import Path

        import aievents

        src = Path(aievents.__file__).parent
        direct = ("import logging", "logging.getLogger", "structlog.get_logger", "warnings.warn")
        found = [
            f"{name}: {call}"
            for path in sorted(src.rglob("*.py"))
            if (name := path.relative_to(src).as_posix()) not in self.USER_OUTPUT
            for call in direct
            if call in path.read_text()
        ]
        assert found == []

    def test_one_interval(self) -> None:
        """No module gives its diagnostics an interval of its own."""
        import re
        from pathlib import Path

        import aievents

        src = Path(aievents.__file__).parent
        own = re.compile(r"RateLimitedLog\([^)]*interval", re.S)
        found = [path.name for path in src.rglob("*.py") if own.search(path.read_text())]
        assert found == []
