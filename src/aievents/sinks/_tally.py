"""The hot path of AggregateSink: add an event to the totals of its series.

:class:`PyTally` is the pure Python twin of ``aievents._speedups.Tally``
(compiled when the package is installed with a C compiler at hand). Both
add an ``image:usage`` event to a series that already exists, and decline
everything else (a new series, an event whose cost or token split is not
worked out yet, an event older than the sink keeps, a subclass) with
:data:`SLOW`, for the sink's own path. The tests run the sink on each twin.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final, Protocol

from aievents._compiled import fitting
from aievents.events import ImageUsageEvent
from aievents.money import COST_COMPONENTS, UNIT_FIELDS, ImageCost, cost_units
from aievents.usage import SPLIT_FIELDS, ImageUsage, token_split

__all__ = [
    "ADDED",
    "IGNORED",
    "LANES",
    "MAINTAIN",
    "MAINTAIN_EVERY",
    "SLOW",
    "PyTally",
    "Tally",
    "add_lanes",
    "amount_lanes",
    "cost_lanes",
    "expiry",
    "lanes_of",
    "new_entry",
    "request_lanes",
    "tally_class",
    "unpriced",
]

#: What ``add`` did: added; ignored (a duplicate, or the tally is closed);
#: declined (take the sink's own path); added, and maintenance is due.
ADDED: Final = 0
IGNORED: Final = 1
SLOW: Final = 2
MAINTAIN: Final = 3
#: Maintenance (roll-ups) is due every this many events.
MAINTAIN_EVERY: Final = 256
#: Lanes of an entry: aievents.query.FIELDS (costs in cost units).
LANES: Final = 18
#: The cost lanes, as cost units, of a request that costs nothing.
_NO_UNITS: Final = (0,) * (LANES - 11)
_DAY_MINUTES: Final = 1440
#: What an add reads of an event, in one call: id, time, usage, cost,
#: images, then the dimensions in aievents.query.DIMENSIONS order.
EVENT_FIELDS: Final = attrgetter(
    "request_id",
    "timestamp",
    "usage",
    "cost",
    "images",
    "model",
    "size",
    "operation",
    "project_id",
    "user_id",
    "api_key_id",
)


class Tally(Protocol):
    """What AggregateSink needs of either twin."""

    events: int
    duplicates: int
    ticks: int
    closed: bool

    @property
    def seen(self) -> set[str]:
        """The request ids remembered."""

    def add(self, event: Any) -> int:
        """Add an event to an existing series; one of the status codes above."""

    def handle(self, event: Any) -> None:
        """Add an event; hand it to the fallback for ``SLOW`` and ``MAINTAIN``."""

    def remember(self, request_id: str) -> bool:
        """Remember a request id; ``False`` when it is already remembered."""

    def new_entry(self) -> Any:
        """A zero entry: indexable like a list of the lanes and the extra."""

    def __enter__(self) -> Any:
        """Take the sink's lock (the compiled twin declines while it is held)."""

    def __exit__(self, *exc: object) -> Any:
        """Release the sink's lock."""

    def invalidate(self) -> None:
        """Entries were moved or dropped: forget which entry each series last used."""

    def drop(self, dims: Any) -> None:
        """Forget a series that is no longer held."""


class PyTally:
    """Totals of an AggregateSink, added to in Python (see the module docstring).

    Args:
        event_cls: The event class taken on this path (subclasses are not).
        usage_cls: The usage class taken on this path.
        cost_cls: The cost class taken on this path.
        series: The sink's totals: ``(minute, dims)`` to a list of lanes.
        canonical: The dims of every series held, to one tuple each.
        opened: Where the keys of entries opened here go, for the sink to
            book (a new minute of a series held; a new series is ``SLOW``).
        lock: The sink's lock, taken while adding.
        size: Request ids remembered.
        fallback: Called as ``fallback(event, status)`` by :meth:`handle`
            for ``SLOW`` and ``MAINTAIN``.
        clock: The sink's clock (seconds since the epoch), read once per add.
        retention: Minutes of totals the sink keeps: an event older than
            :func:`expiry` says is ``SLOW`` (the sink counts it as expired).
    """

    def __init__(
        self,
        *,
        event_cls: type,
        usage_cls: type,
        cost_cls: type,
        series: dict[Any, list[Any]],
        canonical: dict[Any, Any],
        opened: list[Any],
        lock: threading.Lock,
        size: int,
        fallback: Callable[[Any, int], object],
        clock: Callable[[], float],
        retention: int,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._fallback = fallback
        self._clock = clock
        self._retention = retention
        self._event_cls = event_cls
        self._usage_cls = usage_cls
        self._cost_cls = cost_cls
        self._series = series
        self._canonical = canonical
        self._opened = opened
        self._lock = lock
        self._ring: list[str | None] = [None] * size
        self._pos = 0
        self.seen: set[str] = set()
        self.events = 0
        self.duplicates = 0
        self.ticks = 0
        self.closed = False

    def remember(self, request_id: str) -> bool:
        """Remember a request id; ``False`` when it is already remembered."""
        seen = self.seen
        if request_id in seen:
            return False
        ring, pos = self._ring, self._pos
        old = ring[pos]
        if old is not None:
            seen.discard(old)
        seen.add(request_id)
        ring[pos] = request_id
        self._pos = (pos + 1) % len(ring)
        return True

    def new_entry(self) -> list[Any]:
        """A zero entry."""
        return new_entry()

    def __enter__(self) -> PyTally:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def invalidate(self) -> None:
        """Entries were moved or dropped (nothing is cached here)."""

    def drop(self, dims: Any) -> None:
        """A series is no longer held (nothing is cached here)."""

    def handle(self, event: Any) -> None:
        """Add an event; hand it to ``fallback`` for ``SLOW`` and ``MAINTAIN``."""
        status = self.add(event)
        if status in (SLOW, MAINTAIN):
            self._fallback(event, status)

    def add(self, event: Any) -> int:
        """Add an event to an existing series; ``ADDED``, ``IGNORED``, ``SLOW`` or ``MAINTAIN``."""
        if type(event) is not self._event_cls:
            return SLOW
        fields = EVENT_FIELDS(event)
        usage, cost = fields[2], fields[3]
        if type(usage) is not self._usage_cls or type(cost) is not self._cost_cls:
            return SLOW
        split, units = usage.split, cost.units  # type: ignore[attr-defined]
        if units is None:
            return SLOW
        key = (fields[1] // 60_000, fields[5:])
        if key[0] < expiry(self._clock(), self._retention):
            return SLOW
        with self._lock:
            if self.closed:
                return IGNORED
            if fields[0] in self.seen:
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
            self.remember(fields[0])
            unpriced = 1 if cost.unpriced else 0  # type: ignore[attr-defined]
            add_lanes(totals, fields[4], usage, split, units, unpriced=unpriced)
            self.events += 1
            self.ticks += 1
            if self.ticks >= MAINTAIN_EVERY:
                self.ticks = 0
                return MAINTAIN
            return ADDED


def new_entry() -> list[Any]:
    """A zero entry: every lane 0 (see aievents.query.FIELDS), then no extra."""
    return [0] * LANES + [None]


def expiry(now: float, retention: int) -> int:
    """The first minute a sink keeps at ``now`` (seconds), with ``retention`` minutes.

    Totals are dropped by whole UTC days: a day whose start is ``retention``
    old goes, with every minute in it. An event before this minute would be
    dropped at once: it is expired on arrival.
    """
    first = int(now) // 60 - retention
    return first - first % _DAY_MINUTES + _DAY_MINUTES


def unpriced(cost: Any) -> int:
    """1 when a request's cost is unknown (None) or incomplete (unpriced parts), else 0."""
    if cost is None:
        return 1
    return 1 if isinstance(cost, ImageCost) and cost.unpriced else 0


def request_lanes(
    images: int | None,
    usage: Any,
    split: tuple[int, ...],
    units: tuple[int, ...] | None,
    *,
    unpriced: int,
) -> tuple[int, ...]:
    """One request's lanes after the request count (aievents.query.FIELDS[1:]).

    ``split`` is token_split()'s answer; ``units`` the cost units (None: no
    cost in units); ``unpriced`` is :func:`unpriced`'s answer.
    """
    return (
        images or 0,
        usage.input_tokens or 0,
        usage.output_tokens or 0,
        split[0],  # input text
        split[1],  # input image
        split[4],  # output image
        split[5],  # output text
        split[2],  # cached text
        split[3],  # cached image
        unpriced,
        *(units if units is not None else _NO_UNITS),
    )


def add_lanes(
    totals: list[Any],
    images: int | None,
    usage: Any,
    split: tuple[int, ...],
    units: tuple[int, ...] | None,
    *,
    unpriced: int,
) -> None:
    """Add one request to an entry: its images, tokens, whether unpriced, and cost units."""
    totals[0] += 1
    for lane, value in enumerate(request_lanes(images, usage, split, units, unpriced=unpriced), 1):
        if value:
            totals[lane] += value


_ZERO: Final = Decimal(0)
_COST_FIELDS: Final = attrgetter(*COST_COMPONENTS)


def amount_lanes(amount: Decimal) -> tuple[int | None, Decimal | None]:
    """(cost units, None) for an amount that has them, else (None, the amount)."""
    units = cost_units(amount)
    return (units, None) if units is not None else (None, amount)


def cost_lanes(
    cost: ImageCost | Decimal | None,
) -> tuple[tuple[int, ...] | None, list[Any] | None]:
    """The cost lanes of a request: (units, None), or (None, Decimal parts) when finer."""
    if cost is None:
        return None, None
    if isinstance(cost, Decimal):
        units = cost_units(cost)
        if units is not None:
            return (*_NO_UNITS[:-1], units), None
        return None, [*(_ZERO for _ in _NO_UNITS[:-1]), cost]
    if cost.units is not None:
        return cost.units, None
    parts = list(_COST_FIELDS(cost))
    return None, [*parts, _ZERO if any(parts) else cost.total]


def lanes_of(event: Any, cost: Any) -> tuple[list[int], list[Decimal] | None]:
    """One request's lanes (aievents.query.FIELDS, costs in cost units) and extra.

    ``cost`` is the event's ImageCost, a bare Decimal, or None (unknown).
    """
    units, extra = cost_lanes(cost)
    usage = event.usage
    lanes = request_lanes(event.images, usage, token_split(usage), units, unpriced=unpriced(cost))
    return [1, *lanes], extra


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
    """What the compiled tally reads: the classes it is given, and the orders of their tuples."""
    return (
        {"event": ImageUsageEvent, "usage": ImageUsage, "cost": ImageCost},
        {"split": SPLIT_FIELDS, "units": UNIT_FIELDS},
    )


@functools.cache
def _tell_stale(reason: str) -> None:
    """Say once that the compiled module does not match these sources."""
    from aievents._diag import log  # noqa: PLC0415 - the diagnostics import this module's users

    log("speedups", "warning", "speedups_stale", reason=reason)
