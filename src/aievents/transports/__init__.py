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

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, runtime_checkable

from aievents._diag import describe
from aievents.events import BaseEvent
from aievents.exceptions import AieventsError

if TYPE_CHECKING:
    from aievents.transports.http import HttpTransport as HttpTransport
    from aievents.transports.jsonl import JsonlTransport as JsonlTransport
    from aievents.transports.otlp import OtlpTransport as OtlpTransport

__all__ = ["Transport", "TransportError", "UnencodableError"]

T = TypeVar("T")

#: The transports importable from this package, and their modules (imported when asked for).
_LAZY: Final = {
    "HttpTransport": "aievents.transports.http",
    "JsonlTransport": "aievents.transports.jsonl",
    "OtlpTransport": "aievents.transports.otlp",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


class TransportError(AieventsError):
    """A batch could not be delivered.

    Attributes:
        retryable: Whether sending the same batch again may succeed (a
            timeout, a refused connection, an HTTP status of
            :data:`~aievents.policy.RETRYABLE_STATUSES`).
        retry_after: Seconds the target asked to wait before a retry, if it
            said (``Retry-After``).
        status: The HTTP status, for HTTP transports.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class UnencodableError(TransportError):
    """Events of a batch cannot be encoded; nothing of the batch was sent.

    A sink takes them out (counting them as dropped, ``unencodable``) and
    sends the rest.

    Attributes:
        events: The events that cannot be encoded.
        reasons: Why, one line each (the error's type and first line,
            scrubbed; never a value of the event).
    """

    def __init__(self, events: Sequence[BaseEvent], reasons: Sequence[str]) -> None:
        first = reasons[0] if reasons else "unknown"
        super().__init__(f"{len(events)} event(s) cannot be encoded: {first}", retryable=False)
        self.events = list(events)
        self.reasons = list(reasons)


def encode_each(batch: Sequence[BaseEvent], encode: Callable[[BaseEvent], T]) -> list[T]:
    """``encode(event)`` for every event of ``batch``.

    Raises:
        UnencodableError: naming every event ``encode`` failed on (whatever
            the exception); the others are encoded all the same, so that
            one bad event never costs its batch.
    """
    out: list[T] = []
    bad: list[BaseEvent] = []
    reasons: list[str] = []
    for event in batch:
        try:
            out.append(encode(event))
        except Exception as exc:  # noqa: BLE001 - any failure: that event, not the batch
            bad.append(event)
            reasons.append(f"{event.event_type}: {describe(exc)}")
    if bad:
        raise UnencodableError(bad, reasons)
    return out


@runtime_checkable
class Transport(Protocol):
    """What a ForwardSink sends batches through."""

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """Deliver every event of ``batch``, or raise :class:`TransportError`."""

    def close(self) -> None:
        """Release connections and files."""
