"""The routes of a client's events: a cache of its signals, compiled into ``emit``.

The signals (:mod:`aievents._registry`) say who is subscribed; a route is
what ``emit`` calls for one event class, in order. :class:`Router` keeps the
routes of the event classes it has seen, compiled into one function
(:mod:`aievents._dispatch`). Any change to the signals makes them stale
(:meth:`Router.invalidate`); the next event rebuilds them all
(:meth:`Router.route`), so a burst of changes costs one rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from aievents._dispatch import Dispatcher, Route
from aievents._registry import Registry
from aievents.events import EVENT_TYPES, BaseEvent

__all__ = ["MAX_CLASSES", "Router"]

#: Event classes compiled into ``emit``, at most (beyond, routes are computed per emit).
MAX_CLASSES: Final = 256


class Router:
    """The routes of one client, built from its signals.

    Args:
        owner: The client (its subscriptions unsubscribe through it).
        failed: Called as ``failed(handler, event, exc)`` when a handler raises.
        unknown: What the compiled ``emit`` calls with an event it cannot
            deliver (a new class, or any event while stale); it must deliver
            it through :meth:`route`.
        live: Whether events are delivered at all (false: enabled, muted,
            closed say no).
        head: What every route calls first (the replay buffer's ``append``).
    """

    def __init__(
        self,
        owner: Any,
        failed: Callable[[Any, Any, Exception], None],
        unknown: Callable[[Any], None],
        live: Callable[[], bool],
        head: Route = (),
    ) -> None:
        self._live = live
        self._head = head
        self._lock = threading.RLock()
        self._classes: dict[type, None] = dict.fromkeys(EVENT_TYPES.values())
        self._routes: dict[type, Route] = {}
        self._version = 1  # bumped by every change; the routes were built at _built
        self._built = 0
        self._dispatcher = Dispatcher(failed, unknown)
        #: The compiled delivery: ``emit(event)``.
        self.emit = self._dispatcher.emit
        #: The signals and their subscriptions.
        self.registry = Registry(owner, self.invalidate, self.collected)

    def route(self, event: BaseEvent) -> Route:
        """The handlers of ``event``, rebuilding stale routes and registering a new class."""
        if self._built != self._version:
            self.refresh()
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
            if len(self._classes) >= MAX_CLASSES:  # pathological: route without caching
                return self.registry.route(name, type(event), self._head)
            self._classes[type(event)] = None
            self.invalidate()
            self.refresh()
            return self._routes[type(event)]

    def invalidate(self) -> None:
        """The signals changed: the compiled emit is stale until the next event rebuilds it.

        Waits for a rebuild running on another thread, so that no code built
        before the change is installed after it: an emit that follows the
        change on this thread sees it.
        """
        with self._lock:
            self.collected()

    def collected(self) -> None:
        """A weakly held receiver went: like :meth:`invalidate`, without waiting.

        For weak reference callbacks, which run wherever the collector does:
        a rebuild running now still sees the version go up and runs again,
        and until then the receiver's route entry does nothing.
        """
        self._version += 1
        self._dispatcher.invalidate()

    def refresh(self) -> None:
        """Build the routes from the signals and compile them into ``emit``, until current."""
        with self._lock:
            while self._built != self._version:
                version = self._version
                if self._live():
                    routes = self.registry.routes(self._classes, self._head)
                    self._dispatcher.install(list(routes.items()))
                else:
                    routes = dict.fromkeys(self._classes, ())
                    self._dispatcher.install(None)
                self._routes = routes
                self._built = version

    def after_fork(self) -> None:
        """In a forked child: a lock no thread of the parent holds."""
        self._lock = threading.RLock()
