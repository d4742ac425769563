"""EventClient through blinker: its signals hold the subscriptions, and blinker's API works."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import blinker
import pytest
import structlog

from aievents import BaseEvent, EventClient, ImageUsageEvent

from helpers import TextUsageEvent, started_event, usage_event


class Collector:
    """An object with a handler method (blinker holds bound methods by their parts)."""

    def __init__(self) -> None:
        self.heard: list[BaseEvent] = []

    def handle(self, event: BaseEvent) -> None:
        self.heard.append(event)


class TestConnect:
    """A receiver connected to a client's signal is a subscription like one made by on()."""

    def test_receiver_gets_the_event(self, client: EventClient) -> None:
        """connect(fn) calls fn(event) with the emitted event, the event being blinker's sender."""
        heard: list[BaseEvent] = []
        client.signal("image:usage").connect(heard.append, weak=False)
        event = usage_event()
        client.emit(event)
        client.emit(started_event())
        assert len(heard) == 1
        assert heard[0] is event

    def test_in_subscription_order(self, client: EventClient) -> None:
        """Receivers connected through blinker run in order with on() subscriptions."""
        calls: list[str] = []

        def through_blinker(event: BaseEvent) -> None:
            calls.append("blinker")

        client.on("*", lambda e: calls.append("first"))
        client.signal("image:*").connect(through_blinker)
        client.on("image:usage", lambda e: calls.append("last"))
        client.emit(usage_event())
        assert calls == ["first", "blinker", "last"]
        assert [s.handler for s in client.subscriptions][1] is through_blinker

    @pytest.mark.parametrize("key", ["image:usage", "image:*", "*", ImageUsageEvent])
    def test_every_kind_of_key(self, client: EventClient, key: Any) -> None:
        """Names, patterns, '*' and classes have signals that select as on() does."""
        heard: list[str] = []

        def receiver(event: BaseEvent) -> None:
            heard.append(event.event_type)

        client.signal(key).connect(receiver)
        for event in (usage_event(), started_event(), TextUsageEvent()):
            client.emit(event)
        expected = {"*": ["image:usage", "image:request:started", "text:usage"]}
        expected["image:*"] = ["image:usage", "image:request:started"]
        assert heard == expected.get(key if isinstance(key, str) else "", ["image:usage"])

    def test_a_class_and_its_name_share_a_signal(self, client: EventClient) -> None:
        """The signal of a registered event class is the signal of its name."""
        assert client.signal(ImageUsageEvent) is client.signal("image:usage")
        assert client.signal("image:usage") is not client.signal("image:*")

    @pytest.mark.parametrize("bad", [123, "", int, None])
    def test_bad_key(self, client: EventClient, bad: Any) -> None:
        """A key that is not a name, pattern or event class is a TypeError."""
        with pytest.raises(TypeError, match="event_type"):
            client.signal(bad)

    def test_on_is_visible_in_blinker(self, client: EventClient) -> None:
        """An on() subscription is a receiver of its signal; blinker's send reaches it."""
        heard: list[BaseEvent] = []
        signal = client.signal("image:usage")
        assert not signal.receivers
        client.on("image:usage", heard.append)
        assert signal.has_receivers_for(blinker.ANY)
        event = usage_event()
        signal.send(event)
        assert heard == [event]

    def test_bound_emit_sees_blinker_connections(self, client: EventClient) -> None:
        """emit grabbed before a blinker connect delivers to the new receiver."""
        emit = client.emit
        heard: list[BaseEvent] = []
        client.signal("*").connect(heard.append, weak=False)
        emit(usage_event())
        assert len(heard) == 1

    def test_connecting_twice_is_one_subscription(self, client: EventClient) -> None:
        """blinker keeps one connection per receiver and signal: one call per event."""
        heard: list[BaseEvent] = []
        receiver = heard.append  # one object: blinker tells receivers apart by identity
        signal = client.signal("image:usage")
        signal.connect(receiver, weak=False)
        signal.connect(receiver, weak=False)
        client.emit(usage_event())
        assert len(heard) == 1
        assert len(client.subscriptions) == 1

    def test_a_sender_is_refused(self, client: EventClient) -> None:
        """A receiver for one sender only is refused: every event is its own sender."""
        heard: list[BaseEvent] = []
        with pytest.raises(TypeError, match="any sender"):
            client.signal("image:usage").connect(heard.append, sender=object(), weak=False)
        client.emit(usage_event())
        assert heard == []
        assert client.subscriptions == ()

    def test_connected_inside_a_handler(self, client: EventClient) -> None:
        """A receiver connected by a handler gets the events after the current one."""
        heard: list[BaseEvent] = []
        signal = client.signal("image:usage")

        def connect(event: BaseEvent) -> None:
            signal.connect(heard.append, weak=False)

        client.once("image:usage", connect)
        first, second = usage_event("a"), usage_event("b")
        client.emit(first)
        client.emit(second)
        assert heard == [second]


class TestDisconnect:
    """disconnect, connected_to and unsubscribing take a receiver out of emit and blinker alike."""

    def test_disconnect(self, client: EventClient) -> None:
        """disconnect(fn) unsubscribes it; its subscription says so."""
        heard: list[BaseEvent] = []
        receiver = heard.append
        signal = client.signal("image:usage")
        signal.connect(receiver, weak=False)
        (subscription,) = client.subscriptions
        signal.disconnect(receiver)
        client.emit(usage_event())
        assert heard == []
        assert not subscription.active
        assert client.subscriptions == ()

    def test_unsubscribe_disconnects(self, client: EventClient) -> None:
        """Unsubscribing a blinker receiver's subscription disconnects it from the signal."""
        heard: list[BaseEvent] = []
        signal = client.signal("image:usage")
        signal.connect(heard.append, weak=False)
        client.subscriptions[0]()
        assert not signal.receivers
        client.emit(usage_event())
        assert heard == []

    def test_on_unsubscribe_disconnects(self, client: EventClient) -> None:
        """Calling an on() subscription disconnects its receiver from the signal."""
        subscription = client.on("image:usage", lambda e: None)
        subscription()
        assert not client.signal("image:usage").receivers

    def test_connected_to(self, client: EventClient) -> None:
        """connected_to subscribes for the with block only."""
        heard: list[BaseEvent] = []
        inside = usage_event("inside")
        with client.signal("image:*").connected_to(heard.append):
            client.emit(inside)
        client.emit(usage_event("after"))
        assert heard == [inside]

    def test_disconnect_from_one_sender_keeps_it(self, client: EventClient) -> None:
        """disconnect(fn, sender) leaves fn connected for any sender, as blinker does."""
        heard: list[BaseEvent] = []
        receiver = heard.append
        signal = client.signal("image:usage")
        signal.connect(receiver, weak=False)
        signal.disconnect(receiver, sender=object())
        client.emit(usage_event())
        assert len(heard) == 1


class TestMuted:
    """A muted signal silences its own receivers for emit; the others still get events."""

    def test_muted_block(self, client: EventClient) -> None:
        """Inside muted() the signal's receivers miss events; after it they get them again."""
        named: list[str] = []
        everything: list[str] = []
        signal = client.signal("image:usage")
        signal.connect(lambda e: named.append(e.request_id), weak=False)
        client.on("*", lambda e: everything.append(e.request_id))
        with signal.muted():
            client.emit(usage_event("during"))
            assert len(client.subscriptions) == 2  # muted, still subscribed
        client.emit(usage_event("after"))
        assert named == ["after"]
        assert everything == ["during", "after"]

    def test_is_muted(self, client: EventClient) -> None:
        """Setting is_muted silences on() subscriptions of that signal too."""
        heard: list[BaseEvent] = []
        client.on("image:usage", heard.append)
        signal = client.signal("image:usage")
        signal.is_muted = True
        client.emit(usage_event())
        signal.is_muted = False
        client.emit(usage_event())
        assert len(heard) == 1


class TestWeakReferences:
    """Receivers blinker holds weakly go when collected; on() and weak=False hold them."""

    def test_weak_function(self, client: EventClient) -> None:
        """A function connected weakly stops receiving once it is garbage-collected."""
        heard: list[str] = []

        def receiver(event: BaseEvent) -> None:
            heard.append("heard")

        client.signal("image:usage").connect(receiver)
        client.emit(usage_event())
        del receiver
        gc.collect()
        client.emit(usage_event())
        assert heard == ["heard"]
        assert client.subscriptions == ()

    def test_weak_bound_method(self, client: EventClient) -> None:
        """A bound method connected weakly goes with its object; the client does not hold it."""
        collector = Collector()
        heard = collector.heard
        client.signal("*").connect(collector.handle)
        client.emit(usage_event())
        del collector
        gc.collect()
        client.emit(usage_event())
        assert len(heard) == 1
        assert client.subscriptions == ()

    def test_strong(self, client: EventClient) -> None:
        """weak=False, and every on() subscription, keep the handler alive."""
        heard: list[str] = []
        client.signal("image:usage").connect(lambda e: heard.append("blinker"), weak=False)
        client.on("image:usage", lambda e: heard.append("on"))
        gc.collect()
        client.emit(usage_event())
        assert heard == ["blinker", "on"]


class TestAsyncReceivers:
    """An async receiver connected through blinker runs as an async on() handler does."""

    def test_emit_schedules_and_flush_waits(self, client: EventClient) -> None:
        """emit schedules the coroutine; flush waits for it."""
        heard: list[str] = []

        async def receiver(event: BaseEvent) -> None:
            await asyncio.sleep(0)
            heard.append(event.request_id or "")

        client.signal("image:usage").connect(receiver, weak=False)
        client.emit(usage_event("a"))
        assert client.flush(5.0) is True
        assert heard == ["a"]

    def test_aemit_awaits(self, client: EventClient) -> None:
        """aemit awaits an async receiver, weakly connected ones too."""
        heard: list[str] = []

        async def receiver(event: BaseEvent) -> None:
            await asyncio.sleep(0)
            heard.append("done")

        client.signal("image:usage").connect(receiver)

        async def main() -> list[str]:
            await client.aemit(usage_event())
            return list(heard)

        assert asyncio.run(main()) == ["done"]


class TestIsolation:
    """A raising blinker receiver is isolated like any handler."""

    def test_logged_and_counted(self, client: EventClient) -> None:
        """The error is counted under the receiver's name; the next receiver still runs."""
        heard: list[BaseEvent] = []

        def broken(event: BaseEvent) -> None:
            raise RuntimeError("boom")

        signal = client.signal("image:usage")
        signal.connect(broken)
        signal.connect(heard.append, weak=False)
        with structlog.testing.capture_logs() as logs:
            client.emit(usage_event())
        assert len(heard) == 1
        assert client.handler_errors == 1
        assert any(name.endswith("broken") for name in client.handler_error_counts())
        assert [log["event"] for log in logs] == ["handler_failed"]

    def test_strict_reraises(self) -> None:
        """A strict client re-raises a blinker receiver's error from emit."""
        with EventClient(strict=True) as client:

            def broken(event: BaseEvent) -> None:
                raise RuntimeError("boom")

            client.signal("*").connect(broken)
            with pytest.raises(RuntimeError, match="boom"):
                client.emit(usage_event())


class TestThreads:
    """Changes made through blinker on other threads reach emit at once."""

    def test_connect_emit_disconnect_in_threads(self, client: EventClient) -> None:
        """Each thread's receiver hears the event the thread emits while it is connected."""
        missed: list[int] = []
        errors: list[BaseException] = []
        signal = client.signal("image:usage")
        start = threading.Barrier(8)

        def work(index: int) -> None:
            try:
                start.wait()
                for round_ in range(100):
                    mine = usage_event(f"{index}-{round_}")
                    heard: list[BaseEvent] = []

                    def receiver(event: BaseEvent, heard: list[BaseEvent] = heard) -> None:
                        heard.append(event)

                    signal.connect(receiver)
                    client.emit(mine)
                    signal.disconnect(receiver)
                    if not any(event is mine for event in heard):
                        missed.append(index)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30.0)
        assert errors == []
        assert missed == []
        assert client.subscriptions == ()
