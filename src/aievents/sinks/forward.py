"""ForwardSink: events to a collector, batched, retried, spilled, never lost silently.

``handle`` only queues the event (a bounded queue: the overflow policy says
what happens when it is full). A daemon worker sends batches through a
:class:`~aievents.transports.Transport`, never holding the queue lock while
it does. A failed batch is retried with exponential backoff and jitter,
waiting at least what ``Retry-After`` asked; after the retries it goes to
the on-disk spill (when one is configured), and the spill is replayed when
the target takes a batch again and when the next process starts.

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

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import attrs

from aievents._diag import RateLimitedLog
from aievents._fork import after_fork
from aievents._validate import setting
from aievents.events import BaseEvent
from aievents.sinks import _exit
from aievents.sinks._batch import BatchWorker, Overflow
from aievents.sinks._spill import Spill
from aievents.transports import Transport, TransportError

__all__ = ["ForwardReport", "ForwardSink"]


@attrs.frozen(kw_only=True)
class ForwardReport:
    """What a ForwardSink has done with the events it was given.

    Attributes:
        done: Whether the ``flush`` or ``close`` finished within its timeout.
        sent: Events the transport took.
        retried: Event sends that were tried again.
        spilled: Events written to the spill.
        replayed: Spilled events sent later.
        dropped: Events let go, by reason (``queue_full``, ``block_timeout``,
            ``spill_full``, ``spill_failed``, ``send_failed``, ``closed``,
            ``deliver_failed``).
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
        max_backoff: Longest retry delay.
        spill_dir: Directory of the on-disk spill; ``None`` drops what cannot
            be sent. Needed for ``overflow="spill"``.
        spill_max_bytes: Size of the spill, at most.
        replay_on_start: Replay the spill found at start (events a previous
            run could not send, or, with ``durable``, did not get to send).
        durable: Write every event to a journal in ``spill_dir`` before
            queueing it, so that events survive the process being killed
            (even by SIGKILL) and are sent by the next process to start on
            the same directory. Costs a file write per event on the caller's
            thread; when the queue is full, the oldest events wait in the
            journal instead of being dropped.
        exit_timeout: Seconds to drain when the process ends (at
            interpreter exit, on SIGTERM with ``handle_sigterm``, at the end
            of a ``multiprocessing`` child). All sinks drain together: the
            process waits for the longest ``exit_timeout``, not the sum.
        handle_sigterm: When the application has no SIGTERM handler of its
            own, make SIGTERM exit the process through ``SystemExit`` (status
            143), so that the sinks drain at exit instead of the queued events
            being lost. Off by default: it changes how the program ends.
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
        self.transport = transport
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.exit_timeout = float(setting("exit_timeout", exit_timeout, fraction=True))
        if durable and spill_dir is None:
            raise ValueError("durable=True needs a spill_dir for its journal")
        self._spill = Spill(spill_dir, max_bytes=spill_max_bytes) if spill_dir is not None else None
        # The journal directory: written to when durable; read by every sink on
        # the same spill directory, which sends what dead processes journaled.
        self._journal_dir = (
            Spill(Path(spill_dir) / "journal", max_bytes=spill_max_bytes)
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
            segment = journal.write([event])
        except OSError:
            segment = None
        if segment is None:
            self._add("unjournaled", 1)
        self._worker.put((event, segment))

    def _journaled(self, items: list[tuple[BaseEvent, str | None]]) -> bool:
        """Durable mode, queue full: the oldest events wait in the journal."""
        kept = sum(1 for _, segment in items if segment is not None)
        self._add("journaled", kept)
        if kept < len(items):
            self._drop("queue_full", len(items) - kept)
        return True

    def _acknowledge(self, items: list[tuple[BaseEvent, str | None]]) -> None:
        journal = self._journal
        if journal is None:
            return
        counts = Counter(segment for _, segment in items if segment is not None)
        for segment, count in counts.items():
            journal.ack(segment, count)

    # ------------------------------------------------------------------ accounting

    def _add(self, name: str, count: int) -> None:
        with self._count_lock:
            self._counts[name] += count

    def _drop(self, reason: str, count: int) -> None:
        with self._count_lock:
            self._dropped[reason] += count
            total = sum(self._dropped.values())
        self._diag(("dropped", reason), "warning", "events_dropped", reason=reason, dropped=total)

    def _spill_batch(self, batch: list[BaseEvent]) -> bool:
        spill = self._spill
        if spill is None:
            return False
        try:
            written = spill.write(batch)
        except OSError as exc:  # disk full, file too large...: counted, never raised
            self._warn_failed(exc, len(batch))
            self._drop("spill_failed", len(batch))
            return True  # accounted for
        if not written:
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

    def _deadline(self, taken: float | None) -> float | None:
        """When to give up retrying: only a close's deadline counts.

        A flush's deadline (``taken``, when the batch was taken during one)
        only ends the flush's wait; the worker goes on trying.
        """
        del taken
        return self._worker._deadline if self._worker._closing else None

    def _send(self, batch: list[BaseEvent], taken_deadline: float | None) -> bool:
        """Send with retries; True when the transport took the batch."""
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                self.transport.send(batch)
            except TransportError as exc:
                retryable, retry_after = exc.retryable, exc.retry_after
                error: Exception = exc
            except Exception as exc:  # noqa: BLE001 - an unexpected transport error
                retryable, error = True, exc
            else:
                return True
            attempt += 1
            if not retryable or attempt > self.max_retries:
                self._warn_failed(error, len(batch))
                return False
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2
            if retry_after is not None:
                if retry_after > self.max_backoff and self._spill is not None:
                    return False  # asked to wait longer than we would: spill now
                delay = max(delay, min(retry_after, self.max_backoff))
            deadline = self._deadline(taken_deadline)
            if deadline is not None and time.monotonic() + delay > deadline:
                return False  # no time left to retry: spill now
            self._add("retried", len(batch))
            self._wake.clear()
            self._wake.wait(delay)
            deadline = self._deadline(taken_deadline)
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _warn_failed(self, error: Exception, count: int) -> None:
        self._diag(("failed", type(error)), "warning", "send_failed", error=error, events=count)

    def _deliver(self, items: list[Any], deadline: float | None) -> None:
        """Called on the worker thread for every batch: send, else spill, else drop."""
        journaled = self._journal is not None
        batch: list[BaseEvent] = [event for event, _ in items] if journaled else items
        if self._send(batch, deadline):
            self._add("sent", len(batch))
            self._acknowledge(items)
            if self._spill is not None:  # the target takes batches again: catch up
                self._replay(self._deadline(deadline))
            return
        if self._spill_batch(batch):
            self._acknowledge(items)
            return
        if journaled:  # still in the journal: sent by the next process to start
            self._journaled(items)
            return
        self._drop("send_failed" if self._spill is None else "spill_full", len(batch))

    def _replay(self, deadline: float | None) -> None:
        """Send spilled segments (and dead processes' journals), oldest first."""
        if self._spill is None or not self._replaying.acquire(blocking=False):
            return
        try:
            self._spill.seal()
            for spill, own in ((self._spill, True), (self._journal_dir, False)):
                if spill is not None and not self._replay_from(spill, own, deadline):
                    return
        finally:
            self._replaying.release()

    def _replay_from(self, spill: Spill, own: bool, deadline: float | None) -> bool:
        """Replay one directory; False when the target refused or time ran out."""
        while (segment := spill.claim(own=own)) is not None:
            events = list(spill.read(segment))
            size = self._worker.batch_size
            for start in range(0, len(events), size):
                if deadline is not None and time.monotonic() >= deadline:
                    return False  # out of time: the segment stays claimed for later
                chunk = events[start : start + size]
                try:
                    self.transport.send(chunk)
                except Exception:  # noqa: BLE001 - left claimed: replayed later
                    return False
                self._add("replayed", len(chunk))
                self._add("sent", len(chunk))
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

        ``done`` is false when anything was not delivered in time: events
        still queued (spilled or dropped now), or a batch the target still
        holds (counted in ``pending``).
        """
        if self._closed:
            return self.stats()
        self._closed = True
        self._wake.set()
        left = self._worker.close(timeout)
        stuck = self._worker.inflight()
        if stuck and self._journal is None:
            # The target holds a batch past the deadline: keep a copy on disk (it
            # may arrive twice; receivers drop duplicates by event_id).
            self._spill_batch(stuck)
        if left and self._journal is not None:
            self._journaled(left)
        elif left and not self._spill_batch(left):
            self._drop("closed", len(left))
        if stuck:  # the worker may hold the transport: close it when it lets go
            threading.Thread(target=self._close_transport, daemon=True).start()
        else:
            self._close_transport()
        for spill in (self._spill, self._journal_dir):
            if spill is not None:
                spill.close()
        # Done only when nothing was left behind: a batch still in flight at
        # the deadline is not delivered (it is counted in ``pending``).
        return attrs.evolve(self.stats(), done=not left and not stuck)

    def _close_transport(self) -> None:
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
