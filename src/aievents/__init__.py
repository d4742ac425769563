"""aievents: an in-process event client for AI usage telemetry, image generation first.

Emit typed events (:class:`ImageUsageEvent` and its siblings), subscribe
handlers to them, and attach sinks that log, aggregate, store or forward
them without ever blocking or breaking the caller.

This module only re-exports the public API. The sinks are imported when
first asked for (``from aievents import StoreSink`` imports SQLAlchemy then,
not before): ``import aievents`` loads no database driver, HTTP client, SDK
or renderer, and registers no exit or signal hook.
"""

from typing import TYPE_CHECKING

from aievents._lazy import lazy
from aievents.adapters import to_image_usage
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
    EventFileError,
    EventValidationError,
    FieldValueError,
    PriceTableError,
    QueryError,
    StoreAccessError,
    StoreConnectionError,
    StoreError,
    StoreSettingError,
    TransportError,
    UnencodableError,
)
from aievents.money import ImageCost
from aievents.protocols import Sink, Transport
from aievents.usage import (
    Billed,
    CostDetails,
    ImageUsage,
    InputTokensDetails,
    OutputTokensDetails,
)
from aievents.wire import (
    from_data,
    from_dict,
    from_envelope,
    from_json,
    to_dict,
    to_envelope,
    to_json,
)

if TYPE_CHECKING:
    from aievents.devtools import DevtoolsListener as DevtoolsListener
    from aievents.devtools import DevtoolsTransport as DevtoolsTransport
    from aievents.instrument import image_request as image_request
    from aievents.instrument import instrument_openai as instrument_openai
    from aievents.instrument import uninstrument_openai as uninstrument_openai
    from aievents.policy import Batching as Batching
    from aievents.policy import Retry as Retry
    from aievents.sinks.aggregate import AggregateSink as AggregateSink
    from aievents.sinks.forward import ForwardReport as ForwardReport
    from aievents.sinks.forward import ForwardSink as ForwardSink
    from aievents.sinks.log import LogSink as LogSink
    from aievents.sinks.otel import OtelSink as OtelSink
    from aievents.sinks.prometheus import PrometheusSink as PrometheusSink
    from aievents.sinks.prometheus import serve_metrics as serve_metrics
    from aievents.sinks.store import StoreSink as StoreSink
    from aievents.transports.http import HttpTransport as HttpTransport
    from aievents.transports.jsonl import JsonlTransport as JsonlTransport
    from aievents.transports.otlp import OtlpTransport as OtlpTransport

__all__ = [
    "AggregateSink",
    "AieventsError",
    "BINDABLE_FIELDS",
    "BaseEvent",
    "Batching",
    "Billed",
    "ContextExecutor",
    "ContextToken",
    "CostDetails",
    "EVENT_TYPES",
    "EventClient",
    "EventFileError",
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
    "QueryError",
    "Retry",
    "SOURCES",
    "Sink",
    "StoreAccessError",
    "StoreConnectionError",
    "StoreError",
    "StoreSettingError",
    "StoreSink",
    "Subscription",
    "Transport",
    "TransportError",
    "UnencodableError",
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

from aievents._version import __version__ as __version__

#: The optional parts, each imported when first asked for: the sinks, the
#: policies, and (not in ``__all__``, since a star import would need every
#: extra) OtelSink, the transports, the Prometheus sink and its server, the devtools
#: bridge and the instrumentation.
__getattr__, __dir__ = lazy(
    __name__,
    {
        **dict.fromkeys(
            ("AggregateSink", "ForwardReport", "ForwardSink", "LogSink", "StoreSink"),
            "aievents.sinks",
        ),
        **dict.fromkeys(("PrometheusSink", "serve_metrics"), "aievents.sinks"),
        "OtelSink": "aievents.sinks",
        **dict.fromkeys(("Batching", "Retry"), "aievents.policy"),
        **dict.fromkeys(
            ("HttpTransport", "JsonlTransport", "OtlpTransport"), "aievents.transports"
        ),
        **dict.fromkeys(("DevtoolsListener", "DevtoolsTransport"), "aievents.devtools"),
        **dict.fromkeys(
            ("image_request", "instrument_openai", "uninstrument_openai"), "aievents.instrument"
        ),
    },
)
