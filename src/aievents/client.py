"""The event client: subscribe handlers and sinks, emit events to them.

:class:`EventClient` is the Python counterpart of TanStack AI's TypeScript
event client. Handlers subscribe to an event name (``"image:usage"``), a
class (:class:`~aievents.ImageUsageEvent`), a pattern (``"image:*"``) or
everything (``"*"``); :meth:`EventClient.emit` calls them in subscription
order.

Guarantees:

- ``emit`` never raises because of a handler: a raising handler is logged
  (through structlog, rate-limited) and counted, and the others still run.
  ``strict=True`` re-raises instead, for tests.
- ``emit`` never blocks on I/O of its own: sinks queue their work.
- Subscribing and unsubscribing is thread-safe and may happen from inside a
  handler; an emit in flight keeps the handlers it started with (a snapshot).
- Async handlers run with the context variables bound at emit time, whether
  the caller is sync or async; :meth:`EventClient.aemit` awaits them,
  :meth:`EventClient.flush` waits for the ones ``emit`` scheduled.

blinker is the registry (one signal per subscription key); dispatch goes
through a snapshot of plain tuples, rebuilt on every subscription change,
because ``Signal.send`` costs several times more per receiver and stops at
the first raising one.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import blinker

from aievents import _unfinished
from aievents._asyncrun import AsyncHandler as _AsyncHandler
from aievents._asyncrun import LoopThread as _LoopThread
from aievents._asyncrun import Pending as _Pending
from aievents._diag import INTERVAL, RateLimitedLog
from aievents._dispatch import Dispatcher, Route
from aievents._fork import after_fork
from aievents._subscription import (
    EventType,
    Filtered,
    Handler,
    Once,
    ReplayGate,
    Subscription,
    handler_name,
    is_async,
    matcher,
    signal_name,
    unwrap,
)
from aievents._validate import setting
from aievents.events import EVENT_TYPES, BaseEvent
from aievents.protocols import Sink

__all__ = [
    "EventClient",
    "EventType",
    "Handler",
    "Subscription",
    "emit",
    "get_client",
    "on",
]

#: Recent events the process-wide default client keeps for late subscribers.
DEFAULT_REPLAY: Final = 128
#: Async handler runs that may wait at once, by default.
DEFAULT_MAX_PENDING: Final = 10_000
#: Seconds ``close()`` (and leaving a ``with`` block) spends at most, by default.
DEFAULT_CLOSE_TIMEOUT: Final = 30.0
#: How often one failing handler is logged, at most (seconds): the diagnostics' one rate limit.
ERROR_LOG_INTERVAL: Final = INTERVAL
#: Event classes compiled into ``emit``, at most (beyond, routes are computed per emit).
_MAX_CLASSES: Final = 256


class EventClient:
    """Subscribe handlers and sinks; emit events to them.

    Args:
        enabled: When false, ``emit`` does nothing until :attr:`enabled` is
            set (TanStack's ``enabled: false``).
        strict: Re-raise handler errors from ``emit``, ``aemit`` and
            ``flush`` instead of logging them. For tests. ``emit`` raises
            the first error at once: handlers after the one that raised do
            not get that event. A late subscriber's replay delivers its
            whole backlog, then raises the first error.
        replay: How many recent events to keep for late subscribers
            (``on(..., replay=True)``, :meth:`recent`); 0, the default, keeps
            none. The process-wide client of :func:`get_client` keeps
            :data:`DEFAULT_REPLAY`.
        max_pending: How many async handler runs may wait at once; beyond,
            new runs are dropped, counted (:meth:`stats`) and logged.

    The client is a context manager: leaving the block closes it.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        strict: bool = False,
        replay: int = 0,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        setting("replay", replay)
        setting("max_pending", max_pending, positive=True)
        self._lock = threading.RLock()
        self._signals = blinker.Namespace()
        self._seq = itertools.count()
        self._subscriptions: dict[Subscription, None] = {}
        self._sinks: dict[Sink, Subscription] = {}
        self._classes: dict[type, None] = dict.fromkeys(EVENT_TYPES.values())
        self._replay: deque[BaseEvent] | None = deque(maxlen=replay) if replay else None
        self._enabled = enabled
        self._mutes = 0
        self._closed = False
        self.strict = strict
        self._pending = _Pending(max_pending)
        self._lost_reported = 0
        self._loop_thread: _LoopThread | None = None
        self._errors = 0
        self._errors_by_handler: dict[str, int] = {}
        self._diag = RateLimitedLog("")
        self._routes: dict[type, Route] = {}
        self._dispatcher = Dispatcher(self._handler_failed, self._emit_unknown)
        if type(self).emit is EventClient.emit:  # a subclass's own emit is respected
            self.__dict__["emit"] = self._dispatcher.emit
            self._dispatcher.emit.__doc__ = EventClient.emit.__doc__
        self._rebuild()
        after_fork(self)

    # ------------------------------------------------------------------ emit

    def emit(self, event: BaseEvent) -> None:
        """Deliver ``event`` to every matching handler and sink, in subscription order.

        Returns normally whatever the handlers do (unless ``strict``). Async
        handlers are scheduled: on the running event loop when there is one,
        otherwise on the client's own loop thread; :meth:`flush` waits for
        them.

        Raises:
            TypeError: ``event`` is not an event (checked while the client
                delivers; a muted, disabled or closed client ignores what it
                is given).
        """
        # Instances use the compiled twin installed in __init__ (see _dispatch);
        # this is the same delivery, for calls through the class.
        for handler in self._route(event):
            try:
                handler(event)
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                self._handler_failed(handler, event, exc)

    #: What the compiled emit calls for a class it does not know yet (this
    #: class's emit, whatever a subclass does with its own).
    _emit_unknown = emit

    async def aemit(self, event: BaseEvent) -> None:
        """Deliver ``event`` like :meth:`emit`, awaiting async handlers in order.

        Async handlers run in the caller's context and task.
        """
        for handler in self._route(event):
            arun = getattr(handler, "arun", None)
            try:
                if arun is not None:
                    await arun(event)
                else:
                    handler(event)
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                self._handler_failed(handler, event, exc)
        self._raise_deferred()

    def _route(self, event: BaseEvent) -> Route:
        """The handlers of ``event``, registering its class when it is new."""
        route = self._routes.get(type(event))
        if route is not None:
            return route
        if not isinstance(event, BaseEvent):
            raise TypeError(f"emit() takes an aievents event, got {event!r}")
        name = event.event_type
        if not isinstance(name, str) or not name:
            raise TypeError(f"{type(event).__qualname__}.event_type must be a non-empty string")
        with self._lock:
            if not self._live():
                return ()
            if len(self._classes) >= _MAX_CLASSES:  # pathological: route without caching
                return self._build_route(name, type(event), self._ordered())
            self._classes[type(event)] = None
            self._rebuild()
            return self._routes[type(event)]

    # ------------------------------------------------------------------ subscribe

    def on(
        self,
        event_type: EventType,
        handler: Handler,
        *,
        where: Callable[[Any], bool] | None = None,
        replay: bool = False,
    ) -> Subscription:
        """Subscribe ``handler`` to events.

        Args:
            event_type: ``"image:usage"``, ``ImageUsageEvent``, a pattern
                such as ``"image:*"`` or ``"image:request:*"``, or ``"*"``.
                A base class such as ``ImageEvent`` matches its subclasses.
            handler: Called with each matching event; may be ``async``.
            where: Only events for which this returns true are delivered.
            replay: Deliver the matching recent events (see ``replay`` of the
                client) right away, oldest first.

        Returns:
            The :class:`Subscription`; call it to unsubscribe.
        """
        return self._subscribe((event_type,), handler, where=where, replay=replay)

    def once(
        self,
        event_type: EventType,
        handler: Handler,
        *,
        where: Callable[[Any], bool] | None = None,
    ) -> Subscription:
        """Subscribe ``handler`` for the first matching event only."""
        return self._subscribe((event_type,), handler, where=where, once=True)

    def on_all(self, handler: Handler, *, replay: bool = False) -> Subscription:
        """Subscribe ``handler`` to every event (TanStack's ``onAll``)."""
        return self._subscribe(("*",), handler, replay=replay)

    def add_sink(self, sink: Sink, events: EventType | Iterable[EventType] = "*") -> Subscription:
        """Attach a sink to the events it should see (all, by default).

        The sink's ``handle`` is called for each matching event; the client's
        :meth:`flush` and :meth:`close` flush and close it. Calling the returned
        subscription detaches the sink without closing it.
        """
        missing = [
            name for name in ("handle", "flush", "close") if not callable(getattr(sink, name, None))
        ]
        if missing:
            raise TypeError(f"sink {sink!r} lacks {', '.join(missing)}(); see aievents.sinks.Sink")
        keys = (events,) if isinstance(events, (str, type)) else tuple(events)
        if not keys:
            raise ValueError("events must name at least one event type")
        with self._lock:
            if sink in self._sinks:
                raise ValueError(f"sink {sink!r} is already attached to this client")
            subscription = self._subscribe(keys, sink.handle)
            self._sinks[sink] = subscription
        return subscription

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """The attached sinks, in the order they were added."""
        with self._lock:
            return tuple(self._sinks)

    def _subscribe(
        self,
        keys: tuple[EventType, ...],
        handler: Handler,
        *,
        where: Callable[[Any], bool] | None = None,
        replay: bool = False,
        once: bool = False,
    ) -> Subscription:
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        dispatch: Callable[[Any], None]
        dispatch = _AsyncHandler(self, handler) if is_async(handler) else handler  # type: ignore[arg-type,assignment]
        if where is not None and not callable(where):
            raise TypeError(f"where must be callable, got {where!r}")
        gate = None
        if once:  # inside the filter: only an accepted event uses up the one delivery
            gate = Once(dispatch)
            dispatch = gate
        if where is not None:
            dispatch = Filtered(dispatch, where)
        holding = None
        if replay and self._replay is not None:
            # Live events that race the subscription wait until the backlog is out.
            holding = dispatch = ReplayGate(dispatch)
        with self._lock:
            subscription = Subscription(self, keys, handler, dispatch, next(self._seq))
            if gate is not None:
                gate.subscription = subscription
            backlog = list(self._replay) if holding is not None and self._replay else []
            for key in keys:
                self._signals.signal(signal_name(key)).connect(subscription, weak=False)
            self._subscriptions[subscription] = None
            self._rebuild()
        if holding is not None:
            matching = [e for e in backlog if subscription._matches(e.event_type, type(e))]
            holding.release(matching, lambda event, exc: self._handler_failed(handler, event, exc))
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if self._subscriptions.pop(subscription, False) is False:
                return
            for key in subscription.keys:
                self._signals.signal(signal_name(key)).disconnect(subscription)
            for sink, owner in list(self._sinks.items()):
                if owner is subscription:
                    del self._sinks[sink]
            self._rebuild()

    def _is_subscribed(self, subscription: Subscription) -> bool:
        return subscription in self._subscriptions

    def _ordered(self) -> list[Subscription]:
        """The live subscriptions in subscription order (insertion order of the registry)."""
        return list(self._subscriptions)

    def _build_route(self, name: str, cls: type, ordered: list[Subscription]) -> Route:
        route: list[Callable[[Any], None]] = []
        if self._replay is not None:
            route.append(self._replay.append)
        route.extend(s.dispatch for s in ordered if s._matches(name, cls))
        return tuple(route)

    def _rebuild(self) -> None:
        """Rebuild the dispatch snapshot and recompile ``emit``; called with the lock held."""
        if not self._live():
            self._routes = dict.fromkeys(self._classes, ())
            self._dispatcher.install(None)
            return
        ordered = self._ordered()
        routes = {
            cls: self._build_route(cls.event_type, cls, ordered)  # type: ignore[attr-defined]
            for cls in self._classes
        }
        self._routes = routes
        self._dispatcher.install(list(routes.items()))

    def _live(self) -> bool:
        return self._enabled and not self._mutes and not self._closed

    # ------------------------------------------------------------------ state

    @property
    def enabled(self) -> bool:
        """Whether ``emit`` delivers events. Setting it false makes ``emit`` a no-op."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._lock:
            self._enabled = bool(value)
            self._rebuild()

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Deliver nothing inside the block (on every thread), then resume."""
        with self._lock:
            self._mutes += 1
            self._rebuild()
        try:
            yield
        finally:
            with self._lock:
                self._mutes -= 1
                self._rebuild()

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The live subscriptions, in subscription order."""
        with self._lock:
            return tuple(self._subscriptions)

    def recent(self, event_type: EventType = "*") -> list[BaseEvent]:
        """The recent events kept for late subscribers that match ``event_type``, oldest first."""
        match = matcher(event_type)
        backlog = list(self._replay) if self._replay is not None else []
        return [event for event in backlog if match(event.event_type, type(event))]

    @property
    def handler_errors(self) -> int:
        """How many times a handler or sink has raised."""
        return self._errors

    def stats(self) -> dict[str, int]:
        """Counters: handler errors; async runs pending, dropped and cancelled; sink events pending.

        ``sinks_pending`` is the sum of :meth:`pending`.
        """
        return {
            "handler_errors": self._errors,
            "async_pending": self._pending.total(),
            "async_dropped": self._pending.dropped,
            "async_cancelled": self._pending.cancelled,
            "sinks_pending": sum(self.pending().values()),
        }

    def pending(self) -> dict[Sink, int]:
        """Events the attached sinks still hold now (queued, or being sent or written), by sink.

        Lists the sinks that hold any, among those that can tell (they have a
        ``pending`` count, as :class:`~aievents.sinks.ForwardSink` and
        :class:`~aievents.sinks.StoreSink` do). When :meth:`flush` or
        :meth:`close` returns False, this says where the events are; async
        handler runs still pending are in :meth:`stats`.
        """
        held = {}
        for sink in self.sinks:
            count = _count(getattr(sink, "pending", None))
            if count:
                held[sink] = count
        return held

    def handler_error_counts(self) -> dict[str, int]:
        """Handler errors per handler (by qualified name)."""
        with self._lock:
            return dict(self._errors_by_handler)

    # ------------------------------------------------------------------ errors

    def _handler_failed(
        self, handler: object, event: BaseEvent, exc: Exception, *, defer: bool = False
    ) -> None:
        name = handler_name(unwrap(handler))
        with self._lock:
            self._errors += 1
            self._errors_by_handler[name] = self._errors_by_handler.get(name, 0) + 1
            failures = self._errors_by_handler[name]
        if self.strict:
            if defer:  # raised in a scheduled task: flush() re-raises it
                self._pending.errors.append(exc)
                return
            raise exc
        self._diag(
            name,
            "error",
            "handler_failed",
            error=exc,
            traceback=True,
            handler=name,
            event_type=event.event_type,
            failures=failures,
        )

    def _raise_deferred(self) -> None:
        if self._pending.errors:
            errors, self._pending.errors = self._pending.errors, []
            first = errors[0]
            if len(errors) > 1 and hasattr(first, "add_note"):
                first.add_note(f"{len(errors) - 1} more async handler error(s) were counted")
            raise first

    # ------------------------------------------------------------------ async

    def _schedule(self, coro: Awaitable[None]) -> None:
        ctx = contextvars.copy_context()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            runner = self._runner()
            if runner is None or not self._pending.begin(runner.loop):
                self._drop(coro)
                return
            if not runner.submit(self._start, runner.loop, coro, context=ctx):
                self._pending.end(runner.loop)
                self._drop(coro)
            return
        if not self._pending.begin(loop):
            self._drop(coro)
            return
        ctx.run(self._start, loop, coro)

    def _drop(self, coro: Awaitable[None]) -> None:
        """An async run that will not happen (client closed, or too many in flight)."""
        close = getattr(coro, "close", None)
        if close is not None:
            close()
        self._report_lost(1)

    def _report_lost(self, count: int) -> None:
        self._diag(
            "<lost>",
            "warning",
            "async_handlers_lost",
            lost=count,
            dropped=self._pending.dropped,
            cancelled=self._pending.cancelled,
            max_pending=self._pending.limit,
            closed=self._closed,
        )

    def _start(self, loop: asyncio.AbstractEventLoop, coro: Awaitable[None]) -> None:
        """Create the task in the current (captured) context, on ``loop``'s thread."""
        self._pending.started(loop, loop.create_task(coro))  # type: ignore[arg-type]

    def _runner(self) -> _LoopThread | None:
        """The client's loop thread, started on first use; None once closed."""
        with self._lock:
            if self._closed:
                with self._pending.cond:
                    self._pending.dropped += 1
                return None
            if self._loop_thread is None:
                runner = self._loop_thread = _LoopThread()
                # A client dropped without close() must not leave its thread behind.
                weakref.finalize(self, runner.stop, 1.0)
            return self._loop_thread

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for scheduled async handlers, then flush every sink.

        Requests whose answers were garbage-collected unread since the last
        report (see :func:`~aievents.instrument.instrument_openai`) are
        reported first, so that the sinks flush them too.

        Args:
            timeout: Seconds to wait in all; ``None`` waits as long as it takes.

        Returns:
            True when everything finished within the timeout. False when
            something did not: a sink still holding events (its ``flush``
            returned False, or a report whose ``done`` is false; a warning,
            ``flush_incomplete``, names each such sink and what it holds, and
            :meth:`pending` tells it on demand), a sink whose flush raised, an
            async handler still running, or async handler runs lost since the
            last flush (dropped at the ``max_pending`` bound, or cancelled
            because their event loop shut down; see :meth:`stats`). Async
            handlers on an event loop that has stopped are not waited for;
            those on the loop running in this very thread cannot be (use
            :meth:`aflush`).
        """
        return self._flush_here(timeout, report=True)

    def _flush_here(self, timeout: float | None, *, report: bool) -> bool:
        """:meth:`flush` from this thread (and its event loop, if it runs one).

        Answers collected unread are reported first (flush and close alike).
        """
        _unfinished.report_collected()
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        done = self._flush(timeout, besides=current, report=report)
        if current is not None and self._pending.tasks_on(current):
            done = False
        return done

    def _flush(
        self,
        timeout: float | None,
        *,
        besides: asyncio.AbstractEventLoop | None,
        report: bool = True,
    ) -> bool:
        """Wait for async runs (but those on ``besides``) and flush the sinks."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = self._pending.wait(timeout, besides=besides)
        lost = self._pending.lost()
        if lost != self._lost_reported:
            done = False
            self._report_lost(lost - self._lost_reported)
            self._lost_reported = lost
        unfinished: list[tuple[Sink, object]] = []
        for sink in self.sinks:
            try:
                result = sink.flush(_remaining(deadline))
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                self._sink_failed(sink, "flush", exc)
                done = False
                continue
            if not _finished(result):
                unfinished.append((sink, result))
        if unfinished:
            done = False
            if report:
                self._report_unfinished("flush", unfinished)
        if self.strict:
            self._raise_deferred()
        return done

    async def aflush(self, timeout: float | None = None) -> bool:
        """Async :meth:`flush`: also waits for async handlers on the running loop."""
        _unfinished.report_collected()
        deadline = None if timeout is None else time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        while tasks := {t for t in self._pending.tasks_on(loop) if t is not me}:
            _, still = await asyncio.wait(tasks, timeout=_remaining(deadline))
            if still:
                return False
        flush = functools.partial(self._flush, _remaining(deadline), besides=loop)
        return await loop.run_in_executor(None, flush)

    def close(self, timeout: float | None = DEFAULT_CLOSE_TIMEOUT) -> bool:
        """Flush, close every sink and stop delivering events.

        Args:
            timeout: Seconds to spend in all (default
                :data:`DEFAULT_CLOSE_TIMEOUT`; ``None`` waits as long as it
                takes).

        Returns:
            True when everything finished within ``timeout``. False when
            something did not (see :meth:`flush`): a sink that could not
            deliver everything in time (its ``close`` returned False or a
            report whose ``done`` is false) is named, with what it still
            holds, in a ``close_incomplete`` warning; what it let go is in its
            own counters (spilled, dropped) and what is still in flight in
            :meth:`pending`. Closing twice is harmless (the second close
            says whether the sinks still hold anything). The client is closed
            even when a strict client re-raises a handler error from here.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if self._closed:  # closed before: whether the sinks have finished since
                return not self.pending()
        unfinished: list[tuple[Sink, object]] = []
        try:
            done = self._flush_here(timeout, report=False)
        finally:
            with self._lock:
                self._closed = True
                sinks = list(self._sinks)
                self._rebuild()
                runner, self._loop_thread = self._loop_thread, None
            for sink in sinks:
                try:
                    result = sink.close(_remaining(deadline))
                except Exception as exc:  # noqa: BLE001 - isolation is the point
                    self._log_sink_failure(sink, "close", exc)
                    done = False
                    continue
                if not _finished(result):
                    unfinished.append((sink, result))
            if unfinished:
                done = False
                self._report_unfinished("close", unfinished)
            if runner is not None:
                runner.stop(_remaining(deadline))
        return done

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _sink_failed(self, sink: object, action: str, exc: Exception) -> None:
        if self.strict:
            with self._lock:
                self._errors += 1
            raise exc
        self._log_sink_failure(sink, action, exc)

    def _report_unfinished(self, action: str, unfinished: list[tuple[Sink, object]]) -> None:
        """Warn which sinks did not finish a flush or close, and what each holds."""
        held = {
            label: _count(getattr(result, "pending", None))
            or _count(getattr(sink, "pending", None))
            for label, (sink, result) in zip(
                _labels([sink for sink, _ in unfinished]), unfinished, strict=True
            )
        }
        self._diag(
            (action, "unfinished"),
            "warning",
            f"{action}_incomplete",
            sinks=held,
            pending=sum(count or 0 for count in held.values()),
        )

    def _log_sink_failure(self, sink: object, action: str, exc: Exception) -> None:
        with self._lock:
            self._errors += 1
        self._diag(
            (action, type(sink)), "error", f"sink_{action}_failed", error=exc, sink=repr(sink)
        )

    def _after_fork(self) -> None:
        if self._loop_thread is not None:
            self._loop_thread.orphan()
        self._loop_thread = None
        self._pending = _Pending(self._pending.limit)
        self._lock = threading.RLock()

    def __enter__(self) -> EventClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("enabled" if self._enabled else "disabled")
        counts = f"{len(self._subscriptions)} subscriptions, {len(self._sinks)} sinks"
        return f"<EventClient {state}, {counts}>"


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _finished(result: object) -> bool:
    """Whether a sink's flush or close result says it finished.

    ``None`` and ``True`` do; ``False`` does not; a report says so in ``done``.
    """
    done = getattr(result, "done", result)
    return done is None or bool(done)


def _count(value: object) -> int | None:
    """An event count a sink reported, or None when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _labels(sinks: list[Sink]) -> list[str]:
    """Names for sinks in a log line: the class, numbered when several share it."""
    names = [type(sink).__name__ for sink in sinks]
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if names.count(name) == 1 else f"{name}#{seen[name]}")
    return labels


# ---------------------------------------------------------------------- default client

_default: EventClient | None = None
_default_lock = threading.Lock()


def get_client() -> EventClient:
    """The process-wide default client, created on first use (TanStack's singleton)."""
    global _default  # noqa: PLW0603 - the process-wide singleton
    client = _default
    if client is None:
        with _default_lock:
            if _default is None:
                _default = EventClient(replay=DEFAULT_REPLAY)
            client = _default
    return client


def emit(event: BaseEvent) -> None:
    """Emit ``event`` on the default client."""
    get_client().emit(event)


def on(
    event_type: EventType,
    handler: Handler,
    *,
    where: Callable[[Any], bool] | None = None,
    replay: bool = False,
) -> Subscription:
    """Subscribe ``handler`` on the default client; see :meth:`EventClient.on`."""
    return get_client().on(event_type, handler, where=where, replay=replay)
