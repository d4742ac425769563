"""Subscriptions: what a handler listens to, and the wrappers around it."""

from __future__ import annotations

import fnmatch
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final, Protocol, TypeAlias, cast

from aievents._asyncrun import AsyncHandler
from aievents._asyncrun import Client as AsyncOwner
from aievents.events import EVENT_TYPES, BaseEvent

__all__ = [
    "EventType",
    "Filtered",
    "Handler",
    "Once",
    "Receiver",
    "ReplayGate",
    "Subscription",
    "WeakHandler",
    "handler_name",
    "is_async",
    "matcher",
    "receiver_key",
    "unwrap",
    "weak_ref",
    "wrap",
]

#: A handler: called with the event; may be ``async``.
Handler: TypeAlias = Callable[[Any], "Awaitable[None] | None"]
#: What a subscription names: an event name, a pattern, ``"*"``, or an event class.
EventType: TypeAlias = "str | type[BaseEvent]"

_WILDCARDS: Final = frozenset("*?[")


class _Owner(Protocol):
    """What a :class:`Subscription` needs of its client."""

    def _unsubscribe(self, subscription: Subscription) -> None: ...

    def _is_subscribed(self, subscription: Subscription) -> bool: ...


class Subscription:
    """A handler's subscription. Call it, or leave its ``with`` block, to unsubscribe.

    A subscription is one receiver connected to the client's blinker signals
    (one signal per key): :meth:`~aievents.EventClient.on` connects a receiver
    of its own (so that one handler subscribed twice is two subscriptions);
    a function connected through :meth:`~aievents.EventClient.signal` is its
    own receiver, held weakly when blinker holds it weakly.

    Attributes:
        keys: What it listens to, as given.
        dispatch: What the client calls with each event (the handler, or
            the wrappers of ``where=``, ``once``, replay and async handlers
            around it).

    Internal (for the client and its registry, not for applications; may
    change without notice): ``client``, the client subscribed to;
    ``seq``, the subscription's place in the client's order of delivery;
    ``receiver``, the object connected to the signals (a weak reference to
    it when weak); :meth:`connected`, :meth:`holds` and :meth:`matches`.
    """

    __slots__ = (
        "__weakref__",
        "_handler",
        "_matchers",
        "_weak",
        "client",
        "dispatch",
        "keys",
        "receiver",
        "seq",
    )

    def __init__(
        self,
        client: _Owner,
        keys: tuple[EventType, ...],
        handler: Handler | weakref.ref[Handler],
        dispatch: Callable[[Any], None],
        seq: int,
        *,
        weak: bool = False,
        receiver: object = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self._handler = handler
        self._weak = weak
        self.dispatch = dispatch
        self.seq = seq
        self._matchers = tuple(matcher(key) for key in keys)
        # The object connected to the signals (a weak reference to it when weak).
        self.receiver: Any = Receiver(self) if receiver is None else receiver

    @property
    def handler(self) -> Handler | None:
        """The subscribed handler (None once a weakly held one is garbage-collected)."""
        if self._weak:
            return cast("weakref.ref[Handler]", self._handler)()
        return cast("Handler", self._handler)

    @property
    def weak(self) -> bool:
        """Whether the subscription holds its handler by a weak reference (as blinker may)."""
        return self._weak

    def connected(self) -> Any:
        """The receiver connected to the signals; None once a weak one is gone (internal)."""
        return self.receiver() if self._weak else self.receiver

    def holds(self, receiver: object) -> bool:
        """Whether ``receiver`` (as blinker yields it) is this subscription's (internal)."""
        mine = self.connected()
        return mine is receiver or (inspect.ismethod(mine) and mine == receiver)

    @property
    def active(self) -> bool:
        """Whether the subscription still receives events."""
        return self.client._is_subscribed(self)

    def unsubscribe(self) -> None:
        """Stop receiving events. Safe to call more than once, from any thread."""
        self.client._unsubscribe(self)

    def __call__(self) -> None:
        """Unsubscribe (TanStack's ``on()`` returns a cleanup function)."""
        self.unsubscribe()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def matches(self, name: str, cls: type | None) -> bool:
        """Whether an event named ``name``, of class ``cls``, is one it listens to (internal)."""
        return any(match(name, cls) for match in self._matchers)

    def __repr__(self) -> str:
        keys = ", ".join(_describe(key) for key in self.keys)
        return f"<Subscription {keys} -> {handler_name(self.handler)}>"


class Receiver:
    """What :meth:`~aievents.EventClient.on` connects to the signals for one subscription.

    The client's compiled ``emit`` calls the subscription's ``dispatch``
    directly; blinker's own ``Signal.send`` calls this, with the event as
    the sender.
    """

    __slots__ = ("__weakref__", "subscription")

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription

    def __call__(self, sender: Any, /, **kwargs: Any) -> None:
        self.subscription.dispatch(sender)


class WeakHandler:
    """Delivers to a handler held by a weak reference; nothing once it is collected."""

    __slots__ = ("client", "ref", "run_async")

    def __init__(self, ref: weakref.ref[Handler], client: AsyncOwner) -> None:
        self.ref = ref
        self.client = client
        self.run_async = is_async(ref())

    @property
    def handler(self) -> Handler | None:
        """The user's handler, while it lives."""
        return self.ref()

    def __call__(self, event: BaseEvent) -> None:
        fn = self.ref()
        if fn is None:
            return
        if self.run_async:
            AsyncHandler(self.client, fn)(event)  # type: ignore[arg-type]
        else:
            fn(event)

    async def arun(self, event: BaseEvent) -> None:
        """Deliver, awaiting an async handler (what ``aemit`` awaits)."""
        fn = self.ref()
        if fn is None:
            return
        if self.run_async:
            await AsyncHandler(self.client, fn).arun(event)  # type: ignore[arg-type]
        else:
            fn(event)


def weak_ref(fn: Handler, callback: Callable[[Any], None]) -> weakref.ref[Handler]:
    """A weak reference to ``fn``, as blinker makes one (bound methods by their parts)."""
    if inspect.ismethod(fn):
        return weakref.WeakMethod(fn, callback)
    return weakref.ref(fn, callback)


def receiver_key(receiver: object) -> Hashable:
    """What identifies a receiver while it lives (a bound method by its function and object)."""
    if inspect.ismethod(receiver):
        return (id(receiver.__func__), id(receiver.__self__))
    return id(receiver)


def _describe(key: EventType) -> str:
    return key.__name__ if isinstance(key, type) else repr(key)


def matcher(key: EventType) -> Callable[[str, type | None], bool]:
    if isinstance(key, type):
        if not issubclass(key, BaseEvent):
            raise TypeError(f"event_type must be an event class, got {key!r}")
        registered = EVENT_TYPES.get(key.event_type)
        if registered is key:
            name = key.event_type
            return lambda n, _cls: n == name
        return lambda _n, cls: cls is not None and issubclass(cls, key)
    if not isinstance(key, str) or not key:
        raise TypeError(
            f"event_type must be an event name, a pattern such as 'image:*', '*' "
            f"or an event class, got {key!r}"
        )
    if key == "*":
        return lambda _n, _cls: True
    if _WILDCARDS.intersection(key):
        return lambda n, _cls: fnmatch.fnmatchcase(n, key)
    return lambda n, _cls: n == key


def wrap(
    handler: Handler,
    owner: AsyncOwner,
    *,
    where: Callable[[Any], bool] | None = None,
    once: bool = False,
) -> tuple[Callable[[Any], None], Once | None]:
    """What the client calls for ``handler`` (async run, once gate, filter), and the gate.

    Raises:
        TypeError: ``handler`` or ``where`` is not callable.
    """
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {handler!r}")
    if where is not None and not callable(where):
        raise TypeError(f"where must be callable, got {where!r}")
    dispatch: Callable[[Any], None]
    dispatch = AsyncHandler(owner, handler) if is_async(handler) else handler  # type: ignore[arg-type,assignment]
    gate = None
    if once:  # inside the filter: only an accepted event uses up the one delivery
        gate = dispatch = Once(dispatch)
    if where is not None:
        dispatch = Filtered(dispatch, where)
    return dispatch, gate


def handler_name(handler: object) -> str:
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def is_async(handler: object) -> bool:
    """Whether ``handler`` is a coroutine function (decorated ones and async ``__call__`` too)."""
    for candidate in (handler, getattr(handler, "__call__", None)):  # noqa: B004
        if candidate is not None and inspect.iscoroutinefunction(inspect.unwrap(candidate)):  # type: ignore[arg-type]
            return True
    return False


def unwrap(dispatch: object) -> object:
    """The user's handler behind the client's wrappers (filters, gates, async runners)."""
    seen = 0
    while hasattr(dispatch, "handler") and seen < 8:
        dispatch = dispatch.handler
        seen += 1
    return dispatch


async def _deliver(dispatch: Callable[[Any], None], event: BaseEvent) -> None:
    """Deliver to ``dispatch``, awaiting it when it is (or wraps) an async handler."""
    arun = getattr(dispatch, "arun", None)
    if arun is not None:
        await arun(event)
    else:
        dispatch(event)


class Once:
    """Delivers one event, then unsubscribes; exactly once under concurrent emits."""

    __slots__ = ("gate", "handler", "subscription")

    def __init__(self, handler: Callable[[Any], None]) -> None:
        self.handler = handler
        self.gate = threading.Lock()
        self.subscription: Subscription | None = None

    def _open(self) -> bool:
        if not self.gate.acquire(blocking=False):
            return False
        if self.subscription is not None:
            self.subscription.unsubscribe()
        return True

    def __call__(self, event: BaseEvent) -> None:
        if self._open():
            self.handler(event)

    async def arun(self, event: BaseEvent) -> None:
        """Deliver (awaiting an async handler) if this is the first event."""
        if self._open():
            await _deliver(self.handler, event)


class Filtered:
    """Delivers the events a ``where=`` predicate accepts."""

    __slots__ = ("handler", "where")

    def __init__(self, handler: Callable[[Any], None], where: Callable[[Any], bool]) -> None:
        self.handler = handler
        self.where = where

    def __call__(self, event: BaseEvent) -> None:
        if self.where(event):
            self.handler(event)

    async def arun(self, event: BaseEvent) -> None:
        """Deliver (awaiting an async handler) if the predicate accepts the event."""
        if self.where(event):
            await _deliver(self.handler, event)


class ReplayGate:
    """Holds live events back until a late subscriber's backlog has been delivered.

    Without it, an event emitted while the backlog is being delivered could
    reach the handler before older ones.
    """

    __slots__ = ("_held", "_lock", "_open", "handler")

    def __init__(self, handler: Callable[[Any], None]) -> None:
        self.handler = handler
        self._lock = threading.Lock()
        self._held: list[BaseEvent] | None = []

    def __call__(self, event: BaseEvent) -> None:
        if self._held is not None:
            with self._lock:
                if self._held is not None:
                    self._held.append(event)
                    return
        self.handler(event)

    async def arun(self, event: BaseEvent) -> None:
        """Deliver like ``__call__``, awaiting an async handler."""
        if self._held is not None:
            self(event)
            return
        await _deliver(self.handler, event)

    def release(
        self, backlog: list[BaseEvent], failed: Callable[[BaseEvent, Exception], None]
    ) -> None:
        """Deliver ``backlog`` then what was held, in order, and let events through.

        Each event is delivered once, whatever the handler does: when
        ``failed`` re-raises (a strict client), the rest is still delivered,
        the gate opens, and the first error is raised at the end.
        """
        pending = list(backlog)
        error: Exception | None = None
        while True:
            for event in pending:
                try:
                    self.handler(event)
                except Exception as exc:  # noqa: BLE001 - isolation is the point
                    try:
                        failed(event, exc)
                    except Exception as raised:  # noqa: BLE001 - re-raised below
                        error = error or raised
            with self._lock:
                assert self._held is not None
                pending, self._held = self._held, ([] if self._held else None)
                if self._held is None:
                    break
        if error is not None:
            raise error
