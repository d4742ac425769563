"""Trace context on events: the span active at the call, and the request's own span."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from aievents import (
    BaseEvent,
    EventClient,
    EventValidationError,
    ImageRequestStartedEvent,
    ImageUsage,
    ImageUsageEvent,
)
from aievents._outbound import outbound
from aievents._trace import capture, opened, parse_traceparent, take, timed, times
from aievents.instrument import image_request
from aievents.testing import capture_events
from aievents.wire import from_dict, from_envelope, to_dict, to_envelope

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = f"00-{TRACE}-{SPAN}-01"
TRACE_INT, SPAN_INT = int(TRACE, 16), int(SPAN, 16)


@pytest.fixture(name="tracer")
def _tracer() -> trace.Tracer:
    """A tracer of a real SDK provider of this test's own (the global one is left alone)."""
    return TracerProvider().get_tracer("app")


def traceparent_of(span: trace.Span) -> str:
    """The W3C traceparent of ``span``."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


class TestCapture:
    """capture() reads the application's active span, and nothing without one."""

    def test_active_span(self, tracer: trace.Tracer) -> None:
        """Inside a span: its traceparent, sampled flag included."""
        with tracer.start_as_current_span("app") as span:
            assert capture() == traceparent_of(span)
            assert parse_traceparent(capture() or "")[2] & 1  # sampled

    def test_no_active_span(self) -> None:
        """Outside any span: None."""
        assert capture() is None

    def test_unsampled_span(self) -> None:
        """A span the sampler dropped still has ids: flags 00, so children are dropped too."""
        tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("app")
        with tracer.start_as_current_span("app") as span:
            assert capture() == traceparent_of(span)
            assert not parse_traceparent(capture() or "")[2] & 1  # not sampled

    def test_without_opentelemetry_imported(self) -> None:
        """An application without OpenTelemetry: nothing captured and nothing imported."""
        code = (
            "import json, sys\n"
            "from aievents._trace import capture\n"
            "from aievents.instrument import image_request\n"
            "with image_request(provider='openai', model='gpt-image-1') as r:\n"
            "    pass\n"
            "print(json.dumps([capture(), 'traceparent' in r.fields,"
            " 'opentelemetry' in sys.modules]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert json.loads(out) == [None, False, False]

    def test_parse(self) -> None:
        """parse_traceparent gives the trace id, span id and flags as ints."""
        assert parse_traceparent(PARENT) == (TRACE_INT, SPAN_INT, 1)


class TestRequestEvents:
    """A request's events carry the call's traceparent, and its own span once one is opened."""

    def test_traceparent_on_every_event(self, client: EventClient, tracer: trace.Tracer) -> None:
        """The span active at the call is on started, completed and usage; no own span."""
        with (
            capture_events(client) as events,
            tracer.start_as_current_span("handler") as span,
            image_request(provider="openai", model="gpt-image-1", client=client),
        ):
            pass
        assert len(events) == 3
        assert {e.traceparent for e in events} == {traceparent_of(span)}
        assert {(e.trace_id, e.span_id) for e in events} == {(None, None)}

    def test_captured_at_the_call(self, client: EventClient, tracer: trace.Tracer) -> None:
        """The span active when the request began, not one active when it ends."""
        with capture_events(client) as events, tracer.start_as_current_span("outer") as outer:
            request = image_request(provider="openai", model="gpt-image-1", client=client)
            request.__enter__()
            with tracer.start_as_current_span("inner"):
                request.__exit__(None, None, None)
        assert len(events) == 3
        assert {e.traceparent for e in events} == {traceparent_of(outer)}

    def test_own_span_ids_on_later_events(self, client: EventClient) -> None:
        """A span maker told the ids while started was delivered: the later events carry them."""

        def open_span(event: BaseEvent) -> None:
            opened(event.request_id or "", TRACE_INT, SPAN_INT)

        client.on(ImageRequestStartedEvent, open_span)
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client),
        ):
            pass
        started, completed, usage = events
        assert (started.trace_id, started.span_id) == (None, None)
        assert (completed.trace_id, completed.span_id) == (TRACE, SPAN)
        assert (usage.trace_id, usage.span_id) == (TRACE, SPAN)

    def test_error_carries_own_span(self, client: EventClient) -> None:
        """A failed request's error event carries the span too."""
        client.on(
            ImageRequestStartedEvent, lambda e: opened(e.request_id or "", TRACE_INT, SPAN_INT)
        )
        with (
            capture_events(client) as events,
            pytest.raises(RuntimeError),
            image_request(provider="openai", model="gpt-image-1", client=client),
        ):
            raise RuntimeError("boom")
        assert events[-1].event_type == "image:request:error"
        assert (events[-1].trace_id, events[-1].span_id) == (TRACE, SPAN)

    def test_ids_of_another_request_ignored(self, client: EventClient) -> None:
        """Ids opened for another request id are not taken."""
        opened("some-other-request", TRACE_INT, SPAN_INT)
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client),
        ):
            pass
        assert {e.span_id for e in events} == {None}
        assert take("some-other-request") == (TRACE, SPAN)
        assert take("some-other-request") is None

    def test_async_task(self, client: EventClient, tracer: trace.Tracer) -> None:
        """An async request in a task sees the span active in that task."""

        async def call() -> str:
            with tracer.start_as_current_span("task") as span:
                async with image_request(provider="openai", model="gpt-image-1", client=client):
                    await asyncio.sleep(0)
                return traceparent_of(span)

        async def both() -> list[str]:
            return list(await asyncio.gather(call(), call()))

        with capture_events(client) as events:
            parents = asyncio.run(both())
        assert len(set(parents)) == 2
        by_request: dict[str | None, set[str | None]] = {}
        for event in events:
            by_request.setdefault(event.request_id, set()).add(event.traceparent)
        assert sorted(p for (p,) in by_request.values()) == sorted(parents)


class TestFields:
    """The trace fields are validated, cross the wire, and are never scrubbed."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("traceparent", "00-abc-def-01"),
            ("traceparent", f"00-{'0' * 32}-{SPAN}-01"),
            ("traceparent", f"00-{TRACE}-{'0' * 16}-01"),
            ("traceparent", f"ff-{TRACE}-{SPAN}-01"),
            ("traceparent", PARENT.upper()),
            ("traceparent", f"{PARENT}-more"),  # version 00 has nothing after the flags
            ("trace_id", "0" * 32),
            ("trace_id", TRACE[:-1]),
            ("span_id", SPAN.upper()),
            ("span_id", 42),
        ],
    )
    def test_bad_value_named(self, field: str, value: object) -> None:
        """A malformed id is refused, naming the field and the value."""
        with pytest.raises(EventValidationError) as caught:
            ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(), **{field: value})
        assert caught.value.field == field
        assert repr(value) in str(caught.value)

    def test_later_version(self) -> None:
        """A later traceparent version is taken, and read by its first four parts."""
        later = f"01-{TRACE}-{SPAN}-01-what-comes-next"
        event = ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(), traceparent=later)
        assert event.traceparent == later
        assert parse_traceparent(later) == (TRACE_INT, SPAN_INT, 1)

    def test_wire_round_trip(self) -> None:
        """Both wire shapes keep the ids (camelCase in the envelope)."""
        event = ImageUsageEvent(
            request_id="r",
            model="m",
            usage=ImageUsage(),
            traceparent=PARENT,
            trace_id=TRACE,
            span_id="53995c3f42cd8ad8",
        )
        assert from_dict(to_dict(event)) == event
        envelope = to_envelope(event)
        assert envelope["payload"]["traceparent"] == PARENT
        assert envelope["payload"]["traceId"] == TRACE
        assert envelope["payload"]["spanId"] == "53995c3f42cd8ad8"
        assert from_envelope(envelope) == event

    def test_not_scrubbed(self) -> None:
        """32 hex digits look like a key to the scrubber; trace ids stay whole all the same."""
        event = ImageUsageEvent(
            request_id="r", model="m", usage=ImageUsage(), traceparent=PARENT, trace_id=TRACE
        )
        clean = outbound(event)
        assert (clean.traceparent, clean.trace_id) == (PARENT, TRACE)


class TestTimed:
    """The request's nanosecond times reach a span maker on its thread, for its id only."""

    def test_told_and_forgotten(self) -> None:
        """times() gives what timed() told for that request id; timed(None) forgets."""
        timed("req-1", 10, 20)
        assert times("req-1") == (10, 20)
        assert times("req-2") is None
        timed(None)
        assert times("req-1") is None

    def test_per_thread(self) -> None:
        """Another thread does not see them."""
        timed("req-1", 10)
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(times("req-1")))
        thread.start()
        thread.join()
        assert seen == [None]
        assert times("req-1") == (10, None)
        timed(None)

    def test_told_while_emitting(self) -> None:
        """ImageRequest tells its start while started is delivered, its end while completed is."""
        client = EventClient(strict=True)
        told: list[object] = []

        class Told:
            def handle(self, event: BaseEvent) -> None:
                told.append(times(event.request_id or ""))

            def flush(self, timeout: float | None = None) -> bool:
                return True

            def close(self, timeout: float | None = None) -> bool:
                return True

        client.add_sink(Told())
        with image_request(provider="openai", model="gpt-image-1", client=client) as request:
            pass
        started, ended, usage = told
        assert isinstance(started, tuple)
        assert isinstance(ended, tuple)
        assert started[1] is None
        assert ended[0] == started[0] <= (ended[1] or 0)
        assert usage is None
        assert times(request.request_id or "") is None
