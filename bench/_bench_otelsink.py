"""OtelSink rows of bench_otel: ``handle`` per event against the same SDK calls by hand.

The stream is what the instrumentation emits for a request made inside an
application span: ``image:request:started``, then ``completed`` and
``image:usage`` with the same timestamp, for requests of a few models and
sizes, priced. Each call of a row handles the next event.

The bare row makes the same OpenTelemetry API and SDK calls with the same
values, worked out before timing: on start, the current span's context
(is the parent the current span?), ``start_span`` with the same name, parent,
kind, start time and attributes, and the span's ``is_recording`` and
``get_span_context`` with its ids (told to the request); on completion the
duration recorded; on usage the same ``set_attributes`` and ``end``, then
the same instrument calls with the same attribute dicts. What is left between the rows is the
mapping: reading the events into names, attributes and instrument calls.

Both rows have their own SDK providers of one setup: a ``TracerProvider``
whose processor exports each ended span to an exporter that keeps nothing,
and a ``MeterProvider`` with an in-memory reader (the SDK aggregates every
point; nothing is collected while timing).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from _events import MODELS, SIZES, priced_event
from aievents import (
    BaseEvent,
    ImageRequestCompletedEvent,
    ImageRequestStartedEvent,
)
from aievents._genai import DURATION_BOUNDARIES, TOKEN_BOUNDARIES
from aievents.sinks.otel import OtelSink

#: Requests in the stream: more than a row handles in a run (15 x 2000 events),
#: so that no request id comes twice within a row's rounds.
REQUESTS = 12_000
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT = f"00-{TRACE_ID:032x}-b7ad6b7169203331-01"

Pair = tuple[str, Callable[[], None], Callable[[], None]]


class Discard(SpanExporter):
    """An exporter that keeps nothing: the SDK's own work, without a growing list."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def providers() -> tuple[TracerProvider, MeterProvider]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Discard()))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def stream() -> list[BaseEvent]:
    """Started, completed and usage of each request, as the instrumentation emits them."""
    events: list[BaseEvent] = []
    at = 1_767_225_600_000
    for index in range(REQUESTS):
        usage = priced_event(
            index,
            model=MODELS[index % len(MODELS)],
            size=SIZES[index % len(SIZES)],
            user=index % 50,
            timestamp_ms=at + index * 10 + 7,
        )
        common: dict[str, Any] = {
            "request_id": usage.request_id,
            "provider": "openai",
            "model": usage.model,
            "operation": "image.generation",
            "size": usage.size,
            "project_id": usage.project_id,
            "user_id": usage.user_id,
            "api_key_id": usage.api_key_id,
            "traceparent": PARENT,
        }
        events.append(
            ImageRequestStartedEvent(timestamp=at + index * 10, number_of_images=1, **common)
        )
        events.append(
            ImageRequestCompletedEvent(timestamp=usage.timestamp, duration=7.0, images=1, **common)
        )
        events.append(usage.__class__(**{**_fields(usage), "traceparent": PARENT}))
    return events


def _fields(event: BaseEvent) -> dict[str, Any]:
    import attrs

    return {f.name: getattr(event, f.name) for f in attrs.fields(type(event)) if f.init}


def ours(events: list[BaseEvent]) -> Callable[[], None]:
    """OtelSink.handle of the next event."""
    tracer_provider, meter_provider = providers()
    sink = OtelSink(tracer_provider, meter_provider)
    handle = sink.handle
    following = itertools.cycle(events).__next__

    def run() -> None:
        handle(following())

    return run


def bare(events: list[BaseEvent]) -> Callable[[], None]:
    """The same SDK calls with the same values, worked out before timing."""
    tracer_provider, meter_provider = providers()
    tracer = tracer_provider.get_tracer("aievents")
    meter = meter_provider.get_meter("aievents")
    tokens = meter.create_histogram(
        "gen_ai.client.token.usage",
        "{token}",
        "",
        explicit_bucket_boundaries_advisory=TOKEN_BOUNDARIES,
    )
    duration = meter.create_histogram(
        "gen_ai.client.operation.duration",
        "s",
        "",
        explicit_bucket_boundaries_advisory=DURATION_BOUNDARIES,
    )
    requests = meter.create_counter("aievents.requests", "{request}")
    images = meter.create_counter("aievents.images", "{image}")
    cost = meter.create_counter("aievents.cost", "USD")
    remote = SpanContext(TRACE_ID, 0xB7AD6B7169203331, is_remote=True, trace_flags=TraceFlags(1))
    parent = trace.set_span_in_context(NonRecordingSpan(remote))
    instruments = (tokens, duration, requests, images, cost)
    steps = [_step(tracer, instruments, parent, e, events[i - 2 : i]) for i, e in enumerate(events)]
    return _runner(steps)


def _runner(steps: list[Callable[[], None]]) -> Callable[[], None]:
    following = itertools.cycle(steps).__next__

    def run() -> None:
        following()()

    return run


#: The open spans of the bare row, by request id, and what their completion said.
_OPEN: dict[str, Any] = {}


def _step(
    tracer: Any,
    instruments: tuple[Any, ...],
    parent: Any,
    event: BaseEvent,
    before: list[BaseEvent],
) -> Callable[[], None]:
    """The bare SDK calls for one event, its values worked out now (``before``: its request's)."""
    tokens, duration, requests, images, cost = instruments
    request_id = event.request_id
    model = event.model
    dims = {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "aievents.operation": "image.generation",
    }
    if isinstance(event, ImageRequestStartedEvent):
        name = f"generate_content {model}"
        start = event.timestamp * 1_000_000
        attributes = {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.output.type": "image",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.request.choice.count": 1,
            "aievents.operation": "image.generation",
            "aievents.size": event.size,
            "aievents.request_id": request_id,
            "aievents.user_id": event.user_id,
            "aievents.project_id": event.project_id,
            "aievents.api_key_id": event.api_key_id,
        }

        def started() -> None:
            current = trace.get_current_span().get_span_context()
            current.span_id  # noqa: B018 - is the parent the current span? (not here)
            span = _OPEN[request_id] = tracer.start_span(
                name,
                context=parent,
                kind=SpanKind.CLIENT,
                attributes=attributes,
                start_time=start,
            )
            if span.is_recording():  # its ids, for the request's later events
                context = span.get_span_context()
                context.trace_id, context.span_id  # noqa: B018 - read, as the sink reads them

        return started
    if isinstance(event, ImageRequestCompletedEvent):
        seconds = event.duration / 1000.0

        def completed() -> None:
            duration.record(seconds, dims)

        return completed
    from aievents.sinks._otelspans import answer_values

    usage: Any = event
    opening, completed = before
    assert isinstance(completed, ImageRequestCompletedEvent)
    values = answer_values(usage, opening, completed)
    end = usage.timestamp * 1_000_000
    given = {**dims, "gen_ai.token.type": "input"}
    taken = {**dims, "gen_ai.token.type": "output"}
    input_tokens, output_tokens = usage.usage.input_tokens, usage.usage.output_tokens
    count, amount = usage.images, float(usage.cost.total)

    def used() -> None:
        span = _OPEN.pop(request_id)
        span.set_attributes(values)
        span.end(end_time=end)
        tokens.record(input_tokens, given)
        tokens.record(output_tokens, taken)
        requests.add(1, dims)
        images.add(count, dims)
        cost.add(amount, dims)

    return used


def pairs() -> list[Pair]:
    """OtelSink.handle per event against the bare SDK calls, for one stream."""
    events = stream()
    return [("OtelSink.handle (started, completed, usage)", ours(events), bare(events))]
