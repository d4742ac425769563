"""OtelSink: image requests as spans and metrics through the application's OpenTelemetry.

Built on ``opentelemetry-api`` only (extra ``[otel]``): the SDK, its
resource, samplers, processors and exporters are the application's. The
sink uses the providers it is given, or the global ones; a global provider
set after the sink was made is used all the same (the API's proxies follow
it).

Spans: one per image request, kind CLIENT, named ``"{operation_name}
{model}"`` as the GenAI conventions name spans. It starts when
``image:request:started`` is handled, at the event's time, as a child of the
span that was active at the call (the event's ``traceparent``: the
current context itself when that span is still the current one here, so
its tracestate, baggage and sampling are the application's; else a remote
parent with its trace flags), or of the span active where the sink handles
the event. Its ids are told to the request
(through :data:`aievents._trace.SLOT`), whose later events carry them as
``trace_id`` and ``span_id``. It ends at the ``image:request:completed``
event's time, with the attributes of the completed event and of the
``image:usage`` of the same request id (it stays open until that comes, or
until :meth:`OtelSink.flush` or eviction ends it), or at the
``image:request:error`` event's time with status ERROR and ``error.type``.
The times are the request's nanoseconds when the request told them
(:func:`aievents._trace.timed`), else the events' milliseconds; a span never
ends before it starts.

Events of a request the sink never saw start (read from the wire, or from
another process) become a whole span with their recorded times: a
completed or error event starts ``duration`` before its timestamp; a lone
``image:usage`` event has no duration and becomes a span of no length at
its timestamp. An event that already names its span (``span_id``: a sink in
the process that emitted it made one) is counted in the metrics but makes
no second span; nor does an event of a request whose span already ended
(the last ``max_request_ids`` request ids are remembered).

Metrics: see :class:`~aievents.sinks._otelmetrics.MetricNames`. Requests,
images, tokens and cost are counted per ``image:usage`` event, a request id
counted once (as :class:`~aievents.sinks.AggregateSink` does); a request
without a price is counted in the unpriced counter, never as $0.
"""

from __future__ import annotations

import threading
import time
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
from aievents._fork import after_fork
from aievents._genai import DEFAULT_OPERATION_NAME
from aievents._redact import scrub_text
from aievents._trace import SLOT
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


def _ignore(event: BaseEvent) -> None:
    """An event that is not an image request's: no span, no metric."""


class _Open:
    """A request's span while it is open, and its completion once that came."""

    __slots__ = ("completed", "done", "end", "opening", "span", "start")

    def __init__(self, span: Any, opening: ImageEvent, start: int) -> None:
        self.span = span
        self.opening = opening
        self.start = start
        #: When the request completed (ns), set before ``completed``.
        self.end: int | None = None
        self.completed: ImageRequestCompletedEvent | None = None
        self.done = False

    def finish(self, end: int | None, values: Mapping[str, Any] | None = None) -> None:
        """Set ``values``, end the span (once) at ``end`` (ns; None: now), not before its start."""
        if self.done:
            return
        self.done = True
        if values:
            self.span.set_attributes(values)
        if end is None:
            end = time.time_ns()
        self.span.end(end_time=end if end > self.start else self.start)

    def cut(self, marker: str | None = None) -> None:
        """End the span without its usage: at its completion with what that said, else now."""
        completed = self.completed
        values = {} if completed is None else answer_values(completed, self.opening)
        if marker is not None:
            values["aievents.unfinished"] = marker
        self.finish(self.end if completed is not None else None, values)


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
        max_request_ids: Request ids remembered (as
            :class:`~aievents.sinks.AggregateSink` remembers them): a request
            id counted once in the metrics, and no second span for a request
            whose span ended.

    Raises:
        ValueError: a setting is out of range, or a metric name is unknown,
            malformed or used twice.
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
        max_request_ids: int = 100_000,
    ) -> None:
        if not isinstance(operation_name, str) or not operation_name:
            raise ValueError(f"operation_name must be a non-empty string, got {operation_name!r}")
        setting("label_cap", label_cap, positive=True)
        setting("max_open_spans", max_open_spans, positive=True)
        setting("max_request_ids", max_request_ids, positive=True)
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
        #: What handles each class of event, found once per class.
        self._steps: dict[type, Any] = {}
        #: Open spans by request id, oldest first (a completed one waits there for its usage).
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._max_open = max_open_spans
        #: Request ids seen ending, oldest first: True once their usage was counted.
        self._seen: OrderedDict[str, bool] = OrderedDict()
        self._max_ids = max_request_ids
        #: Guards ``_open``, ``_seen`` and the counts; never held while the SDK runs.
        self._lock = threading.Lock()
        self._diag = RateLimitedLog("otel")
        self._closed = False
        #: Events whose handling failed (the SDK raised); logged, never raised.
        self.failures = 0
        #: Spans ended before their request ended (over ``max_open_spans``).
        self.evicted = 0
        #: ``image:usage`` events ignored: their request id was counted already.
        self.duplicates = 0
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's open spans (the parent ends them), new locks."""
        self._lock = threading.Lock()
        self._open = OrderedDict()
        self._spans.forked()
        if self._metrics is not None:
            self._metrics.forked()

    # ------------------------------------------------------------------ handle

    def handle(self, event: BaseEvent) -> None:
        """Open, fill or end the request's span, and record its metrics; never raises."""
        if self._closed:
            return
        kind = type(event)
        step = self._steps.get(kind)
        if step is None:
            step = self._steps[kind] = self._step_of(kind)
        try:
            step(event)
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

    def _step_of(self, kind: type) -> Any:
        """What handles events of class ``kind`` (subclasses as their base; others: nothing)."""
        for base, step in (
            (ImageUsageEvent, self._usage),
            (ImageRequestStartedEvent, self._started),
            (ImageRequestCompletedEvent, self._completed),
            (ImageRequestErrorEvent, self._error),
        ):
            if issubclass(kind, base):
                return step
        return _ignore

    def _start(self, tracer: Any, event: ImageEvent, start: int) -> _Open:
        spans = self._spans
        name, values = spans.start(event)
        span = tracer.start_span(
            name, context=spans.parent(event), kind=_CLIENT, attributes=values, start_time=start
        )
        return _Open(span, event, start)

    def _keep(self, request_id: str, entry: _Open) -> _Open:
        """Keep ``entry`` open (or the one a racing thread kept first); evict past the cap."""
        evicted: list[_Open] | None = None
        lock = self._lock
        lock.acquire()  # not ``with``: a little less, on every request
        try:
            if self._closed:
                kept = None
            else:
                opened_ = self._open
                kept = opened_.setdefault(request_id, entry)
                if len(opened_) > self._max_open:
                    evicted = []
                    while len(opened_) > self._max_open:
                        old_id, old = opened_.popitem(last=False)
                        self._ended(old_id)
                        evicted.append(old)
                    self.evicted += len(evicted)
        finally:
            lock.release()
        if evicted:
            for old in evicted:
                old.cut(EVICTED)
        if kept is None:  # closed meanwhile
            entry.cut(CLOSED)
            return entry
        return kept

    def _ended(self, request_id: str) -> None:
        """Remember that the span of ``request_id`` ended (with the lock held)."""
        seen = self._seen
        if request_id not in seen:
            seen[request_id] = False
            if len(seen) > self._max_ids:
                seen.popitem(last=False)

    def _started(self, event: ImageRequestStartedEvent) -> None:
        tracer = self._tracer
        if tracer is None:
            return
        request_id = event.request_id
        entry = self._open.get(request_id)
        if entry is None:  # a repeated started event keeps the span it opened
            at = event.timestamp
            start = at * _MS
            told = SLOT.moments  # as times() reads it
            if told is not None and told[0] == request_id and told[1] // _MS == at:
                start = told[1]
            entry = self._keep(request_id, self._start(tracer, event, start))
        span = entry.span
        if span.is_recording():
            context = span.get_span_context()
            SLOT.last = (request_id, context.trace_id, context.span_id)  # as opened() tells

    def _lone(self, event: ImageEvent, duration: float | None) -> _Open | None:
        """The span of an event whose request this sink has not seen, or None.

        None when the event names its span: that was made where it was emitted.
        """
        tracer = self._tracer
        if tracer is None or event.span_id is not None:
            return None
        start = event.timestamp * _MS - round((duration or 0.0) * _MS)
        return self._start(tracer, event, start)

    @staticmethod
    def _end_of(request_id: str, event: ImageEvent) -> int:
        """When the request of an ending event ended (ns): as it told, else the event's ms."""
        at = event.timestamp
        told = SLOT.moments  # as times() reads it
        if told is not None and told[0] == request_id:
            end = told[2]
            if end is not None and end // _MS == at:
                return end
        return at * _MS

    def _completed(self, event: ImageRequestCompletedEvent) -> None:
        request_id = event.request_id
        entry = self._open.get(request_id)
        if entry is None and request_id not in self._seen:  # else its span has ended here
            entry = self._lone(event, event.duration)
            if entry is not None:  # it waits for its usage, as an open span does
                entry = self._keep(request_id, entry)
        if entry is not None and entry.completed is None:
            entry.end = self._end_of(request_id, event)
            entry.completed = event
        if self._metrics is not None:
            self._metrics.ended(event, event.duration)

    def _usage(self, event: ImageUsageEvent) -> None:
        request_id = event.request_id
        seen = self._seen
        lock = self._lock
        lock.acquire()  # as in _keep
        try:
            entry = self._open.pop(request_id, None)
            counted = seen.get(request_id)
            if counted:
                self.duplicates += 1
            else:
                seen[request_id] = True
                if counted is None and len(seen) > self._max_ids:
                    seen.popitem(last=False)
        finally:
            lock.release()
        if entry is None and counted is None:
            entry = self._lone(event, None)
        if entry is not None:
            completed = entry.completed
            entry.finish(
                event.timestamp * _MS if completed is None else entry.end,
                answer_values(event, entry.opening, completed),
            )
        if not counted and self._metrics is not None:
            self._metrics.usage(event)

    def _error(self, event: ImageRequestErrorEvent) -> None:
        request_id = event.request_id
        with self._lock:
            entry = self._open.pop(request_id, None)
            known = request_id in self._seen
            self._ended(request_id)
        if entry is None and not known:
            entry = self._lone(event, event.duration)
        if entry is not None:
            message = event.error_message
            description = scrub_text(message) if message else event.error_type
            entry.span.set_status(Status(StatusCode.ERROR, description))
            entry.finish(self._end_of(request_id, event), answer_values(event, entry.opening))
        if self._metrics is not None:
            self._metrics.failed(event)

    # ------------------------------------------------------------------ lifecycle

    @property
    def open_spans(self) -> int:
        """Spans open now: requests started (or completed, waiting for usage) and not ended."""
        return len(self._open)

    def flush(self, timeout: float | None = None) -> bool:
        """End the spans of requests that completed, then flush the providers' exporters.

        Spans of requests still in flight stay open; a completed request's
        usage that comes later is counted in the metrics but makes no second
        span. The providers are asked to export what they hold
        (``force_flush``) when they can, within ``timeout`` seconds for both
        together; returns whether they said they did.
        """
        deadline = self._deadline(timeout)
        with self._lock:
            done = [
                (rid, entry) for rid, entry in self._open.items() if entry.completed is not None
            ]
            for request_id, _ in done:
                del self._open[request_id]
                self._ended(request_id)
        for _, entry in done:
            self._guarded(entry.cut)
        return self._force_flush(deadline)

    def close(self, timeout: float | None = None) -> bool:
        """End every open span and flush the providers; later events are ignored.

        A span of a request that had not completed gets ``aievents.unfinished =
        "closed"``; a span still open at close has no outcome: its status stays unset.
        The providers are the application's: they are flushed (within
        ``timeout`` seconds for both), not shut down.
        """
        deadline = self._deadline(timeout)
        with self._lock:
            self._closed = True
            left = list(self._open.values())
            self._open.clear()
        for entry in left:
            marker = None if entry.completed is not None else CLOSED
            self._guarded(lambda e=entry, m=marker: e.cut(m))
        return self._force_flush(deadline)

    @staticmethod
    def _deadline(timeout: float | None) -> float:
        return time.monotonic() + (30.0 if timeout is None else max(0.0, timeout))

    def _force_flush(self, deadline: float) -> bool:
        done = True
        tracers = self._tracer_provider or trace.get_tracer_provider()
        meters = self._meter_provider or metrics_api.get_meter_provider()
        for provider, wanted in ((tracers, self._tracer), (meters, self._metrics)):
            force = getattr(provider, "force_flush", None)
            if wanted is None or force is None:
                continue
            millis = max(0, int((deadline - time.monotonic()) * 1000))
            answer = self._guarded(lambda f=force, m=millis: f(timeout_millis=m))
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
