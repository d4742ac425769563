"""One event that cannot be encoded never costs its batch: it is taken out and counted.

Validation refuses at construction what JSON cannot write; these events get
past it the ways validation cannot see (a container changed after the event
was built, an application's event class with a field of its own), and every
output takes them out of their batch, counts them
(``dropped["unencodable"]``) and sends the rest, at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import structlog

from aievents import ImageUsage, ImageUsageEvent
from aievents.sinks import ForwardSink
from aievents.transports.http import HttpTransport
from aievents.transports.jsonl import JsonlTransport
from collector_server import Collector

from faults import record
from helpers import usage_event

COUNT = 1000
BAD = 500


@attrs.frozen(kw_only=True, slots=True)
class TaggedUsageEvent(ImageUsageEvent):
    """An application's event class with a field of its own, which no validator checks."""

    tag: Any = None


def mutated(request_id: str) -> Any:
    """Valid when built; a NaN put in its options afterwards."""
    event = usage_event(request_id, options={"guidance": 7.5})
    event.options["guidance"] = math.nan
    return event


def mutated_deep(request_id: str) -> Any:
    """Valid when built; an infinity appended to a list inside its options afterwards."""
    weights = [0.5]
    event = usage_event(request_id, model_options={"lora": {"weights": weights}})
    weights.append(math.inf)
    return event


def subclassed(request_id: str) -> Any:
    """An application's subclass with a set in its own field."""
    return TaggedUsageEvent(
        request_id=request_id,
        model="gpt-image-1",
        usage=ImageUsage(input_tokens=1, output_tokens=1),
        tag={"a", "b"},
    )


WAYS: dict[str, Callable[[str], Any]] = {
    "mutated container": mutated,
    "mutated nested list": mutated_deep,
    "event subclass": subclassed,
}


def planted(way: str, count: int = COUNT, bad: int = BAD) -> list[Any]:
    """``count`` usage events, the one at ``bad`` unencodable."""
    return [
        WAYS[way](f"r{index}") if index == bad else usage_event(f"r{index}")
        for index in range(count)
    ]


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    with structlog.testing.capture_logs():
        yield


def quick(transport: Any, **settings: Any) -> ForwardSink:
    """A sink whose retries would be quick: a failing batch shows at once, not in seconds."""
    settings.setdefault("batch_size", 100)
    settings.setdefault("max_delay", 0.01)
    return ForwardSink(transport, backoff=0.01, max_backoff=0.05, max_retries=3, **settings)


class TestPlanted:
    """The bad event is refused by the encoder, whichever way it got past validation."""

    @pytest.mark.parametrize("way", WAYS)
    def test_encoder_refuses(self, way: str) -> None:
        """Encoding it fails (the premise of the other tests)."""
        from aievents.encoding.jsonl import encode

        with pytest.raises((ValueError, TypeError)):
            encode(WAYS[way]("x"), "dict")


class TestHttp:
    """Through a real local collector: 999 arrive, 1 counted, no retry, no stall."""

    @pytest.mark.parametrize("way", WAYS)
    def test_one_bad_event(self, collector: Collector, way: str) -> None:
        """The other 99 events of its batch are sent with the first try."""
        sink = quick(HttpTransport(collector.url, read_timeout=5.0))
        for event in planted(way):
            sink.handle(event)
        report = sink.close(30.0)
        assert collector.wait_for(COUNT - 1)
        received = {e["request_id"] for e in collector.events}
        assert len(received) == COUNT - 1
        assert f"r{BAD}" not in received
        assert dict(report.dropped) == {"unencodable": 1}
        assert report.retried == 0
        assert report.sent == COUNT - 1
        assert (report.done, report.pending) == (True, 0)  # the refused one is not still held
        assert len(collector.requests) == COUNT // 100
        record(
            f"one unencodable event in 1,000 ({way}), HTTP",
            sent=COUNT,
            received=len(received),
            counted=report.dropped["unencodable"],
            note="dropped: unencodable",
        )

    def test_logged_without_values(self, collector: Collector) -> None:
        """The refusal is logged, rate-limited: what kind and why, not the values."""
        sink = quick(HttpTransport(collector.url, read_timeout=5.0))
        with structlog.testing.capture_logs() as logs:
            for event in planted("mutated container", count=10, bad=3):
                sink.handle(event)
            sink.close(10.0)
        lines = [line for line in logs if line["event"] == "event_unencodable"]
        assert len(lines) == 1
        assert lines[0]["events"] == 1
        assert "image:usage" in lines[0]["reason"]
        assert "7.5" not in json.dumps(logs, default=str)

    def test_every_event_bad(self, collector: Collector) -> None:
        """A batch of nothing but bad events is counted whole; nothing is posted."""
        sink = quick(HttpTransport(collector.url, read_timeout=5.0))
        for index in range(5):
            sink.handle(mutated(f"r{index}"))
        report = sink.close(10.0)
        assert dict(report.dropped) == {"unencodable": 5}
        assert (report.done, report.pending) == (True, 0)
        assert collector.requests == []


class TestJsonl:
    """To a JSONL file: every line but the bad event's, nothing retried."""

    def test_one_bad_event(self, tmp_path: Path) -> None:
        """999 lines, 1 counted."""
        path = tmp_path / "events.jsonl"
        sink = quick(JsonlTransport(path))
        for event in planted("event subclass"):
            sink.handle(event)
        flushed = sink.flush(30.0)
        assert (flushed.done, flushed.pending) == (True, 0)
        report = sink.close(30.0)
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert len({line["request_id"] for line in lines}) == COUNT - 1
        assert dict(report.dropped) == {"unencodable": 1}
        assert report.retried == 0
        record(
            "one unencodable event in 1,000, JSONL",
            sent=COUNT,
            received=len(lines),
            counted=report.dropped["unencodable"],
            note="dropped: unencodable",
        )

    def test_lone_surrogate_written_losslessly(self, tmp_path: Path) -> None:
        """Text UTF-8 cannot hold (a lone surrogate) is written escaped, read back the same."""
        from aievents import from_json

        path = tmp_path / "events.jsonl"
        transport = JsonlTransport(path)
        event = usage_event(options={"note": "half \ud83d a pair"}, user_id="u\udc00")
        transport.send([event])
        transport.close()
        back = from_json(path.read_bytes().decode())
        assert back.options == {"note": "half \ud83d a pair"}
        assert back.user_id == "u\udc00"


class TestSpill:
    """On the way to disk too: a full queue's batch, and the durable journal."""

    def test_overflow_spill(self, collector: Collector, tmp_path: Path) -> None:
        """The batch a full queue spills loses only its bad event, counted; the rest replay."""
        collector.hang(30.0)
        sink = ForwardSink(
            HttpTransport(collector.url, read_timeout=60.0),
            batch_size=10,
            max_delay=0.01,
            max_queue=20,
            overflow="spill",
            spill_dir=tmp_path / "spill",
        )
        batch = planted("mutated container", count=100, bad=12)
        for event in batch[:10]:
            sink.handle(event)
        assert collector.requested.wait(10.0)  # the worker holds the first batch: the queue fills
        for event in batch[10:]:
            sink.handle(event)
        stats = sink.stats()
        assert dict(stats.dropped) == {"unencodable": 1}
        assert stats.spilled >= 9
        collector.release.set()
        report = sink.close(30.0)
        assert collector.wait_for(99)
        received = {e["request_id"] for e in collector.events}
        assert received == {f"r{index}" for index in range(100)} - {"r12"}
        assert dict(report.dropped) == {"unencodable": 1}
        record(
            "one unencodable event in a spilled batch (overflow=spill)",
            sent=100,
            received=len(received),
            counted=report.dropped["unencodable"],
            note="dropped: unencodable",
        )

    def test_journal(self, collector: Collector, tmp_path: Path) -> None:
        """Durable mode: the bad event is counted at once, never journaled nor queued."""
        sink = ForwardSink(
            HttpTransport(collector.url, read_timeout=5.0),
            max_delay=0.01,
            spill_dir=tmp_path / "spill",
            durable=True,
        )
        for event in planted("mutated container", count=50, bad=7):
            sink.handle(event)
        report = sink.close(10.0)
        assert collector.wait_for(49)
        assert dict(report.dropped) == {"unencodable": 1}
        assert not list((tmp_path / "spill" / "journal").glob("seg-*"))


class TestOtlp:
    """OTLP writes integers past 64 bits as exact strings: nothing to refuse."""

    def test_huge_counts(self) -> None:
        """A count too large for an int64 is sent as its digits, with the rest of the batch."""
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )

        from aievents.transports.otlp import OtlpTransport

        transport = OtlpTransport("http://127.0.0.1:9")
        huge = usage_event("h", usage=ImageUsage(input_tokens=2**70, output_tokens=1), images=2**64)
        request = transport.logs_request([usage_event("a"), huge])
        back = ExportLogsServiceRequest.FromString(request.SerializeToString())
        records = back.resource_logs[0].scope_logs[0].log_records
        values = {kv.key: kv.value for kv in records[1].attributes}
        assert values["gen_ai.usage.input_tokens"].string_value == str(2**70)
        assert values["aievents.images"].string_value == str(2**64)
        assert transport.metrics_request([usage_event("a"), huge]) is not None
        transport.close()
