"""The sink protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aievents.events import BaseEvent

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    """What :meth:`aievents.EventClient.add_sink` accepts.

    ``handle`` is called on the emitting thread for every event the sink
    subscribed to: it must be quick and must not block on I/O (queue the
    work). ``flush`` and ``close`` must return within ``timeout`` seconds
    (``None``: no limit) and may return a report of what they did.
    """

    def handle(self, event: BaseEvent) -> None:
        """Take one event."""

    def flush(self, timeout: float | None = None) -> object:
        """Finish the work queued so far, within ``timeout`` seconds."""

    def close(self, timeout: float | None = None) -> object:
        """Flush, then release resources; later events are ignored."""
