"""Requests a provider keeps going after the call that started them: open until their end shows.

A queued request (fal's ``submit``, a Replicate prediction created without
waiting) is started by one call and ended by another, in any thread or
task, or never. Each instrumentation keeps such a request as a
:class:`Held` (a :class:`~aievents.instrument._watch.Watch`, so it is on
:mod:`aievents._unfinished`'s books) in an :class:`OpenRequests` under the
provider's id for it, and ends it on the path that shows its end::

    OPEN = OpenRequests(cap=10_000)

    class Queued(Held):
        def book(self) -> None:  # never ended: what the provider's booking reports
            ...

    OPEN.hold(Queued(OPEN, request_id, request))     # at submission
    held = OPEN.find(request_id)                      # at a later call: this process's?
    if held is not None and held.take():              # the one path that reports it
        ...                                           # report its end
    OPEN.drop(request_id)                             # reported elsewhere: forget it

Each request is reported once: :meth:`Held.take` is true for the first
path only (the provider's ending, the cap, the process's exit). Past
``cap`` open at once, the oldest is booked (:meth:`Held.book`) so that
memory stays bounded; at exit every request still open is booked
(:meth:`Held.abandon`, through :mod:`aievents._unfinished`). In a forked
child the open requests are the parent's to report: the child starts with
none. Every step is thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from aievents._fork import after_fork
from aievents.instrument._request import ImageRequest
from aievents.instrument._watch import Watch

__all__ = ["Held", "OpenRequests"]

H = TypeVar("H", bound="Held")


class Held(Watch):
    """One open request, under its provider id: reported once, by whichever path ends it."""

    def __init__(self, requests: OpenRequests[Any], key: str, request: ImageRequest) -> None:
        super().__init__(request)
        self.requests = requests
        self.key = key

    def take(self) -> bool:
        """End the request here: true for the one path that reports it (it is no longer open)."""
        self.requests.forget(self)
        return self.claim()

    def book(self) -> None:
        """Report the request as never ended (called once, after :meth:`take`)."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Never ended (the cap, or the process's exit): :meth:`book` it, once."""
        if self.take():
            self.book()


class OpenRequests(Generic[H]):
    """The open requests of one provider, by its id, oldest first; at most ``cap`` of them."""

    def __init__(self, cap: int) -> None:
        #: Requests kept open at most; beyond, the oldest is booked.
        self.cap = cap
        self._lock = threading.Lock()
        self._by_key: OrderedDict[str, H] = OrderedDict()
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: the parent's requests are the parent's to report."""
        self._lock = threading.Lock()
        self._by_key = OrderedDict()

    def hold(self, held: H) -> None:
        """Keep ``held`` open under its key; past the cap, book the oldest."""
        oldest: list[H] = []
        with self._lock:
            self._by_key[held.key] = held
            while len(self._by_key) > self.cap:
                oldest.append(self._by_key.popitem(last=False)[1])
        for each in oldest:
            each.abandon()

    def find(self, key: Any) -> H | None:
        """The open request of ``key`` (None for another process's, or one already ended)."""
        return self._by_key.get(key) if isinstance(key, str) else None

    def forget(self, held: Held) -> None:
        """``held`` is no longer open (it ended)."""
        with self._lock:
            if self._by_key.get(held.key) is held:
                del self._by_key[held.key]

    def drop(self, key: Any) -> None:
        """Forget the request of ``key`` unreported: someone else reports its end."""
        held = self.find(key)
        if held is not None:
            held.take()

    def __len__(self) -> int:
        """How many requests are open."""
        return len(self._by_key)
