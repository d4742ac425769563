"""Events as bytes and messages, apart from how they are sent.

Every encoder writes the event with its secrets scrubbed
(:func:`aievents._outbound.outbound`), never the event as the application
holds it, and names the events it cannot encode
(:class:`~aievents.exceptions.UnencodableError`, through :func:`encode_each`)
rather than losing their batch.

- :mod:`aievents.encoding.jsonl`: JSON text, one event a line (the JSONL
  transport, the HTTP transport's JSON and NDJSON bodies, spill files);
- :mod:`aievents.encoding.otlp`: OTLP log records and metrics, as protobuf
  messages (extra ``[otel]``);
- :mod:`aievents.encoding.devtools`: the TanStack devtools bus's messages,
  both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from aievents._diag import describe
from aievents.events import BaseEvent
from aievents.exceptions import UnencodableError

__all__ = ["encode_each"]

T = TypeVar("T")


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
