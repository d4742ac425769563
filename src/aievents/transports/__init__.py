"""Transports: where a :class:`~aievents.sinks.ForwardSink` sends its batches.

A transport is anything with ``send(batch)`` and ``close()`` (see
:class:`Transport`). ``send`` either delivers the whole batch or raises
:class:`TransportError`, saying whether a retry may succeed and, when the
target said so, after how long. A transport encodes the whole batch before
it sends anything: when some events cannot be encoded (a value JSON cannot
write, put in an event after it was built), it raises
:class:`UnencodableError` naming them, having sent nothing, and the sink
sends the rest without them.

What a transport writes is the event with its secrets scrubbed
(:func:`aievents._outbound.outbound`), never the event as the application
holds it.

- :class:`~aievents.transports.jsonl.JsonlTransport`: an append-only JSON
  Lines file, rotated by size.
- :class:`~aievents.transports.http.HttpTransport` (extra ``[http]``): JSON
  or NDJSON over HTTP(S).
- :class:`~aievents.transports.otlp.OtlpTransport` (extra ``[otel]``): OTLP
  log records and metrics over HTTP.

Each is also importable from here (``from aievents.transports import
HttpTransport``); its module is imported then, and an extra that is not
installed is named in the :class:`ImportError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aievents._lazy import lazy
from aievents.exceptions import TransportError, UnencodableError
from aievents.protocols import Transport

if TYPE_CHECKING:
    from aievents.transports.http import HttpTransport as HttpTransport
    from aievents.transports.jsonl import JsonlTransport as JsonlTransport
    from aievents.transports.otlp import OtlpTransport as OtlpTransport

__all__ = ["Transport", "TransportError", "UnencodableError"]

#: The transports importable from this package, and their modules (imported when asked for).
__getattr__, __dir__ = lazy(
    __name__,
    {
        "HttpTransport": "aievents.transports.http",
        "JsonlTransport": "aievents.transports.jsonl",
        "OtlpTransport": "aievents.transports.otlp",
    },
)
