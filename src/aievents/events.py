"""The events: the base context every event carries, and the image events.

Events are keyword-only, slotted, frozen attrs classes. Python names are the
snake_case twins of TanStack AI's camelCase names (``request_id`` is
``requestId`` on the wire). An event is validated when it is built: a bad
field raises :class:`~aievents.exceptions.EventValidationError` naming the
field and the value, so nothing half-built is ever emitted.

Building an event also stamps it:

- ``timestamp`` defaults to now, in epoch milliseconds;
- ``event_id`` defaults to a fresh, process-unique id (receivers drop
  duplicates by it);
- attribution bound with :func:`aievents.bind_context` fills the fields that
  were not given explicitly.

================================  ==========================================
name (``event_type``)             class
================================  ==========================================
``image:request:started``         :class:`ImageRequestStartedEvent`
``image:request:completed``       :class:`ImageRequestCompletedEvent`
``image:usage``                   :class:`ImageUsageEvent`
``image:request:error``           :class:`ImageRequestErrorEvent`
================================  ==========================================
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping
from contextvars import ContextVar
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, Final

import attrs

from aievents import _validate as v
from aievents._fork import after_fork
from aievents._redact import SCRUB, ScrubbedRepr, image_data, output_url
from aievents.context import BOUND
from aievents.exceptions import EventValidationError
from aievents.money import ImageCost
from aievents.usage import ImageUsage

__all__ = [
    "EVENT_TYPES",
    "OPERATIONS",
    "SOURCES",
    "VISIBILITIES",
    "BaseEvent",
    "ImageEvent",
    "ImageOutput",
    "ImageRequestCompletedEvent",
    "ImageRequestErrorEvent",
    "ImageRequestStartedEvent",
    "ImageUsageEvent",
    "event_class",
    "new_event_id",
    "now_ms",
]

#: The ``operation`` values of image events: OpenAI's usage ``source`` values.
OPERATIONS: Final = ("image.generation", "image.edit", "image.variation")
#: The ``source`` values of the base context: where the event was emitted.
SOURCES: Final = ("client", "server", "devtools")
#: The ``visibility`` values of the base context.
VISIBILITIES: Final = ("user-visible", "client-state", "server-internal", "devtools-action")


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class _EventIds:
    """Process-unique event ids: a random per-process prefix and a counter.

    Cheaper than ``uuid4()`` per event; re-seeded in a forked child so that
    parent and child never hand out the same id.
    """

    def __init__(self) -> None:
        self._after_fork()

    def _after_fork(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}-{next(self.counter):x}"


_IDS: Final = _EventIds()
after_fork(_IDS)  # a child draws a new prefix


def new_event_id() -> str:
    """A fresh event id, unique within this process and, by its random prefix, across processes."""
    return _IDS.next()


#: Set while events are rebuilt from a wire format: they keep exactly the
#: fields the message had, without a generated id or bound attribution.
FROM_WIRE: Final[ContextVar[bool]] = ContextVar("aievents_from_wire", default=False)


@attrs.frozen(kw_only=True, slots=True)
class BaseEvent(ScrubbedRepr):
    """The base context every event carries (TanStack's ``BaseEventContext``).

    Attributes:
        timestamp: When the event happened, in epoch milliseconds (a value
            that is clearly seconds is refused).
        event_id: Unique id of this event, for de-duplication downstream.
        request_id: Id shared by every event of one request.
        stream_id: Id of the stream the event belongs to.
        hook_id: Id of the hook that produced the event.
        thread_id: Conversation thread id.
        run_id: Agent run id.
        message_id: Message id.
        tool_call_id: Tool call id.
        client_id: Id of the emitting client.
        runtime_id: Id of the emitting runtime.
        source: ``client``, ``server`` or ``devtools``.
        visibility: ``user-visible``, ``client-state``, ``server-internal``
            or ``devtools-action``.
        sequence: Position of the event in its stream.
        correlation_id: Id correlating events across services.
        related_event_id: Id of an event this one relates to.
        traceparent: The W3C ``traceparent`` of the OpenTelemetry span that
            was active when the request began (``00-<trace id>-<span
            id>-<flags>``): the parent of the request's own span. The
            instrumentation captures it at the call when the application
            runs OpenTelemetry.
        trace_id: The trace of the request's own span (32 hex digits), once
            a sink made one (:class:`~aievents.sinks.otel.OtelSink`); the
            events after ``image:request:started`` carry it.
        span_id: The request's own span (16 hex digits), with ``trace_id``.
        provider: The AI provider, such as ``openai``.
        model: The model, such as ``gpt-image-2``.
        system_prompts: System prompts of the request.
        options: Request options (JSON values only: text, finite numbers,
            booleans, None, lists, dicts with string keys).
        model_options: Provider-specific model options (JSON values only).
        tool_names: Names of the tools offered.
        message_count: Number of messages in the request.
        has_tools: Whether tools were offered.
        streaming: Whether the request streamed.
    """

    #: The event's name, such as ``"image:usage"``.
    event_type: ClassVar[str] = "event"

    timestamp: int = attrs.field(factory=now_ms, validator=v.timestamp)
    event_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    request_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    stream_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    hook_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    thread_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    run_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    message_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    tool_call_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    client_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    runtime_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    source: str | None = attrs.field(default=None, validator=v.optional(v.choice(SOURCES)))
    visibility: str | None = attrs.field(default=None, validator=v.optional(v.choice(VISIBILITIES)))
    sequence: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    correlation_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    related_event_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    traceparent: str | None = attrs.field(default=None, validator=v.traceparent)
    trace_id: str | None = attrs.field(default=None, validator=v.OPT_TRACE_ID)
    span_id: str | None = attrs.field(default=None, validator=v.OPT_SPAN_ID)
    provider: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    model: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    # Prompts and options may hold private text or keys: never in repr (tracebacks, logs).
    system_prompts: tuple[str, ...] | None = attrs.field(
        default=None, converter=v.to_tuple, validator=v.OPT_STRINGS, repr=False
    )
    options: Mapping[str, Any] | None = attrs.field(
        default=None, validator=v.OPT_RECORD, repr=False
    )
    model_options: Mapping[str, Any] | None = attrs.field(
        default=None, validator=v.OPT_RECORD, repr=False
    )
    tool_names: tuple[str, ...] | None = attrs.field(
        default=None, converter=v.to_tuple, validator=v.OPT_STRINGS
    )
    message_count: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    has_tools: bool | None = attrs.field(default=None, validator=v.OPT_BOOL)
    streaming: bool | None = attrs.field(default=None, validator=v.OPT_BOOL)

    def __attrs_post_init__(self) -> None:
        if FROM_WIRE.get():
            return
        if self.event_id is None:
            object.__setattr__(self, "event_id", _IDS.next())
        bound = BOUND.get()
        if bound:
            for name, value in bound.items():
                if getattr(self, name, value) is None:
                    object.__setattr__(self, name, value)


@attrs.frozen(kw_only=True, slots=True)
class ImageEvent(BaseEvent):
    """Base of the image events: the base context plus what accounting needs.

    Attributes:
        operation: ``image.generation``, ``image.edit`` or
            ``image.variation`` (OpenAI's usage ``source``).
        size: Image size, such as ``1024x1024`` (what was produced, when
            known).
        quality: Quality tier, such as ``low``, ``medium``, ``high``, ``hd``
            or ``standard``.
        images: Number of images produced.
        user_id: The end user the request was made for.
        project_id: The project the request is billed to.
        api_key_id: Id (never the secret) of the API key used.
    """

    event_type: ClassVar[str] = "image"

    operation: str | None = attrs.field(default=None, validator=v.optional(v.choice(OPERATIONS)))
    size: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    quality: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    images: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    user_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    project_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    api_key_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)


@attrs.frozen(kw_only=True, slots=True)
class ImageOutput(ScrubbedRepr):
    """One produced image, kept only when the caller opts in.

    Attributes:
        url: Where the image can be fetched.
        b64_json: The image, base64-encoded.
        revised_prompt: The prompt as the provider rewrote it.
    """

    url: str | None = attrs.field(
        default=None, validator=v.OPT_STRING, metadata={SCRUB: output_url}
    )
    b64_json: str | None = attrs.field(
        default=None, validator=v.OPT_STRING, metadata={SCRUB: image_data}
    )
    revised_prompt: str | None = attrs.field(default=None, validator=v.OPT_STRING)


_outputs: Final = v.items_of(ImageOutput, "a list of ImageOutput", "an ImageOutput")


@attrs.frozen(kw_only=True, slots=True)
class ImageRequestStartedEvent(ImageEvent):
    """An image request was sent (``image:request:started``).

    ``request_id``, ``provider`` and ``model`` are required.

    Attributes:
        prompt: The prompt; left out unless the caller opts in.
        number_of_images: Images requested (``n``).
        image_input_count: Input images (edits, references).
        video_input_count: Input videos.
        audio_input_count: Input audio clips.
    """

    event_type: ClassVar[str] = "image:request:started"

    request_id: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    provider: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    model: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    prompt: str | None = attrs.field(default=None, validator=v.OPT_STRING, repr=False)
    number_of_images: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    image_input_count: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    video_input_count: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    audio_input_count: int | None = attrs.field(default=None, validator=v.OPT_COUNT)


@attrs.frozen(kw_only=True, slots=True)
class ImageRequestCompletedEvent(ImageEvent):
    """An image request returned (``image:request:completed``).

    ``request_id``, ``provider``, ``model`` and ``duration`` are required.

    Attributes:
        duration: Wall time of the request in milliseconds.
        outputs: The produced images' URLs or data; left out unless the
            caller opts in (``images`` counts them either way).
    """

    event_type: ClassVar[str] = "image:request:completed"

    request_id: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    provider: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    model: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    duration: float = attrs.field(default=v.REQUIRED, validator=v.REQ_DURATION)
    outputs: tuple[ImageOutput, ...] | None = attrs.field(
        default=None, converter=v.to_tuple, validator=v.optional(_outputs), repr=False
    )


@attrs.frozen(kw_only=True, slots=True)
class ImageUsageEvent(ImageEvent):
    """Usage of an image request is known (``image:usage``).

    ``request_id``, ``model`` and ``usage`` are required.

    Two costs, kept apart: ``cost`` is what aievents works out from its
    price table; ``usage.cost`` (and ``usage.cost_details``) is what the
    provider or a gateway reported, when it did. Neither is written into the
    other.

    Attributes:
        usage: Usage of the request as the provider reported it: tokens,
            what it billed (``usage.billed``) and the cost it reported
            (``usage.cost``, TanStack's ``usage.cost``; see
            :attr:`~aievents.usage.ImageUsage.reported_cost`).
        cost: The cost aievents computed, with its breakdown, the price
            table's version and the entry it was priced as, when known (see
            :mod:`aievents.pricing`).
    """

    event_type: ClassVar[str] = "image:usage"

    request_id: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    model: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    usage: ImageUsage = attrs.field(
        default=v.REQUIRED,
        validator=v.required(v.instance_of(ImageUsage, "an ImageUsage (see aievents.usage)")),
    )
    cost: ImageCost | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(ImageCost, "an ImageCost"))
    )

    @property
    def cost_usd(self) -> Decimal | None:
        """The cost aievents computed for the request in USD (``cost.total``), or None.

        ``None`` when the request was not priced, even if the provider
        reported a cost: that figure is ``usage.reported_cost``, kept apart
        (as the log's ``cost_usd`` and ``reported_cost_usd`` are).
        """
        cost = self.cost
        return None if cost is None else cost.total

    @property
    def priced_as(self) -> str | None:
        """The price table entry the request was priced as (``cost.priced_model``), or None.

        It differs from ``model`` when the name the caller used is an alias,
        a snapshot or a prefixed name of a priced model; ``None`` when the
        request was not priced.
        """
        cost = self.cost
        return None if cost is None else cost.priced_model


@attrs.frozen(kw_only=True, slots=True)
class ImageRequestErrorEvent(ImageEvent):
    """An image request failed (``image:request:error``).

    ``request_id``, ``provider``, ``model`` and ``error_type`` are required.

    Attributes:
        error_type: The exception's class name, such as ``RateLimitError``.
        error_message: The error's message.
        status_code: The HTTP status, when the failure was an HTTP answer.
        duration: Wall time until the failure, in milliseconds.
    """

    event_type: ClassVar[str] = "image:request:error"

    request_id: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    provider: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    model: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    error_type: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    error_message: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    status_code: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    duration: float | None = attrs.field(default=None, validator=v.OPT_DURATION)


#: Event names mapped to their classes.
EVENT_TYPES: Final[Mapping[str, type[BaseEvent]]] = MappingProxyType(
    {
        cls.event_type: cls
        for cls in (
            ImageRequestStartedEvent,
            ImageRequestCompletedEvent,
            ImageUsageEvent,
            ImageRequestErrorEvent,
        )
    }
)


def event_class(name: str) -> type[BaseEvent]:
    """Return the class registered for an event name such as ``"image:usage"``.

    Raises:
        EventValidationError: the name is not a known event type.
    """
    try:
        return EVENT_TYPES[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(n) for n in EVENT_TYPES)
        raise EventValidationError(
            "type", name, f"must be a known event type ({known})", owner="event"
        ) from None
