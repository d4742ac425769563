"""ForwardSink with real transports: a JSONL file and a local HTTP collector that misbehaves."""

from __future__ import annotations

import email.utils
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from aievents import EventClient, from_dict
from aievents.policy import parse_retry_after as retry_after
from aievents.sinks import ForwardSink
from aievents.transports import TransportError
from aievents.transports.http import HttpTransport
from aievents.transports.jsonl import JsonlTransport
from children import spawn
from collector_server import Collector

from faults import book
from helpers import until, usage_event


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    with structlog.testing.capture_logs():
        yield


def events(count: int, prefix: str = "r") -> list[Any]:
    """``count`` usage events with distinct request ids."""
    return [usage_event(f"{prefix}{index}") for index in range(count)]


def http(collector: Collector, **options: Any) -> HttpTransport:
    """A transport to the collector, with short timeouts."""
    options.setdefault("read_timeout", 0.5)
    options.setdefault("connect_timeout", 0.5)
    return HttpTransport(collector.url, **options)


class TestSettings:
    """A wrong setting is refused with a ValueError naming the setting and the value."""

    @pytest.mark.parametrize(
        ("build", "name", "value"),
        [
            pytest.param(lambda p: JsonlTransport(p, shape="flat"), "shape", "'flat'", id="shape"),
            pytest.param(
                lambda p: JsonlTransport(p, fsync="often"), "fsync", "'often'", id="fsync"
            ),
            pytest.param(
                lambda p: JsonlTransport(p, max_bytes=0), "max_bytes", "0", id="max-bytes"
            ),
            pytest.param(lambda p: JsonlTransport(p, backups=-1), "backups", "-1", id="backups"),
            pytest.param(
                lambda p: HttpTransport("http://127.0.0.1:9/", format="xml"),
                "format",
                "'xml'",
                id="http-format",
            ),
            pytest.param(
                lambda p: ForwardSink(JsonlTransport(p), overflow="wait"),
                "overflow",
                "'wait'",
                id="overflow",
            ),
            pytest.param(
                lambda p: ForwardSink(JsonlTransport(p), batch_size=True),
                "batch_size",
                "True",
                id="bool-batch-size",
            ),
            pytest.param(
                lambda p: ForwardSink(JsonlTransport(p), max_delay=-0.5),
                "max_delay",
                "-0.5",
                id="max-delay",
            ),
            pytest.param(
                lambda p: ForwardSink(JsonlTransport(p), backoff="1"),
                "backoff",
                "'1'",
                id="str-backoff",
            ),
            pytest.param(
                lambda p: ForwardSink(JsonlTransport(p), max_retries=1.5),
                "max_retries",
                "1.5",
                id="float-retries",
            ),
            pytest.param(
                lambda p: ForwardSink(JsonlTransport(p), backoff=float("nan")),
                "backoff",
                "nan",
                id="nan-backoff",
            ),
            pytest.param(
                lambda p: ForwardSink(JsonlTransport(p), max_retry_after=-1),
                "max_retry_after",
                "-1",
                id="negative-max-retry-after",
            ),
            pytest.param(
                lambda p: HttpTransport("http://127.0.0.1:9/", read_timeout=0),
                "read_timeout",
                "0",
                id="zero-read-timeout",
            ),
        ],
    )
    def test_named(self, build: Any, name: str, value: str, tmp_path: Path) -> None:
        """The message starts with the setting and ends with the value given."""
        with pytest.raises(ValueError, match=rf"^{name} must be .*, got {value}$"):
            build(tmp_path / "events.jsonl")
        assert not (tmp_path / "events.jsonl").exists()


class TestJsonl:
    """The JSONL transport appends one line per event, rotates and reads back equal."""

    def test_lines_round_trip(self, tmp_path: Path) -> None:
        """Every event is one line that parses back to an equal event, in order."""
        path = tmp_path / "out" / "events.jsonl"
        sink = ForwardSink(JsonlTransport(path), batch_size=64, max_delay=0.01)
        sent = events(500)
        for event in sent:
            sink.handle(event)
        report = sink.close(5.0)
        assert report.done
        assert report.sent == 500
        lines = path.read_text().splitlines()
        assert [from_dict(json.loads(line)) for line in lines] == sent

    def test_rotation(self, tmp_path: Path) -> None:
        """Files rotate by size and keep the configured number of backups."""
        path = tmp_path / "events.jsonl"
        transport = JsonlTransport(path, max_bytes=4000, backups=2, fsync="batch")
        for start in range(0, 60, 10):
            transport.send(events(10, prefix=f"b{start}-"))
        transport.close()
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
        assert all(p.stat().st_size <= 4000 for p in tmp_path.iterdir())

    def test_unwritable(self, tmp_path: Path) -> None:
        """A path that cannot be written is a retryable TransportError."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(TransportError) as info:
            JsonlTransport(blocker / "events.jsonl").send(events(1))
        assert info.value.retryable


class TestHttp:
    """The HTTP transport's formats, headers and error classes."""

    @pytest.mark.parametrize(
        ("options", "key"),
        [
            ({}, "event_id"),
            ({"format": "ndjson"}, "event_id"),
            ({"shape": "envelope"}, "payload"),
            ({"gzip": True, "format": "ndjson", "shape": "envelope"}, "payload"),
        ],
    )
    def test_formats(self, collector: Collector, options: dict[str, Any], key: str) -> None:
        """JSON arrays and NDJSON, dicts and envelopes, gzip or not, all arrive whole."""
        transport = http(collector, headers={"Authorization": "Bearer sk-test"}, **options)
        transport.send(events(5))
        transport.close()
        assert len(collector.events) == 5
        assert all(key in item for item in collector.events)
        assert collector.requests[0]["headers"]["Authorization"] == "Bearer sk-test"

    @pytest.mark.parametrize(
        ("status", "retryable"), [(400, False), (401, False), (429, True), (500, True), (503, True)]
    )
    def test_status_classes(self, collector: Collector, status: int, retryable: bool) -> None:
        """4xx (but 408, 425, 429) is final; 429 and 5xx may be retried."""
        collector.fail(status, headers={"Retry-After": "7"})
        transport = http(collector)
        with pytest.raises(TransportError) as info:
            transport.send(events(1))
        transport.close()
        assert info.value.status == status
        assert info.value.retryable is retryable
        assert info.value.retry_after == 7.0

    def test_retry_after_dates(self) -> None:
        """Retry-After is read as seconds or as an HTTP date."""
        assert retry_after("3") == 3.0
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
        assert 25 <= (retry_after(date) or 0) <= 31
        assert retry_after("soon") is None

    def test_retry_after_odd_seconds(self, collector: Collector) -> None:
        """Seconds are ASCII digits: other digits are no wait, never an error; huge ones stay."""
        assert retry_after("\u00b2") is None  # superscript two
        assert retry_after("\u0663") is None  # Arabic-Indic three
        assert retry_after("9" * 30) == 1e30
        assert retry_after("9" * 400) == math.inf  # ForwardSink cuts it to max_retry_after
        collector.fail(429, headers={"Retry-After": "\u00b2"})
        transport = http(collector)
        with pytest.raises(TransportError) as info:
            transport.send(events(1))
        transport.close()
        assert info.value.retry_after is None

    @pytest.mark.parametrize("form", ["asctime", "-0000"])
    def test_retry_after_dates_without_zone(self, form: str) -> None:
        """A date without a zone is UTC, as HTTP dates are, whatever the local time zone."""
        when = time.time() + 60
        if form == "asctime":
            value = time.asctime(time.gmtime(when))
        else:
            value = email.utils.formatdate(when)  # "... -0000"
        zone = os.environ.get("TZ")
        os.environ["TZ"] = "America/New_York"
        time.tzset()
        try:
            wait = retry_after(value)
        finally:
            if zone is None:
                del os.environ["TZ"]
            else:
                os.environ["TZ"] = zone
            time.tzset()
        assert wait is not None
        assert 50 <= wait <= 61


class TestDelivery:
    """Failures are retried, spilled and replayed; every event is accounted for."""

    def test_retries_then_delivered(self, collector: Collector) -> None:
        """The first requests fail with 500: retried with backoff, then delivered."""
        collector.fail(500, times=3)
        sink = ForwardSink(http(collector), batch_size=50, max_delay=0.01, backoff=0.01)
        for event in events(50):
            sink.handle(event)
        report = sink.close(10.0)
        assert report.done
        assert report.sent == 50
        assert report.retried == 150
        assert len(collector.events) == 50

    def test_retry_after_honoured(self, collector: Collector) -> None:
        """A 429 with Retry-After: 1 delays the retry by at least a second."""
        collector.fail(429, headers={"Retry-After": "1"})
        sink = ForwardSink(http(collector), batch_size=10, max_delay=0.01, backoff=0.01)
        start = time.monotonic()
        for event in events(10):
            sink.handle(event)
        assert sink.close(10.0).done
        assert time.monotonic() - start >= 1.0
        assert len(collector.events) == 10

    def test_hang_past_timeout(self, collector: Collector) -> None:
        """A request that hangs past the read timeout is retried and delivered."""
        collector.hang(2.0)
        sink = ForwardSink(
            http(collector, read_timeout=0.3), batch_size=10, max_delay=0.01, backoff=0.01
        )
        for event in events(10):
            sink.handle(event)
        assert sink.close(10.0).done
        assert collector.wait_for(10)
        assert len(set(collector.ids())) == 10

    def test_outage_with_spill(self, collector: Collector, tmp_path: Path) -> None:
        """The collector goes away and comes back: every event arrives, once after dedupe."""
        sink = ForwardSink(
            http(collector),
            batch_size=20,
            max_delay=0.01,
            max_retries=1,
            backoff=0.01,
            spill_dir=tmp_path / "spill",
        )
        first = events(40, "a")
        for event in first:
            sink.handle(event)
        assert sink.flush(10.0).done
        collector.stop()
        down = events(60, "b")
        for event in down:
            sink.handle(event)
        report = sink.flush(10.0)
        assert report.spilled == 60
        collector.start()
        after = events(20, "c")
        for event in after:
            sink.handle(event)
        report = sink.close(10.0)
        expected = {e.event_id for e in first + down + after}
        assert collector.wait_for(len(expected))
        assert set(collector.ids()) == expected
        assert report.replayed == 60
        assert report.sent == 120
        assert not list((tmp_path / "spill").glob("seg-*"))

    @pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest", "block"])
    def test_drop_policies_account_for_everything(
        self, collector: Collector, overflow: str
    ) -> None:
        """With drops, every event is received or counted as dropped."""
        collector.stop()
        sink = ForwardSink(
            http(collector),
            batch_size=10,
            max_delay=0.01,
            max_queue=30,
            overflow=overflow,  # type: ignore[arg-type]
            block_timeout=0.01,
            max_retries=1,
            backoff=0.2,  # each failing batch holds the worker: the queue fills meanwhile
        )
        for event in events(200):
            sink.handle(event)
        report = sink.close(5.0)
        assert report.pending == 0
        assert report.sent + sum(report.dropped.values()) == 200
        assert report.dropped.get("queue_full", 0) + report.dropped.get("block_timeout", 0) > 0
        assert report.dropped.get("send_failed", 0) > 0

    def test_flush_timeout_honoured(self, collector: Collector) -> None:
        """flush(0.5) against a hanging collector returns in about 0.5 s, honestly."""
        collector.hang(10.0, times=5)
        sink = ForwardSink(
            http(collector, read_timeout=5.0), batch_size=10, max_delay=0.01, backoff=0.01
        )
        for event in events(30):
            sink.handle(event)
        start = time.monotonic()
        report = sink.flush(0.5)
        elapsed = time.monotonic() - start
        assert elapsed < 1.0
        assert not report.done
        assert report.pending > 0
        collector.release.set()
        assert sink.close(10.0).done

    def test_spill_replayed_at_next_start(self, collector: Collector, tmp_path: Path) -> None:
        """What one sink spilled, the next sink on the same directory sends at start."""
        collector.stop()
        first = ForwardSink(
            http(collector), batch_size=25, max_retries=0, spill_dir=tmp_path / "spill"
        )
        spilled = events(50)
        for event in spilled:
            first.handle(event)
        assert first.close(5.0).spilled == 50
        collector.start()
        second = ForwardSink(http(collector), spill_dir=tmp_path / "spill")
        assert collector.wait_for(50)
        assert set(collector.ids()) == {e.event_id for e in spilled}
        second.close(5.0)

    def test_corrupt_spill_lines_skipped(self, collector: Collector, tmp_path: Path) -> None:
        """A torn line in the spill is skipped and counted; the rest is replayed."""
        spill = tmp_path / "spill"
        collector.stop()
        first = ForwardSink(http(collector), max_retries=0, spill_dir=spill)
        for event in events(10):
            first.handle(event)
        first.close(5.0)
        (segment,) = spill.glob("seg-*")
        with segment.open("ab") as handle:
            handle.write(b'{"type": "image:usage", "request_id": "tor')
        collector.start()
        second = ForwardSink(http(collector), spill_dir=spill)
        assert collector.wait_for(10)
        report = second.close(5.0)
        assert report.corrupt == 1
        assert len(collector.events) == 10

    def test_spill_overflow_policy(self, collector: Collector, tmp_path: Path) -> None:
        """overflow='spill' moves the oldest batch to disk instead of dropping it."""
        collector.hang(10.0)
        sink = ForwardSink(
            http(collector, read_timeout=5.0),
            batch_size=10,
            max_delay=0.01,
            max_queue=20,
            overflow="spill",
            spill_dir=tmp_path / "spill",
        )
        for event in events(100):
            sink.handle(event)
        assert sink.stats().spilled >= 60
        collector.release.set()
        report = sink.close(10.0)
        assert sum(report.dropped.values()) == 0
        assert collector.wait_for(100)
        assert len(set(collector.ids())) == 100

    def test_client_integration(self, collector: Collector) -> None:
        """As a client's sink: emit queues, client.close drains."""
        client = EventClient()
        client.add_sink(ForwardSink(http(collector), max_delay=0.01))
        for event in events(25):
            client.emit(event)
        client.close(5.0)
        assert len(collector.events) == 25


CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    from helpers import usage_event
    from aievents.sinks import ForwardSink
    from aievents.transports.http import HttpTransport
    sink = ForwardSink(HttpTransport({url!r}), batch_size=256, max_queue=20000, exit_timeout=20)
    for index in range({count}):
        sink.handle(usage_event(f"child-{{index}}"))
    print("queued", flush=True)
    """
)


class TestProcesses:
    """Real subprocesses and forks."""

    def test_exit_flushes(self, collector: Collector) -> None:
        """A process that queues 10k events and exits normally delivers them all at exit."""
        script = CHILD.format(tests=str(Path(__file__).parent), url=collector.url, count=10_000)
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        assert collector.wait_for(10_000, timeout=30)
        assert len(set(collector.ids())) == 10_000

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_fork(self, collector: Collector) -> None:
        """A forked child sends its own events; the parent's queued ones are sent once."""
        collector.hang(1.0)  # the parent's first batch is in flight at the fork
        sink = ForwardSink(http(collector, read_timeout=5.0), batch_size=10, max_delay=0.01)
        parent = events(30, "parent")
        for event in parent:
            sink.handle(event)
        assert collector.requested.wait(5.0)  # the first batch is in flight
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                for event in events(20, "child"):
                    sink.handle(event)
                code = 0 if sink.close(10.0).sent == 20 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        assert sink.close(10.0).sent == 30
        assert collector.wait_for(50)
        ids = collector.ids()
        assert len(ids) == 50
        assert len(set(ids)) == 50


DURABLE_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from helpers import usage_event
    from aievents.sinks import ForwardSink
    from aievents.transports.http import HttpTransport
    sink = ForwardSink(
        HttpTransport({url!r}, read_timeout=30),
        batch_size=100,
        max_queue=100_000,
        spill_dir={spill!r},
        durable={durable},
        exit_timeout=30,
        handle_sigterm=True,
    )
    for index in range({count}):
        sink.handle(usage_event(f"e-{{index}}"))
        if index % 1000 == 999:
            print(index + 1, flush=True)
    print("done", flush=True)
    sys.stdin.readline()  # wait to be signalled
    """
)


def run_child(collector: Collector, spill: Path, *, durable: bool, count: int) -> Any:
    """A child process that queues ``count`` events, printing its progress."""
    return spawn(DURABLE_CHILD, url=collector.url, spill=str(spill), durable=durable, count=count)


class TestSignals:
    """SIGTERM drains at exit; SIGKILL loses nothing with a durable journal."""

    def test_sigterm(self, collector: Collector, tmp_path: Path) -> None:
        """SIGTERM with events still queued behind a hung collector: they are spilled, then sent."""
        collector.hang(60.0)
        with run_child(collector, tmp_path / "spill", durable=False, count=5000) as child:
            assert child.stdout is not None
            while child.stdout.readline().strip() != "done":
                pass
            child.send_signal(signal.SIGTERM)
            assert child.wait(60) == 128 + signal.SIGTERM
        collector.release.set()
        sink = ForwardSink(http(collector), spill_dir=tmp_path / "spill")
        # The batch the hung collector held may arrive twice: wait for every id.
        assert collector.wait_for_requests({f"e-{i}" for i in range(5000)}, timeout=60)
        sink.close(5.0)

    def test_sigkill_with_journal(self, collector: Collector, tmp_path: Path) -> None:
        """SIGKILL mid-run: every event the child had handled arrives when the next sink starts."""
        collector.hang(60.0, times=1000)  # nothing gets through while the child runs
        with run_child(collector, tmp_path / "spill", durable=True, count=20_000) as child:
            assert child.stdout is not None
            handled = 0
            while handled < 3000:
                handled = int(child.stdout.readline())
            child.kill()
            child.wait(30)
        collector.release.set()
        with collector._lock:
            collector._script.clear()
        sink = ForwardSink(http(collector), spill_dir=tmp_path / "spill")
        assert collector.wait_for(handled, timeout=30)
        received = {e.get("request_id") for e in collector.events}
        assert {f"e-{i}" for i in range(handled)} <= received
        sink.close(5.0)


class TestBounded:
    """A dead target cannot make memory grow; every event is accounted for."""

    def test_million_events_dead_target(self, collector: Collector) -> None:
        """1M events to a collector that is gone: the queue stays bounded, counters add up."""
        collector.stop()
        pool = events(1000)
        sink = ForwardSink(
            http(collector), batch_size=512, max_queue=10_000, max_retries=0, backoff=0
        )
        before = rss()
        handle = sink.handle
        for index in range(1_000_000):
            handle(pool[index % 1000])
        during = sink.stats()
        assert during.pending <= 10_000 + 512
        report = sink.close(5.0)
        assert report.pending == 0
        assert report.sent + sum(report.dropped.values()) == 1_000_000
        assert report.dropped["queue_full"] > 0
        assert rss() - before < 50 * 2**20


def rss() -> int:
    """This process's resident memory in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class TestEdges:
    """Shared spill directories, flush deadlines, long Retry-After, stuck batches, secrets."""

    def test_two_sinks_share_a_spill(self, collector: Collector, tmp_path: Path) -> None:
        """A sink never replays the segment another sink of the process is still writing."""
        spill = tmp_path / "spill"
        collector.stop()
        writer = ForwardSink(http(collector), max_retries=0, batch_size=10, spill_dir=spill)
        for event in events(10, "w"):
            writer.handle(event)
        assert writer.flush(5.0).spilled == 10
        collector.start()
        other = ForwardSink(http(collector), spill_dir=spill, replay_on_start=False)
        other._replay(None)
        assert len(collector.events) == 0  # the writer's segment is still open: left alone
        report = writer.close(5.0)
        assert report.replayed == 0
        other._replay(None)  # sealed now: anyone may send it
        assert collector.wait_for(10)
        other.close(5.0)

    def test_full_journal_is_counted(self, tmp_path: Path) -> None:
        """Durable mode past the journal's size: the rest is sent anyway, and counted."""
        path = tmp_path / "events.jsonl"
        sink = ForwardSink(
            JsonlTransport(path), durable=True, spill_dir=tmp_path / "spill", spill_max_bytes=2000
        )
        for event in events(20):
            sink.handle(event)
        report = sink.close(5.0)
        assert report.sent == 20
        assert 0 < report.unjournaled < 20
        assert len(path.read_text().splitlines()) == 20

    def test_flush_deadline_drops_nothing(self, collector: Collector) -> None:
        """A flush that times out leaves the batch to the worker; nothing is dropped."""
        collector.hang(2.0)
        sink = ForwardSink(http(collector, read_timeout=0.5), batch_size=10, max_delay=0.01)
        for event in events(10):
            sink.handle(event)
        report = sink.flush(0.2)
        assert not report.done
        assert report.dropped == {}
        assert sink.close(10.0).sent == 10
        assert len(set(collector.ids())) == 10

    def test_long_retry_after_spills(self, collector: Collector, tmp_path: Path) -> None:
        """Retry-After past max_backoff: the batch is spilled instead of parking the worker."""
        collector.fail(429, headers={"Retry-After": "3600"})
        sink = ForwardSink(
            http(collector), batch_size=10, max_delay=0.01, max_backoff=1.0, spill_dir=tmp_path
        )
        start = time.monotonic()
        for event in events(10):
            sink.handle(event)
        report = sink.flush(5.0)
        assert time.monotonic() - start < 5.0
        assert report.spilled == 10
        sink.close(5.0)

    def test_stuck_batch_kept_at_close(self, collector: Collector, tmp_path: Path) -> None:
        """A batch the target holds past close's deadline is kept in the spill."""
        collector.hang(30.0)
        spill = tmp_path / "spill"
        sink = ForwardSink(
            http(collector, read_timeout=20.0), batch_size=10, max_delay=0.01, spill_dir=spill
        )
        for event in events(10):
            sink.handle(event)
        assert collector.requested.wait(5.0)
        report = sink.close(0.5)
        assert report.spilled == 10
        collector.stop()
        collector.events.clear()
        collector.release.set()
        collector.start()
        replay = ForwardSink(http(collector), spill_dir=spill)
        assert collector.wait_for(10)
        replay.close(5.0)

    def test_retry_after_capped(self, collector: Collector) -> None:
        """A Retry-After past max_retry_after is waited for that long only, then sent."""
        collector.fail(429, headers={"Retry-After": "9" * 30})
        sink = ForwardSink(http(collector), batch_size=5, max_delay=0.01, max_retry_after=0.2)
        sent = events(5, "capped-")
        with structlog.testing.capture_logs() as logs:
            for event in sent:
                sink.handle(event)
            assert collector.wait_for_requests({e.request_id for e in sent})
            report = sink.close(5.0)
        assert report.sent == 5
        (held,) = [line for line in logs if line["event"] == "target_asked_to_wait"]
        assert held["seconds"] == 0.2
        assert held["asked"] == 1e30
        book("429, Retry-After 10^30 s, capped at 0.2 s", sent, collector, 0, "waited, then sent")

    def test_durable_leftovers_closed(self, collector: Collector, tmp_path: Path) -> None:
        """Durable, nothing journaled: what is still queued at close is dropped as closed."""
        collector.hang(30.0)
        sink = ForwardSink(
            http(collector, read_timeout=5.0),
            spill_dir=tmp_path / "spill",
            durable=True,
            spill_max_bytes=1,  # no room in the journal, nor in the spill
            batch_size=10,
            max_delay=0.01,
        )
        sent = events(30, "leftover-")
        for event in sent:
            sink.handle(event)
        assert collector.requested.wait(5.0)  # the first batch is held by the collector
        report = sink.close(0.2)
        assert report.unjournaled == 30
        assert report.dropped == {"closed": 20}
        assert report.pending == 10
        collector.release.set()  # the batch in flight is answered after all
        assert collector.wait_for(10)
        until(lambda: sink.pending == 0)
        after = sink.stats()  # delivered and counted once: the transport was not closed under it
        assert (after.sent, after.dropped) == (10, {"closed": 20})
        book(
            "durable, no room in the journal, closed with a batch in flight",
            sent,
            collector,
            report.dropped["closed"],
            "dropped: closed (not journaled); the batch in flight delivered",
        )

    def test_url_secrets_not_in_errors(self, collector: Collector) -> None:
        """User info and query strings of the URL stay out of error messages."""
        url = collector.url.replace("http://", "http://svc:PASSWORD123@") + "?api-key=SECRET456"
        transport = HttpTransport(url, read_timeout=0.5)
        collector.fail(400)
        with pytest.raises(TransportError) as info:
            transport.send(events(1))
        transport.close()
        assert "PASSWORD123" not in str(info.value)
        assert "SECRET456" not in str(info.value)
        assert "SECRET456" not in repr(transport)


class TestHonestClose:
    """close reports done=False while the target still holds a batch, and counts it pending."""

    def test_batch_in_flight(self, collector: Collector) -> None:
        """A batch the collector has not answered at the deadline is not done, and pending."""
        collector.hang(30.0)
        sink = ForwardSink(http(collector, read_timeout=20.0), batch_size=10, max_delay=0.01)
        for event in events(10):
            sink.handle(event)
        assert collector.requested.wait(5.0)
        report = sink.close(0.5)
        assert report.done is False
        assert report.pending == 10
        assert sink.pending == 10
