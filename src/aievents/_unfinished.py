"""Requests the caller has yet to end: reported on a normal path, never in a finalizer.

An instrumented call may return before its request can be reported: a raw
response whose body the caller reads later (or never), a stream read (or
dropped) later. Such a request is :func:`track`-ed until it ends. The code
that ends it first :func:`claim`-s it, so that it is reported exactly once,
whichever way it ends (read in full, closed, collected, or the process
ending).

A response can be dropped anywhere, and the garbage collector can run at any
allocation, on a thread that holds a sink's lock (a plain lock, not
re-entrant): emitting from a finalizer there would wait for that lock
forever. So a finalizer only records what it found (:func:`collected`, an
append to a deque: atomic, no lock taken, nothing emitted), and the reports
are made later on a normal path: :func:`report_collected` runs at the next
instrumented call, in ``EventClient.flush()`` and ``close()``, and when
``capture_events()`` ends. When the process ends, :func:`report_all` reports
what was collected and every request still open (a body never read), before
the batching sinks drain.
"""

from __future__ import annotations

import atexit
from collections import deque
from typing import Final, Protocol

from aievents._diag import log
from aievents._fork import after_fork

__all__ = [
    "Unfinished",
    "claim",
    "collected",
    "is_open",
    "pending",
    "report_all",
    "report_collected",
    "track",
]


class Unfinished(Protocol):
    """A request still to be reported."""

    def abandon(self) -> None:
        """Report the request as it stands: the caller will not finish it.

        Called on a normal path only. It must :func:`claim` the request
        before reporting it (another path may have ended it meanwhile).
        """


class _Book:
    """The open requests and those collected meanwhile (one per process)."""

    def __init__(self) -> None:
        self.open: set[Unfinished] = set()
        self.due: deque[Unfinished] = deque()
        self.hooked = False

    def _after_fork(self) -> None:
        """In a forked child: the parent's requests are the parent's to report."""
        self.open = set()
        self.due = deque()


_BOOK: Final = _Book()
after_fork(_BOOK)


def track(item: Unfinished) -> None:
    """Keep ``item`` open until it is claimed; it is reported at exit at the latest."""
    _BOOK.open.add(item)
    if not _BOOK.hooked:
        _BOOK.hooked = True
        # The exit drain of the batching sinks (aievents.sinks._exit) runs
        # report_all() before it drains them; this hook serves a process
        # without batching sinks.
        atexit.register(report_all)


def claim(item: Unfinished) -> bool:
    """Take ``item`` to report it: True once, for the first path that ends it (atomic)."""
    try:
        _BOOK.open.remove(item)
    except KeyError:
        return False
    return True


def is_open(item: Unfinished) -> bool:
    """Whether ``item`` is still to be reported."""
    return item in _BOOK.open


def collected(item: Unfinished) -> None:
    """From a finalizer: ``item`` can no longer end by itself; report it later.

    Takes no lock and emits nothing (it may run inside the garbage collector).
    """
    if item in _BOOK.open:
        _BOOK.due.append(item)


def pending() -> bool:
    """Whether requests were collected since they were last reported."""
    return bool(_BOOK.due)


def report_collected() -> None:
    """Report the requests collected so far (on a normal path: never from a finalizer)."""
    due = _BOOK.due
    while due:
        try:
            item = due.popleft()
        except IndexError:  # another thread took the last one
            return
        _abandon(item)


def report_all() -> None:
    """The process ends: report what was collected and every request still open."""
    report_collected()
    for item in list(_BOOK.open):
        _abandon(item)


def _abandon(item: Unfinished) -> None:
    try:
        item.abandon()
    except Exception as exc:  # noqa: BLE001 - one report must not stop the others
        log("instrument", "warning", "instrumentation_failed", step="unfinished", error=exc)
