"""The fault suite for forwarding: a collector and disks that misbehave, every event on the books.

Real parts only: the local collector (:mod:`collector_server`) failing,
throttling, hanging, trickling and hanging up mid-answer; a tmpfs with a
tiny size for a full disk and a bind mount remounted read-only for a spill
directory that turns read-only; subprocesses killed with SIGKILL. Each
scenario books what it sent, what arrived (distinct events) and what an
explicit counter accounts for (:func:`faults.record`, which fails the test
when anything is lost); the table is printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from aievents.events import BaseEvent
from aievents.sinks import ForwardSink
from aievents.transports import TransportError
from aievents.transports.http import HttpTransport
from aievents.transports.jsonl import JsonlTransport
from children import spawn
from collector_server import Collector
from disks import Disks

from faults import book, record
from helpers import until, usage_event


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    with structlog.testing.capture_logs():
        yield


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector is on 127.0.0.1: no proxy from the environment in between."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def events(count: int, prefix: str) -> list[BaseEvent]:
    """``count`` usage events with request ids ``<prefix><n>``."""
    return [usage_event(f"{prefix}{index}") for index in range(count)]


def http(collector: Collector, **options: Any) -> HttpTransport:
    """A transport to the collector, with short timeouts."""
    options.setdefault("read_timeout", 0.5)
    options.setdefault("connect_timeout", 0.5)
    return HttpTransport(collector.url, **options)


def send_all(sink: ForwardSink, batch: Sequence[BaseEvent]) -> None:
    """Hand every event of ``batch`` to the sink."""
    for event in batch:
        sink.handle(event)


def join_replay(name: str) -> None:
    """Wait for the replay a ForwardSink named ``name`` started with."""
    for thread in threading.enumerate():
        if thread.name == f"{name}-replay":
            thread.join(30.0)
            assert not thread.is_alive()


def dropped(report: Any) -> int:
    """Events a report counts as dropped, whatever the reason."""
    return sum(report.dropped.values())


def answered(collector: Collector, status: int) -> int:
    """Requests the collector answered with ``status``."""
    return sum(request["status"] == status for request in list(collector.requests))


class TestCollectorFaults:
    """A collector that fails, hangs, trickles or hangs up: every event arrives once retried."""

    def test_server_errors(self, collector: Collector) -> None:
        """500s are retried with backoff until the collector takes the batch."""
        collector.fail(500, times=3)
        sink = ForwardSink(http(collector), batch_size=20, max_delay=0.01, backoff=0.01)
        sent = events(100, "e500-")
        send_all(sink, sent)
        report = sink.close(10.0)
        assert report.done
        assert report.retried > 0
        assert collector.wait_for(100)
        book("collector answers 500 (3 times)", sent, collector, dropped(report), "retried")

    def test_hang(self, collector: Collector) -> None:
        """A request the collector holds is given up at the read timeout and sent again."""
        collector.hang(60.0)
        sink = ForwardSink(
            http(collector, read_timeout=0.3), batch_size=20, max_delay=0.01, backoff=0.01
        )
        sent = events(100, "hang-")
        send_all(sink, sent)
        report = sink.close(10.0)
        assert report.done
        assert report.retried > 0
        book("collector hangs", sent, collector, dropped(report), "timed out, retried")

    def test_trickled_answer(self, collector: Collector) -> None:
        """An answer trickled a byte at a time is cut at request_timeout and the batch resent."""
        collector.trickle(0.05, part="head")  # the whole answer would take half a minute
        sink = ForwardSink(
            http(collector, read_timeout=5.0, request_timeout=0.5),
            batch_size=20,
            max_delay=0.01,
            backoff=0.01,
        )
        sent = events(100, "trickle-")
        send_all(sink, sent)
        report = sink.close(20.0)
        assert report.done
        assert report.retried > 0
        assert not collector.requests[0].get("finished")
        book("collector trickles its answer", sent, collector, dropped(report), "cut, retried")

    @pytest.mark.parametrize(
        ("part", "retried"),
        [
            pytest.param("body", False, id="body"),  # the 200 was read: delivered
            pytest.param("head", True, id="head"),  # no status: sent again
        ],
    )
    def test_truncated_answer(self, collector: Collector, part: str, retried: bool) -> None:
        """A collector that hangs up mid-answer: a 200 is delivered, a cut status line retried."""
        collector.truncate(part=part)
        sink = ForwardSink(http(collector), batch_size=20, max_delay=0.01, backoff=0.01)
        sent = events(100, f"cut-{part}-")
        send_all(sink, sent)
        report = sink.close(10.0)
        assert report.done
        assert (report.retried > 0) is retried
        book(
            f"collector hangs up in the answer's {part}",
            sent,
            collector,
            dropped(report),
            "delivered" if part == "body" else "retried",
        )


class TestRetryAfter:
    """While a Retry-After is in force, nothing is sent to the target: batches wait or spill."""

    def test_long_retry_after_with_spill(self, collector: Collector, tmp_path: Path) -> None:
        """Retry-After: 3600 with a spill: later batches and close spill without a request."""
        collector.fail(429, headers={"Retry-After": "3600"})
        spill = tmp_path / "spill"
        sink = ForwardSink(
            http(collector),
            batch_size=10,
            max_delay=0.01,
            backoff=0.01,
            max_backoff=1.0,
            spill_dir=spill,
        )
        sent = events(50, "ra-")
        for start in range(0, 50, 10):
            send_all(sink, sent[start : start + 10])
            assert sink.flush(5.0).done
        send_all(sink, events(5, "ra-close-"))  # still queued at close
        report = sink.close(5.0)
        assert len(collector.requests) == 1  # the 429 only: no request since, no burst at close
        assert report.spilled == 55
        assert report.sent == 0
        # The next start (that process did not hear the Retry-After) sends the spill.
        later = ForwardSink(http(collector), spill_dir=spill)
        assert collector.wait_for_requests({e.request_id for e in sent})
        later.close(5.0)
        book("429, Retry-After 3600, spill", sent, collector, 0, "spilled, sent at next start")

    def test_long_retry_after_without_spill(self, collector: Collector) -> None:
        """Retry-After: 3600 without a spill: batches wait in the queue; close counts them."""
        collector.fail(429, headers={"Retry-After": "3600"})
        sink = ForwardSink(http(collector), batch_size=10, max_delay=0.01, max_backoff=0.05)
        sent = events(30, "wait-")
        send_all(sink, sent)
        assert collector.wait_for_answers(1, status=429)
        assert not sink.flush(0.3).done  # waiting, not retrying every max_backoff
        report = sink.close(0.5)
        assert len(collector.requests) == 1
        assert dropped(report) == 30  # the batch told to wait failed; the rest were not tried
        assert set(report.dropped) == {"send_failed", "closed"}
        book(
            "429, Retry-After 3600, no spill",
            sent,
            collector,
            dropped(report),
            "dropped at close: send_failed (the batch told to wait), closed (the rest)",
        )

    def test_replay_waits(self, collector: Collector, tmp_path: Path) -> None:
        """A replay told to wait stops; the batches after it spill rather than being sent."""
        spill = tmp_path / "spill"
        collector.stop()
        first = ForwardSink(http(collector), batch_size=10, max_retries=0, spill_dir=spill)
        spilled = events(30, "old-")
        send_all(first, spilled)
        assert first.close(5.0).spilled == 30
        collector.start()
        collector.fail(429, headers={"Retry-After": "3600"})
        second = ForwardSink(
            http(collector),
            batch_size=10,
            max_delay=0.01,
            max_backoff=1.0,
            spill_dir=spill,
            name="told-to-wait",
        )
        join_replay("told-to-wait")  # the replay at start was told to wait, and stopped
        assert collector.wait_for_answers(1, status=429)
        sent = events(20, "new-")
        send_all(second, sent)
        assert second.flush(5.0).done
        report = second.close(5.0)
        assert len(collector.requests) == 1
        assert report.spilled == 20
        third = ForwardSink(http(collector), spill_dir=spill)
        assert collector.wait_for_requests({e.request_id for e in spilled + sent})
        third.close(5.0)
        book("429 to a replay", spilled + sent, collector, 0, "spilled, sent at next start")


class TestRejected:
    """A batch refused for good: only the events refused are dropped (counted), never spilled."""

    def test_refused_events(self, collector: Collector, tmp_path: Path) -> None:
        """400 for batches holding two bad events: they are isolated, the rest is delivered."""
        spill = tmp_path / "spill"
        collector.refuse(400, request_ids={"bad-1", "bad-2"})
        sink = ForwardSink(http(collector), batch_size=50, max_delay=0.01, spill_dir=spill)
        sent = events(200, "refused-")
        sent[10], sent[120] = usage_event("bad-1"), usage_event("bad-2")
        with structlog.testing.capture_logs() as logs:
            send_all(sink, sent)
            report = sink.close(10.0)
        assert report.dropped == {"rejected": 2}
        assert report.spilled == 0
        assert report.sent == 198
        assert not list(spill.glob("seg-*"))
        assert answered(collector, 400) <= 2 * 11  # one binary search per bad event
        refusals = [line for line in logs if line["event"] == "events_rejected"]
        assert refusals
        assert refusals[0]["status"] == 400
        book("collector refuses 2 events (400)", sent, collector, 2, "dropped: rejected")

    def test_refused_in_spill(self, collector: Collector, tmp_path: Path) -> None:
        """A refused event in the spill: counted once, the segment replayed and let go."""
        spill = tmp_path / "spill"
        collector.stop()
        first = ForwardSink(http(collector), batch_size=10, max_retries=0, spill_dir=spill)
        spilled = events(30, "poison-")
        spilled[9] = usage_event("poison")
        send_all(first, spilled)
        assert first.close(5.0).spilled == 30
        collector.start()
        collector.refuse(400, request_ids={"poison"})
        second = ForwardSink(
            http(collector), batch_size=10, max_delay=0.01, spill_dir=spill, name="refused-replay"
        )
        join_replay("refused-replay")
        later = events(30, "poison-later-")
        for start in range(0, 30, 10):  # each delivery starts a replay: nothing left to send
            send_all(second, later[start : start + 10])
            assert second.flush(5.0).done
        report = second.close(5.0)
        assert report.dropped == {"rejected": 1}
        assert report.replayed == 30
        assert not list(spill.glob("seg-*"))
        refused = answered(collector, 400)
        third = ForwardSink(http(collector), spill_dir=spill, name="after-refusal")
        join_replay("after-refusal")
        third.close(5.0)
        assert answered(collector, 400) == refused  # never sent again
        book("a refused event in the spill (400)", spilled + later, collector, 1, "rejected")

    def test_too_large(self, collector: Collector) -> None:
        """413 for batches of more than 10 events: sent in halves until they fit, all delivered."""
        collector.refuse(413, most=10)
        sink = ForwardSink(http(collector), batch_size=128, max_delay=0.01)
        sent = events(256, "large-")
        send_all(sink, sent)
        report = sink.close(20.0)
        assert report.sent == 256
        assert report.dropped == {}
        assert all(r["count"] <= 10 for r in collector.requests if r["status"] == 200)
        book("batches too large (413)", sent, collector, 0, "split until they fit")

    def test_refused_whole(self, collector: Collector, tmp_path: Path) -> None:
        """A refusal for the whole request (401) is not split: one request per batch, counted."""
        collector.refuse(401, most=0)
        sink = ForwardSink(
            http(collector), batch_size=50, max_delay=0.01, spill_dir=tmp_path / "spill"
        )
        sent = events(100, "unauthorized-")
        for start in range(0, 100, 50):
            send_all(sink, sent[start : start + 50])
            assert sink.flush(5.0).done
        report = sink.close(5.0)
        assert answered(collector, 401) == 2
        assert report.dropped == {"rejected": 100}
        assert report.spilled == 0
        book("collector refuses every request (401)", sent, collector, 100, "dropped: rejected")

    def test_refused_in_journal(self, collector: Collector, tmp_path: Path) -> None:
        """Durable mode, then SIGKILL: a refused event is off the journal, never sent again."""
        spill = tmp_path / "spill"
        collector.refuse(400, request_ids={"journaled-3"})
        options = {"durable": True, "batch_size": 10, "max_delay": 0.01}
        with child(collector, spill, count=20, prefix="journaled-", flush=True, **options) as proc:
            read_until_done(proc)
            proc.kill()
            proc.wait(30)
        refused = answered(collector, 400)
        later = ForwardSink(http(collector), spill_dir=spill, name="journal-refused")
        join_replay("journal-refused")
        later.close(5.0)
        assert answered(collector, 400) == refused
        arrived = request_ids(collector, "journaled-")
        assert sorted(arrived) == sorted(f"journaled-{i}" for i in range(20) if i != 3)
        record(
            "a refused event, durable, SIGKILL",
            sent=20,
            received=len(set(arrived)),
            counted=1,
            note="rejected (400), off the journal",
        )


class TestSpillDisk:
    """A spill that fills up or turns read-only: nothing raises, each event is counted once."""

    def test_full_disk(self, collector: Collector, disks: Disks) -> None:
        """On a full disk, a batch cut short is counted as spill_failed and never replayed."""
        spill = disks.full("spill", "32k")
        collector.stop()
        sink = ForwardSink(
            http(collector), batch_size=40, max_delay=0.01, max_retries=0, spill_dir=spill
        )
        sent: list[BaseEvent] = []
        for round_ in range(12):
            batch = events(40, f"full{round_}-")
            sent += batch
            send_all(sink, batch)
            assert sink.flush(5.0).done
        report = sink.stats()
        assert report.dropped.get("spill_failed", 0) > 0
        assert report.spilled + report.dropped["spill_failed"] == len(sent)
        collector.start()
        after = events(5, "after-full-")
        send_all(sink, after)
        report = sink.close(10.0)
        assert report.corrupt == 0
        assert report.replayed == report.spilled
        book(
            "spill on a full disk (32k tmpfs)",
            sent + after,
            collector,
            report.dropped["spill_failed"],
            "dropped: spill_failed",
        )

    def test_read_only_mid_run(self, collector: Collector, disks: Disks, tmp_path: Path) -> None:
        """Turned read-only: the application's files are never touched, close does not raise."""
        spill = tmp_path / "spill"
        collector.stop()
        sink = ForwardSink(
            http(collector), batch_size=10, max_delay=0.01, max_retries=0, spill_dir=spill
        )
        kept = events(10, "ro-kept-")
        send_all(sink, kept)
        assert sink.flush(5.0).spilled == 10  # a segment is open
        app_file = tmp_path / "application.txt"
        with disks.read_only(spill):
            collector.start()
            delivered = events(10, "ro-sent-")
            send_all(sink, delivered)  # sent; the replay after it cannot seal nor claim
            assert sink.flush(5.0).sent == 10
            app = os.open(app_file, os.O_RDWR | os.O_CREAT, 0o600)  # may reuse a closed number
            os.write(app, b"the application's")
            collector.stop()
            refused = events(10, "ro-refused-")
            send_all(sink, refused)  # no new segment can be made
            assert sink.flush(5.0).dropped == {"spill_failed": 10}
            report = sink.close(5.0)  # must not raise
            assert os.pread(app, 100, 0) == b"the application's"
            os.close(app)
        assert app_file.read_bytes() == b"the application's"
        assert report.sent == 10
        assert report.spilled == 10
        assert report.dropped == {"spill_failed": 10}
        # What was spilled before is still on disk for the next start.
        text = "".join(path.read_text() for path in spill.glob("seg-*"))
        left = [json.loads(line) for line in text.splitlines()]
        assert sorted(line["request_id"] for line in left) == sorted(e.request_id for e in kept)
        book(
            "spill turns read-only, closed read-only",
            kept + delivered + refused,
            collector,
            report.spilled + report.dropped["spill_failed"],
            "10 left in the spill for the next start, 10 dropped: spill_failed",
        )

    def test_read_only_then_writable(
        self, collector: Collector, disks: Disks, tmp_path: Path
    ) -> None:
        """A spill that turns read-only and back: what it held is replayed once it can be."""
        spill = tmp_path / "spill"
        collector.stop()
        sink = ForwardSink(
            http(collector), batch_size=10, max_delay=0.01, max_retries=0, spill_dir=spill
        )
        kept = events(10, "rw-kept-")
        send_all(sink, kept)
        assert sink.flush(5.0).spilled == 10
        collector.start()
        delivered = events(10, "rw-sent-")
        with disks.read_only(spill):
            send_all(sink, delivered[:5])
            report = sink.flush(5.0)
            assert report.sent == 5
            assert report.replayed == 0
            assert report.dropped == {}
        send_all(sink, delivered[5:])  # writable again: sealed, claimed, replayed
        report = sink.close(10.0)
        assert report.replayed == 10
        assert report.dropped == {}
        assert not list(spill.glob("seg-*"))
        book("spill read-only, then writable", kept + delivered, collector, 0, "replayed")

    def test_stuck_batch_spilled_once(self, collector: Collector, tmp_path: Path) -> None:
        """A batch the collector holds past close is spilled once, not again by the worker."""
        collector.hang(60.0)
        spill = tmp_path / "spill"
        sink = ForwardSink(
            http(collector, read_timeout=1.0),
            batch_size=10,
            max_delay=0.01,
            max_retries=0,
            spill_dir=spill,
            name="stuck-worker",
        )
        sent = events(10, "stuck-")
        send_all(sink, sent)
        assert collector.requested.wait(5.0)
        assert sink.close(0.2).spilled == 10
        (worker,) = [t for t in threading.enumerate() if t.name == "stuck-worker"]
        worker.join(10.0)  # its send times out: it must leave the batch to the copy
        assert not worker.is_alive()
        report = sink.stats()
        assert report.spilled == 10
        assert dropped(report) == 0
        lines = [line for path in spill.glob("seg-*") for line in path.read_text().splitlines()]
        assert len(lines) == 10
        collector.reset()
        collector.release.set()
        later = ForwardSink(http(collector), spill_dir=spill)
        assert collector.wait_for_requests({e.request_id for e in sent})
        later.close(5.0)
        book("batch stuck in the collector at close", sent, collector, 0, "spilled once, replayed")

    @pytest.mark.parametrize("durable", [False, True], ids=["spill", "durable"])
    def test_read_only_at_start(
        self, collector: Collector, disks: Disks, tmp_path: Path, durable: bool
    ) -> None:
        """A spill directory read-only at start: no error, counted, used once it is writable."""
        spill = tmp_path / "spill"
        spill.mkdir()
        collector.stop()
        sent = events(20, f"ro-start-{durable}-")
        with disks.read_only(spill), structlog.testing.capture_logs() as logs:
            sink = ForwardSink(
                http(collector),
                batch_size=10,
                max_delay=0.01,
                max_retries=0,
                spill_dir=spill,
                durable=durable,
            )
            send_all(sink, sent[:10])
            report = sink.flush(5.0)
        logged = {line["event"] for line in logs}
        assert "spill_unavailable" in logged
        assert ("journal_failed" in logged) is durable
        assert report.dropped == {"spill_failed": 10}
        assert report.unjournaled == (10 if durable else 0)
        send_all(sink, sent[10:])  # writable now: spilled
        assert sink.flush(5.0).spilled == 10
        collector.start()
        report = sink.close(10.0)
        later = ForwardSink(http(collector), spill_dir=spill)
        assert collector.wait_for_requests({e.request_id for e in sent[10:]})
        later.close(5.0)
        book(
            f"spill directory read-only at start ({'durable' if durable else 'spill'})",
            sent,
            collector,
            report.dropped["spill_failed"],
            "dropped: spill_failed while read-only; spilled, then replayed, after",
        )


class TestJsonlDisk:
    """A JSONL file on a full disk: a batch cut short is undone, no line torn, none twice."""

    @pytest.mark.parametrize("batch_size", [1, 50])
    def test_full_disk(self, disks: Disks, batch_size: int) -> None:
        """Retried until there is room again: every event once, every line whole."""
        disk = disks.full("jsonl", "64k")
        filler = disk / "filler"
        filler.write_bytes(b"x" * 50_000)  # the disk is nearly full
        sink = ForwardSink(
            JsonlTransport(disk / "events.jsonl"),
            batch_size=batch_size,
            max_delay=0.01,
            backoff=0.01,
            max_backoff=0.05,
            max_retries=100_000,
        )
        sent = events(100, f"jsonl-full-{batch_size}-")
        send_all(sink, sent)
        until(lambda: sink.stats().retried > 0)  # a batch failed partway
        filler.unlink()
        report = sink.close(30.0)
        lines = (disk / "events.jsonl").read_bytes().splitlines()
        arrived = [json.loads(line)["event_id"] for line in lines]  # no torn line
        assert sorted(arrived) == sorted(e.event_id for e in sent)  # none twice
        assert report.sent == 100
        record(
            f"JSONL file on a full disk (batches of {batch_size})",
            sent=100,
            received=len(set(arrived)),
            counted=dropped(report),
            note="cut back, retried",
        )

    def test_torn_line_not_continued(self, tmp_path: Path) -> None:
        """A file left with a torn last line (a write cut short): the next line starts afresh."""
        path = tmp_path / "events.jsonl"
        path.write_bytes(b'{"type": "image:usage", "request_id": "to')
        transport = JsonlTransport(path)
        sent = events(3, "after-torn-")
        transport.send(sent)
        transport.close()
        lines = path.read_bytes().splitlines()
        assert [json.loads(line)["request_id"] for line in lines[1:]] == [
            e.request_id for e in sent
        ]


class TestSpillLines:
    """Bad spill lines, whatever they raise, are skipped and counted; the rest is replayed."""

    def test_corrupt_and_nested(self, collector: Collector, tmp_path: Path) -> None:
        """Torn, garbled and deeply nested lines do not stop the replay nor strand the segment."""
        spill = tmp_path / "spill"
        collector.stop()
        first = ForwardSink(http(collector), batch_size=10, max_retries=0, spill_dir=spill)
        spilled = events(20, "lines-")
        send_all(first, spilled)
        assert first.close(5.0).spilled == 20
        (segment,) = spill.glob("seg-*")
        lines = segment.read_bytes().splitlines(keepends=True)
        bad = [
            b"[" * 1_000 + b"]" * 1_000 + b"\n",
            b"[" * 100_000 + b"]" * 100_000 + b"\n",
            b'{"type": "image:usage", "usage": [1, 2]}\n',
            b'{"type": "image:usage", "request_id": "tor\n',
        ]
        segment.write_bytes(b"".join(lines[:5] + bad + lines[5:]))
        collector.start()
        second = ForwardSink(
            http(collector), batch_size=10, max_delay=0.01, spill_dir=spill, name="bad-lines"
        )
        join_replay("bad-lines")
        assert collector.wait_for_requests({e.request_id for e in spilled})
        later = events(10, "lines-later-")
        send_all(second, later)
        report = second.close(10.0)
        assert report.corrupt == len(bad)
        assert report.dropped == {}
        assert report.sent == 30
        assert not list(spill.glob("seg-*"))
        book(
            "corrupt and deeply nested spill lines",
            spilled + later,
            collector,
            0,
            f"{len(bad)} bad lines skipped, counted as corrupt",
        )


CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from helpers import usage_event
    from aievents.sinks import ForwardSink
    from aievents.transports.http import HttpTransport
    sink = ForwardSink(HttpTransport({url!r}, read_timeout=5), spill_dir={spill!r}, **{options!r})
    for index in range({count}):
        sink.handle(usage_event(f"{prefix}{{index}}"))
    if {flush}:
        print(sink.flush(60).spilled, flush=True)
    print("done", flush=True)
    sys.stdin.readline()  # wait to be killed
    """
)


def child(
    collector: Collector,
    spill: Path,
    *,
    count: int,
    prefix: str,
    flush: bool = False,
    **options: Any,
) -> subprocess.Popen[str]:
    """A process whose ForwardSink queues ``count`` events, then waits to be killed."""
    return spawn(
        CHILD,
        url=collector.url,
        spill=str(spill),
        options=options,
        count=count,
        prefix=prefix,
        flush=flush,
    )


def read_until_done(process: subprocess.Popen[str]) -> list[str]:
    """The lines a child printed before ``done``."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        if line.strip() == "done":
            return lines
        lines.append(line.strip())
    raise AssertionError(f"the child ended early ({process.wait()})")


def request_ids(collector: Collector, prefix: str) -> list[str]:
    """Request ids with ``prefix`` that arrived, duplicates included."""
    return [
        str(item.get("request_id"))
        for item in list(collector.events)
        if str(item.get("request_id", "")).startswith(prefix)
    ]


class TestKill:
    """SIGKILL loses nothing that reached the disk, and resends nothing acknowledged."""

    def test_durable_resends_only_unacknowledged(
        self, collector: Collector, tmp_path: Path
    ) -> None:
        """Durable mode: after SIGKILL the next process sends what was not delivered, once."""
        spill = tmp_path / "spill"
        collector.accept(20)
        collector.fail(503, times=100_000)
        with child(
            collector,
            spill,
            count=5000,
            prefix="k-",
            durable=True,
            batch_size=100,
            max_queue=100_000,
            max_retries=1000,
            backoff=0.2,
            max_backoff=0.5,
        ) as process:
            read_until_done(process)
            assert collector.wait_for_answers(1, status=503, timeout=60)
            process.kill()
            process.wait(30)
        before = len(request_ids(collector, "k-"))
        assert before > 0
        collector.reset()
        sink = ForwardSink(http(collector), spill_dir=spill, batch_size=500)
        assert collector.wait_for_requests({f"k-{index}" for index in range(5000)}, timeout=60)
        sink.close(10.0)
        arrived = request_ids(collector, "k-")
        assert len(arrived) == 5000  # none twice
        record(
            "SIGKILL, durable journal",
            sent=5000,
            received=len(set(arrived)),
            counted=0,
            note=f"{before} delivered before the kill, none sent again",
        )

    def test_spill_without_journal(self, collector: Collector, tmp_path: Path) -> None:
        """Without a journal: what was flushed to the spill before SIGKILL is sent at next start."""
        spill = tmp_path / "spill"
        collector.stop()
        with child(
            collector, spill, count=1000, prefix="nj-", flush=True, batch_size=100, max_retries=0
        ) as process:
            spilled = read_until_done(process)[-1]
            process.kill()
            process.wait(30)
        assert int(spilled) == 1000
        collector.start()
        sink = ForwardSink(http(collector), spill_dir=spill, batch_size=500)
        assert collector.wait_for_requests({f"nj-{index}" for index in range(1000)}, timeout=60)
        sink.close(10.0)
        arrived = request_ids(collector, "nj-")
        record(
            "SIGKILL, no journal, spilled before",
            sent=1000,
            received=len(set(arrived)),
            counted=0,
            note="the killed writer's open segment replayed",
        )

    def test_replay_resumes(self, collector: Collector, tmp_path: Path) -> None:
        """A replay killed halfway resumes where it stopped: nothing is sent twice."""
        spill = tmp_path / "spill"
        collector.stop()
        writer = ForwardSink(http(collector), batch_size=500, max_retries=0, spill_dir=spill)
        sent = events(3000, "resume-")
        send_all(writer, sent)
        assert writer.close(30.0).spilled == 3000
        collector.start()
        collector.accept(10)
        collector.fail(503, times=100_000)
        with child(collector, spill, count=0, prefix="-", batch_size=100) as process:
            read_until_done(process)
            assert collector.wait_for_answers(11, timeout=60)  # 10 chunks taken, then a 503
            process.kill()
            process.wait(30)
        assert len(collector.ids()) == 1000
        collector.reset()
        sink = ForwardSink(http(collector), spill_dir=spill, batch_size=500)
        assert collector.wait_for_requests({e.request_id for e in sent}, timeout=60)
        sink.close(10.0)
        assert len(collector.ids()) == 3000  # none twice
        book("SIGKILL in the middle of a replay", sent, collector, 0, "resumed, none sent again")

    def test_killed_after_last_ack(self, collector: Collector, tmp_path: Path) -> None:
        """Killed between a segment's last acknowledgement and its release: none sent again."""
        spill = tmp_path / "spill"
        collector.stop()
        with spawn(ACKED_CHILD, url=collector.url, spill=str(spill)) as process:
            assert process.stdout is not None
            assert process.stdin is not None
            assert process.stdout.readline().strip() == "300"  # spilled
            collector.start()
            process.stdin.write("go\n")
            process.stdin.flush()
            assert process.wait(60) == -signal.SIGKILL
        assert collector.wait_for_requests({f"acked-{index}" for index in range(300)})
        later = ForwardSink(http(collector), spill_dir=spill, name="after-last-ack")
        join_replay("after-last-ack")
        later.close(5.0)
        arrived = request_ids(collector, "acked-")
        assert len(arrived) == len(set(arrived)) == 301  # none twice
        assert not list(spill.glob("seg-*"))
        record(
            "SIGKILL after a replay's last acknowledgement",
            sent=301,
            received=len(set(arrived)),
            counted=0,
            note="replayed by the killed process, none sent again",
        )


ACKED_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from helpers import usage_event
    from aievents.sinks import ForwardSink, _spill
    from aievents.transports.http import HttpTransport

    def killed(self, path):  # the segment's events are all acknowledged: die before letting go
        os.kill(os.getpid(), signal.SIGKILL)

    _spill.Spill.release = killed
    sink = ForwardSink(
        HttpTransport({url!r}, read_timeout=5),
        spill_dir={spill!r},
        batch_size=100,
        max_delay=0.01,
        max_retries=0,
    )
    for index in range(300):
        sink.handle(usage_event(f"acked-{{index}}"))
    print(sink.flush(60).spilled, flush=True)
    sys.stdin.readline()  # the collector is back
    sink.handle(usage_event("acked-300"))
    sink.flush(60)  # sent; the spill is replayed after it
    print("not killed", flush=True)
    """
)


class TestAcknowledgements:
    """Acknowledgements beside a segment: a torn one is ignored and never joins the next."""

    def test_torn_line(self, tmp_path: Path) -> None:
        """A writer killed mid-acknowledgement: the next one starts a fresh line."""
        from aievents.sinks._spill import Spill

        spill = Spill(tmp_path)
        assert spill.write(events(10, "a-")) is not None
        spill.seal()
        claimed = spill.claim()
        assert claimed is not None
        spill.ack(claimed.name, [0, 1, 2])
        (acks,) = tmp_path.glob("*.acks")
        with acks.open("ab") as handle:
            handle.write(b"1")  # torn: "1" of "1 2\n" would make the next line "15 6"
        spill.ack(claimed.name, [5])
        assert [index for index, _ in spill.pending(claimed)] == [3, 4, 6, 7, 8, 9]
        spill.release(claimed)
        assert not list(tmp_path.glob("seg-*"))


class TestDeadline:
    """request_timeout bounds a whole request, however slowly the collector answers."""

    def test_trickled_head(self, collector: Collector) -> None:
        """A status line and headers trickled a byte at a time: a retryable timeout."""
        collector.trickle(0.05, part="head")
        transport = http(collector, read_timeout=5.0, request_timeout=0.5)
        with pytest.raises(TransportError, match=r"took longer than 0\.5 s") as info:
            transport.send(events(3, "th-"))
        transport.close()
        assert info.value.retryable
        assert not collector.requests[-1].get("finished")

    @pytest.mark.parametrize("own", [True, False], ids=["own-client", "given-client"])
    def test_trickled_body(self, collector: Collector, own: bool) -> None:
        """A 200 whose body trickles is delivered without waiting for the rest."""
        collector.trickle(0.05, part="body")
        client = None if own else httpx.Client(timeout=5.0)
        transport = http(collector, read_timeout=5.0, request_timeout=0.5, client=client)
        transport.send(events(3, "tb-"))
        transport.close()
        if client is not None:
            client.close()
        assert not collector.requests[-1].get("finished")
        assert collector.wait_for(3)

    def test_given_client(self, collector: Collector) -> None:
        """The application's client: a trickled answer is given up on at the deadline."""
        collector.trickle(0.05, part="head")
        client = httpx.Client(timeout=5.0)
        transport = http(collector, request_timeout=0.5, client=client)
        with pytest.raises(TransportError, match=r"took longer than 0\.5 s") as info:
            transport.send(events(3, "given-"))
        assert info.value.retryable
        assert not collector.requests[-1].get("finished")
        with pytest.raises(TransportError, match=r"earlier request .* has not ended"):
            transport.send(events(3, "given-held-"))  # held up by the one given up on
        collector.release.set()  # the request given up on ends (its answer may be cut short)
        until(lambda: collector.requests[0].get("ended"))
        last = events(3, "given-after-")
        transport.send(last)  # the client still works
        transport.close()
        assert not client.is_closed
        client.close()
        assert {e.event_id for e in last} <= set(collector.ids())

    def test_proxy(self, collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
        """Through the environment's proxy (the collector, proxying): the deadline holds."""
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{collector.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        transport = HttpTransport("http://127.0.0.1:9/ingest", request_timeout=0.5)
        sent = events(2, "proxied-")
        transport.send(sent)  # port 9 listens to nothing: it went through the proxy
        assert collector.requests[-1]["headers"]["Host"] == "127.0.0.1:9"
        collector.trickle(0.05, part="head")
        with pytest.raises(TransportError, match=r"took longer than 0\.5 s"):
            transport.send(events(2, "proxied-slow-"))
        transport.close()
        assert not collector.requests[-1].get("finished")
        assert {e.event_id for e in sent} <= set(collector.ids())

    def test_proxy_exemption(self, collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
        """A host NO_PROXY names is reached directly."""
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        transport = http(collector)
        sent = events(2, "direct-")
        transport.send(sent)
        transport.close()
        assert {e.event_id for e in sent} <= set(collector.ids())

    def test_devtools_post(self, collector: Collector) -> None:
        """The devtools bridge's post mode shares the helper: deadline and Retry-After kept."""
        from aievents.devtools import DevtoolsTransport

        transport = DevtoolsTransport("127.0.0.1", collector.port, mode="post", timeout=0.5)
        collector.trickle(0.05, part="head")
        with pytest.raises(TransportError, match=r"took longer than 0\.5 s"):
            transport.send(events(1, "dt-"))
        collector.fail(429, headers={"Retry-After": "7"})
        with pytest.raises(TransportError) as info:
            transport.send(events(1, "dt-"))
        assert info.value.retry_after == 7.0
        last = events(1, "dt-")
        transport.send(last)
        transport.close()
        assert last[0].event_id in collector.ids()

    def test_settings(self) -> None:
        """request_timeout is checked like the other settings."""
        for value in (0, -1.0, float("nan"), "5"):
            with pytest.raises(ValueError, match=r"^request_timeout must be a positive number"):
                HttpTransport("http://127.0.0.1:9/", request_timeout=value)  # type: ignore[arg-type]
