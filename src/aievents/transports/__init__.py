"""Transports: where a :class:`~aievents.sinks.ForwardSink` sends its batches.

A transport is anything with ``send(batch)`` and ``close()`` (see
:class:`Transport`). ``send`` either delivers the whole batch or raises
:class:`TransportError`, saying whether a retry may succeed and, when the
target said so, after how long.

- :class:`~aievents.transports.jsonl.JsonlTransport`: an append-only JSON
  Lines file, rotated by size.
- :class:`~aievents.transports.http.HttpTransport` (extra ``[http]``): JSON
  or NDJSON over HTTP(S).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aievents.events import BaseEvent
from aievents.exceptions import AieventsError

__all__ = ["Transport", "TransportError"]


class TransportError(AieventsError):
    """A batch could not be delivered.

    Attributes:
        retryable: Whether sending the same batch again may succeed (a
            timeout, a refused connection, HTTP 429 or 5xx).
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


@runtime_checkable
class Transport(Protocol):
    """What a ForwardSink sends batches through."""

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """Deliver every event of ``batch``, or raise :class:`TransportError`."""

    def close(self) -> None:
        """Release connections and files."""
