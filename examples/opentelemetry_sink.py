"""Image requests as spans and metrics through the application's own OpenTelemetry SDK.

Run: python examples/opentelemetry_sink.py
Extras: otel (and the application's own opentelemetry-sdk)
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aievents import EventClient
from aievents.instrument import image_request
from aievents.sinks import OtelSink

#: What OpenAI's images API answers for one low-quality 1024x1024 image.
ANSWER = {
    "created": 1767225600,
    "data": [{"b64_json": "aGVsbG8="}],
    "usage": {
        "input_tokens": 10,
        "output_tokens": 272,
        "total_tokens": 282,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
    },
}


def sums(reader: InMemoryMetricReader) -> dict[str, Any]:
    """Each metric's total over its points (a histogram's sum)."""
    found: dict[str, Any] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points = metric.data.data_points
                found[metric.name] = sum(getattr(p, "value", None) or p.sum for p in points)
    return found


def main() -> None:
    """One image call inside an application span, then its span and metrics."""
    exported = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exported))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer = tracer_provider.get_tracer("shop")

    with EventClient() as events:
        events.add_sink(OtelSink(tracer_provider, meter_provider))
        with (
            tracer.start_as_current_span("render banner"),
            image_request(
                provider="openai",
                model="gpt-image-1",
                size="1024x1024",
                quality="low",
                client=events,
            ) as request,
        ):
            request.record(ANSWER)

    spans = {span.context.span_id: span for span in exported.get_finished_spans()}
    for span in spans.values():
        if span.parent is not None:
            print(f"{spans[span.parent.span_id].name} > {span.name}")
            attributes = span.attributes or {}
            for name in ("gen_ai.usage.output_tokens", "gen_ai.usage.cost", "aievents.images"):
                print(f"  {name} = {attributes[name]}")
    totals = sums(reader)
    print(
        f"requests {totals['aievents.requests']}, images {totals['aievents.images']}, "
        f"tokens {totals['gen_ai.client.token.usage']}, cost ${totals['aievents.cost']:.5f}"
    )
    tracer_provider.shutdown()
    meter_provider.shutdown()


if __name__ == "__main__":
    main()
