"""capture_events and CapturingSink, the helpers shipped for users' tests."""

from __future__ import annotations

import pytest

import aievents
from aievents import BaseEvent, EventClient, ImageUsageEvent
from aievents.testing import CapturingSink, capture_events

from helpers import started_event, usage_event


class TestCaptureEvents:
    """capture_events collects what its block emits, then leaves the client as it was."""

    def test_default_client(self) -> None:
        """Events emitted on the default client inside the block are captured in order."""
        before = aievents.get_client().subscriptions
        first, second = started_event(), usage_event()
        aievents.emit(usage_event("outside-before"))
        with capture_events() as events:
            aievents.emit(first)
            aievents.emit(second)
        aievents.emit(usage_event("outside-after"))
        assert events == [first, second]
        assert aievents.get_client().subscriptions == before
        assert aievents.get_client().sinks == ()

    def test_restores_on_error(self, client: EventClient) -> None:
        """The capturing sink is detached even when the block raises."""

        def body() -> list[BaseEvent]:
            with capture_events(client) as events:
                client.emit(usage_event())
                captured.append(events)
                raise RuntimeError("test body failed")

        captured: list[list[BaseEvent]] = []
        with pytest.raises(RuntimeError):
            body()
        (events,) = captured
        client.emit(usage_event())
        assert len(events) == 1
        assert client.subscriptions == ()

    def test_filter(self, client: EventClient) -> None:
        """events= limits what is captured."""
        with capture_events(client, events=ImageUsageEvent) as events:
            client.emit(started_event())
            client.emit(usage_event())
        assert [e.event_type for e in events] == ["image:usage"]

    def test_nested(self, client: EventClient) -> None:
        """Nested captures each see what was emitted inside them."""
        with capture_events(client) as outer:
            client.emit(usage_event("a"))
            with capture_events(client) as inner:
                client.emit(usage_event("b"))
        assert [e.request_id for e in outer] == ["a", "b"]
        assert [e.request_id for e in inner] == ["b"]


class TestCapturingSink:
    """CapturingSink keeps events until closed and can be filtered."""

    def test_lifecycle(self, client: EventClient) -> None:
        """It keeps events, counts flushes, and ignores events after close."""
        sink = CapturingSink()
        client.add_sink(sink)
        client.emit(started_event())
        client.emit(usage_event())
        client.flush()
        assert [e.event_type for e in sink.of_type("image:usage")] == ["image:usage"]
        assert len(sink.of_type(ImageUsageEvent)) == 1
        assert sink.flushes == 1
        sink.clear()
        assert sink.events == []
        sink.close()
        sink.handle(usage_event())
        assert sink.events == []
