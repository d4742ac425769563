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

blinker holds the subscriptions: one signal per subscription key
(:meth:`EventClient.signal`), each subscription a receiver connected to it
(:mod:`aievents._registry`). ``emit`` runs compiled code built from those
receivers (:mod:`aievents._dispatch`), a cache that any change to the signals
makes stale, because ``Signal.send`` costs several times more per receiver
and stops at the first raising one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from aievents._asyncrun import AsyncRuns
from aievents._diag import INTERVAL, RateLimitedLog
from aievents._failures import Failures
from aievents._fork import after_fork
from aievents._outputs import Outputs
from aievents._registry import ClientSignal
from aievents._routing import Router
from aievents._subscription import EventType, Handler, ReplayGate, Subscription, matcher, wrap
from aievents._validate import setting
from aievents.events import BaseEvent
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
        self._replay: deque[BaseEvent] | None = deque(maxlen=replay) if replay else None
        self._enabled = enabled
        self._mutes = 0
        self._closed = False
        self.strict = strict
        diag = RateLimitedLog("")
        self._failures = Failures(diag)
        self._runs = AsyncRuns(max_pending, diag)
        self._outputs = Outputs(diag, self._failures, self._runs)
        head = () if self._replay is None else (self._replay.append,)
        self._router = Router(self, self._handler_failed, self._emit_unknown, self._live, head)
        self._registry = self._router.registry
        if type(self).emit is EventClient.emit:  # a subclass's own emit is respected
            self.__dict__["emit"] = self._router.emit
            self._router.emit.__doc__ = EventClient.emit.__doc__
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
        # Instances use the compiled twin installed in __init__ (see _routing);
        # this is the same delivery, for calls through the class.
        for handler in self._router.route(event):
            try:
                handler(event)
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                self._handler_failed(handler, event, exc)

    #: What the compiled emit calls for a class it does not know yet, and for
    #: every event while it is stale (this class's emit, whatever a subclass
    #: does with its own).
    _emit_unknown = emit

    async def aemit(self, event: BaseEvent) -> None:
        """Deliver ``event`` like :meth:`emit`, awaiting async handlers in order.

        Async handlers run in the caller's context and task.
        """
        for handler in self._router.route(event):
            arun = getattr(handler, "arun", None)
            try:
                if arun is not None:
                    await arun(event)
                else:
                    handler(event)
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                self._handler_failed(handler, event, exc)
        self._failures.raise_deferred()

    def _live(self) -> bool:
        return self._enabled and not self._mutes and not self._closed

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
            handler: Called with each matching event; may be ``async``. The
                client holds it (a strong reference) until unsubscribed.
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

    def signal(self, event_type: EventType) -> ClientSignal:
        """The blinker signal of ``event_type`` on this client: its subscriptions.

        What is connected to it is subscribed, as with :meth:`on`:
        ``client.signal("image:usage").connect(fn)`` calls ``fn(event)`` for
        each matching event (the event is blinker's *sender*), in
        subscription order, with the client's error isolation; async
        receivers are run as :meth:`on` runs async handlers. blinker's rules
        hold: ``connect`` holds the receiver by a weak reference unless
        ``weak=False`` (it is unsubscribed once garbage-collected),
        ``disconnect`` unsubscribes, ``connected_to`` subscribes for a
        ``with`` block and ``muted()`` silences the signal's receivers. A
        receiver must be connected for any sender (an event is the only
        sender). The signal's ``send`` is blinker's own: it calls this
        signal's receivers only and lets the first error through; use
        :meth:`emit`. A registered event class and its name
        (``ImageUsageEvent``, ``"image:usage"``) share one signal.

        Raises:
            TypeError: ``event_type`` is not a name, pattern or event class.
        """
        return self._registry.signal(event_type)

    def add_sink(self, sink: Sink, events: EventType | Iterable[EventType] = "*") -> Subscription:
        """Attach a sink to the events it should see (all, by default).

        The sink's ``handle`` is called for each matching event; the client's
        :meth:`flush` and :meth:`close` flush and close it. Calling the returned
        subscription detaches the sink without closing it.
        """
        Outputs.check(sink)
        keys = (events,) if isinstance(events, (str, type)) else tuple(events)
        if not keys:
            raise ValueError("events must name at least one event type")
        with self._lock:
            if sink in self._outputs:
                raise ValueError(f"sink {sink!r} is already attached to this client")
            subscription = self._subscribe(keys, sink.handle)
            self._outputs.attach(sink, subscription)
        return subscription

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """The attached sinks, in the order they were added."""
        return self._outputs.all()

    def _subscribe(
        self,
        keys: tuple[EventType, ...],
        handler: Handler,
        *,
        where: Callable[[Any], bool] | None = None,
        replay: bool = False,
        once: bool = False,
    ) -> Subscription:
        dispatch, gate = wrap(handler, self, where=where, once=once)
        holding = None
        if replay and self._replay is not None:
            # Live events that race the subscription wait until the backlog is out.
            holding = dispatch = ReplayGate(dispatch)
        with self._lock:
            backlog = list(self._replay) if holding is not None and self._replay else []
            subscription = self._registry.subscribe(keys, handler, dispatch)
            if gate is not None:
                gate.subscription = subscription
        if holding is not None:
            matching = [e for e in backlog if subscription.matches(e.event_type, type(e))]
            holding.release(matching, lambda event, exc: self._handler_failed(handler, event, exc))
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._registry.unsubscribe(subscription)
            self._outputs.detach(subscription)

    def _is_subscribed(self, subscription: Subscription) -> bool:
        return self._registry.is_connected(subscription)

    # ------------------------------------------------------------------ state

    @property
    def enabled(self) -> bool:
        """Whether ``emit`` delivers events. Setting it false makes ``emit`` a no-op."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._lock:
            self._enabled = bool(value)
            self._router.invalidate()

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Deliver nothing inside the block (on every thread), then resume."""
        with self._lock:
            self._mutes += 1
            self._router.invalidate()
        try:
            yield
        finally:
            with self._lock:
                self._mutes -= 1
                self._router.invalidate()

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The live subscriptions, in subscription order (those made through blinker too)."""
        with self._lock:
            return tuple(self._registry.subscriptions())

    def recent(self, event_type: EventType = "*") -> list[BaseEvent]:
        """The recent events kept for late subscribers that match ``event_type``, oldest first."""
        match = matcher(event_type)
        backlog = list(self._replay) if self._replay is not None else []
        return [event for event in backlog if match(event.event_type, type(event))]

    @property
    def handler_errors(self) -> int:
        """How many times a handler or sink has raised."""
        return self._failures.total

    def stats(self) -> dict[str, int]:
        """Counters: handler errors; async runs pending, dropped and cancelled; sink events pending.

        ``sinks_pending`` is the sum of :meth:`pending`.
        """
        pending = self._runs.pending
        return {
            "handler_errors": self._failures.total,
            "async_pending": pending.total(),
            "async_dropped": pending.dropped,
            "async_cancelled": pending.cancelled,
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
        return self._outputs.pending()

    def handler_error_counts(self) -> dict[str, int]:
        """Handler errors per handler (by qualified name)."""
        return self._failures.by_handler()

    # ------------------------------------------------------------------ errors

    def _handler_failed(
        self, handler: object, event: BaseEvent, exc: Exception, *, defer: bool = False
    ) -> None:
        self._failures.handler(handler, event, exc, strict=self.strict, defer=defer)

    def _schedule(self, coro: Any) -> None:
        """Start an async handler run (see :class:`~aievents._asyncrun.AsyncRuns`)."""
        self._runs.schedule(coro)

    # ------------------------------------------------------------------ flush and close

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
        return self._outputs.flush(timeout, report=True, strict=self.strict)

    async def aflush(self, timeout: float | None = None) -> bool:
        """Async :meth:`flush`: also waits for async handlers on the running loop."""
        return await self._outputs.aflush(timeout, strict=self.strict)

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
        done = False
        try:
            done = self._outputs.flush(timeout, report=False, strict=self.strict)
        finally:
            with self._lock:
                self._closed = True
                self._router.invalidate()
            done = self._outputs.close(deadline) and done
        return done

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _after_fork(self) -> None:
        self._runs.after_fork()
        self._router.after_fork()
        self._failures.after_fork()
        self._lock = threading.RLock()

    def __enter__(self) -> EventClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("enabled" if self._enabled else "disabled")
        counts = f"{len(self.subscriptions)} subscriptions, {len(self._outputs)} sinks"
        return f"<EventClient {state}, {counts}>"


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
