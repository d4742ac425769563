"""aievents: an in-process event client for AI usage telemetry, image generation first.

Emit typed events (:class:`ImageUsageEvent` and its siblings), subscribe
handlers to them, and attach sinks that log, aggregate, store or forward
them without ever blocking or breaking the caller.

This module only re-exports the public API; :class:`StoreSink` (which loads
SQLAlchemy) is imported when first asked for.
"""

from typing import TYPE_CHECKING, Any

from aievents.client import (
    EventClient,
    EventType,
    Handler,
    Subscription,
    emit,
    get_client,
    on,
)
from aievents.context import (
    BINDABLE_FIELDS,
    ContextExecutor,
    ContextToken,
    bind_context,
    carry_context,
    clear_context,
    context,
    get_context,
    unbind_context,
)
from aievents.events import (
    EVENT_TYPES,
    OPERATIONS,
    SOURCES,
    BaseEvent,
    ImageEvent,
    ImageOutput,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
    event_class,
)
from aievents.exceptions import (
    AieventsError,
    EventValidationError,
    FieldValueError,
    PriceTableError,
)
from aievents.policy import Batching, Retry
from aievents.sinks import AggregateSink, ForwardReport, ForwardSink, LogSink, Sink
from aievents.usage import (
    ImageCost,
    ImageUsage,
    InputTokensDetails,
    OutputTokensDetails,
    to_image_usage,
)

if TYPE_CHECKING:
    from aievents.sinks.store import StoreSink
from aievents.wire import (
    from_data,
    from_dict,
    from_envelope,
    from_json,
    to_dict,
    to_envelope,
    to_json,
)

__all__ = [
    "AggregateSink",
    "AieventsError",
    "BINDABLE_FIELDS",
    "BaseEvent",
    "Batching",
    "ContextExecutor",
    "ContextToken",
    "EVENT_TYPES",
    "EventClient",
    "EventType",
    "EventValidationError",
    "FieldValueError",
    "ForwardReport",
    "ForwardSink",
    "Handler",
    "ImageCost",
    "ImageEvent",
    "ImageOutput",
    "ImageRequestCompletedEvent",
    "ImageRequestErrorEvent",
    "ImageRequestStartedEvent",
    "ImageUsage",
    "ImageUsageEvent",
    "InputTokensDetails",
    "LogSink",
    "OPERATIONS",
    "OutputTokensDetails",
    "PriceTableError",
    "Retry",
    "SOURCES",
    "Sink",
    "StoreSink",
    "Subscription",
    "bind_context",
    "carry_context",
    "clear_context",
    "context",
    "emit",
    "event_class",
    "from_data",
    "from_dict",
    "from_envelope",
    "from_json",
    "get_client",
    "get_context",
    "on",
    "to_dict",
    "to_envelope",
    "to_image_usage",
    "to_json",
    "unbind_context",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Optional parts, imported when first asked for."""
    if name == "StoreSink":
        from aievents.sinks.store import StoreSink  # noqa: PLC0415 - loaded when used

        return StoreSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
