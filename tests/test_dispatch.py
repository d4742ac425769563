"""The dispatch compiler: the code behind EventClient.emit, tested on its own."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from aievents._dispatch import MAX_UNROLLED, MAX_UNROLLED_TOTAL, Dispatcher


class First:
    """An event class."""


class Second:
    """Another event class."""


class Third:
    """An event class no route names."""


Recorder = Callable[[Any], None]


class Rig:
    """A dispatcher with recording ``failed`` and ``unknown`` callbacks."""

    def __init__(self, *, reraise: bool = False) -> None:
        self.failures: list[tuple[Any, Any, Exception]] = []
        self.unknown: list[Any] = []
        self.reraise = reraise
        self.dispatcher = Dispatcher(self.failed, self.unknown.append)

    def failed(self, handler: Any, event: Any, exc: Exception) -> None:
        self.failures.append((handler, event, exc))
        if self.reraise:
            raise exc


@pytest.fixture(name="rig")
def _rig() -> Rig:
    return Rig()


def recorder(log: list[tuple[str, Any]], name: str) -> Recorder:
    """A handler that appends ``(name, event)`` to ``log``."""
    return lambda event: log.append((name, event))


class TestInstall:
    """Installed routes deliver each known class to its handlers, in order, and nothing else."""

    def test_starts_stale(self, rig: Rig) -> None:
        """Before any install every event goes to ``unknown``."""
        event = First()
        rig.dispatcher.emit(event)
        assert rig.unknown == [event]

    def test_routes_by_exact_class(self, rig: Rig) -> None:
        """Each class reaches its own route only; a subclass is not its base."""
        log: list[tuple[str, Any]] = []
        rig.dispatcher.install(
            [(First, (recorder(log, "a"), recorder(log, "b"))), (Second, (recorder(log, "c"),))]
        )
        first, second = First(), Second()
        rig.dispatcher.emit(first)
        rig.dispatcher.emit(second)
        assert log == [("a", first), ("b", first), ("c", second)]

        class Sub(First):
            pass

        sub = Sub()
        rig.dispatcher.emit(sub)
        assert rig.unknown == [sub]

    def test_empty_route_is_silent(self, rig: Rig) -> None:
        """A known class with no handler is delivered to nobody, not to ``unknown``."""
        rig.dispatcher.install([(First, ())])
        rig.dispatcher.emit(First())
        assert rig.unknown == []

    def test_unknown_class_goes_to_unknown(self, rig: Rig) -> None:
        """A class no route names goes to ``unknown``, which delivers it."""
        rig.dispatcher.install([(First, ())])
        event = Third()
        rig.dispatcher.emit(event)
        assert rig.unknown == [event]

    def test_none_delivers_nothing(self, rig: Rig) -> None:
        """install(None) makes emit a no-op for every class, known or not."""
        log: list[tuple[str, Any]] = []
        rig.dispatcher.install([(First, (recorder(log, "a"),))])
        rig.dispatcher.install(None)
        rig.dispatcher.emit(First())
        rig.dispatcher.emit(Third())
        assert log == []
        assert rig.unknown == []

    def test_invalidate_until_next_install(self, rig: Rig) -> None:
        """After invalidate every event goes to ``unknown``; the next install routes again."""
        log: list[tuple[str, Any]] = []
        handler = recorder(log, "a")
        rig.dispatcher.install([(First, (handler,))])
        rig.dispatcher.invalidate()
        stale = First()
        rig.dispatcher.emit(stale)
        assert (rig.unknown, log) == ([stale], [])
        rig.dispatcher.install([(First, (handler,))])
        fresh = First()
        rig.dispatcher.emit(fresh)
        assert (rig.unknown, log) == ([stale], [("a", fresh)])

    def test_one_function_for_life(self, rig: Rig) -> None:
        """emit is one function object: a reference taken early sees later routes."""
        emit = rig.dispatcher.emit
        log: list[tuple[str, Any]] = []
        rig.dispatcher.install([(First, (recorder(log, "a"),))])
        event = First()
        emit(event)
        assert emit is rig.dispatcher.emit
        assert log == [("a", event)]

    @pytest.mark.parametrize(
        "length",
        [1, MAX_UNROLLED, MAX_UNROLLED + 1, 3 * MAX_UNROLLED],
        ids=["one", "unrolled", "looped", "long"],
    )
    def test_route_lengths(self, rig: Rig, length: int) -> None:
        """Unrolled and looped routes alike call every handler once, in order."""
        order: list[int] = []
        route = tuple(lambda e, i=i: order.append(i) for i in range(length))
        rig.dispatcher.install([(First, route)])
        rig.dispatcher.emit(First())
        assert order == list(range(length))

    def test_unrolled_budget(self, rig: Rig) -> None:
        """Beyond the unrolled total, further routes loop and still deliver in order."""
        classes = [type(f"C{i}", (), {}) for i in range(MAX_UNROLLED_TOTAL // MAX_UNROLLED + 2)]
        heard: dict[type, list[int]] = {cls: [] for cls in classes}
        routes = [
            (cls, tuple(lambda e, i=i, c=cls: heard[c].append(i) for i in range(MAX_UNROLLED)))
            for cls in classes
        ]
        rig.dispatcher.install(routes)
        for cls in classes:
            rig.dispatcher.emit(cls())
        assert all(order == list(range(MAX_UNROLLED)) for order in heard.values())

    def test_names_never_enter_the_source(self, rig: Rig) -> None:
        """A class whose name is code is routed by reference, not pasted into the source."""
        tricky = type("x):\n  raise SystemExit\nif (x", (), {})
        log: list[tuple[str, Any]] = []
        rig.dispatcher.install([(tricky, (recorder(log, "a"),))])
        event = tricky()
        rig.dispatcher.emit(event)
        assert log == [("a", event)]


class TestFailures:
    """A raising handler goes to ``failed``; the others still run unless ``failed`` raises."""

    @pytest.mark.parametrize("length", [3, MAX_UNROLLED + 3], ids=["unrolled", "looped"])
    def test_isolated(self, rig: Rig, length: int) -> None:
        """The handler, the event and the error reach ``failed``; later handlers still run."""
        error = ValueError("boom")
        ran: list[int] = []

        def bad(event: Any) -> None:
            raise error

        route = (bad, *(lambda e, i=i: ran.append(i) for i in range(length - 1)))
        rig.dispatcher.install([(First, route)])
        event = First()
        rig.dispatcher.emit(event)
        assert rig.failures == [(bad, event, error)]
        assert ran == list(range(length - 1))

    @pytest.mark.parametrize("length", [3, MAX_UNROLLED + 3], ids=["unrolled", "looped"])
    def test_failed_may_raise(self, length: int) -> None:
        """When ``failed`` re-raises (a strict client), emit raises and stops there."""
        rig = Rig(reraise=True)
        ran: list[int] = []

        def bad(event: Any) -> None:
            raise KeyError("boom")

        rig.dispatcher.install([(First, (bad, *(lambda e: ran.append(1),) * (length - 1)))])
        with pytest.raises(KeyError):
            rig.dispatcher.emit(First())
        assert ran == []

    def test_a_handlers_name_error_is_its_own(self) -> None:
        """A NameError out of a handler is the handler's error, not a missing generation."""
        rig = Rig(reraise=True)

        def bad(event: Any) -> None:
            raise NameError("undefined_thing")

        rig.dispatcher.install([(First, (bad,))])
        with pytest.raises(NameError, match="undefined_thing"):
            rig.dispatcher.emit(First())
        assert rig.unknown == []


class TestGenerations:
    """A call keeps the handlers it started with; a call left behind is rescued."""

    def test_snapshot(self, rig: Rig) -> None:
        """New routes installed by a handler apply from the next call on."""
        log: list[tuple[str, Any]] = []
        later = recorder(log, "later")

        def swap(event: Any) -> None:
            log.append(("swap", event))
            rig.dispatcher.install([(First, (later,))])

        rig.dispatcher.install([(First, (swap, recorder(log, "same call")))])
        first, second = First(), First()
        rig.dispatcher.emit(first)
        rig.dispatcher.emit(second)
        assert log == [("swap", first), ("same call", first), ("later", second)]

    def test_lost_generation_is_rescued(self, rig: Rig) -> None:
        """Code whose generation was dropped hands its event to ``unknown``, once."""
        log: list[tuple[str, Any]] = []
        rig.dispatcher.install([(First, (recorder(log, "old"),))])
        old = rig.dispatcher.emit.__code__
        for _ in range(4):  # more generations than are kept
            rig.dispatcher.install([(First, (recorder(log, "new"),))])
        left_behind = types.FunctionType(old, rig.dispatcher.emit.__globals__, "emit")
        event = First()
        left_behind(event)
        assert (log, rig.unknown) == ([], [event])

    def test_old_generations_released(self, rig: Rig) -> None:
        """Handlers of replaced generations are let go after a few swaps."""
        import gc
        import weakref

        class Handler:
            def __call__(self, event: Any) -> None:
                return None

        handler = Handler()
        ref = weakref.ref(handler)
        rig.dispatcher.install([(First, (handler,))])
        del handler
        for _ in range(4):
            rig.dispatcher.install([(First, ())])
        gc.collect()
        assert ref() is None
