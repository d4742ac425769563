"""Events as OTLP messages: log records and metrics, as protobuf (extra ``[otel]``).

Each batch becomes one ``ExportLogsServiceRequest``: one log record per
event, with the GenAI semantic conventions' attributes
(``gen_ai.request.model``, ``gen_ai.provider.name``, ``gen_ai.operation.name``,
``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``) and
``aievents.*`` ones for what the conventions lack (image tokens, images,
size, quality, ids, and the cost: ``aievents.cost_usd`` the one aievents
computed, with ``aievents.priced_as``, the price entry used;
``aievents.reported_cost_usd``, ``aievents.billed_quantity`` and
``aievents.billed_unit`` what the provider reported; the names of LogSink's
fields, doubles as there: finite, as an event's amounts and quantities are
bounded). It also becomes one ``ExportMetricsServiceRequest`` with delta
temporality:

- ``gen_ai.client.token.usage``: histogram of tokens per request, by
  ``gen_ai.token.type`` (``input``/``output``);
- ``gen_ai.client.operation.duration``: histogram of request seconds;
- ``aievents.images``: images produced (sum);
- ``aievents.cost``: cost in USD as aievents priced it (sum);
- ``aievents.reported_cost``: cost in USD as the providers reported it (sum).

Metric attributes are low-cardinality only (model, provider, operation,
size, quality, error type): request and user ids go on the log records, not
on the metrics. Messages are built with ``opentelemetry-proto``, from the
events with their secrets scrubbed (:func:`aievents._outbound.outbound`); an
integer too large for OTLP's 64 bits is sent as a string, exact.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aievents._extras import missing_extra

try:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        AGGREGATION_TEMPORALITY_DELTA,
        Histogram,
        HistogramDataPoint,
        Metric,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
except ImportError as _error:
    raise missing_extra("OTLP encoding", "otel", _error) from None

from aievents._genai import DURATION_BOUNDARIES, TOKEN_BOUNDARIES, usage_values
from aievents._outbound import outbound
from aievents._version import __version__
from aievents.encoding import encode_each
from aievents.events import (
    BaseEvent,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageUsageEvent,
)

__all__ = ["DURATION_BOUNDARIES", "TOKEN_BOUNDARIES", "OtlpEncoder"]

_INT64: Final = range(-(2**63), 2**63)
_SEVERITY_INFO: Final = 9
_SEVERITY_WARN: Final = 13
#: Event fields that become ``aievents.*`` log attributes when set.
_LOG_FIELDS: Final = (
    "event_id", "request_id", "user_id", "project_id", "api_key_id", "size", "quality",
    "images", "thread_id", "run_id", "correlation_id", "streaming", "duration",
    "error_type", "status_code",
)  # fmt: skip


def _value(value: Any) -> AnyValue:
    """A Python value as an OTLP AnyValue (an int past 64 bits as its exact string)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if value in _INT64:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))  # exact, where an int64 would overflow
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _attributes(values: Mapping[str, Any]) -> list[KeyValue]:
    """OTLP attributes of the values that are set (None is left out, as OTLP has no null)."""
    return [KeyValue(key=k, value=_value(v)) for k, v in values.items() if v is not None]


def _metric_dims(event: BaseEvent) -> tuple[tuple[str, Any], ...]:
    """Low-cardinality attributes of a metric point."""
    return (
        ("gen_ai.request.model", event.model),
        ("gen_ai.provider.name", event.provider),
        ("gen_ai.operation.name", getattr(event, "operation", None)),
        ("aievents.size", getattr(event, "size", None)),
        ("aievents.quality", getattr(event, "quality", None)),
    )


class _Histogram:
    """Values recorded by their metric attributes, then one OTLP histogram of them all."""

    def __init__(self, boundaries: Sequence[float]) -> None:
        self.boundaries = boundaries
        self.points: dict[tuple[tuple[str, Any], ...], list[float]] = defaultdict(list)

    def record(self, value: float, dims: tuple[tuple[str, Any], ...]) -> None:
        self.points[dims].append(value)

    def metric(self, name: str, unit: str, description: str, start: int, end: int) -> Metric:
        points = []
        bounds = [float(b) for b in self.boundaries]
        for dims, values in self.points.items():
            counts = [0] * (len(bounds) + 1)
            for value in values:  # bucket i holds (bounds[i-1], bounds[i]]
                counts[bisect.bisect_left(bounds, value)] += 1
            points.append(
                HistogramDataPoint(
                    attributes=_attributes(dict(dims)),
                    start_time_unix_nano=start,
                    time_unix_nano=end,
                    count=len(values),
                    sum=float(sum(values)),
                    bucket_counts=counts,
                    explicit_bounds=bounds,
                    min=float(min(values)),
                    max=float(max(values)),
                )
            )
        return Metric(
            name=name,
            unit=unit,
            description=description,
            histogram=Histogram(
                data_points=points, aggregation_temporality=AGGREGATION_TEMPORALITY_DELTA
            ),
        )


def _number(
    dims: tuple[tuple[str, Any], ...], value: float, start: int, end: int
) -> NumberDataPoint:
    """A sum's data point: an int as an int while it fits in 64 bits, else a double."""
    point = NumberDataPoint(
        attributes=_attributes(dict(dims)), start_time_unix_nano=start, time_unix_nano=end
    )
    if isinstance(value, int) and value in _INT64:
        point.as_int = value
    else:
        point.as_double = float(value)
    return point


class OtlpEncoder:
    """Builds the OTLP messages of batches, for one service.

    Args:
        service_name: The ``service.name`` resource attribute.
    """

    def __init__(self, service_name: str = "aievents") -> None:
        self._resource = Resource(
            attributes=_attributes({"service.name": service_name, "telemetry.sdk.name": "aievents"})
        )
        self._scope = InstrumentationScope(name="aievents", version=__version__)

    def log_record(self, event: BaseEvent) -> LogRecord:
        """The OTLP log record of one event, its secrets scrubbed."""
        event = outbound(event)
        values: dict[str, Any] = {
            "event.name": event.event_type,
            "gen_ai.request.model": event.model,
            "gen_ai.provider.name": event.provider,
            "gen_ai.operation.name": getattr(event, "operation", None),
        }
        for name in _LOG_FIELDS:
            value = getattr(event, name, None)
            if value is not None:
                values[f"aievents.{name}"] = value
        if isinstance(event, ImageRequestErrorEvent):
            values["error.type"] = event.error_type
        if isinstance(event, ImageUsageEvent):
            values.update(usage_values(event))
        error = isinstance(event, ImageRequestErrorEvent)
        return LogRecord(
            time_unix_nano=event.timestamp * 1_000_000,
            observed_time_unix_nano=event.timestamp * 1_000_000,
            severity_number=_SEVERITY_WARN if error else _SEVERITY_INFO,  # type: ignore[arg-type]
            severity_text="WARN" if error else "INFO",
            body=AnyValue(string_value=event.event_type),
            attributes=_attributes(values),
        )

    def logs_request(self, batch: Sequence[BaseEvent]) -> ExportLogsServiceRequest:
        """The logs export of a batch.

        Raises:
            UnencodableError: some events cannot be encoded.
        """
        scope_logs = ScopeLogs(scope=self._scope, log_records=encode_each(batch, self.log_record))
        return ExportLogsServiceRequest(
            resource_logs=[ResourceLogs(resource=self._resource, scope_logs=[scope_logs])]
        )

    def metrics_request(self, batch: Sequence[BaseEvent]) -> ExportMetricsServiceRequest | None:
        """The metrics export of a batch (delta temporality), or None if it has no points."""
        tokens = _Histogram(TOKEN_BOUNDARIES)
        durations = _Histogram(DURATION_BOUNDARIES)
        images: dict[tuple[tuple[str, Any], ...], int] = defaultdict(int)
        costs: dict[tuple[tuple[str, Any], ...], float] = defaultdict(float)
        reported: dict[tuple[tuple[str, Any], ...], float] = defaultdict(float)
        for event in map(outbound, batch):
            dims = _metric_dims(event)
            if isinstance(event, ImageUsageEvent):
                usage = event.usage
                if usage.input_tokens is not None:
                    tokens.record(usage.input_tokens, (*dims, ("gen_ai.token.type", "input")))
                if usage.output_tokens is not None:
                    tokens.record(usage.output_tokens, (*dims, ("gen_ai.token.type", "output")))
                if event.images:
                    images[dims] += event.images
                if event.cost is not None and event.cost.total:
                    costs[dims] += float(event.cost.total)
                if usage.reported_cost:
                    reported[dims] += float(usage.reported_cost)
            elif (
                isinstance(event, (ImageRequestCompletedEvent, ImageRequestErrorEvent))
                and event.duration is not None
            ):
                extra = (
                    (("error.type", event.error_type),)
                    if isinstance(event, ImageRequestErrorEvent)
                    else ()
                )
                durations.record(event.duration / 1000.0, (*dims, *extra))
        if not (tokens.points or durations.points or images or costs or reported):
            return None
        start = min(e.timestamp for e in batch) * 1_000_000
        end = max(e.timestamp for e in batch) * 1_000_000 + 1
        metrics: list[Metric] = []
        if tokens.points:
            metrics.append(
                tokens.metric(
                    "gen_ai.client.token.usage", "{token}", "Tokens used per request", start, end
                )
            )
        if durations.points:
            metrics.append(
                durations.metric(
                    "gen_ai.client.operation.duration", "s", "Duration of requests", start, end
                )
            )
        sums: tuple[tuple[str, str, str, Mapping[Any, int | float]], ...] = (
            ("aievents.images", "{image}", "Images produced", images),
            ("aievents.cost", "USD", "Cost of the requests, as aievents priced them", costs),
            ("aievents.reported_cost", "USD", "Cost of the requests, as reported", reported),
        )
        for name, unit, description, values in sums:
            if values:
                points = [_number(dims, value, start, end) for dims, value in values.items()]
                metrics.append(
                    Metric(
                        name=name,
                        unit=unit,
                        description=description,
                        sum=Sum(
                            data_points=points,
                            aggregation_temporality=AGGREGATION_TEMPORALITY_DELTA,
                            is_monotonic=True,
                        ),
                    )
                )
        scope = ScopeMetrics(scope=self._scope, metrics=metrics)
        return ExportMetricsServiceRequest(
            resource_metrics=[ResourceMetrics(resource=self._resource, scope_metrics=[scope])]
        )
