"""Helpers for testing code that emits aievents events.

Like :func:`structlog.testing.capture_logs`, :func:`capture_events` collects
what your code emits inside a ``with`` block::

    from aievents.testing import capture_events

    def test_generation_reports_usage():
        with capture_events() as events:
            make_thumbnail()
        usage = [e for e in events if e.event_type == "image:usage"]
        assert usage[0].usage.output_tokens == 272

Two more stand-ins, in the spirit of ``httpx.MockTransport``:

- :class:`ImageServer`: OpenAI's images API on 127.0.0.1, for the real
  ``openai`` SDK (its ``base_url``; Azure OpenAI's deployment paths too),
  with scripted answers and failures, the Responses API's image tool, and
  Gemini's ``generateContent``.
- :class:`MemoryTransport`: a transport for a
  :class:`~aievents.sinks.ForwardSink` that keeps what it is sent in
  memory, fails on demand and waits for a number of events.

Importing this module adds only standard library modules to those that
``import aievents`` loads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from aievents import _unfinished
from aievents.client import EventClient, EventType, get_client
from aievents.events import BaseEvent
from aievents.testing._images import ImageServer
from aievents.testing._memory import MemoryTransport

__all__ = ["CapturingSink", "ImageServer", "MemoryTransport", "capture_events"]


class CapturingSink:
    """A sink that keeps every event it is given, in order.

    Thread-safe. ``flush`` and ``close`` return immediately; after ``close``
    the sink ignores further events.

    Attributes:
        events: The captured events (the same list object for the sink's life).
        flushes: How many times ``flush`` was called.
        closed: Whether ``close`` was called.
    """

    def __init__(self) -> None:
        self.events: list[BaseEvent] = []
        self.flushes = 0
        self.closed = False
        self._lock = threading.Lock()

    def handle(self, event: BaseEvent) -> None:
        """Keep ``event``."""
        if not self.closed:
            with self._lock:
                self.events.append(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to flush; counts the call."""
        self.flushes += 1
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop keeping events."""
        self.closed = True
        return True

    def of_type(self, event_type: str | type[BaseEvent]) -> list[BaseEvent]:
        """The captured events of one name (``"image:usage"``) or class."""
        if isinstance(event_type, str):
            return [e for e in self.events if e.event_type == event_type]
        return [e for e in self.events if isinstance(e, event_type)]

    def clear(self) -> None:
        """Forget the captured events."""
        with self._lock:
            self.events.clear()


@contextmanager
def capture_events(
    client: EventClient | None = None,
    events: EventType | Iterable[EventType] = "*",
) -> Iterator[list[BaseEvent]]:
    """Collect the events emitted inside the block.

    Args:
        client: The client to listen on; the default client when omitted.
        events: What to capture: names, patterns, classes; everything by default.

    Yields:
        The list the events are appended to, in emit order. It keeps them
        after the block ends.

    Requests whose answers were garbage-collected unread inside the block
    are reported before it ends (see
    :func:`~aievents.instrument.instrument_openai`). The client is left as it
    was: the capturing sink is detached on exit, even when the block raises,
    and nothing else about the client changes. A disabled or muted client
    delivers nothing, so nothing is captured from it.
    """
    target = client if client is not None else get_client()
    sink = CapturingSink()
    subscription = target.add_sink(sink, events)
    try:
        yield sink.events
    finally:
        try:
            _unfinished.report_collected()  # answers collected unread inside the block
        finally:
            subscription.unsubscribe()
