"""Events as OTLP messages: log records and metrics, as protobuf (extra ``[otel]``).

Each batch becomes one ``ExportLogsServiceRequest``: one log record per
event, with the GenAI semantic conventions' attributes
(``gen_ai.request.model``, ``gen_ai.provider.name``, ``gen_ai.operation.name``
(``generate_content`` unless set otherwise, as OtelSink writes it),
``gen_ai.output.type`` (``image``), ``gen_ai.usage.input_tokens``,
``gen_ai.usage.output_tokens``) and
``aievents.*`` ones for what the conventions lack (image tokens, images,
size, quality, ids, and the cost: ``aievents.cost_usd`` the one aievents
computed, with ``aievents.priced_as``, the price entry used;
``aievents.reported_cost_usd``, ``aievents.billed_quantity`` and
``aievents.billed_unit`` what the provider reported; the names of LogSink's
fields, doubles as there: finite, as an event's amounts and quantities are
bounded), and the event type as its ``event_name`` (where the installed
``opentelemetry-proto`` has the field) and its ``event.name`` attribute. A
log record carries the ids of the request's span: its own
(``trace_id``/``span_id``, once a span maker opened one: sampled), else the
span active at the call (``traceparent``), with that one's trace flags. It also
becomes one ``ExportMetricsServiceRequest``, with delta temporality (the
batch's points) or cumulative (running totals since the encoder was made):

- ``gen_ai.client.token.usage``: histogram of tokens per request, by
  ``gen_ai.token.type`` (``input``/``output``);
- ``gen_ai.client.operation.duration``: histogram of request seconds;
- ``aievents.images``: images produced (sum);
- ``aievents.cost``: cost in USD as aievents priced it (sum);
- ``aievents.reported_cost``: cost in USD as the providers reported it (sum).

Metric attributes are low-cardinality only (model, provider, operation name,
the event's operation as ``aievents.operation``,
size, quality, error type): request and user ids go on the log records, not
on the metrics. Messages are built with ``opentelemetry-proto``, from the
events with their secrets scrubbed (:func:`aievents._outbound.outbound`); an
integer too large for OTLP's 64 bits is sent as a string, exact.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from aievents._extras import missing_extra

try:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        AGGREGATION_TEMPORALITY_CUMULATIVE,
        AGGREGATION_TEMPORALITY_DELTA,
        Metric,
        ResourceMetrics,
        ScopeMetrics,
    )
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
except ImportError as _error:
    raise missing_extra("OTLP encoding", "otel", _error) from None

from aievents._fork import after_fork
from aievents._genai import (
    DEFAULT_OPERATION_NAME,
    DURATION_BOUNDARIES,
    TOKEN_BOUNDARIES,
    usage_values,
)
from aievents._outbound import outbound
from aievents._trace import parse_traceparent
from aievents._validate import setting
from aievents._version import __version__
from aievents.encoding import encode_each
from aievents.encoding._otlp_points import (
    MAX_ATTRIBUTE_SETS,
    OVERFLOW_ATTRIBUTES,
    Dims,
    HistogramPoints,
    SumPoints,
    attributes,
)
from aievents.events import (
    BaseEvent,
    ImageEvent,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageUsageEvent,
)

__all__ = [
    "DURATION_BOUNDARIES",
    "MAX_ATTRIBUTE_SETS",
    "OVERFLOW_ATTRIBUTES",
    "TOKEN_BOUNDARIES",
    "OtlpEncoder",
    "Temporality",
]

#: How metric points are aggregated: the batch's own (``delta``) or running totals.
Temporality = Literal["delta", "cumulative"]

#: The W3C trace flags' sampled bit.
_SAMPLED: Final = 0x01
#: Whether the installed LogRecord has ``event_name`` (the ``event.name`` attribute's successor).
_EVENT_NAME: Final = "event_name" in LogRecord.DESCRIPTOR.fields_by_name
_SEVERITY_INFO: Final = 9
_SEVERITY_WARN: Final = 13
#: Event fields that become ``aievents.*`` log attributes when set.
_LOG_FIELDS: Final = (
    "event_id", "request_id", "user_id", "project_id", "api_key_id", "size", "quality",
    "images", "thread_id", "run_id", "correlation_id", "streaming", "duration",
    "error_type", "status_code",
)  # fmt: skip


def _metric_dims(event: BaseEvent, operation_name: str) -> Dims:
    """Low-cardinality attributes of a metric point."""
    return (
        ("gen_ai.request.model", event.model),
        ("gen_ai.provider.name", event.provider),
        ("gen_ai.operation.name", operation_name),
        ("aievents.operation", getattr(event, "operation", None)),
        ("aievents.size", getattr(event, "size", None)),
        ("aievents.quality", getattr(event, "quality", None)),
    )


def _span_of(event: BaseEvent) -> tuple[bytes, bytes, int] | None:
    """The trace id, span id and trace flags a log record of the event points at, or None.

    The request's own span once a span maker opened one (``trace_id`` and
    ``span_id``), else the span active at the call (``traceparent``). The
    flags are the traceparent's; with the own span, its sampled bit is set
    besides (a span maker tells the ids of a span it records only, which
    the SDK exports: a sampled span, a root one too, without traceparent).
    """
    parent = event.traceparent
    trace_id = span_id = flags = 0
    if parent is not None:
        trace_id, span_id, flags = parse_traceparent(parent)
    if event.trace_id is not None and event.span_id is not None:
        own = flags | _SAMPLED
        return bytes.fromhex(event.trace_id), bytes.fromhex(event.span_id), own
    if parent is None:
        return None
    return trace_id.to_bytes(16, "big"), span_id.to_bytes(8, "big"), flags


class _Points:
    """The metric points of events: of one batch (delta), or running totals (cumulative)."""

    def __init__(self, cap: int, operation_name: str) -> None:
        self.operation_name = operation_name
        self.tokens = HistogramPoints(TOKEN_BOUNDARIES, cap)
        self.durations = HistogramPoints(DURATION_BOUNDARIES, cap)
        self.images = SumPoints(cap)
        self.costs = SumPoints(cap)
        self.reported = SumPoints(cap)

    def __bool__(self) -> bool:
        return any(
            series.points
            for series in (self.tokens, self.durations, self.images, self.costs, self.reported)
        )

    def add(self, events: Sequence[BaseEvent]) -> None:
        """Add the points of events (scrubbed already; nothing here raises)."""
        for event in events:
            dims = _metric_dims(event, self.operation_name)
            if isinstance(event, ImageUsageEvent):
                usage = event.usage
                if usage.input_tokens is not None:
                    self.tokens.record(usage.input_tokens, (*dims, ("gen_ai.token.type", "input")))
                if usage.output_tokens is not None:
                    self.tokens.record(
                        usage.output_tokens, (*dims, ("gen_ai.token.type", "output"))
                    )
                if event.images:
                    self.images.add(event.images, dims)
                if event.cost is not None and event.cost.total:
                    self.costs.add(float(event.cost.total), dims)
                if usage.reported_cost:
                    self.reported.add(float(usage.reported_cost), dims)
            elif (
                isinstance(event, (ImageRequestCompletedEvent, ImageRequestErrorEvent))
                and event.duration is not None
            ):
                extra = (
                    (("error.type", event.error_type),)
                    if isinstance(event, ImageRequestErrorEvent)
                    else ()
                )
                self.durations.record(event.duration / 1000.0, (*dims, *extra))

    def metrics(self, times: tuple[int, int], temporality: int) -> list[Metric]:
        """The metrics that have points, between ``times`` (start, end; Unix nanoseconds)."""
        found: list[Metric] = []
        histograms = (
            (self.tokens, "gen_ai.client.token.usage", "{token}", "Tokens used per request"),
            (self.durations, "gen_ai.client.operation.duration", "s", "Duration of requests"),
        )
        for histogram, name, unit, description in histograms:
            if histogram.points:
                found.append(histogram.metric(name, unit, description, times, temporality))
        sums = (
            (self.images, "aievents.images", "{image}", "Images produced"),
            (self.costs, "aievents.cost", "USD", "Cost of the requests, as aievents priced them"),
            (self.reported, "aievents.reported_cost", "USD", "Cost of the requests, as reported"),
        )
        for total, name, unit, description in sums:
            if total.points:
                found.append(total.metric(name, unit, description, times, temporality))
        return found


class OtlpEncoder:
    """Builds the OTLP messages of batches, for one service.

    Args:
        service_name: The ``service.name`` resource attribute (None: the
            one in ``resource_attributes``, else ``aievents``).
        resource_attributes: More resource attributes, such as
            ``deployment.environment.name``.
        temporality: ``"delta"`` (each metrics export holds its batch's
            points, from the batch's first event to its last) or
            ``"cumulative"`` (each export holds the running totals since
            the encoder was made, its ``start_time_unix_nano``; the
            resource gets a random ``service.instance.id`` unless it has
            one, so that the totals of two processes never mix; a forked
            child starts totals of its own, under a new random id, or
            under ``"<given id>-<child's pid>"`` when one was given).
        max_attribute_sets: The most attribute sets a metric keeps; points
            of later ones are added to the set
            ``{"otel.metric.overflow": true}``, as OpenTelemetry does. It
            bounds the memory the cumulative totals hold.
        operation_name: ``gen_ai.operation.name`` of the records and points
            (``generate_content`` by default, as
            :class:`~aievents.sinks.otel.OtelSink` writes it); the event's
            ``operation`` is ``aievents.operation``.

    Raises:
        ValueError: a setting is out of range.
    """

    def __init__(
        self,
        service_name: str | None = "aievents",
        *,
        resource_attributes: Mapping[str, str | bool | int | float] | None = None,
        temporality: Temporality = "delta",
        max_attribute_sets: int = MAX_ATTRIBUTE_SETS,
        operation_name: str = DEFAULT_OPERATION_NAME,
    ) -> None:
        if not isinstance(operation_name, str) or not operation_name:
            raise ValueError(f"operation_name must be a non-empty string, got {operation_name!r}")
        self.operation_name = operation_name
        if temporality not in ("delta", "cumulative"):
            raise ValueError(f"temporality must be 'delta' or 'cumulative', got {temporality!r}")
        self.temporality: Temporality = temporality
        self.max_attribute_sets: int = setting(
            "max_attribute_sets", max_attribute_sets, positive=True
        )
        resource: dict[str, Any] = {
            "telemetry.sdk.name": "aievents",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.version": __version__,
            **(resource_attributes or {}),
        }
        if service_name is not None:
            resource["service.name"] = service_name
        resource.setdefault("service.name", "aievents")
        cumulative = temporality == "cumulative"
        given = resource.get("service.instance.id")
        #: Whether this encoder names its process with a ``service.instance.id`` of its own.
        self._own_instance = cumulative and given is None
        #: The ``service.instance.id`` given, that a forked child's totals derive theirs from.
        self._given_instance = given if cumulative else None
        self._resource_values = resource
        self._scope = InstrumentationScope(name="aievents", version=__version__)
        self._start()
        after_fork(self)

    def _start(self) -> None:
        """Start the cumulative totals afresh (made, or forked: the child's are its own)."""
        if self._own_instance:
            self._resource_values["service.instance.id"] = str(uuid.uuid4())
        self._resource = Resource(attributes=attributes(self._resource_values))
        #: When the cumulative totals start (Unix nanoseconds).
        self.start_time_unix_nano = time.time_ns()
        self._totals = _Points(self.max_attribute_sets, self.operation_name)
        self._last_end = self.start_time_unix_nano
        #: Delta: the points of batches held (:meth:`hold`), for the next export.
        self._pending = _Points(self.max_attribute_sets, self.operation_name)
        self._pending_times: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def _after_fork(self) -> None:
        if self._given_instance is not None:  # the parent's id, with totals of the child's own
            self._resource_values["service.instance.id"] = f"{self._given_instance}-{os.getpid()}"
        self._start()

    def log_record(self, event: BaseEvent) -> LogRecord:
        """The OTLP log record of one event, its secrets scrubbed, pointing at its span."""
        event = outbound(event)
        values: dict[str, Any] = {
            "event.name": event.event_type,
            "gen_ai.request.model": event.model,
            "gen_ai.provider.name": event.provider,
            "gen_ai.operation.name": self.operation_name,
            "gen_ai.output.type": "image" if isinstance(event, ImageEvent) else None,
            "aievents.operation": getattr(event, "operation", None),
        }
        for name in _LOG_FIELDS:
            value = getattr(event, name, None)
            if value is not None:
                values[f"aievents.{name}"] = value
        if isinstance(event, ImageRequestErrorEvent):
            values["error.type"] = event.error_type
        if isinstance(event, ImageUsageEvent):
            usage_values(event, values)
        error = isinstance(event, ImageRequestErrorEvent)
        record = LogRecord(
            time_unix_nano=event.timestamp * 1_000_000,
            observed_time_unix_nano=event.timestamp * 1_000_000,
            severity_number=_SEVERITY_WARN if error else _SEVERITY_INFO,  # type: ignore[arg-type]
            severity_text="WARN" if error else "INFO",
            body=AnyValue(string_value=event.event_type),
            attributes=attributes(values),
        )
        if _EVENT_NAME:
            record.event_name = event.event_type
        span = _span_of(event)
        if span is not None:
            record.trace_id, record.span_id, record.flags = span
        return record

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
        """The metrics export of a batch, or None if there are no points.

        Delta: the batch's points, with those of the batches held since the
        last call (:meth:`hold`), None when there are none. Cumulative: the
        batch is added to the running totals (each call adds it, so a batch
        is passed once), and the export holds them all, from
        :attr:`start_time_unix_nano` to now; None until some event had points.
        """
        events = [outbound(event) for event in batch]  # what raises, raises before any adding
        if self.temporality == "delta":
            with self._lock:
                points, times = self._pending, self._pending_times
                self._pending = _Points(self.max_attribute_sets, self.operation_name)
                self._pending_times = None
            points.add(events)
            if not points:
                return None
            start, end = _span_times(batch, times)
            metrics = points.metrics((start, end), AGGREGATION_TEMPORALITY_DELTA)
        else:
            with self._lock:
                self._totals.add(events)
                if not self._totals:
                    return None
                self._last_end = end = max(time.time_ns(), self._last_end + 1)
                times = (self.start_time_unix_nano, end)
                metrics = self._totals.metrics(times, AGGREGATION_TEMPORALITY_CUMULATIVE)
        scope = ScopeMetrics(scope=self._scope, metrics=metrics)
        return ExportMetricsServiceRequest(
            resource_metrics=[ResourceMetrics(resource=self._resource, scope_metrics=[scope])]
        )

    def hold(self, batch: Sequence[BaseEvent]) -> None:
        """Keep a batch's points for the next :meth:`metrics_request`, sending nothing now.

        For a batch whose metrics export is skipped (the collector asked to
        wait). Cumulative: the batch is added to the running totals, which
        the next export carries. Delta: its points are kept, at most
        ``max_attribute_sets`` attribute sets per metric as in any export
        (later ones added to the overflow set), and the next export holds
        them with its own batch's, timed from the first event held.
        """
        events = [outbound(event) for event in batch]
        with self._lock:
            if self.temporality == "cumulative":
                self._totals.add(events)
                return
            self._pending.add(events)
            if events:
                self._pending_times = _span_times(events, self._pending_times)


def _span_times(batch: Sequence[BaseEvent], held: tuple[int, int] | None) -> tuple[int, int]:
    """Start and end (Unix nanoseconds) of delta points: the batch's events and ``held``'s."""
    if not batch:
        now = time.time_ns()
        return held or (now, now + 1)
    start = min(e.timestamp for e in batch) * 1_000_000
    end = max(e.timestamp for e in batch) * 1_000_000 + 1
    if held is not None:
        start, end = min(start, held[0]), max(end, held[1])
    return start, end
