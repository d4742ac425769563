"""The hot path of AggregateSink: add an event to the totals of its series.

:class:`PyTally` is the pure Python twin of ``aievents._speedups.Tally``
(compiled when the package is installed with a C compiler at hand). A
tally is made by the series table (:mod:`aievents.sinks._series`) over the
table's own minute entries and request-id ring (see :class:`Table`), and
only adds: an ``image:usage`` event to a series the table already holds.
It declines everything else (a new series, an event whose cost or token
split is not worked out yet, a request whose provider reported a cost, an
event older than the table keeps, a subclass) with :data:`SLOW`, handing
it to the table's ``take``, which also runs the roll-ups the tally says are
due (:data:`MAINTAIN`). The tally
counts what it added and the duplicates it ignored; nothing else changes
its counters. The tests run the sink on each twin.
"""

from __future__ import annotations

import enum
import functools
import os
import sys
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final, Protocol

from aievents import totals
from aievents._compiled import fitting
from aievents.events import ImageUsageEvent
from aievents.money import UNIT_FIELDS, ImageCost
from aievents.query import DIMENSIONS
from aievents.totals import DAY_MINUTES, add_lanes, day_of, new_entry
from aievents.usage import SPLIT_FIELDS, ImageUsage

if TYPE_CHECKING:
    import threading

__all__ = [
    "ADDED",
    "DIM_SLOTS",
    "EVENT_FIELDS",
    "IGNORED",
    "MAINTAIN",
    "MAINTAIN_EVERY",
    "SLOW",
    "PyTally",
    "Status",
    "Table",
    "expiry",
    "tally_class",
]


class Status(enum.IntEnum):
    """What ``add`` did (the compiled twin answers the same numbers)."""

    #: Added.
    ADDED = 0
    #: Ignored: a duplicate, or the tally is closed.
    IGNORED = 1
    #: Declined: the table's own path takes it.
    SLOW = 2
    #: Added, and maintenance is due.
    MAINTAIN = 3


ADDED, IGNORED, SLOW, MAINTAIN = Status
#: Maintenance (roll-ups) is due every this many events.
MAINTAIN_EVERY: Final = 256
#: The event's slot of a dimension named otherwise (OpenAI's ``source``).
EVENT_DIMS: Final = {"source": "operation"}
#: The event's slots of the dimensions, in aievents.query.DIMENSIONS order.
DIM_SLOTS: Final = tuple(EVENT_DIMS.get(name, name) for name in DIMENSIONS)
#: What an add reads of an event, in one call: id, time, usage, cost,
#: images, then the dimensions (:data:`DIM_SLOTS`).
EVENT_FIELDS: Final = attrgetter("request_id", "timestamp", "usage", "cost", "images", *DIM_SLOTS)


class Table(Protocol):
    """What a tally reads of its series table, once, when it is made."""

    #: Minute entries: ``(minute, dims)`` to an entry (see aievents.totals).
    minutes: dict[Any, Any]
    #: The dims of every series held, to one tuple each.
    canonical: dict[Any, Any]
    #: Where the keys of entries the tally opens go, for the table to book.
    opened: list[Any]
    #: ``[n]``: n changes whenever entries are moved or dropped.
    moves: list[int]
    #: The request ids remembered (those in ``ring``).
    seen: set[str]
    #: Slots of the latest request ids, oldest overwritten first.
    ring: list[str | None]
    #: ``[i]``: the slot of ``ring`` the next request id goes to.
    ring_at: list[int]
    #: Taken while adding (by the Python twin; the compiled one adds at once).
    lock: threading.Lock
    #: ``[n]``: n counts the table's takes and releases of ``lock`` (odd
    #: while its code holds it): the compiled twin declines then.
    held: list[int]

    def clock(self) -> float:
        """Seconds since the epoch, read once per add."""

    def take(self, event: Any, status: int) -> object:
        """What the tally declines (``SLOW``) or finds due (``MAINTAIN``)."""

    def remember(self, request_id: str) -> bool:
        """Remember a request id in ``ring``; ``False`` when it is already remembered."""


class PyTally:
    """Adds events to the minute entries of a series table (see the module docstring).

    Args:
        table: The series table it adds into (see :class:`Table`).
        classes: The event, usage and cost classes taken on this path
            (subclasses are not).
        retention: Minutes of totals the table keeps: an event older than
            :func:`expiry` says is ``SLOW`` (the table counts it as expired).
    """

    def __init__(self, table: Table, classes: tuple[type, type, type], *, retention: int) -> None:
        self._event_cls, self._usage_cls, self._cost_cls = classes
        self._series, self._canonical = table.minutes, table.canonical
        self._opened, self._lock = table.opened, table.lock
        self._take, self._clock = table.take, table.clock
        self._seen, self._remember = table.seen, table.remember
        self._retention = retention
        self.events = 0
        self.duplicates = 0
        self.ticks = 0
        self.closed = False

    def close(self) -> None:
        """Ignore every event from now on."""
        self.closed = True

    #: A zero entry (see aievents.totals), for the table to open entries this tally adds to.
    new_entry = staticmethod(new_entry)

    def handle(self, event: Any) -> None:
        """Add an event; hand it to the table's ``take`` for ``SLOW`` and ``MAINTAIN``."""
        status = self.add(event)
        if status in (SLOW, MAINTAIN):
            self._take(event, status)

    def add(self, event: Any) -> int:
        """Add an event to an existing series; ``ADDED``, ``IGNORED``, ``SLOW`` or ``MAINTAIN``."""
        if type(event) is not self._event_cls:
            return SLOW
        fields = EVENT_FIELDS(event)
        usage, cost = fields[2], fields[3]
        if type(usage) is not self._usage_cls or type(cost) is not self._cost_cls:
            return SLOW
        split, units = usage.split, cost.units  # type: ignore[attr-defined]
        # A cost the provider reported (or its details) is the table's to count.
        said = usage.cost, usage.cost_details  # type: ignore[attr-defined]
        if units is None or said != (None, None):
            return SLOW
        key = (fields[1] // 60_000, fields[5:])
        if key[0] < expiry(self._clock(), self._retention):
            return SLOW
        with self._lock:
            if self.closed:
                return IGNORED
            if fields[0] in self._seen:
                self.duplicates += 1
                return IGNORED
            totals = self._series.get(key)
            if totals is None:
                canonical = self._canonical.get(key[1])
                if canonical is None:
                    return SLOW
                key = (key[0], canonical)
                totals = self._series[key] = new_entry()
                self._opened.append(key)
            self._remember(fields[0])
            unpriced = 1 if cost.unpriced else 0  # type: ignore[attr-defined]
            add_lanes(totals, fields[4], usage, split, units, unpriced=unpriced)
            self.events += 1
            self.ticks += 1
            if self.ticks >= MAINTAIN_EVERY:
                self.ticks = 0
                return MAINTAIN
            return ADDED


def expiry(now: float, retention: int) -> int:
    """The first minute a sink keeps at ``now`` (seconds), with ``retention`` minutes.

    Totals are dropped by whole UTC days: a day whose start is ``retention``
    old goes, with every minute in it. An event before this minute would be
    dropped at once: it is expired on arrival.
    """
    return day_of(int(now) // 60 - retention) + DAY_MINUTES


def tally_class(compiled: bool | None = None) -> Any:
    """The twin to use.

    ``compiled=None`` takes the compiled one when it was built for these
    sources (:mod:`aievents._compiled`), unless the ``AIEVENTS_PURE_PYTHON``
    environment variable is set or the interpreter runs without the GIL; a
    build left from other sources, or made for another layout of the classes
    it reads, is not used, and said once (a warning);
    ``True`` requires it (``ImportError`` when it was not built, or does not
    match); ``False`` takes Python's.
    """
    if compiled is False or (compiled is None and os.environ.get("AIEVENTS_PURE_PYTHON")):
        return PyTally
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        # The compiled tally relies on the GIL to run each add at once.
        if compiled:
            raise ImportError("aievents._speedups needs the GIL; this interpreter runs without it")
        return PyTally
    module, stale = fitting(*_compiled_layout())
    if module is not None:
        return module.Tally
    if compiled:
        raise ImportError(stale or "aievents._speedups was not built (no C compiler at install)")
    if stale is not None:
        _tell_stale(stale)
    return PyTally


def _compiled_layout() -> tuple[dict[str, type], dict[str, tuple[str, ...]]]:
    """What the compiled tally reads: the classes it is given, the event's slots a series
    is keyed by, and the orders of the tuples it reads."""
    return (
        {"event": ImageUsageEvent, "usage": ImageUsage, "cost": ImageCost},
        {
            "dims": DIM_SLOTS,
            "split": SPLIT_FIELDS,
            "units": UNIT_FIELDS,
            "totals": totals.FIELDS,
        },
    )


@functools.cache
def _tell_stale(reason: str) -> None:
    """Say once that the compiled module does not match these sources."""
    from aievents._diag import log  # noqa: PLC0415 - the diagnostics import this module's users

    log("speedups", "warning", "speedups_stale", reason=reason)
