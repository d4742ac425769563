"""EventClient: subscription, dispatch, isolation, threads, sinks, replay."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
import structlog

import aievents
from aievents import (
    BaseEvent,
    EventClient,
    ImageEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
)
from aievents._dispatch import Dispatcher
from aievents.client import ERROR_LOG_INTERVAL
from aievents.testing import CapturingSink

from helpers import (
    ImageUsageLookalike,
    TextUsageEvent,
    completed_event,
    error_event,
    locked_store,
    started_event,
    usage_event,
    wait_until,
)


def all_events() -> list[BaseEvent]:
    """One event of each image type, a text event and a look-alike name."""
    return [
        started_event(),
        completed_event(),
        usage_event(),
        error_event(),
        TextUsageEvent(tokens=3),
        ImageUsageLookalike(),
    ]


def names_heard(client: EventClient, event_type: Any) -> list[str]:
    """Names of the events from all_events() a subscription to event_type hears."""
    heard: list[str] = []
    with client.on(event_type, lambda e: heard.append(e.event_type)):
        for event in all_events():
            client.emit(event)
    return heard


class TestMatching:
    """Names, classes, patterns and '*' select exactly the events they should."""

    @pytest.mark.parametrize(
        ("event_type", "expected"),
        [
            ("image:usage", ["image:usage"]),
            (ImageUsageEvent, ["image:usage"]),
            (ImageRequestStartedEvent, ["image:request:started"]),
            (
                "image:*",
                [
                    "image:request:started",
                    "image:request:completed",
                    "image:usage",
                    "image:request:error",
                    "image:usage:extra",
                ],
            ),
            (
                "image:request:*",
                ["image:request:started", "image:request:completed", "image:request:error"],
            ),
            ("*:usage", ["image:usage", "text:usage"]),
            ("text:*", ["text:usage"]),
            (
                ImageEvent,
                [
                    "image:request:started",
                    "image:request:completed",
                    "image:usage",
                    "image:request:error",
                ],
            ),
            ("*", [e.event_type for e in all_events()]),
            ("image:usage:*", ["image:usage:extra"]),
            ("video:*", []),
        ],
    )
    def test_selects(self, client: EventClient, event_type: Any, expected: list[str]) -> None:
        """Each kind of subscription hears its events and nothing else."""
        assert names_heard(client, event_type) == expected

    @pytest.mark.parametrize("bad", ["", 42, None, int, object()])
    def test_bad_event_type(self, client: EventClient, bad: Any) -> None:
        """Anything but a name, pattern or event class is refused at subscription."""
        with pytest.raises(TypeError, match="event_type"):
            client.on(bad, lambda e: None)

    def test_where_filters(self, client: EventClient) -> None:
        """A where= predicate decides which matching events are delivered."""
        heard: list[str] = []
        client.on("image:usage", lambda e: heard.append(e.request_id), where=lambda e: e.images)
        client.emit(usage_event("a", images=2))
        client.emit(usage_event("b"))
        client.emit(usage_event("c", images=1))
        assert heard == ["a", "c"]

    def test_on_all(self, client: EventClient) -> None:
        """on_all hears every event, whatever its family."""
        heard: list[BaseEvent] = []
        client.on_all(heard.append)
        events = all_events()
        for event in events:
            client.emit(event)
        assert heard == events


class TestDelivery:
    """Handlers receive the emitted instance, in subscription order."""

    def test_order_and_identity(self, client: EventClient) -> None:
        """Handlers run in the order they subscribed, with the same event object."""
        calls: list[tuple[str, BaseEvent]] = []
        client.on("*", lambda e: calls.append(("all", e)))
        client.on("image:usage", lambda e: calls.append(("name", e)))
        client.on("image:*", lambda e: calls.append(("pattern", e)))
        client.on(ImageUsageEvent, lambda e: calls.append(("class", e)))
        event = usage_event()
        client.emit(event)
        assert [tag for tag, _ in calls] == ["all", "name", "pattern", "class"]
        assert all(e is event for _, e in calls)

    def test_same_handler_twice(self, client: EventClient) -> None:
        """Subscribing one handler twice delivers twice; each subscription is separate."""
        heard: list[BaseEvent] = []
        first = client.on("image:usage", heard.append)
        client.on("image:usage", heard.append)
        client.emit(usage_event())
        first()
        client.emit(usage_event())
        assert len(heard) == 3

    def test_bound_emit_sees_later_subscriptions(self, client: EventClient) -> None:
        """emit grabbed before subscribing still delivers to later handlers."""
        emit = client.emit
        heard: list[BaseEvent] = []
        client.on("image:usage", heard.append)
        emit(usage_event())
        assert len(heard) == 1

    def test_emit_through_class(self, client: EventClient) -> None:
        """EventClient.emit(client, event) delivers like client.emit(event)."""
        heard: list[BaseEvent] = []
        client.on("*", heard.append)
        EventClient.emit(client, usage_event())
        EventClient.emit(client, TextUsageEvent())
        assert [e.event_type for e in heard] == ["image:usage", "text:usage"]

    def test_new_event_class_is_routed(self, client: EventClient) -> None:
        """An event class the client has never seen reaches matching handlers, every time."""
        heard: list[str] = []
        client.on("text:*", lambda e: heard.append(e.event_type))
        for _ in range(3):
            client.emit(TextUsageEvent(tokens=1))
        assert heard == ["text:usage"] * 3

    @pytest.mark.parametrize("bad", [None, {"type": "image:usage"}, "image:usage"])
    def test_not_an_event(self, client: EventClient, bad: Any) -> None:
        """Emitting something that is not an event is a TypeError naming it."""
        with pytest.raises(TypeError, match="takes an aievents event"):
            client.emit(bad)

    def test_many_handlers(self, client: EventClient) -> None:
        """Routes longer than the unrolled limit still deliver to every handler in order."""
        order: list[int] = []
        for index in range(40):
            client.on("image:usage", lambda e, i=index: order.append(i))
        client.emit(usage_event())
        assert order == list(range(40))


class TestIsolation:
    """A raising handler never stops the others nor reaches the emitter."""

    def test_raising_handler(self, client: EventClient) -> None:
        """The handlers after a raising one run, and emit returns normally."""
        heard: list[str] = []

        def broken(event: BaseEvent) -> None:
            raise RuntimeError("handler bug")

        client.on("image:usage", lambda e: heard.append("before"))
        client.on("image:usage", broken)
        client.on("image:usage", lambda e: heard.append("after"))
        with structlog.testing.capture_logs() as logs:
            assert client.emit(usage_event()) is None
        assert heard == ["before", "after"]
        assert client.handler_errors == 1
        assert logs[0]["event"] == "handler_failed"
        assert logs[0]["log_level"] == "error"
        assert logs[0]["handler"].endswith("broken")
        assert logs[0]["error"] == "RuntimeError: handler bug"

    def test_errors_counted_and_logging_rate_limited(self, client: EventClient) -> None:
        """Every failure is counted; one failing handler is logged once per interval."""

        def broken(event: BaseEvent) -> None:
            raise ValueError("again")

        client.on("*", broken)
        with structlog.testing.capture_logs() as logs:
            for _ in range(100):
                client.emit(usage_event())
        assert client.handler_errors == 100
        assert len(logs) == 1
        assert ERROR_LOG_INTERVAL >= 1
        (name, count), *_ = client.handler_error_counts().items()
        assert name.endswith("broken")
        assert count == 100

    def test_strict_reraises(self) -> None:
        """A strict client lets the handler's error out of emit."""
        client = EventClient(strict=True)

        def broken(event: BaseEvent) -> None:
            raise KeyError("strict")

        client.on("image:usage", broken)
        with pytest.raises(KeyError, match="strict"):
            client.emit(usage_event())

    def test_failing_sink_flush(self, client: EventClient) -> None:
        """A sink whose flush raises makes flush report False, and is counted."""

        class BadSink(CapturingSink):
            def flush(self, timeout: float | None = None) -> bool:
                raise OSError("disk gone")

        client.add_sink(BadSink())
        with structlog.testing.capture_logs() as logs:
            assert client.flush(1.0) is False
        assert client.handler_errors == 1
        assert logs[0]["event"] == "sink_flush_failed"

    def test_broken_logger(self, client: EventClient) -> None:
        """Even a logging configuration that raises does not break emit."""

        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("logger broken")

        client.on("*", lambda e: 1 / 0)
        structlog.configure(processors=[explode])
        try:
            client.emit(usage_event())
        finally:
            structlog.reset_defaults()
        assert client.handler_errors == 1


class TestSubscriptions:
    """Subscriptions end when called or when their block ends, from anywhere."""

    def test_call_to_unsubscribe(self, client: EventClient) -> None:
        """Calling the subscription (TanStack's cleanup function) unsubscribes; twice is fine."""
        heard: list[BaseEvent] = []
        subscription = client.on("image:usage", heard.append)
        assert subscription.active
        subscription()
        subscription()
        client.emit(usage_event())
        assert heard == []
        assert not subscription.active

    def test_context_manager(self, client: EventClient) -> None:
        """A subscription used as a context manager ends with its block."""
        heard: list[BaseEvent] = []
        with client.on("image:usage", heard.append) as subscription:
            client.emit(usage_event())
            assert subscription in client.subscriptions
        client.emit(usage_event())
        assert len(heard) == 1
        assert client.subscriptions == ()

    def test_changes_inside_a_handler(self, client: EventClient) -> None:
        """Subscribing and unsubscribing inside a handler takes effect from the next emit."""
        log: list[str] = []
        late: list[BaseEvent] = []

        def self_removing(event: BaseEvent) -> None:
            log.append(f"self:{event.request_id}")
            subscription.unsubscribe()
            client.on("image:usage", late.append)

        subscription = client.on("image:usage", self_removing)
        client.on("image:usage", lambda e: log.append(f"other:{e.request_id}"))
        client.emit(usage_event("one"))
        client.emit(usage_event("two"))
        assert log == ["self:one", "other:one", "other:two"]
        assert [e.request_id for e in late] == ["two"]

    def test_once(self, client: EventClient) -> None:
        """once delivers the first matching event only, then unsubscribes itself."""
        heard: list[str] = []
        subscription = client.once("image:usage", lambda e: heard.append(e.request_id))
        client.emit(started_event("x"))
        client.emit(usage_event("a"))
        client.emit(usage_event("b"))
        assert heard == ["a"]
        assert not subscription.active

    def test_once_under_threads(self, client: EventClient) -> None:
        """once fires exactly once when many threads emit at the same time."""
        heard: list[BaseEvent] = []
        client.once("image:usage", heard.append)
        barrier = threading.Barrier(8)

        def burst() -> None:
            barrier.wait()
            for _ in range(200):
                client.emit(usage_event())

        threads = [threading.Thread(target=burst) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(heard) == 1

    def test_once_with_where(self, client: EventClient) -> None:
        """once with where= waits for the first event the predicate accepts."""
        heard: list[str] = []
        client.once("image:usage", lambda e: heard.append(e.request_id), where=lambda e: e.images)
        client.emit(usage_event("a"))
        client.emit(usage_event("b", images=1))
        client.emit(usage_event("c", images=1))
        assert heard == ["b"]

    def test_handler_must_be_callable(self, client: EventClient) -> None:
        """A handler that cannot be called is refused."""
        with pytest.raises(TypeError, match="callable"):
            client.on("image:usage", "not callable")  # type: ignore[arg-type]


class TestThreads:
    """Emitting and subscribing from many threads loses nothing."""

    def test_sixteen_threads(self, client: EventClient) -> None:
        """16 threads emitting 50k events each into a counting handler lose none."""
        counter = itertools.count()
        client.on("image:usage", lambda e: next(counter))
        per_thread = 50_000
        barrier = threading.Barrier(16)

        def work() -> None:
            event = usage_event()
            emit = client.emit
            barrier.wait()
            for _ in range(per_thread):
                emit(event)

        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert next(counter) == 16 * per_thread

    def test_subscribe_while_emitting(self, client: EventClient) -> None:
        """Churning subscriptions on other threads never disturbs a steady subscriber."""
        steady = itertools.count()
        client.on("image:usage", lambda e: next(steady))
        stop = threading.Event()
        errors: list[BaseException] = []

        def churn() -> None:
            try:
                while not stop.is_set():
                    with client.on("image:*", lambda e: None):
                        client.on("*", lambda e: None)()
            except BaseException as exc:  # noqa: BLE001  # pragma: no cover - reported below
                errors.append(exc)

        churners = [threading.Thread(target=churn) for _ in range(2)]
        for thread in churners:
            thread.start()
        for _ in range(20_000):
            client.emit(usage_event())
        stop.set()
        for thread in churners:
            thread.join()
        assert errors == []
        assert next(steady) == 20_000
        assert len(client.subscriptions) == 1


class TestState:
    """enabled, muted() and close() stop delivery; the client is a context manager."""

    def test_disabled(self) -> None:
        """A disabled client delivers nothing until enabled again."""
        client = EventClient(enabled=False)
        heard: list[BaseEvent] = []
        client.on("*", heard.append)
        client.emit(usage_event("off"))
        client.enabled = True
        client.emit(usage_event("on"))
        assert [e.request_id for e in heard] == ["on"]
        assert client.enabled

    def test_muted(self, client: EventClient) -> None:
        """Nothing is delivered inside muted(), nested or not; delivery resumes after."""
        heard: list[str] = []
        client.on("*", lambda e: heard.append(e.request_id or ""))
        with client.muted():
            client.emit(usage_event("a"))
            with client.muted():
                client.emit(usage_event("b"))
            client.emit(usage_event("c"))
            client.emit(TextUsageEvent())
        client.emit(usage_event("d"))
        assert heard == ["d"]

    def test_muted_on_other_threads(self, client: EventClient) -> None:
        """muted() silences emits from every thread."""
        heard: list[BaseEvent] = []
        client.on("*", heard.append)
        with client.muted():
            thread = threading.Thread(target=client.emit, args=(usage_event(),))
            thread.start()
            thread.join()
        assert heard == []

    def test_close(self) -> None:
        """close flushes and closes the sinks, then delivers nothing; twice is harmless."""
        sink = CapturingSink()
        with EventClient() as client:
            client.add_sink(sink)
            client.emit(usage_event())
        assert client.closed
        assert sink.closed
        assert sink.flushes == 1
        client.emit(usage_event())
        assert len(sink.events) == 1
        assert client.close() is True

    def test_replay_must_be_a_count(self) -> None:
        """replay takes a non-negative integer."""
        with pytest.raises(ValueError, match="replay"):
            EventClient(replay=-1)


class TestStrictOnce:
    """A strict client delivers each event at most once to each handler, whatever is raised."""

    @pytest.mark.parametrize("error", [KeyError, NameError, UnboundLocalError])
    @pytest.mark.parametrize("path", ["compiled", "class"])
    def test_raising_handler(self, error: type[Exception], path: str) -> None:
        """The handlers before the raising one ran once, the raising one once, none after."""
        client = EventClient(strict=True)
        calls: list[str] = []

        def broken(event: BaseEvent) -> None:
            calls.append("broken")
            raise error("strict")

        client.on("image:usage", lambda e: calls.append("before"))
        client.on("image:usage", broken)
        client.on("image:usage", lambda e: calls.append("after"))
        emit = client.emit if path == "compiled" else lambda e: EventClient.emit(client, e)
        with pytest.raises(error):
            emit(usage_event())
        assert calls == ["before", "broken"]
        assert client.handler_errors == 1

    def test_new_event_class(self) -> None:
        """The first event of a class the client has not seen yet is delivered once too."""
        import attrs

        @attrs.frozen(kw_only=True, slots=True)
        class Unseen(BaseEvent):
            event_type: ClassVar[str] = "test:unseen"

        client = EventClient(strict=True)
        calls: list[str] = []

        def broken(event: BaseEvent) -> None:
            calls.append(event.event_type)
            raise NameError("strict")

        client.on("*", broken)
        with pytest.raises(NameError):
            client.emit(Unseen())
        assert calls == ["test:unseen"]

    def test_replayed_backlog(self) -> None:
        """A raising replay delivers the backlog once, then lets live events through."""
        client = EventClient(strict=True, replay=3)
        for index in range(3):
            client.emit(usage_event(f"r{index}"))
        heard: list[str] = []

        def picky(event: Any) -> None:
            heard.append(event.request_id)
            if event.request_id == "r0":
                raise NameError("strict")

        with pytest.raises(NameError):
            client.on("image:usage", picky, replay=True)
        client.emit(usage_event("live"))
        assert heard == ["r0", "r1", "r2", "live"]


class TestHonestResults:
    """flush and close return False while a sink still holds events, and say what it holds."""

    def test_store_behind_a_lock(self, tmp_path: Any) -> None:
        """A StoreSink writing into a locked database: False, logged, and pending() counts it."""
        from aievents.sinks import StoreSink

        client = EventClient()
        with locked_store(tmp_path / "usage.db") as url:
            store = StoreSink(url, batch_size=10, max_delay=0.01)
            client.add_sink(store)
            for index in range(10):
                client.emit(usage_event(f"r{index}"))
            assert wait_until(store._worker.inflight)  # being written, not queued
            with structlog.testing.capture_logs() as logs:
                assert client.flush(0.2) is False
            assert client.pending() == {store: 10}
            assert client.stats()["sinks_pending"] == 10
            (line,) = [line for line in logs if line["event"] == "flush_incomplete"]
            assert line["sinks"] == {"StoreSink": 10}
            with structlog.testing.capture_logs() as logs:
                assert client.close(0.2) is False
            (line,) = [line for line in logs if line["event"] == "close_incomplete"]
            assert line["sinks"] == {"StoreSink": 10}
            assert line["pending"] == 10
        # Once the lock is gone the batch is written after all, and nothing is pending.
        assert wait_until(lambda: not client.pending(), timeout=30)
        assert store.stats()["written"] == 10
        assert client.close() is True

    def test_what_sinks_return(self, client: EventClient) -> None:
        """False, or a report whose done is false, is not done; True and None are."""

        class Report:
            done = False
            pending = 3

        class Returns(CapturingSink):
            def __init__(self, result: object) -> None:
                super().__init__()
                self.result = result

            def flush(self, timeout: float | None = None) -> Any:
                return self.result

        for result in (True, None):
            client.add_sink(Returns(result))
        assert client.flush(1.0) is True
        client.add_sink(Returns(False))
        client.add_sink(Returns(Report()))
        with structlog.testing.capture_logs() as logs:
            assert client.flush(1.0) is False
        (line,) = logs
        assert line["sinks"] == {"Returns#1": None, "Returns#2": 3}
        assert line["pending"] == 3


class TestSinks:
    """Sinks receive the events they asked for and follow the client's lifecycle."""

    def test_events_filter(self, client: EventClient) -> None:
        """add_sink(events=...) takes names, patterns and classes."""
        sink = CapturingSink()
        client.add_sink(sink, events=["image:request:*", ImageUsageEvent])
        for event in all_events():
            client.emit(event)
        assert [e.event_type for e in sink.events] == [
            "image:request:started",
            "image:request:completed",
            "image:usage",
            "image:request:error",
        ]

    def test_event_matching_two_keys_delivered_once(self, client: EventClient) -> None:
        """An event that matches several of a sink's keys reaches it once."""
        sink = CapturingSink()
        client.add_sink(sink, events=("image:*", "*:usage", ImageUsageEvent))
        client.emit(usage_event())
        assert len(sink.events) == 1

    def test_detach(self, client: EventClient) -> None:
        """Calling add_sink's subscription detaches the sink without closing it."""
        sink = CapturingSink()
        detach = client.add_sink(sink)
        assert client.sinks == (sink,)
        detach()
        client.emit(usage_event())
        client.close()
        assert sink.events == []
        assert not sink.closed
        assert client.sinks == ()

    def test_twice_refused(self, client: EventClient) -> None:
        """One sink cannot be attached twice to the same client."""
        sink = CapturingSink()
        client.add_sink(sink)
        with pytest.raises(ValueError, match="already attached"):
            client.add_sink(sink)

    def test_not_a_sink(self, client: EventClient) -> None:
        """An object without handle/flush/close is refused, naming what is missing."""

        class HalfSink:
            def handle(self, event: BaseEvent) -> None: ...

        with pytest.raises(TypeError, match=r"flush, close"):
            client.add_sink(HalfSink())  # type: ignore[arg-type]

    def test_no_events(self, client: EventClient) -> None:
        """An empty events list is refused."""
        with pytest.raises(ValueError, match="at least one"):
            client.add_sink(CapturingSink(), events=[])

    def test_protocol(self, client: EventClient, tmp_path: Path) -> None:
        """Each shipped sink is a Sink; one lacking flush or close is not, and add_sink says so."""
        from aievents.sinks import AggregateSink, ForwardSink, LogSink, StoreSink
        from aievents.testing import MemoryTransport

        shipped = [
            CapturingSink(),
            LogSink(),
            AggregateSink(),
            ForwardSink(MemoryTransport()),
            StoreSink(f"sqlite:///{tmp_path / 'events.db'}"),
        ]
        for sink in shipped:
            assert isinstance(sink, aievents.Sink), type(sink).__name__
            sink.close(5.0)

        class NoFlush:
            def handle(self, event: BaseEvent) -> None: ...
            def close(self, timeout: float | None = None) -> bool: ...

        class NoClose:
            def handle(self, event: BaseEvent) -> None: ...
            def flush(self, timeout: float | None = None) -> bool: ...

        for lacking, missing in ((NoFlush(), "flush"), (NoClose(), "close")):
            assert not isinstance(lacking, aievents.Sink)
            with pytest.raises(TypeError, match=rf"lacks {missing}\(\)"):
                client.add_sink(lacking)  # type: ignore[arg-type]
        assert client.sinks == ()


class TestReplay:
    """A bounded buffer of recent events serves late subscribers."""

    def test_late_subscriber(self) -> None:
        """on(..., replay=True) first gets the matching recent events, oldest first."""
        client = EventClient(replay=3)
        for index in range(5):
            client.emit(usage_event(f"u{index}"))
            client.emit(started_event(f"s{index}"))
        heard: list[str] = []
        client.on("image:usage", lambda e: heard.append(e.request_id), replay=True)
        assert heard == ["u4"]
        client.emit(usage_event("u5"))
        assert heard == ["u4", "u5"]
        assert [e.request_id for e in client.recent()] == ["u4", "s4", "u5"]
        assert [e.request_id for e in client.recent("image:request:*")] == ["s4"]

    def test_bounded(self) -> None:
        """The buffer keeps only the most recent events."""
        client = EventClient(replay=4)
        for index in range(100):
            client.emit(usage_event(f"r{index}"))
        assert [e.request_id for e in client.recent()] == ["r96", "r97", "r98", "r99"]

    def test_off_by_default(self, client: EventClient) -> None:
        """A client built without replay keeps nothing."""
        client.emit(usage_event())
        assert client.recent() == []

    def test_default_client_keeps_some(self) -> None:
        """The process-wide client keeps recent events for late subscribers."""
        event = usage_event("for-late-subscribers")
        aievents.emit(event)
        assert aievents.get_client().recent()[-1] is event


class TestDefaultClient:
    """get_client() is one process-wide client; module-level emit and on use it."""

    def test_singleton(self) -> None:
        """get_client returns the same client every time, from any thread."""
        seen: list[EventClient] = []
        threads = [
            threading.Thread(target=lambda: seen.append(aievents.get_client())) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(c is aievents.get_client() for c in seen)

    def test_module_level(self) -> None:
        """aievents.on and aievents.emit subscribe and emit on the default client."""
        heard: list[BaseEvent] = []
        event = usage_event()
        with aievents.on("image:usage", heard.append) as subscription:
            assert subscription in aievents.get_client().subscriptions
            aievents.emit(event)
        aievents.emit(usage_event())
        assert heard == [event]


class TestEdges:
    """Subclasses, error attribution, replay races and malformed event classes."""

    def test_subclass_emit_is_respected(self) -> None:
        """A subclass that overrides emit has its emit called."""
        calls: list[str] = []

        class Auditing(EventClient):
            def emit(self, event: BaseEvent) -> None:
                calls.append(event.event_type)
                super().emit(event)

        client = Auditing()
        heard: list[BaseEvent] = []
        client.on("*", heard.append)
        client.emit(usage_event())
        assert calls == ["image:usage"]
        assert len(heard) == 1

    def test_errors_named_after_the_users_handler(self, client: EventClient) -> None:
        """Errors of wrapped handlers (where=, once) are counted under the handler's name."""

        def picky(event: BaseEvent) -> None:
            raise RuntimeError("no")

        client.once("image:usage", picky, where=lambda e: True)
        with structlog.testing.capture_logs():
            client.emit(usage_event())
        (name,) = client.handler_error_counts()
        assert name.endswith("picky")

    def test_replay_keeps_order_with_racing_emits(self) -> None:
        """Events emitted while a late subscriber gets its backlog arrive after it, once."""
        client = EventClient(replay=8)
        for index in range(3):
            client.emit(usage_event(f"old-{index}"))
        heard: list[str] = []

        def handler(event: BaseEvent) -> None:
            heard.append(event.request_id or "")
            if event.request_id == "old-0":  # a live emit lands during the replay
                thread = threading.Thread(target=client.emit, args=(usage_event("live"),))
                thread.start()
                thread.join()

        client.on("image:usage", handler, replay=True)
        client.emit(usage_event("after"))
        assert heard == ["old-0", "old-1", "old-2", "live", "after"]

    def test_event_class_without_a_name(self, client: EventClient) -> None:
        """An event class whose event_type is not a string is refused; the client keeps working."""

        class Nameless(BaseEvent):
            event_type = None  # type: ignore[assignment]

        heard: list[BaseEvent] = []
        client.on("*", heard.append)
        with pytest.raises(TypeError, match="event_type"):
            client.emit(Nameless())
        client.emit(usage_event())
        assert len(heard) == 1

    def test_many_subscriptions_one_rebuild(
        self, client: EventClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A thousand subscriptions cost one rebuild, and an event reaches only its own."""
        installs: list[Any] = []
        install = Dispatcher.install

        def counting(dispatcher: Dispatcher, routes: Any) -> None:
            installs.append(routes)
            install(dispatcher, routes)

        monkeypatch.setattr(Dispatcher, "install", counting)
        unrelated: list[int] = []
        order: list[int] = []
        for index in range(1000):
            client.on(f"text:other{index}", lambda e, i=index: unrelated.append(i))
        for index in range(300):
            client.on("image:usage", lambda e, i=index: order.append(i))
        client.emit(usage_event())
        client.emit(usage_event())
        assert len(installs) == 1
        compiled = dict(installs[0])[ImageUsageEvent]
        assert compiled == tuple(s.dispatch for s in client.subscriptions[1000:])
        assert order == list(range(300)) * 2
        assert unrelated == []

    def test_many_wildcard_subscriptions_in_order(self, client: EventClient) -> None:
        """Hundreds of ``*``, family and exact subscribers: each event reaches its own, in order."""
        patterns = ("*", "image:*", "image:usage", "text:usage", "*")
        heard: list[tuple[str, int]] = []
        for index in range(300):
            pattern = patterns[index % len(patterns)]
            client.on(pattern, lambda e, i=index: heard.append((e.event_type, i)))
        client.emit(TextUsageEvent())
        client.emit(usage_event())
        client.emit(TextUsageEvent())

        def meant(event_type: str) -> list[tuple[str, int]]:
            family = event_type.partition(":")[0]
            wanted = {"*", f"{family}:*", event_type}
            return [(event_type, i) for i in range(300) if patterns[i % len(patterns)] in wanted]

        text, image = meant("text:usage"), meant("image:usage")
        assert len(text) == 180
        assert len(image) == 240
        assert heard == text + image + text
