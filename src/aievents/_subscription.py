"""Subscriptions: what a handler listens to, and the wrappers around it."""

from __future__ import annotations

import fnmatch
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeAlias

from aievents.events import EVENT_TYPES, BaseEvent

__all__ = [
    "EventType",
    "Handler",
    "Once",
    "Subscription",
    "filtered",
    "handler_name",
    "is_async",
    "matcher",
    "signal_name",
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

    Attributes:
        handler: The subscribed handler.
        keys: What it listens to, as given.
    """

    __slots__ = ("__weakref__", "_client", "_matchers", "_seq", "dispatch", "handler", "keys")

    def __init__(
        self,
        client: _Owner,
        keys: tuple[EventType, ...],
        handler: Handler,
        dispatch: Callable[[Any], None],
        seq: int,
    ) -> None:
        self._client = client
        self.keys = keys
        self.handler = handler
        self.dispatch = dispatch
        self._seq = seq
        self._matchers = tuple(matcher(key) for key in keys)

    @property
    def active(self) -> bool:
        """Whether the subscription still receives events."""
        return self._client._is_subscribed(self)

    def unsubscribe(self) -> None:
        """Stop receiving events. Safe to call more than once, from any thread."""
        self._client._unsubscribe(self)

    def __call__(self) -> None:
        """Unsubscribe (TanStack's ``on()`` returns a cleanup function)."""
        self.unsubscribe()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def _matches(self, name: str, cls: type | None) -> bool:
        return any(match(name, cls) for match in self._matchers)

    def __repr__(self) -> str:
        keys = ", ".join(_describe(key) for key in self.keys)
        return f"<Subscription {keys} -> {handler_name(self.handler)}>"


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


def handler_name(handler: object) -> str:
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def is_async(handler: object) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
    return call is not None and inspect.iscoroutinefunction(call)


class Once:
    """Delivers one event, then unsubscribes; exactly once under concurrent emits."""

    __slots__ = ("gate", "handler", "subscription")

    def __init__(self, handler: Callable[[Any], None]) -> None:
        self.handler = handler
        self.gate = threading.Lock()
        self.subscription: Subscription | None = None

    def __call__(self, event: BaseEvent) -> None:
        if not self.gate.acquire(blocking=False):
            return
        if self.subscription is not None:
            self.subscription.unsubscribe()
        self.handler(event)


def signal_name(key: EventType) -> str:
    if isinstance(key, type):
        return f"class:{key.__module__}.{key.__qualname__}"
    return key


def filtered(
    dispatch: Callable[[Any], None], where: Callable[[Any], bool]
) -> Callable[[Any], None]:
    def deliver(event: Any) -> None:
        if where(event):
            dispatch(event)

    deliver.handler = dispatch  # type: ignore[attr-defined]
    return deliver
