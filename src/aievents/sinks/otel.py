"""OtelSink: image requests as spans and metrics through the application's OpenTelemetry.

Built on ``opentelemetry-api`` only (extra ``[otel]``): the SDK, its
resource, samplers, processors and exporters are the application's. The
sink uses the providers it is given, or the global ones; a global provider
set after the sink was made is used all the same (the API's proxies follow
it).

Spans: one per image request, kind CLIENT, named ``"{operation_name}
{model}"`` as the GenAI conventions name spans. It starts when
``image:request:started`` is handled, at the event's time, as a child of the
span that was active at the call (the event's ``traceparent``, with its
trace flags, so that a parent-based sampler keeps what the parent kept), or
of the span active where the sink handles the event. Its ids are told to
the request (:func:`aievents._trace.opened`), whose later events carry them
as ``trace_id`` and ``span_id``. It ends at the ``image:request:completed``
event's time, with the attributes of the completed event and of the
``image:usage`` that follows it, or at the ``image:request:error`` event's
time with status ERROR and ``error.type``.

Events of a request the sink never saw start (read from the wire, or from
another process) become a whole span with their recorded times: a
completed or error event starts ``duration`` before its timestamp; a lone
``image:usage`` event has no duration and becomes a span of no length at
its timestamp. An event that already names its span (``span_id``: a sink in
the process that emitted it made one) is counted in the metrics but makes
no second span.

Metrics: see :class:`~aievents.sinks._otelmetrics.MetricNames`. Requests,
images, tokens and cost are counted per ``image:usage`` event, a request id
counted once (as :class:`~aievents.sinks.AggregateSink` does); a request
without a price is counted in the unpriced counter, never as $0.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from aievents._extras import missing_extra

try:
    from opentelemetry import metrics as metrics_api
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as _error:
    raise missing_extra("OtelSink", "otel", _error) from None

from aievents._diag import RateLimitedLog
from aievents._genai import DEFAULT_OPERATION_NAME
from aievents._redact import scrub_text
from aievents._trace import opened
from aievents._validate import setting
from aievents._version import __version__
from aievents.events import (
    BaseEvent,
    ImageEvent,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
)
from aievents.sinks._labels import CappedLabel
from aievents.sinks._otelmetrics import MetricNames, Metrics
from aievents.sinks._otelspans import Spans, answer_values

__all__ = ["DEFAULT_OPERATION_NAME", "MetricNames", "OtelSink"]

#: Why a span was ended before its request: ``aievents.unfinished``.
EVICTED: Final = "evicted"
CLOSED: Final = "closed"
_CLIENT: Final = SpanKind.CLIENT
_MS: Final = 1_000_000


class _Open:
    """A request's span while it is open, and its completed event once that came."""

    __slots__ = ("completed", "done", "opening", "span")

    def __init__(self, span: Any, opening: ImageEvent) -> None:
        self.span = span
        self.opening = opening
        self.completed: ImageRequestCompletedEvent | None = None
        self.done = False

    @property
    def ended(self) -> int | None:
        """When the request completed (ns), or None."""
        completed = self.completed
        return None if completed is None else completed.timestamp * _MS

    def finish(self, end: int | None, values: Mapping[str, Any] | None = None) -> None:
        """Set ``values`` and end the span (once) at ``end`` (ns; None: now)."""
        if self.done:
            return
        self.done = True
        if values:
            self.span.set_attributes(values)
        self.span.end(end_time=end)

    def cut(self, marker: str | None = None) -> None:
        """End the span without its usage: at its completion with what that said, else now."""
        completed = self.completed
        values = {} if completed is None else answer_values(completed, self.opening)
        if marker is not None:
            values["aievents.unfinished"] = marker
        self.finish(self.ended, values)


class _Waiting(threading.local):
    """The request whose completed event this thread handled last, until its usage comes."""

    entry: tuple[str, _Open] | None = None


class OtelSink:
    """Image requests as OpenTelemetry spans and metrics (extra ``[otel]``).

    Args:
        tracer_provider: The provider of the spans; None: the global one.
        meter_provider: The provider of the metrics; None: the global one.
        operation_name: ``gen_ai.operation.name`` of spans and metrics
            (:data:`DEFAULT_OPERATION_NAME`).
        metric_names: The instruments' names: a :class:`MetricNames`, or a
            mapping of the names to change (``{"requests": "images.requests"}``).
        spans: Make spans.
        metrics: Record metrics.
        project_label: Label the metrics with ``aievents.project_id``.
        user_label: Label the metrics with ``aievents.user_id``.
        label_cap: Distinct values of each opt-in label; later ones are
            recorded as ``(overflow)`` (:class:`~aievents.sinks._labels.CappedLabel`).
        max_open_spans: Spans kept open at most; past it the oldest is
            ended with ``aievents.unfinished = "evicted"``.

    Raises:
        ValueError: a setting is out of range, or a metric name is unknown.
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        *,
        operation_name: str = DEFAULT_OPERATION_NAME,
        metric_names: MetricNames | Mapping[str, str] | None = None,
        spans: bool = True,
        metrics: bool = True,
        project_label: bool = False,
        user_label: bool = False,
        label_cap: int = 100,
        max_open_spans: int = 10_000,
    ) -> None:
        if not isinstance(operation_name, str) or not operation_name:
            raise ValueError(f"operation_name must be a non-empty string, got {operation_name!r}")
        setting("label_cap", label_cap, positive=True)
        setting("max_open_spans", max_open_spans, positive=True)
        names = MetricNames.of(metric_names)
        self.operation_name = operation_name
        self.metric_names = names
        #: The opt-in labels (their ``overflowed`` counts what was folded).
        self.project_labels = CappedLabel("project_label", label_cap) if project_label else None
        self.user_labels = CappedLabel("user_label", label_cap) if user_label else None
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._tracer = (
            (tracer_provider or trace).get_tracer("aievents", __version__) if spans else None
        )
        self._metrics = (
            Metrics(
                (meter_provider or metrics_api).get_meter("aievents", __version__),
                names,
                operation_name,
                self.project_labels,
                self.user_labels,
            )
            if metrics
            else None
        )
        self._spans = Spans(operation_name)
        self._open: dict[str, _Open] = {}
        self._max_open = max_open_spans
        self._counted: OrderedDict[str, None] = OrderedDict()
        self._waiting = _Waiting()
        self._lock = threading.Lock()
        self._diag = RateLimitedLog("otel")
        self._closed = False
        #: Events whose handling failed (the SDK raised); logged, never raised.
        self.failures = 0
        #: Spans ended before their request ended (over ``max_open_spans``).
        self.evicted = 0
        #: ``image:usage`` events ignored: their request id was counted already.
        self.duplicates = 0

    # ------------------------------------------------------------------ handle

    def handle(self, event: BaseEvent) -> None:
        """Open, fill or end the request's span, and record its metrics; never raises."""
        if self._closed or not isinstance(event, ImageEvent):
            return
        try:
            waiting = self._waiting.entry
            if waiting is not None and (
                type(event) is not ImageUsageEvent or event.request_id != waiting[0]
            ):
                # The usage that follows a completed event did not come: end it now.
                self._waiting.entry = None
                self._drop(waiting[0], waiting[1])
                waiting[1].cut()
            if isinstance(event, ImageUsageEvent):
                self._usage(event)
            elif isinstance(event, ImageRequestStartedEvent):
                self._started(event)
            elif isinstance(event, ImageRequestCompletedEvent):
                self._completed(event)
            elif isinstance(event, ImageRequestErrorEvent):
                self._error(event)
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the host
            with self._lock:
                self.failures += 1
            self._diag(
                ("failed", type(exc)),
                "warning",
                "otel_sink_failed",
                error=exc,
                event_type=event.event_type,
            )

    def _start(self, event: ImageEvent, start: int) -> _Open | None:
        tracer = self._tracer
        if tracer is None:
            return None
        spans = self._spans
        name, values = spans.start(event)
        span = tracer.start_span(
            name, context=spans.parent(event), kind=_CLIENT, attributes=values, start_time=start
        )
        entry = _Open(span, event)
        request_id = event.request_id
        if request_id is not None:
            opened_ = self._open
            opened_[request_id] = entry
            if len(opened_) > self._max_open:
                self._evict()
        return entry

    def _started(self, event: ImageRequestStartedEvent) -> None:
        entry = self._start(event, event.timestamp * _MS)
        if entry is not None and entry.span.is_recording():
            context = entry.span.get_span_context()
            opened(event.request_id, f"{context.trace_id:032x}", f"{context.span_id:016x}")

    def _lone(self, event: ImageEvent, duration: float | None) -> _Open | None:
        """The span of an event whose request was never seen starting, or None."""
        if event.span_id is not None or event.request_id in self._counted:
            return None  # its span was made where it was emitted; or a duplicate
        start = event.timestamp * _MS - round((duration or 0.0) * _MS)
        return self._start(event, start)

    def _completed(self, event: ImageRequestCompletedEvent) -> None:
        entry = self._open.get(event.request_id)
        if entry is None:
            entry = self._lone(event, event.duration)
        if entry is not None:
            entry.completed = event
            self._waiting.entry = (event.request_id, entry)
        if self._metrics is not None:
            self._metrics.ended(event, event.duration)

    def _usage(self, event: ImageUsageEvent) -> None:
        request_id = event.request_id
        waiting = self._waiting.entry
        if waiting is not None:  # the request's completed event came just before
            self._waiting.entry = None
            entry: _Open | None = waiting[1]
            self._drop(request_id, waiting[1])
        else:
            entry = self._open.pop(request_id, None)
            if entry is None:
                entry = self._lone(event, None)
                if entry is not None:
                    self._drop(request_id, entry)
        if entry is not None:
            completed = entry.completed
            entry.finish(
                event.timestamp * _MS if completed is None else completed.timestamp * _MS,
                answer_values(event, entry.opening, completed),
            )
        counted = self._counted
        if request_id in counted:
            with self._lock:
                self.duplicates += 1
            return
        counted[request_id] = None
        if len(counted) > self._max_open:
            with self._lock:
                while len(counted) > self._max_open:
                    counted.popitem(last=False)
        if self._metrics is not None:
            self._metrics.usage(event)

    def _error(self, event: ImageRequestErrorEvent) -> None:
        entry = self._open.pop(event.request_id, None)
        if entry is None:
            entry = self._lone(event, event.duration)
            if entry is not None:
                self._drop(event.request_id, entry)
        if entry is not None:
            message = event.error_message
            description = scrub_text(message) if message else event.error_type
            entry.span.set_status(Status(StatusCode.ERROR, description))
            entry.finish(event.timestamp * _MS, answer_values(event, entry.opening))
        if self._metrics is not None:
            self._metrics.failed(event)

    def _drop(self, request_id: str, entry: _Open) -> None:
        """Take ``entry`` out of the open spans (if it is still the one for the request)."""
        if self._open.get(request_id) is entry:
            self._open.pop(request_id, None)

    def _evict(self) -> None:
        """End the oldest open spans until at most ``max_open_spans`` are open."""
        ended: list[_Open] = []
        with self._lock:
            while len(self._open) > self._max_open:
                ended.append(self._open.pop(next(iter(self._open))))
            self.evicted += len(ended)
        for entry in ended:
            entry.cut(EVICTED)

    # ------------------------------------------------------------------ lifecycle

    @property
    def open_spans(self) -> int:
        """Spans open now: requests started and not yet ended."""
        return len(self._open)

    def flush(self, timeout: float | None = None) -> bool:
        """End the spans of requests that completed, then flush the providers' exporters.

        Spans of requests still in flight stay open. The providers are asked
        to export what they hold (``force_flush``) when they can; returns
        whether they said they did.
        """
        with self._lock:
            done = [(rid, e) for rid, e in self._open.items() if e.completed is not None]
            for request_id, _ in done:
                self._open.pop(request_id, None)
        for _, entry in done:
            self._guarded(entry.cut)
        return self._force_flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """End every open span and flush the providers; later events are ignored.

        A span of a request that had not completed gets ``aievents.unfinished =
        "closed"``; a span still open at close has no outcome: its status stays unset.
        The providers are the application's: they are flushed, not shut down.
        """
        self._closed = True
        with self._lock:
            left = list(self._open.values())
            self._open.clear()
        for entry in left:
            marker = None if entry.completed is not None else CLOSED
            self._guarded(lambda e=entry, m=marker: e.cut(m))
        return self._force_flush(timeout)

    def _force_flush(self, timeout: float | None) -> bool:
        millis = 30_000 if timeout is None else max(0, int(timeout * 1000))
        done = True
        tracers = self._tracer_provider or trace.get_tracer_provider()
        meters = self._meter_provider or metrics_api.get_meter_provider()
        for provider, wanted in ((tracers, self._tracer), (meters, self._metrics)):
            force = getattr(provider, "force_flush", None)
            if wanted is None or force is None:
                continue
            answer = self._guarded(lambda f=force: f(timeout_millis=millis))
            done = done and answer is not False
        return done

    def _guarded(self, call: Any) -> Any:
        """``call()``, its failure counted and logged (never raised)."""
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the host
            with self._lock:
                self.failures += 1
            self._diag(("failed", type(exc)), "warning", "otel_sink_failed", error=exc)
            return False
