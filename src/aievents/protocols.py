"""What the client and ForwardSink ask of what you plug in: :class:`Sink`, :class:`Transport`.

Both are structural (:class:`typing.Protocol`, checkable with
``isinstance``): any object with these methods will do, without inheriting
from anything of aievents. This module imports nothing of the library at
run time, so the core (the client) depends on these few lines only, never
on the sinks and transports that implement them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aievents.events import BaseEvent

__all__ = ["Sink", "Transport"]


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


@runtime_checkable
class Transport(Protocol):
    """What a :class:`~aievents.sinks.ForwardSink` sends batches through.

    ``send`` either delivers the whole batch or raises
    :class:`~aievents.exceptions.TransportError`, saying whether a retry may
    succeed; it encodes the whole batch before it sends anything, and raises
    :class:`~aievents.exceptions.UnencodableError` naming the events it
    cannot encode, having sent nothing.
    """

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """Deliver every event of ``batch``, or raise a ``TransportError``."""

    def close(self) -> None:
        """Release connections and files."""
