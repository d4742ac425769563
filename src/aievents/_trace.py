"""The OpenTelemetry trace context of a request, without importing OpenTelemetry.

Two moments tie a request to a trace:

- at the call, :func:`capture` reads the span the application has active
  (when the application runs OpenTelemetry, its ``opentelemetry.trace`` is
  imported; when it is not, there is no span to read and nothing is
  imported): the request's events carry it as ``traceparent``, the parent
  of the request's own span;
- while ``image:request:started`` is delivered, a sink that makes spans
  (:class:`aievents.sinks.otel.OtelSink`) opens the request's span and tells
  its ids (:func:`opened`, or ``SLOT.last`` set in place); the request, once the event is delivered,
  takes them (:func:`take`), and its later events carry them as
  ``trace_id`` and ``span_id``, so that what forwards them (the OTLP log
  records) can point at the span.

Events are stamped in whole milliseconds, while the application's spans
have nanosecond times: a request span started at the event's millisecond
would start before its parent. So the request tells its times in
nanoseconds (:func:`timed`) just before it emits the event that starts or
ends it, and the span maker reads them (:func:`times`, or ``SLOT.moments``
read in place) when they are the event's (same request id, same millisecond).

Delivery is synchronous, on the thread that emits: one slot per thread
carries the ids from the sink to the request, and one the times from the
request to the sink.
"""

from __future__ import annotations

import sys
import threading
from typing import Final

__all__ = ["SLOT", "capture", "opened", "parse_traceparent", "take", "timed", "times"]


class _Slot(threading.local):
    """The ids a span maker opened last on this thread: (request id, trace id, span id)."""

    last: tuple[str, int, int] | None = None
    #: The times the request being emitted on this thread told: (request id, start, end).
    moments: tuple[str, int, int | None] | None = None


#: The slots of this thread. A span maker on its hot path may read
#: ``SLOT.moments`` and set ``SLOT.last`` itself, as :func:`times` and
#: :func:`opened` do (a call less per event).
SLOT: Final = _Slot()


def capture() -> str | None:
    """The W3C ``traceparent`` of the application's active span, or None.

    None when OpenTelemetry is not imported, no span is active, or reading
    it fails (telemetry never breaks the call).
    """
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    try:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    except Exception:  # noqa: BLE001 - a broken tracer never breaks the call
        return None


def parse_traceparent(value: str) -> tuple[int, int, int]:
    """The trace id, span id and flags of a valid ``traceparent`` (as events hold it).

    What a later version adds after the flags is left out.
    """
    _, trace_id, span_id, flags = value.split("-")[:4]
    return int(trace_id, 16), int(span_id, 16), int(flags, 16)


def opened(request_id: str, trace_id: int, span_id: int) -> None:
    """Tell the request being started on this thread the ids of the span just opened for it.

    The ids are the span context's ints; :func:`take` writes them as hex,
    once the request asks (not on the span maker's path).
    """
    SLOT.last = (request_id, trace_id, span_id)


def take(request_id: str) -> tuple[str, str] | None:
    """The (trace id, span id), in hex, a span maker opened for ``request_id`` here, once."""
    last = SLOT.last
    if last is None or last[0] != request_id:
        return None
    SLOT.last = None
    return f"{last[1]:032x}", f"{last[2]:016x}"


def timed(request_id: str | None, start_ns: int = 0, end_ns: int | None = None) -> None:
    """Tell the span maker the request's start (and end) in epoch nanoseconds; None: forget.

    Called by the request just before it emits the event that starts (or
    ends) it, and with None once the events are delivered.
    """
    SLOT.moments = None if request_id is None else (request_id, start_ns, end_ns)


def times(request_id: str) -> tuple[int, int | None] | None:
    """The (start, end) nanoseconds the request ``request_id`` told on this thread, or None."""
    moments = SLOT.moments
    if moments is None or moments[0] != request_id:
        return None
    return moments[1], moments[2]
