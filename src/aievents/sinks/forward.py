"""ForwardSink: events to a collector, batched, retried, spilled, never lost silently.

``handle`` only queues the event (a bounded queue: the overflow policy says
what happens when it is full). A daemon worker sends batches through a
:class:`~aievents.transports.Transport`, never holding the queue lock while
it does. A failed batch is retried with exponential backoff and jitter;
after the retries it goes to the on-disk spill (when one is configured),
and the spill is replayed when the target takes a batch again and when the
next process starts. A ``Retry-After`` from the target holds every request
to it until then (up to ``max_retry_after``): batches wait in the queue, or,
with a spill, go to the spill without a request when the wait is longer
than ``max_backoff``. A batch the target refuses for good (a status that is
not worth a retry, such as 400 or 413) is neither retried nor spilled: it is
split in halves to find the events refused, which are counted as dropped
(``rejected``) and logged, and the rest is sent.

Delivery is at least once: every event carries its ``event_id``, so a
receiver can drop the duplicates a retry or a replay may cause. Every event
is accounted for: sent, dropped (by reason), spilled, or still pending; see
:meth:`ForwardSink.stats`. ``flush`` and ``close`` return within their
timeout with a :class:`ForwardReport`. When the process ends (at exit, on
SIGTERM with ``handle_sigterm``, at the end of a ``multiprocessing`` child)
every open sink drains, all together, within the longest ``exit_timeout``;
after ``os.fork`` the child sends its own events only.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs

from aievents._diag import RateLimitedLog
from aievents._fork import after_fork
from aievents._validate import setting
from aievents.events import BaseEvent
from aievents.sinks import _exit
from aievents.sinks._batch import BatchWorker, Overflow
from aievents.sinks._spill import PartialWriteError, Spill
from aievents.transports import Transport, TransportError, UnencodableError

__all__ = ["ForwardReport", "ForwardSink"]

#: What became of one batch's send: taken, failed (and not retried any more),
#: or not tried (the target asked to wait longer than the batch can, or the
#: sink is closing).
_SENT: Final = "sent"
_FAILED: Final = "failed"
_DEFERRED: Final = "deferred"
#: ... or refused for good by the target (not worth a retry, nor a spill).
_REJECTED: Final = "rejected"
#: Statuses with which a target may refuse a batch for some of its events (or
#: its size): such a batch is split to find them, the rest is sent.
_SPLIT: Final = frozenset({400, 413, 422})
#: Longest single wait of the worker, in seconds: a far Retry-After is waited in
#: slices, so that a drain begun elsewhere (at exit) is seen soon.
_WAIT_SLICE: Final = 1.0
#: Where a journaled event lies: its segment and line number.
_Slot = tuple[str, int]
#: One attempt at sending a batch: its outcome and error.
_Send = Callable[[list[BaseEvent]], tuple[str, Exception | None]]
#: A part of a batch, with the outcome of its send and the error.
_Part = tuple[str, list[BaseEvent], Exception | None]

T = TypeVar("T")


def _splits(error: Exception | None) -> bool:
    """Whether a refusal may be for some events of the batch only (its status says so)."""
    return isinstance(error, TransportError) and error.status in _SPLIT


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


class ForwardSink:
    """Forwards events through a transport in batches, from a background worker.

    Args:
        transport: Where batches go (:mod:`aievents.transports`).
        batch_size: Events per batch, at most.
        max_delay: Seconds an event may wait for its batch to fill.
        max_queue: Events held in memory, at most.
        overflow: What a full queue does with a new event: ``drop_oldest``
            (default), ``drop_newest``, ``block`` (wait up to
            ``block_timeout``) or ``spill`` (move the oldest batch to disk).
        block_timeout: Seconds ``block`` waits for room.
        max_retries: Retries of a failed batch before it is spilled or dropped.
        backoff: First retry delay in seconds; doubled each retry, with jitter.
        max_backoff: Longest retry delay. A ``Retry-After`` is honoured in
            full, up to ``max_retry_after``: nothing is sent to the target
            before then. A batch waits that long in memory only when there
            is no spill, or when the wait is at most ``max_backoff``;
            otherwise it is spilled without being sent.
        max_retry_after: Longest wait a ``Retry-After`` imposes, in seconds
            (one hour by default; ``math.inf`` for no limit): a longer one
            (or a date far ahead) is cut to it, so that one answer cannot
            stop the forwarding for the rest of the process.
        spill_dir: Directory of the on-disk spill; ``None`` drops what cannot
            be sent. Needed for ``overflow="spill"``. Delivered events are
            acknowledged beside each replayed segment, so that a replay cut
            short (or killed) resumes without sending them again. A
            directory that cannot be written (read-only, or not creatable)
            is logged (``spill_unavailable``) and tried again at each write:
            meanwhile what would be spilled is counted as dropped
            (``spill_failed``) and, in durable mode, events are not
            journaled (``unjournaled``); the sink works on.
        spill_max_bytes: Size of the spill, at most.
        replay_on_start: Replay the spill found at start (events a previous
            run could not send, or, with ``durable``, did not get to send).
        durable: Write every event to a journal in ``spill_dir`` before
            queueing it, so that events survive the process being killed
            (even by SIGKILL) and are sent by the next process to start on
            the same directory. Costs a file write per event on the caller's
            thread; when the queue is full, the oldest events wait in the
            journal instead of being dropped. Deliveries are acknowledged in
            the journal as they happen (one small write per batch, on the
            worker), so the next process sends only what was not delivered.
        exit_timeout: Seconds to drain when the process ends (at
            interpreter exit, on SIGTERM with ``handle_sigterm``, at the end
            of a ``multiprocessing`` child). All sinks drain together: the
            process waits for the longest ``exit_timeout``, not the sum.
        handle_sigterm: When the application has no SIGTERM handler of its
            own, make SIGTERM exit the process through ``SystemExit`` (status
            143), so that the sinks drain at exit instead of the queued events
            being lost. Off by default: it changes how the program ends.
            Only a sink made in the main thread can (elsewhere it logs
            ``sigterm_not_handled``).
        name: The worker thread's name.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        batch_size: int = 512,
        max_delay: float = 1.0,
        max_queue: int = 10_000,
        overflow: Overflow = "drop_oldest",
        block_timeout: float = 0.1,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 3600.0,
        spill_dir: str | os.PathLike[str] | None = None,
        spill_max_bytes: int = 256 * 2**20,
        replay_on_start: bool = True,
        durable: bool = False,
        exit_timeout: float = 5.0,
        handle_sigterm: bool = False,
        name: str = "aievents-forward",
    ) -> None:
        if not callable(getattr(transport, "send", None)):
            raise TypeError(f"transport {transport!r} has no send(batch)")
        setting("max_retries", max_retries)
        setting("backoff", backoff, fraction=True)
        setting("max_backoff", max_backoff, fraction=True)
        setting("max_retry_after", max_retry_after, fraction=True)
        self.transport = transport
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_retry_after = float(max_retry_after)
        self.exit_timeout = float(setting("exit_timeout", exit_timeout, fraction=True))
        if durable and spill_dir is None:
            raise ValueError("durable=True needs a spill_dir for its journal")
        self._spill = Spill(spill_dir, max_bytes=spill_max_bytes) if spill_dir is not None else None
        # The journal directory: written to when durable; read by every sink on
        # the same spill directory, which sends what dead processes journaled.
        self._journal_dir = (
            Spill(Path(spill_dir) / "journal", max_bytes=spill_max_bytes, journal=True)
            if spill_dir is not None
            else None
        )
        self._journal = self._journal_dir if durable else None
        self._counts: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._diag = RateLimitedLog("forward")
        self._count_lock = threading.Lock()
        self._wake = threading.Event()
        self._replaying = threading.Lock()
        #: No request to the target before this ``time.monotonic()`` (Retry-After).
        self._not_before = 0.0
        #: When closing: the close's deadline (``math.inf`` without one).
        self._closing_at: float | None = None
        # The batch the worker is delivering, and whether close() took it over.
        self._handoff = threading.Lock()
        self._current: list[Any] | None = None
        self._adopted = False
        self._worker = BatchWorker(
            self._deliver,
            name=name,
            batch_size=batch_size,
            max_delay=max_delay,
            max_queue=max_queue,
            overflow="spill" if durable else overflow,
            block_timeout=block_timeout,
            spill=self._journaled if durable else (self._spill_batch if self._spill else None),
            dropped=self._drop,
        )
        self._closed = False
        after_fork(self)
        _exit.register(self, self._worker, handle_sigterm=handle_sigterm)
        if self._spill is not None and replay_on_start:
            threading.Thread(
                target=self._replay, args=(None,), name=f"{name}-replay", daemon=True
            ).start()

    # ------------------------------------------------------------------ intake

    def handle(self, event: BaseEvent) -> None:
        """Queue the event; returns at once (``block`` waits at most ``block_timeout``)."""
        journal = self._journal
        if journal is None:
            self._worker.put(event)
            return
        try:
            slot = journal.write([event])
        except UnencodableError as exc:  # it could never be sent: counted, not queued
            self._refuse(exc, [event])
            return
        except OSError as exc:  # a full or read-only disk: sent all the same, counted
            self._diag(("journal_failed", exc.errno), "warning", "journal_failed", error=exc)
            slot = None
        if slot is None:
            self._add("unjournaled", 1)
        self._worker.put((event, slot))

    def _journaled(
        self, items: list[tuple[BaseEvent, _Slot | None]], reason: str = "queue_full"
    ) -> bool:
        """Durable mode, queue full (or closing): the events wait in the journal.

        Those that are not in the journal are counted as dropped, ``reason``.
        """
        kept = sum(1 for _, slot in items if slot is not None)
        self._add("journaled", kept)
        if kept < len(items):
            self._drop(reason, len(items) - kept)
        return True

    def _acknowledge(self, items: list[tuple[BaseEvent, _Slot | None]]) -> None:
        """Durable mode: these events were delivered (or spilled); the journal may let go."""
        journal = self._journal
        if journal is None:
            return
        lines: dict[str, list[int]] = {}
        for _, slot in items:
            if slot is not None:
                lines.setdefault(slot[0], []).append(slot[1])
        for segment, indexes in lines.items():
            journal.ack(segment, indexes)

    # ------------------------------------------------------------------ accounting

    def _add(self, name: str, count: int) -> None:
        """Add ``count`` to a counter (workers, the replay and callers count at once)."""
        with self._count_lock:
            self._counts[name] += count

    def _drop(self, reason: str, count: int) -> None:
        """Count events dropped for ``reason``; log it (rate-limited, outside the lock)."""
        with self._count_lock:
            self._dropped[reason] += count
            total = sum(self._dropped.values())
        self._diag(("dropped", reason), "warning", "events_dropped", reason=reason, dropped=total)

    def _refuse(self, error: UnencodableError, batch: list[Any]) -> int:
        """Take the events that cannot be encoded out of ``batch`` (in place); how many.

        They are counted as dropped (``unencodable``) and logged, by type and
        reason, never their values.
        """
        bad = {id(event) for event in error.events}
        kept = [event for event in batch if id(event) not in bad]
        removed = len(batch) - len(kept)
        batch[:] = kept
        if removed:
            self._diag(
                ("unencodable", error.reasons[0] if error.reasons else ""),
                "warning",
                "event_unencodable",
                reason=error.reasons[0] if error.reasons else "unknown",
                events=removed,
            )
            self._drop("unencodable", removed)
        return removed

    def _encodable(self, write: Callable[[list[Any]], T], batch: list[Any]) -> T | None:
        """``write(batch)``, the events it cannot encode taken out of ``batch`` first (counted).

        None when no event of the batch could be encoded (nothing written).
        """
        while batch:
            try:
                return write(batch)
            except UnencodableError as exc:
                if not self._refuse(exc, batch):
                    raise  # it names no event of the batch: a failure like any other
        return None

    def _transmit(self, batch: list[BaseEvent]) -> None:
        """Send ``batch`` through the transport, without the events it cannot encode."""
        self._encodable(self.transport.send, batch)

    def _spill_batch(self, batch: list[BaseEvent]) -> bool:
        """Spill ``batch``; whether it was kept (its unencodable events taken out, counted)."""
        spill = self._spill
        if spill is None:
            return False
        try:
            written = self._encodable(spill.write, batch)
        except UnencodableError as exc:  # naming no event of the batch: nothing written
            self._diag(("spill_failed", "unencodable"), "warning", "spill_failed", error=exc)
            self._drop("spill_failed", len(batch))
            return True  # accounted for
        except OSError as exc:  # disk full, read-only...: counted, never raised
            kept = exc.kept if isinstance(exc, PartialWriteError) else 0
            self._diag(("spill_failed", exc.errno), "warning", "spill_failed", error=exc)
            if kept:
                self._add("spilled", kept)
            self._drop("spill_failed", len(batch) - kept)
            return True  # accounted for
        if not batch:
            return True  # every event was unencodable: counted
        if written is None:
            return False
        self._add("spilled", len(batch))
        return True

    def stats(self) -> ForwardReport:
        """Every counter, now (``done`` tells whether nothing is pending)."""
        pending = self._worker.pending
        with self._count_lock:
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
            corrupt=self._spill.corrupt_lines if self._spill is not None else 0,
            journaled=counts.get("journaled", 0),
            unjournaled=counts.get("unjournaled", 0),
        )

    # ------------------------------------------------------------------ delivery

    def _hold(self, retry_after: float | None) -> None:
        """A ``Retry-After``: nothing to the target before then (``max_retry_after`` at most)."""
        if retry_after is None or not retry_after > 0:  # None, 0, negative or NaN: no wait
            return
        wait = min(retry_after, self.max_retry_after)
        until = time.monotonic() + wait
        with self._count_lock:
            if until <= self._not_before:
                return
            self._not_before = until
        self._diag(
            "retry_after", "warning", "target_asked_to_wait", seconds=wait, asked=retry_after
        )

    def _pause(self, delay: float) -> bool:
        """Wait ``delay`` seconds and any Retry-After in force; False: the batch must not wait.

        A batch does not wait past the close's deadline, nor, when there is a
        spill to put it in, longer than ``max_backoff``. A flush or a close
        cuts a backoff short, never a Retry-After.
        """
        resume = time.monotonic() + delay
        while True:
            self._wake.clear()
            now = time.monotonic()
            until = max(resume, self._not_before)
            if until <= now:
                return True
            closing = self._close_by()
            if closing is not None and until > closing:
                return False
            if self._spill is not None and until - now > self.max_backoff:
                return False
            if self._wake.wait(min(until - now, _WAIT_SLICE)):
                resume = now

    def _attempt(self, batch: list[BaseEvent]) -> tuple[str, Exception | None, bool]:
        """Send ``batch`` once: the outcome, the error, and whether a retry may succeed.

        The outcome is ``_SENT``, ``_REJECTED`` (the target refused it for
        good) or ``_FAILED``. A ``Retry-After`` in the answer is put in force.
        """
        try:
            self._transmit(batch)
        except TransportError as exc:
            self._hold(exc.retry_after)
            if exc.retryable:
                return _FAILED, exc, True
            if isinstance(exc, UnencodableError):  # naming no event: not the target's doing
                return _FAILED, exc, False
            return _REJECTED, exc, False
        except Exception as exc:  # noqa: BLE001 - an unexpected transport error
            return _FAILED, exc, True
        return _SENT, None, False

    def _send(self, batch: list[BaseEvent]) -> tuple[str, Exception | None]:
        """Send with retries: ``_SENT``, ``_REJECTED``, ``_FAILED`` or ``_DEFERRED`` (not tried)."""
        attempt = 0
        if not self._pause(0.0):
            return _DEFERRED, None
        while True:
            outcome, error, retryable = self._attempt(batch)
            if outcome != _FAILED:
                return outcome, error
            attempt += 1
            if not retryable or attempt > self.max_retries:
                self._warn_failed(error, len(batch))
                return _FAILED, error
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2
            if not self._pause(delay):
                return _FAILED, error  # spilled (or counted) now rather than wait
            self._add("retried", len(batch))

    def _warn_failed(self, error: Exception | None, count: int) -> None:
        """Log a batch given up on (rate-limited by the error's type)."""
        self._diag(("failed", type(error)), "warning", "send_failed", error=error, events=count)

    def _isolate(self, batch: list[BaseEvent], send: _Send) -> list[_Part]:
        """``send(batch)``; when the target refuses it for some of its events, its halves.

        A batch refused with a status of ``_SPLIT`` (400, 413, 422) is split
        in two, each half sent on its own, and so on down to single events,
        so that the events refused cost only themselves (and a batch too
        large for the target gets through in smaller parts). Halvings in a
        row that deliver nothing are bounded (by twice the depth of the
        search): past that, the target is taken to refuse everything, and the
        parts left are sent as they are. A part that fails or is deferred
        ends it: the parts not tried yet come back with the same outcome.
        Returns each part, in order, with its outcome and error.
        """
        done: list[_Part] = []
        todo = [batch]
        budget = most = 2 * len(batch).bit_length()
        while todo:
            part = todo.pop()
            outcome, error = send(part)
            if outcome == _REJECTED and len(part) > 1 and budget and _splits(error):
                budget -= 1
                half = len(part) // 2
                todo += (part[half:], part[:half])  # the first half next
                continue
            if outcome == _SENT:
                budget = most
            done.append((outcome, part, error))
            if outcome in (_FAILED, _DEFERRED):
                done += [(outcome, rest, error) for rest in reversed(todo)]
                break
        return done

    def _reject(self, count: int, error: Exception | None) -> None:
        """``count`` events the target refused for good: counted (``rejected``) and logged."""
        status = error.status if isinstance(error, TransportError) else None
        self._diag(
            ("rejected", status),
            "warning",
            "events_rejected",
            error=error,
            status=status,
            events=count,
        )
        self._drop("rejected", count)

    def _deliver(self, items: list[Any], deadline: float | None) -> None:
        """Called on the worker thread for every batch: send, else spill, else drop.

        ``deadline`` (a flush's or a close's) is not used: only a close's
        deadline (:meth:`_close_by`) ends the retries.
        """
        del deadline
        journaled = self._journal is not None
        # A copy: the batch shrinks when events are refused, the worker's own
        # list must not (it counts what is in flight by its length).
        batch: list[BaseEvent] = [event for event, _ in items] if journaled else list(items)
        with self._handoff:
            self._current, self._adopted = items, False
        try:
            parts = self._isolate(batch, self._send)
        finally:
            with self._handoff:
                adopted = self._adopted
                self._current, self._adopted = None, False
        slots = {id(item[0]): item for item in items} if journaled else {}
        if journaled:  # unencodable ones, counted: off the journal
            kept = {id(event) for _, part, _ in parts for event in part}
            self._acknowledge([item for item in items if id(item[0]) not in kept])
        if adopted:
            return  # close() kept a copy in the spill and counted it there
        delivered = False
        for outcome, part, error in parts:
            own = [slots[id(event)] for event in part] if journaled else []
            if outcome == _SENT:
                self._add("sent", len(part))
                self._acknowledge(own)
                delivered = True
            elif outcome == _REJECTED:
                self._reject(len(part), error)
                self._acknowledge(own)
            elif self._spill_batch(part):
                self._acknowledge(own)
            else:
                if self._spill is not None:
                    reason = "spill_full"
                else:
                    reason = "send_failed" if outcome == _FAILED else "closed"
                if journaled:  # still in the journal: sent by the next process to start
                    self._journaled(own, reason)
                else:
                    self._drop(reason, len(part))
        if delivered and self._spill is not None:  # the target takes batches again: catch up
            self._replay(self._close_by())

    def _close_by(self) -> float | None:
        """The deadline of the close under way (``math.inf``: none), or None when not closing."""
        at = self._worker.closing_by()
        if at is not None:
            return at if self._closing_at is None else min(at, self._closing_at)
        return self._closing_at

    def _adopt(self) -> list[BaseEvent] | None:
        """close(): take over the batch the worker is still sending, to spill a copy.

        Only with a spill and without a journal (a journaled batch is safe in
        the journal). The worker then leaves that batch's accounting to the
        copy, so that it is spilled and counted once.
        """
        if self._spill is None or self._journal is not None:
            return None
        with self._handoff:
            items = self._current
            if items is not None:
                self._adopted = True
        return items

    def _replay(self, deadline: float | None) -> None:
        """Send spilled segments (and dead processes' journals), oldest first; never raises."""
        if self._spill is None or not self._replaying.acquire(blocking=False):
            return
        failure: Exception | None = None
        try:
            self._spill.seal()
            for spill, own in ((self._spill, True), (self._journal_dir, False)):
                if spill is not None and not self._replay_from(spill, own, deadline):
                    break
        except Exception as exc:  # noqa: BLE001 - what is left is replayed later
            failure = exc
        finally:
            self._replaying.release()
        if failure is not None:
            self._diag(("replay", type(failure)), "warning", "replay_failed", error=failure)

    def _may_send(self, deadline: float | None) -> bool:
        """Whether a replay may send now: time left, and no Retry-After in force."""
        now = time.monotonic()
        return (deadline is None or now < deadline) and now >= self._not_before

    def _replay_from(self, spill: Spill, own: bool, deadline: float | None) -> bool:
        """Replay one directory; False when the target refused, asked to wait, or time ran out.

        What is delivered is acknowledged chunk by chunk: a replay cut short
        here, or in a killed process, resumes with the rest. Events the
        target refuses for good are counted (``rejected``), acknowledged and
        passed over, so that they never hold up the rest of the segment.
        """

        def send(batch: list[BaseEvent]) -> tuple[str, Exception | None]:
            if not self._may_send(deadline):
                return _DEFERRED, None
            outcome, error, _ = self._attempt(batch)
            return outcome, error

        while (segment := spill.claim(own=own)) is not None:
            events = spill.pending(segment)
            size = self._worker.batch_size
            for start in range(0, len(events), size):
                chunk = events[start : start + size]
                parts = self._isolate([event for _, event in chunk], send)
                kept = {id(event) for _, part, _ in parts for event in part}
                lines = {id(event): index for index, event in chunk}
                done = [index for index, event in chunk if id(event) not in kept]  # unencodable
                stopped = False
                for outcome, part, error in parts:
                    if outcome == _SENT:
                        self._add("sent", len(part))
                    elif outcome == _REJECTED:
                        self._reject(len(part), error)
                    else:
                        stopped = True  # left claimed: replayed later
                        continue
                    self._add("replayed", len(part))
                    done += [lines[id(event)] for event in part]
                spill.ack(segment.name, done)
                if stopped:
                    return False
            spill.release(segment)
        return True

    # ------------------------------------------------------------------ lifecycle

    def flush(self, timeout: float | None = None) -> ForwardReport:
        """Send what is queued, within ``timeout`` seconds; report what happened."""
        self._wake.set()
        done = self._worker.flush(timeout)
        return attrs.evolve(self.stats(), done=done)

    def close(self, timeout: float | None = None) -> ForwardReport:
        """Drain within ``timeout``, then stop; what is left is spilled or counted as dropped.

        ``done`` says whether the sink finished in time: false when events
        were still queued at the deadline (spilled or dropped now) or a
        batch was still being sent (counted in ``pending``). Events the
        sink spilled before the deadline, by its policy (a target away, a
        ``Retry-After``), count as finished: ``spilled`` counts them, and
        they are sent from the spill later.
        """
        with self._handoff:  # two closes at once (the application's, the exit's): one works
            closed, self._closed = self._closed, True
        if closed:
            return self.stats()
        self._closing_at = math.inf if timeout is None else time.monotonic() + timeout
        self._wake.set()
        left = self._worker.close(timeout)
        stuck = self._worker.inflight()
        # The target holds a batch past the deadline: keep a copy on disk, once
        # (it may arrive twice; receivers drop duplicates by event_id).
        adopted = self._adopt()
        if adopted is not None and not self._spill_batch(adopted):
            self._drop("spill_full", len(adopted))
        if left and self._journal is not None:
            self._journaled(left, "closed")
        elif left and not self._spill_batch(left):
            self._drop("closed", len(left))
        if stuck:  # the worker holds the transport: close it when it lets go
            threading.Thread(target=self._close_transport_after, daemon=True).start()
        else:
            self._close_transport()
        for spill in (self._spill, self._journal_dir):
            if spill is not None:
                spill.close()
        # Done only when nothing was left behind: a batch still in flight at
        # the deadline is not delivered (it is counted in ``pending``).
        return attrs.evolve(self.stats(), done=not left and not stuck)

    def _close_transport_after(self) -> None:
        """Once the worker has ended its last request, close the transport."""
        self._worker.wait(None)
        self._close_transport()

    def _close_transport(self) -> None:
        """Close the transport; whatever it raises, the sink's close goes on."""
        with suppress(Exception):  # closing must go on
            self.transport.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def pending(self) -> int:
        """Events queued or being sent now."""
        return self._worker.pending

    def _after_fork(self) -> None:
        """In a forked child: counters of its own, fresh locks (it drains at its exit)."""
        self._counts = Counter()
        self._dropped = Counter()
        self._count_lock = threading.Lock()
        self._replaying = threading.Lock()
        self._wake = threading.Event()
        self._handoff = threading.Lock()
        self._current, self._adopted = None, False
