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
    (``None``: no limit) and say honestly whether they finished: ``True``
    (or ``None``) when nothing is left to do, ``False`` when events are
    still held, or a report whose ``done`` says so (and whose ``pending``,
    if it has one, counts what is still held, as
    :class:`~aievents.sinks.ForwardReport` does). A sink that queues events
    may also have a ``pending`` count; :meth:`aievents.EventClient.pending`
    reads it.
    """

    def handle(self, event: BaseEvent) -> None:
        """Take one event."""

    def flush(self, timeout: float | None = None) -> object:
        """Finish the work queued so far, within ``timeout`` seconds."""

    def close(self, timeout: float | None = None) -> object:
        """Flush, then release resources; later events are ignored."""
