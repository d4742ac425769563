"""OtelSink's spans: the attributes of a request's span, and the context it is parented to.

What the request asked for is set when the span starts (the sampler sees
it); what the answer said (response model and id, usage, cost, images) when
it ends. The part of the start attributes that is the same for many
requests (provider, model, operation, size, quality, images asked for) is
built once per combination and copied.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from aievents._genai import usage_values
from aievents._trace import parse_traceparent
from aievents.events import (
    ImageEvent,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
)

__all__ = ["Spans"]

#: Start attribute sets and parent contexts kept, at most, before starting afresh.
_MAX_CACHED: Final = 4096


class Spans:
    """The names, attributes and parents of one sink's spans."""

    def __init__(self, operation_name: str) -> None:
        self.operation_name = operation_name
        self._starts: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
        self._parents: dict[str, tuple[int, int, Context]] = {}
        self._lock = threading.Lock()

    def forked(self) -> None:
        """In a forked child: a new lock (the parent's may have been held at the fork)."""
        self._lock = threading.Lock()

    def parent(self, event: ImageEvent) -> Context | None:
        """The context of the span the request's span is a child of; None: the current one.

        The event's ``traceparent`` is the application's span at the call.
        When that span is the current one here (the started event is
        handled on the thread that made the call), None: the current
        context itself, with the span's tracestate and the baggage, and a
        local parent for the sampler. Otherwise (events from the wire or
        another process) a remote parent built from the traceparent with its
        trace flags, so that a parent-based sampler keeps what the parent
        kept. Without a traceparent, None: the span active now.
        """
        value = event.traceparent
        if value is None:
            return None
        found = self._parents.get(value)
        if found is None:
            trace_id, span_id, flags = parse_traceparent(value)
            remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
            found = (trace_id, span_id, trace.set_span_in_context(NonRecordingSpan(remote)))
            with self._lock:
                if len(self._parents) >= _MAX_CACHED:
                    self._parents.clear()
                self._parents[value] = found
        current = trace.get_current_span().get_span_context()
        if current.span_id == found[1] and current.trace_id == found[0]:
            return None
        return found[2]

    def start(self, event: ImageEvent) -> tuple[str, dict[str, Any]]:
        """The name and the start attributes of the span of the request ``event`` belongs to."""
        count = event.number_of_images if isinstance(event, ImageRequestStartedEvent) else None
        key = (event.provider, event.model, event.operation, event.size, event.quality, count)
        found = self._starts.get(key)
        if found is None:
            found = self._build(key)
        name, common = found
        values = common.copy()
        values["aievents.request_id"] = event.request_id
        value = event.user_id
        if value is not None:
            values["aievents.user_id"] = value
        value = event.project_id
        if value is not None:
            values["aievents.project_id"] = value
        value = event.api_key_id
        if value is not None:
            values["aievents.api_key_id"] = value
        return name, values

    def _build(self, key: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
        provider, model, operation, size, quality, count = key
        values: dict[str, Any] = {
            "gen_ai.operation.name": self.operation_name,
            "gen_ai.output.type": "image",
        }
        given = {
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.request.choice.count": count,
            "aievents.operation": operation,
            "aievents.size": size,
            "aievents.quality": quality,
        }
        values.update({name: value for name, value in given.items() if value is not None})
        name = f"{self.operation_name} {model}" if model else self.operation_name
        found = (name, values)
        with self._lock:
            if len(self._starts) >= _MAX_CACHED:
                self._starts.clear()
            self._starts[key] = found
        return found


def answer_values(
    event: ImageEvent, opening: ImageEvent, completed: ImageRequestCompletedEvent | None = None
) -> dict[str, Any]:
    """What an ending event (completed, usage or error) adds to the span ``opening`` opened.

    The answer's model is ``gen_ai.response.model`` when it differs from
    the one asked for; ids, size and quality are set again only when the
    answer changed them. ``gen_ai.response.id`` is the provider's id of the
    answer, which aievents keeps as ``correlation_id``; the ``request_id``
    is aievents' own (made up, or the caller's), never set as the response's.
    ``completed`` is the request's completed event, when ``event`` is the
    usage that follows it.
    """
    values: dict[str, Any] = {}
    model = event.model
    if model is not None and model != opening.model:
        values["gen_ai.response.model"] = model
    response_id = event.correlation_id
    if response_id is not None:
        values["gen_ai.response.id"] = response_id
    value: Any = event.user_id
    if value is not None and value != opening.user_id:
        values["aievents.user_id"] = value
    value = event.project_id
    if value is not None and value != opening.project_id:
        values["aievents.project_id"] = value
    value = event.api_key_id
    if value is not None and value != opening.api_key_id:
        values["aievents.api_key_id"] = value
    value = event.size
    if value is not None and value != opening.size:
        values["aievents.size"] = value
    value = event.quality
    if value is not None and value != opening.quality:
        values["aievents.quality"] = value
    value = event.images
    if value is not None:
        values["aievents.images"] = value
    if isinstance(event, ImageUsageEvent):
        usage_span_values(event, values)
        if completed is not None:
            values["aievents.duration_ms"] = completed.duration
            if event.images is None and completed.images is not None:
                values["aievents.images"] = completed.images
    elif isinstance(event, ImageRequestErrorEvent):
        values["error.type"] = event.error_type
        if event.status_code is not None:
            values["http.response.status_code"] = event.status_code
    elif isinstance(event, ImageRequestCompletedEvent):
        values["aievents.duration_ms"] = event.duration
    return values


def usage_span_values(event: ImageUsageEvent, values: dict[str, Any]) -> None:
    """Add the usage and cost attributes of a span (the OTLP log record's, and the conventions')."""
    usage_values(event, values, unknown=False)
    details = event.usage.input_tokens_details
    if details is not None:
        if details.text_tokens is not None:
            values["gen_ai.usage.text.input_tokens"] = details.text_tokens
        if details.image_tokens is not None:
            values["gen_ai.usage.image.input_tokens"] = details.image_tokens
        if details.cached_tokens is not None:
            values["gen_ai.usage.cache_read.input_tokens"] = details.cached_tokens
    if event.cost is None:
        values["aievents.priced"] = False
    else:
        values["aievents.priced"] = True
        values["gen_ai.usage.cost"] = values["aievents.cost_usd"]
