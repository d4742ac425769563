"""The client's blinker signals: the registry of its subscriptions.

Each subscription key (``"image:usage"``, ``"image:*"``, ``"*"``, an event
class) has one :class:`ClientSignal`, and every subscription is a receiver
connected to the signals of its keys. blinker is the source of truth: what
is connected, and whether a signal is muted. The registry only adds what
blinker does not keep: the order subscriptions were made in, and what to
call for each receiver (the :class:`~aievents._subscription.Subscription`
records). It learns of every change through blinker's
``receiver_connected`` and ``receiver_disconnected`` signals, through weak
references for receivers blinker holds weakly, and through the signal's
``is_muted``; each change makes the client's compiled dispatch stale: the
next emit rebuilds it from the signals (:meth:`Registry.routes`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Hashable
from typing import Any, Final

import blinker

from aievents._asyncrun import AsyncHandler
from aievents._asyncrun import Client as AsyncOwner
from aievents._dispatch import Route
from aievents._subscription import (
    EventType,
    Handler,
    Receiver,
    Subscription,
    WeakHandler,
    is_async,
    matcher,
    receiver_key,
    weak_ref,
)
from aievents.events import EVENT_TYPES, BaseEvent

__all__ = ["ClientSignal", "Registry"]

_SENDER: Final = (
    "an aievents signal sends each event as its sender: connect receivers for any sender"
)


class ClientSignal(blinker.NamedSignal):
    """One subscription key's blinker signal, owned by one client.

    A receiver connected to it is a subscription of the client: it is called
    with each event the key matches, as ``receiver(event)`` (the event is
    blinker's *sender*), in subscription order, with the client's error
    isolation. Muting it (``muted()``, ``is_muted``) silences its receivers
    for ``emit`` too. ``send(event)`` stays blinker's own: it calls this
    signal's receivers only, and the first error propagates.
    """

    def __init__(self, key: EventType, changed: Callable[[], None]) -> None:
        self.matches = matcher(key)  # checks the key first
        self._changed = changed
        self._muted = False
        super().__init__(key if isinstance(key, str) else f"{key.__module__}.{key.__qualname__}")
        #: The subscription key whose events the signal's receivers get.
        self.key = key
        #: The client's record of each receiver, by :func:`receiver_key`.
        self.records: dict[Hashable, Subscription] = {}

    @property
    def is_muted(self) -> bool:
        """Whether the signal delivers nothing (blinker's ``muted()`` sets it)."""
        return self._muted

    @is_muted.setter
    def is_muted(self, value: bool) -> None:
        if self._muted != bool(value):
            self._muted = bool(value)
            self._changed()

    def live(self) -> list[Subscription]:
        """The subscriptions that get events now: none when muted, else :meth:`connected`."""
        return [] if self._muted else self.connected()

    def connected(self) -> list[Subscription]:
        """The subscriptions connected now, as blinker says, unordered."""
        found = []
        for receiver in self.receivers_for(blinker.ANY):
            record = self.records.get(receiver_key(receiver))
            if record is not None and record.holds(receiver):
                found.append(record)
        return found


class Registry:
    """The signals of one client and the subscriptions connected to them.

    Args:
        owner: The client (subscriptions unsubscribe through it; async
            handlers connected through blinker run on it).
        changed: Called after every change of what is connected or muted.
        collected: Called when a receiver held weakly was garbage-collected
            (from a weak reference's callback: it must not wait).
    """

    def __init__(
        self, owner: Any, changed: Callable[[], None], collected: Callable[[], None]
    ) -> None:
        self._owner = owner
        self._changed = changed
        self._collected = collected
        self._signals: dict[EventType, ClientSignal] = {}
        self._seq = itertools.count()

    def signal(self, key: EventType) -> ClientSignal:
        """The signal of ``key``, made on first use (an event class by its name)."""
        if isinstance(key, type) and EVENT_TYPES.get(getattr(key, "event_type", "")) is key:
            key = key.event_type  # the same events as its name
        found = self._signals.get(key)
        if found is not None:
            return found
        made = ClientSignal(key, self._changed)
        made.receiver_connected.connect(self._connected, weak=False)
        made.receiver_disconnected.connect(self._disconnected, weak=False)
        return self._signals.setdefault(key, made)

    def subscribe(
        self, keys: tuple[EventType, ...], handler: Handler, dispatch: Callable[[Any], None]
    ) -> Subscription:
        """Connect a new subscription (its own receiver, held strongly) to ``keys``' signals."""
        subscription = Subscription(self._owner, keys, handler, dispatch, next(self._seq))
        signals = [self.signal(key) for key in keys]
        for signal in signals:
            signal.connect(subscription.receiver, weak=False)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Disconnect ``subscription`` from its signals (nothing when it is not connected)."""
        receiver = subscription.connected()
        if receiver is not None and self.is_connected(subscription):
            for key in subscription.keys:
                self.signal(key).disconnect(receiver)

    def is_connected(self, subscription: Subscription) -> bool:
        """Whether ``subscription`` is connected to any of its signals."""
        receiver = subscription.connected()
        if receiver is None:
            return False
        key = receiver_key(receiver)
        return any(self.signal(k).records.get(key) is subscription for k in subscription.keys)

    def subscriptions(self) -> list[Subscription]:
        """Every connected subscription, in subscription order."""
        signals = list(self._signals.values())
        found = {id(s): s for signal in signals for s in signal.connected()}
        return sorted(found.values(), key=_order)

    def routes(self, classes: Collection[type[BaseEvent]], head: Route = ()) -> dict[type, Route]:
        """What ``emit`` calls for each of ``classes``: ``head``, then subscriptions in order."""
        live = [(s, s.live()) for s in list(self._signals.values())]
        return {cls: self._route(cls.event_type, cls, live, head) for cls in classes}

    def route(self, name: str, cls: type, head: Route = ()) -> Route:
        """What ``emit`` calls for one event class."""
        return self._route(name, cls, [(s, s.live()) for s in list(self._signals.values())], head)

    @staticmethod
    def _route(
        name: str, cls: type, live: list[tuple[ClientSignal, list[Subscription]]], head: Route
    ) -> Route:
        found = {id(s): s for signal, subs in live if signal.matches(name, cls) for s in subs}
        return (*head, *(s.dispatch for s in sorted(found.values(), key=_order)))

    # ------------------------------------------------------------------ blinker's news

    def _connected(self, signal: ClientSignal, *, receiver: Any, sender: Any, weak: bool) -> None:
        """A receiver was connected to ``signal``: record it (a subscription of its own)."""
        if sender is not blinker.ANY:
            raise TypeError(_SENDER)  # blinker disconnects it again and raises this
        key = receiver_key(receiver)
        record = signal.records.get(key)
        if isinstance(receiver, Receiver) and receiver.subscription.client is self._owner:
            record = receiver.subscription
        elif record is None or not record.holds(receiver) or record.weak != weak:
            seq = record.seq if record is not None and record.holds(receiver) else None
            record = self._foreign(signal, receiver, weak, seq)
        signal.records[key] = record
        self._changed()

    def _disconnected(self, signal: ClientSignal, *, receiver: Any, sender: Any) -> None:
        """A receiver was disconnected from ``signal``: forget it once blinker has."""
        key = receiver_key(receiver)
        record = signal.records.get(key)
        connected = any(receiver_key(r) == key for r in signal.receivers_for(blinker.ANY))
        if record is not None and record.holds(receiver) and not connected:
            signal.records.pop(key, None)
        self._changed()

    def _foreign(
        self, signal: ClientSignal, fn: Handler, weak: bool, seq: int | None
    ) -> Subscription:
        """The record of a function connected through blinker (not through ``on()``)."""
        if seq is None:
            seq = next(self._seq)
        keys = (signal.key,)
        if not weak:
            dispatch = AsyncHandler(self._owner, fn) if is_async(fn) else fn  # type: ignore[arg-type]
            return Subscription(self._owner, keys, fn, dispatch, seq, receiver=fn)  # type: ignore[arg-type]
        key = receiver_key(fn)

        def collected(ref: object) -> None:
            # blinker drops the receiver by itself; the record goes, the dispatch is stale.
            if signal.records.get(key) is record:
                signal.records.pop(key, None)
            self._collected()

        ref = weak_ref(fn, collected)
        owner: AsyncOwner = self._owner
        record = Subscription(
            self._owner, keys, ref, WeakHandler(ref, owner), seq, weak=True, receiver=ref
        )
        return record


def _order(subscription: Subscription) -> int:
    return subscription.seq
