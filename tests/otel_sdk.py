"""The real OpenTelemetry SDK for the OtelSink tests: in-memory spans and metrics.

Tests of the global providers run in a fresh interpreter (OpenTelemetry
sets each global provider once per process): see ``test_otel_sink.fresh``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from aievents import EventClient
from aievents.sinks.otel import OtelSink


class Sdk:
    """A TracerProvider exporting to memory and a MeterProvider read in memory."""

    def __init__(self, sampler: Sampler | None = None) -> None:
        self.exported = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(sampler=sampler)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exported))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("app")

    def sink(self, **options: Any) -> OtelSink:
        """An OtelSink on these providers."""
        return OtelSink(self.tracer_provider, self.meter_provider, **options)

    def client(self, **options: Any) -> tuple[EventClient, OtelSink]:
        """A strict event client with an OtelSink on these providers."""
        client = EventClient(strict=True)
        sink = self.sink(**options)
        client.add_sink(sink)
        return client, sink

    @property
    def spans(self) -> list[ReadableSpan]:
        """The spans ended so far, in the order they ended."""
        return list(self.exported.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        """The ended spans whose name starts with ``prefix``."""
        return [span for span in self.spans if span.name.startswith(prefix)]

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` (none when it has none)."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def total(self, name: str, **attributes: Any) -> float:
        """The sum of metric ``name`` (a histogram's sum) over the points with ``attributes``."""
        return sum(
            getattr(point, "value", None) or getattr(point, "sum", 0)
            for point in self.points(name)
            if all(point.attributes.get(key) == value for key, value in attributes.items())
        )

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
