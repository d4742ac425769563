"""What became of a StoreSink's events: its counters, and when the lost ones happened.

Events given up or dropped are never in the store: the ledger keeps how
many of them happened when, so that a query over their time raises rather
than answer short.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Final

from aievents._fork import after_fork

__all__ = ["COUNTERS", "Counter", "Ledger", "Losses"]

#: The sink's counters, in the order ``stats()`` gives them.
COUNTERS: Final = ("written", "duplicates", "rejected", "failed", "dropped", "reopened", "retried")
#: Slots of time a sink keeps counts of lost events for, at most.
_LOSS_SLOTS: Final = 4096


class Ledger:
    """A sink's counters and its losses, changed and read under one lock."""

    written: int
    duplicates: int
    rejected: int
    failed: int
    dropped: int
    reopened: int
    retried: int

    def __init__(self) -> None:
        for name in COUNTERS:
            setattr(self, name, 0)
        #: Events that will never be stored (failed, dropped), by when they happened.
        self._lost = Losses()
        self._lock = threading.Lock()
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (the parent's may have been held)."""
        self._lock = threading.Lock()

    def count(self, **counts: int) -> None:
        """Add to counters, by name."""
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def lose(self, events: list[Any], *, failed: bool = False) -> None:
        """Events never to be stored (``failed``: counted so): queries over their time raise."""
        with self._lock:
            if failed:
                self.failed += len(events)
            self._lost.add(events)

    def lost_within(self, start: int, end: int) -> int:
        """Events lost whose time may be in ``[start, end)`` (milliseconds)."""
        with self._lock:
            return self._lost.within(start, end)

    def snapshot(self) -> dict[str, int]:
        """Every counter, read at once."""
        with self._lock:
            return {name: getattr(self, name) for name in COUNTERS}


class Counter:
    """A sink's attribute that reads the counter of the same name in its ``_ledger``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj._ledger, self._name)


class Losses:
    """How many events will never be stored, by when they happened (epoch milliseconds).

    Counted per slot of time (an hour at first); when more than
    ``_LOSS_SLOTS`` slots are in use, slots are made twice as wide, so the
    memory stays bounded whatever the times.
    """

    def __init__(self) -> None:
        self._width = 3_600_000
        self._counts: dict[int, int] = {}

    def add(self, events: Iterable[Any]) -> None:
        counts, width = self._counts, self._width
        for event in events:
            slot = getattr(event, "timestamp", 0) // width
            counts[slot] = counts.get(slot, 0) + 1
        while len(counts) > _LOSS_SLOTS:
            self._width *= 2
            wider: dict[int, int] = {}
            for slot, count in counts.items():
                wider[slot // 2] = wider.get(slot // 2, 0) + count
            self._counts = counts = wider

    def within(self, start: int, end: int) -> int:
        """Events lost whose slot overlaps ``[start, end)`` (milliseconds)."""
        width = self._width
        return sum(
            count
            for slot, count in self._counts.items()
            if slot * width < end and (slot + 1) * width > start
        )
