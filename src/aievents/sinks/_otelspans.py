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
#: Per-request facts that go on every span when set, as ``aievents.<name>``.
_IDS: Final = ("request_id", "user_id", "project_id", "api_key_id")


class Spans:
    """The names, attributes and parents of one sink's spans."""

    def __init__(self, operation_name: str) -> None:
        self.operation_name = operation_name
        self._starts: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
        self._parents: dict[str, Context] = {}
        self._lock = threading.Lock()

    def parent(self, event: ImageEvent) -> Context | None:
        """The context of the span the request's span is a child of.

        The event's ``traceparent`` (the application's span at the call) with
        its trace flags, so that a parent-based sampler keeps what the parent
        kept; without one, None: the context active now.
        """
        value = event.traceparent
        if value is None:
            return None
        found = self._parents.get(value)
        if found is None:
            trace_id, span_id, flags = parse_traceparent(value)
            remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
            found = trace.set_span_in_context(NonRecordingSpan(remote))
            with self._lock:
                if len(self._parents) >= _MAX_CACHED:
                    self._parents.clear()
                self._parents[value] = found
        return found

    def start(self, event: ImageEvent) -> tuple[str, dict[str, Any]]:
        """The name and the start attributes of the span of the request ``event`` belongs to."""
        count = event.number_of_images if isinstance(event, ImageRequestStartedEvent) else None
        key = (event.provider, event.model, event.operation, event.size, event.quality, count)
        found = self._starts.get(key)
        if found is None:
            found = self._build(key)
        name, common = found
        values = common.copy()
        for field in _IDS:
            value = getattr(event, field)
            if value is not None:
                values[f"aievents.{field}"] = value
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


def answer_values(event: ImageEvent, asked: str | None) -> dict[str, Any]:
    """What an ending event (completed, usage or error) tells, as span attributes.

    ``asked`` is the model the request asked for: the answer's is set as
    ``gen_ai.response.model`` when it differs.
    """
    values: dict[str, Any] = {}
    if event.model is not None and event.model != asked:
        values["gen_ai.response.model"] = event.model
    response_id = event.correlation_id or event.request_id
    if response_id is not None:
        values["gen_ai.response.id"] = response_id
    for field in _IDS:
        value = getattr(event, field)
        if value is not None:
            values[f"aievents.{field}"] = value
    if event.size is not None:
        values["aievents.size"] = event.size
    if event.quality is not None:
        values["aievents.quality"] = event.quality
    if event.images is not None:
        values["aievents.images"] = event.images
    if isinstance(event, ImageUsageEvent):
        values.update(usage_span_values(event))
    elif isinstance(event, ImageRequestErrorEvent):
        values["error.type"] = event.error_type
        if event.status_code is not None:
            values["http.response.status_code"] = event.status_code
    elif isinstance(event, ImageRequestCompletedEvent):
        values["aievents.duration_ms"] = event.duration
    return values


def usage_span_values(event: ImageUsageEvent) -> dict[str, Any]:
    """The usage and cost attributes of a span (the OTLP log record's, and the conventions')."""
    values = {name: value for name, value in usage_values(event).items() if value is not None}
    details = event.usage.input_tokens_details
    if details is not None:
        for name, count in (
            ("gen_ai.usage.text.input_tokens", details.text_tokens),
            ("gen_ai.usage.image.input_tokens", details.image_tokens),
            ("gen_ai.usage.cache_read.input_tokens", details.cached_tokens),
        ):
            if count is not None:
                values[name] = count
    cost = event.cost
    if cost is None:
        values["aievents.priced"] = False
    else:
        values["aievents.priced"] = True
        values["gen_ai.usage.cost"] = values["aievents.cost_usd"]
    return values
