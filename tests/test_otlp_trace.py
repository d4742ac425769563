"""OtlpTransport: log records point at the request's span, received and decoded on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from aievents import EventClient, ImageRequestStartedEvent
from aievents._trace import opened
from aievents.instrument import instrument_openai
from aievents.sinks import ForwardSink
from aievents.sinks.otel import OtelSink
from aievents.testing import ImageServer
from aievents.transports.otlp import OtlpTransport
from otlp_receiver import OtlpCollector, clear_otel_environment

from helpers import completed_event, started_event, usage_event

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
OWN_TRACE = "0af7651916cd43dd8448eb211c80319c"
OWN_SPAN = "b7ad6b7169203331"
SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]


@pytest.fixture(name="otlp")
def _otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpCollector]:
    clear_otel_environment(monkeypatch)
    with OtlpCollector() as collector:
        yield collector


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="tracing")
def _tracing() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """The real SDK's tracer provider (not the global one), its spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def ids(record: Any) -> tuple[str, str, int]:
    """A log record's trace id, span id (hex) and flags."""
    return record.trace_id.hex(), record.span_id.hex(), record.flags


def sent(otlp: OtlpCollector, events: list[Any]) -> list[Any]:
    """The log records of ``events`` as the receiver decoded them."""
    transport = OtlpTransport(otlp.endpoint, metrics=False)
    transport.send(events)
    transport.close()
    return otlp.records()


class TestSpanIds:
    """A log record carries the request's own span, else the span active at the call."""

    def test_traceparent(self, otlp: OtlpCollector) -> None:
        """Only a traceparent: its trace id, span id and flags (sampled)."""
        event = usage_event("r1", traceparent=f"00-{TRACE}-{PARENT}-01")
        (record,) = sent(otlp, [event])
        assert ids(record) == (TRACE, PARENT, 1)
        assert len(record.trace_id) == 16
        assert len(record.span_id) == 8

    def test_not_sampled(self, otlp: OtlpCollector) -> None:
        """A traceparent not sampled: its ids, flags 0."""
        (record,) = sent(otlp, [usage_event("r1", traceparent=f"00-{TRACE}-{PARENT}-00")])
        assert ids(record) == (TRACE, PARENT, 0)

    def test_own_span_wins(self, otlp: OtlpCollector) -> None:
        """The request's own span, when a span maker opened one; the traceparent's flags."""
        event = completed_event(
            "r1", traceparent=f"00-{TRACE}-{PARENT}-01", trace_id=TRACE, span_id=OWN_SPAN
        )
        (record,) = sent(otlp, [event])
        assert ids(record) == (TRACE, OWN_SPAN, 1)

    def test_own_span_alone(self, otlp: OtlpCollector) -> None:
        """An own span without a traceparent (a root span): its ids, sampled.

        A span maker tells the ids of a span it records only.
        """
        (record,) = sent(otlp, [usage_event("r1", trace_id=OWN_TRACE, span_id=OWN_SPAN)])
        assert ids(record) == (OWN_TRACE, OWN_SPAN, 1)

    @pytest.mark.parametrize(("given", "flags"), [("00", 1), ("01", 1), ("03", 3), ("02", 3)])
    def test_own_span_flags(self, otlp: OtlpCollector, given: str, flags: int) -> None:
        """An own span: the traceparent's flags, with the sampled bit set (the span recorded)."""
        event = completed_event(
            "r1", traceparent=f"00-{TRACE}-{PARENT}-{given}", trace_id=TRACE, span_id=OWN_SPAN
        )
        (record,) = sent(otlp, [event])
        assert ids(record) == (TRACE, OWN_SPAN, flags)

    def test_none(self, otlp: OtlpCollector) -> None:
        """Neither: no ids, as OTLP writes a record outside any trace."""
        (record,) = sent(otlp, [usage_event("r1")])
        assert ids(record) == ("", "", 0)

    def test_each_its_own(self, otlp: OtlpCollector) -> None:
        """In one batch, each record points at its own event's span."""
        events = [
            started_event("r1", traceparent=f"00-{TRACE}-{PARENT}-01"),
            completed_event(
                "r1", traceparent=f"00-{TRACE}-{PARENT}-01", trace_id=TRACE, span_id=OWN_SPAN
            ),
            usage_event("r2"),
        ]
        assert [ids(r) for r in sent(otlp, events)] == [
            (TRACE, PARENT, 1),
            (TRACE, OWN_SPAN, 1),
            ("", "", 0),
        ]


class TestInstrumentedCall:
    """The real openai SDK, instrumented, called inside an application span of the real SDK."""

    def test_application_span(
        self,
        otlp: OtlpCollector,
        server: ImageServer,
        tracing: tuple[TracerProvider, InMemorySpanExporter],
    ) -> None:
        """Every log record carries the application span's trace id and span id, sampled."""
        provider, exporter = tracing
        events = EventClient()
        sink = ForwardSink(OtlpTransport(otlp.endpoint), max_delay=0.01)
        events.add_sink(sink)
        client = instrument_openai(
            openai.OpenAI(api_key="sk-test-secret", base_url=server.base_url, max_retries=0),
            events=events,
        )
        with provider.get_tracer("app").start_as_current_span("handle-upload"):
            client.images.generate(model="gpt-image-1", prompt="a fox")
        client.close()
        assert sink.flush(5.0).sent == 3
        events.close(5.0)
        (span,) = exporter.get_finished_spans()
        assert span.context is not None
        records = otlp.records()
        assert [r.body.string_value for r in records] == SEQUENCE
        flags = int(span.context.trace_flags)  # the W3C flags: sampled, and random here
        assert flags & 1
        expected = (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}", flags)
        assert [ids(r) for r in records] == [expected] * 3

    def test_request_span(
        self,
        otlp: OtlpCollector,
        server: ImageServer,
        tracing: tuple[TracerProvider, InMemorySpanExporter],
    ) -> None:
        """A span maker opens the request's span at started: the later records carry it."""
        provider, exporter = tracing
        tracer = provider.get_tracer("maker")
        opened_spans: list[Any] = []

        def open_span(event: Any) -> None:
            assert isinstance(event, ImageRequestStartedEvent)
            span = tracer.start_span("image request")
            opened_spans.append(span)
            context = span.get_span_context()
            opened(event.request_id, context.trace_id, context.span_id)

        events = EventClient()
        events.on("image:request:started", open_span)
        sink = ForwardSink(OtlpTransport(otlp.endpoint), max_delay=0.01)
        events.add_sink(sink)
        client = instrument_openai(
            openai.OpenAI(api_key="sk-test-secret", base_url=server.base_url, max_retries=0),
            events=events,
        )
        with provider.get_tracer("app").start_as_current_span("handle-upload"):
            client.images.generate(model="gpt-image-1", prompt="a fox")
        client.close()
        for span in opened_spans:
            span.end()
        assert sink.flush(5.0).sent == 3
        events.close(5.0)
        spans = {s.name: s for s in exporter.get_finished_spans()}
        app, request = spans["handle-upload"].context, spans["image request"].context
        assert app is not None
        assert request is not None
        started, completed, usage = otlp.records()
        flags = int(app.trace_flags)
        assert ids(started) == (f"{app.trace_id:032x}", f"{app.span_id:016x}", flags)
        own = (f"{request.trace_id:032x}", f"{request.span_id:016x}", flags)
        assert ids(completed) == ids(usage) == own

    def test_root_request_span(
        self,
        otlp: OtlpCollector,
        server: ImageServer,
        tracing: tuple[TracerProvider, InMemorySpanExporter],
    ) -> None:
        """OtelSink opens a root span (no application span): its records say it is sampled."""
        provider, exporter = tracing
        events = EventClient()
        events.add_sink(OtelSink(provider, metrics=False))
        sink = ForwardSink(OtlpTransport(otlp.endpoint, metrics=False), max_delay=0.01)
        events.add_sink(sink)
        client = instrument_openai(
            openai.OpenAI(api_key="sk-test-secret", base_url=server.base_url, max_retries=0),
            events=events,
        )
        client.images.generate(model="gpt-image-1", prompt="a fox")
        client.close()
        assert sink.flush(5.0).sent == 3
        events.close(5.0)
        (span,) = exporter.get_finished_spans()  # exported: the sampler kept it
        assert span.context is not None
        assert span.context.trace_flags.sampled
        assert span.parent is None
        started, completed, usage = otlp.records()
        assert ids(started) == ("", "", 0)  # the span is opened as the started event is handled
        own = (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}", 1)
        assert ids(completed) == ids(usage) == own

    def test_not_sampled(self, otlp: OtlpCollector, server: ImageServer) -> None:
        """An application span the sampler dropped: its ids, the sampled flag clear."""
        provider = TracerProvider(sampler=ALWAYS_OFF)
        events = EventClient()
        sink = ForwardSink(OtlpTransport(otlp.endpoint, metrics=False), max_delay=0.01)
        events.add_sink(sink)
        client = instrument_openai(
            openai.OpenAI(api_key="sk-test-secret", base_url=server.base_url, max_retries=0),
            events=events,
        )
        with provider.get_tracer("app").start_as_current_span("dropped") as span:
            client.images.generate(model="gpt-image-1", prompt="a fox")
        client.close()
        assert sink.flush(5.0).sent == 3
        events.close(5.0)
        context = span.get_span_context()
        assert not context.trace_flags.sampled
        expected = (f"{context.trace_id:032x}", f"{context.span_id:016x}", int(context.trace_flags))
        assert [ids(r) for r in otlp.records()] == [expected] * 3
