"""What a ForwardSink did with its events: the counters, and the report drawn from them.

Every event a ForwardSink is given ends in exactly one of these accounts:
sent, dropped (by reason), spilled (until replayed), or still pending. The
counters are shared by the caller's thread, the worker and the replay; the
events a transport or the spill cannot encode are taken out of their batch
here, counted and logged (by type and reason, never their values).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from aievents._diag import RateLimitedLog
from aievents.exceptions import TransportError, UnencodableError

__all__ = ["Accounts", "ForwardReport"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class ForwardReport:
    """What a ForwardSink has done with the events it was given.

    Attributes:
        done: Whether the ``flush`` or ``close`` finished within its timeout.
        sent: Events the transport took.
        retried: Event sends that were tried again.
        spilled: Events written to the spill.
        replayed: Spilled events taken out of the spill: sent later, or
            refused by the target for good (then also counted as dropped,
            ``rejected``).
        dropped: Events let go, by reason (``queue_full``, ``block_timeout``,
            ``spill_full``, ``spill_failed``, ``send_failed``, ``closed``,
            ``deliver_failed``, ``unencodable``: a value JSON cannot write,
            put in the event after it was built; the rest of its batch is
            sent; ``rejected``: refused by the target for good, such as with
            HTTP 400, 413 or 422; the rest of its batch is sent).
        journaled: Durable mode: events left in the journal for the next
            process (the queue was full, or the target would not take them).
        unjournaled: Durable mode: events the journal had no room for (or
            could not be written to); they are still queued and sent, but a
            killed process loses them.
        pending: Events still queued or being sent.
        corrupt: Spill lines that could not be read back.
    """

    done: bool
    sent: int
    retried: int
    spilled: int
    replayed: int
    dropped: Mapping[str, int]
    pending: int
    corrupt: int = 0
    journaled: int = 0
    unjournaled: int = 0

    @property
    def accounted(self) -> int:
        """Events sent, dropped, spilled (not yet replayed) or pending."""
        return self.sent - self.replayed + sum(self.dropped.values()) + self.spilled + self.pending


class Accounts:
    """A ForwardSink's counters, and its diagnostics (one rate-limited log)."""

    def __init__(self) -> None:
        self.log = RateLimitedLog("forward")
        self._fresh()

    def _fresh(self) -> None:
        self._counts: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._lock = threading.Lock()

    def after_fork(self) -> None:
        """In a forked child: counters of its own, a fresh lock."""
        self._fresh()

    def add(self, name: str, count: int) -> None:
        """Add ``count`` to a counter (workers, the replay and callers count at once)."""
        with self._lock:
            self._counts[name] += count

    def drop(self, reason: str, count: int) -> None:
        """Count events dropped for ``reason``; log it (rate-limited, outside the lock)."""
        with self._lock:
            self._dropped[reason] += count
            total = sum(self._dropped.values())
        self.log(("dropped", reason), "warning", "events_dropped", reason=reason, dropped=total)

    def reject(self, count: int, error: Exception | None) -> None:
        """``count`` events the target refused for good: counted (``rejected``) and logged."""
        status = error.status if isinstance(error, TransportError) else None
        self.log(
            ("rejected", status),
            "warning",
            "events_rejected",
            error=error,
            status=status,
            events=count,
        )
        self.drop("rejected", count)

    def refuse(self, error: UnencodableError, batch: list[Any]) -> int:
        """Take the events that cannot be encoded out of ``batch`` (in place); how many.

        They are counted as dropped (``unencodable``) and logged, by type and
        reason, never their values.
        """
        bad = {id(event) for event in error.events}
        kept = [event for event in batch if id(event) not in bad]
        removed = len(batch) - len(kept)
        batch[:] = kept
        if removed:
            self.log(
                ("unencodable", error.reasons[0] if error.reasons else ""),
                "warning",
                "event_unencodable",
                reason=error.reasons[0] if error.reasons else "unknown",
                events=removed,
            )
            self.drop("unencodable", removed)
        return removed

    def encodable(self, write: Callable[[list[Any]], T], batch: list[Any]) -> T | None:
        """``write(batch)``, the events it cannot encode taken out of ``batch`` first (counted).

        None when no event of the batch could be encoded (nothing written).
        """
        while batch:
            try:
                return write(batch)
            except UnencodableError as exc:
                if not self.refuse(exc, batch):
                    raise  # it names no event of the batch: a failure like any other
        return None

    def report(self, *, pending: int, corrupt: int) -> ForwardReport:
        """Every counter, now (``done`` tells whether nothing is pending)."""
        with self._lock:
            counts = dict(self._counts)
            dropped = dict(self._dropped)
        return ForwardReport(
            done=pending == 0,
            sent=counts.get("sent", 0),
            retried=counts.get("retried", 0),
            spilled=counts.get("spilled", 0),
            replayed=counts.get("replayed", 0),
            dropped=dropped,
            pending=pending,
            corrupt=corrupt,
            journaled=counts.get("journaled", 0),
            unjournaled=counts.get("unjournaled", 0),
        )
