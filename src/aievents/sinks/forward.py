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
import threading
import time
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final

import attrs

from aievents._fork import after_fork
from aievents._threads import start
from aievents._validate import setting
from aievents.events import BaseEvent
from aievents.exceptions import TransportError, UnencodableError
from aievents.policy import FORWARD_BATCHING, FORWARD_RETRY, Batching, Options, Retry, resolve
from aievents.protocols import Transport
from aievents.sinks import _exit
from aievents.sinks._accounts import Accounts, ForwardReport
from aievents.sinks._batch import BatchWorker, Closing
from aievents.sinks._halves import DEFERRED, FAILED, REJECTED, SENT, isolate
from aievents.sinks._keeper import Keeper

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ForwardReport", "ForwardSink"]

#: Longest single wait of the worker, in seconds: a far Retry-After is waited in
#: slices, so that a drain begun elsewhere (at exit) is seen soon.
_WAIT_SLICE: Final = 1.0


class ForwardSink:
    """Forwards events through a transport in batches, from a background worker.

    Args:
        transport: Where batches go (:mod:`aievents.transports`).
        batching: Batch size and delay, queue bound and overflow policy
            (:data:`~aievents.policy.FORWARD_BATCHING` by default). With
            ``overflow="spill"`` a full queue moves its oldest batch to the
            spill (``spill_dir`` is needed then).
        retry: How a failed batch is tried again before it is spilled or
            dropped (:data:`~aievents.policy.FORWARD_RETRY` by default:
            five retries from half a second, doubled each time, with
            jitter). A ``Retry-After`` is honoured in full, up to
            ``max_retry_after``: nothing is sent to the target before then.
            A batch waits that long in memory only when there is no spill,
            or when the wait is at most ``max_backoff``; otherwise it is
            spilled without being sent. A longer ``Retry-After`` (or a date
            far ahead) is cut to ``max_retry_after``, so that one answer
            cannot stop the forwarding for the rest of the process.
        options: ``batch_size``, ``max_delay``, ``max_queue``, ``overflow``,
            ``block_timeout``: each changes that field of ``batching``;
            ``max_retries``, ``backoff``, ``max_backoff``,
            ``max_retry_after``: that field of ``retry``.
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
        batching: Batching = FORWARD_BATCHING,
        retry: Retry = FORWARD_RETRY,
        spill_dir: str | os.PathLike[str] | None = None,
        spill_max_bytes: int = 256 * 2**20,
        replay_on_start: bool = True,
        durable: bool = False,
        exit_timeout: float = 5.0,
        handle_sigterm: bool = False,
        name: str = "aievents-forward",
        **options: Unpack[Options],
    ) -> None:
        if not callable(getattr(transport, "send", None)):
            raise TypeError(f"transport {transport!r} has no send(batch)")
        self.batching, self.retry = resolve(batching, retry, options)
        self.transport = transport
        self.exit_timeout = float(setting("exit_timeout", exit_timeout, fraction=True))
        self._accounts = Accounts()
        self._keeper = Keeper(
            spill_dir, max_bytes=spill_max_bytes, durable=durable, accounts=self._accounts
        )
        self._journal = self._keeper.journal  # read by every handle: kept at hand
        self._setup()
        #: No request to the target before this ``time.monotonic()`` (Retry-After).
        self._not_before = 0.0
        #: When closing: the close's deadline (``math.inf`` without one).
        self._closing_at: float | None = None
        keeper = self._keeper
        spill = keeper.spill_batch if keeper.spill is not None else None
        self._worker = BatchWorker(
            self._deliver,
            name=name,
            batching=self.batching.updated(overflow="spill") if durable else self.batching,
            spill=self._journaled if durable else spill,
            dropped=self._accounts.drop,
        )
        self._closed = False
        after_fork(self)
        _exit.register(self, self._worker, handle_sigterm=handle_sigterm)
        if keeper.spill is not None and replay_on_start:
            start(self._replay, args=(None,), name=f"{name}-replay")

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # The batch the worker is delivering, and whether close() took it over.
        self._handoff = threading.Lock()
        self._current: list[Any] | None = None
        self._adopted = False

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
            self._accounts.refuse(exc, [event])
            return
        except OSError as exc:  # a full or read-only disk: sent all the same, counted
            self._accounts.log(
                ("journal_failed", exc.errno), "warning", "journal_failed", error=exc
            )
            slot = None
        if slot is None:
            self._accounts.add("unjournaled", 1)
        self._worker.put((event, slot))

    def _journaled(self, items: list[Any]) -> bool:
        """Durable mode, queue full: the oldest events wait in the journal."""
        return self._keeper.journaled(items, "queue_full")

    def stats(self) -> ForwardReport:
        """Every counter, now (``done`` tells whether nothing is pending)."""
        return self._accounts.report(pending=self._worker.pending, corrupt=self._keeper.corrupt)

    # ------------------------------------------------------------------ delivery

    def _hold(self, error: Exception) -> None:
        """A ``Retry-After``: nothing to the target before then (``max_retry_after`` at most)."""
        wait = self.retry.asked_wait(error)
        if wait is None:
            return
        until = time.monotonic() + wait
        with self._lock:
            if until <= self._not_before:
                return
            self._not_before = until
        asked = getattr(error, "retry_after", None)
        self._accounts.log(
            "retry_after", "warning", "target_asked_to_wait", seconds=wait, asked=asked
        )

    def _pause(self, closing: Closing, delay: float) -> bool:
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
            by = self._close_by(closing)
            if by is not None and until > by:
                return False
            if self._keeper.spill is not None and until - now > self.retry.max_backoff:
                return False
            if self._wake.wait(min(until - now, _WAIT_SLICE)):
                resume = now

    def _transmit(self, batch: list[BaseEvent]) -> None:
        """Send ``batch`` once, without the events it cannot encode; a Retry-After takes hold."""
        try:
            self._accounts.encodable(self.transport.send, batch)
        except TransportError as exc:
            self._hold(exc)
            raise

    def _outcome(self, error: Exception) -> str:
        """What a failure makes of a send: ``REJECTED`` (refused for good) or ``FAILED``."""
        if (
            isinstance(error, TransportError)
            and not isinstance(error, UnencodableError)  # naming no event: not the target's doing
            and not self.retry.retryable(error)
        ):
            return REJECTED
        return FAILED

    def _once(self, batch: list[BaseEvent]) -> tuple[str, Exception | None]:
        """Send ``batch`` once: ``SENT``, ``REJECTED`` or ``FAILED``, and the error."""
        try:
            self._transmit(batch)
        except Exception as error:  # noqa: BLE001 - any failure is an outcome
            return self._outcome(error), error
        return SENT, None

    def _send(self, closing: Closing, batch: list[BaseEvent]) -> tuple[str, Exception | None]:
        """Send with retries: ``SENT``, ``REJECTED``, ``FAILED`` or ``DEFERRED`` (not tried)."""
        if not self._pause(closing, 0.0):
            return DEFERRED, None
        spared = False  # the batch would wait too long: spilled (or counted) now instead

        def wait(delay: float) -> bool:
            nonlocal spared
            spared = not self._pause(closing, delay)
            return not spared

        def retrying(_attempt: int, _error: Exception) -> None:
            self._accounts.add("retried", len(batch))

        try:
            self.retry.call(lambda: self._transmit(batch), wait=wait, retrying=retrying)
        except Exception as error:  # noqa: BLE001 - any failure is an outcome
            outcome = self._outcome(error)
            if outcome == FAILED and not spared:
                key = ("failed", type(error))
                self._accounts.log(key, "warning", "send_failed", error=error, events=len(batch))
            return outcome, error
        return SENT, None

    def _deliver(self, items: list[Any], deadline: float | None, closing: Closing) -> None:
        """Called on the worker thread for every batch: send, else spill, else drop.

        ``deadline`` (a flush's or a close's) is not used: only a close's
        deadline (``closing``, or :meth:`close`'s own) ends the retries.
        """
        del deadline
        keeper = self._keeper
        journaled = keeper.journal is not None
        # A copy: the batch shrinks when events are refused, the worker's own
        # list must not (it counts what is in flight by its length).
        batch: list[BaseEvent] = [event for event, _ in items] if journaled else list(items)
        with self._handoff:
            self._current, self._adopted = items, False
        try:
            parts = isolate(batch, lambda part: self._send(closing, part))
        finally:
            with self._handoff:
                adopted = self._adopted
                self._current, self._adopted = None, False
        slots = {id(item[0]): item for item in items} if journaled else {}
        if journaled:  # unencodable ones, counted: off the journal
            kept = {id(event) for _, part, _ in parts for event in part}
            keeper.acknowledge([item for item in items if id(item[0]) not in kept])
        if adopted:
            return  # close() kept a copy in the spill and counted it there
        delivered = False
        for outcome, part, error in parts:
            own = [slots[id(event)] for event in part] if journaled else []
            if outcome == SENT:
                self._accounts.add("sent", len(part))
                keeper.acknowledge(own)
                delivered = True
            elif outcome == REJECTED:
                self._accounts.reject(len(part), error)
                keeper.acknowledge(own)
            elif keeper.spill_batch(part):
                keeper.acknowledge(own)
            else:
                if keeper.spill is not None:
                    reason = "spill_full"
                else:
                    reason = "send_failed" if outcome == FAILED else "closed"
                if journaled:  # still in the journal: sent by the next process to start
                    keeper.journaled(own, reason)
                else:
                    self._accounts.drop(reason, len(part))
        if delivered and keeper.spill is not None:  # the target takes batches again: catch up
            self._replay(self._close_by(closing))

    def _close_by(self, closing: Closing) -> float | None:
        """The deadline of the close under way (``math.inf``: none), or None when not closing."""
        at = closing.deadline
        if at is not None:
            return at if self._closing_at is None else min(at, self._closing_at)
        return self._closing_at

    def _replay(self, deadline: float | None) -> None:
        """Replay the spill (and dead processes' journals) while time is left; never raises."""

        def send(batch: list[BaseEvent]) -> tuple[str, Exception | None]:
            now = time.monotonic()
            if (deadline is not None and now >= deadline) or now < self._not_before:
                return DEFERRED, None
            return self._once(batch)

        self._keeper.replay(send, self.batching.batch_size)

    def _adopt(self) -> list[BaseEvent] | None:
        """close(): take over the batch the worker is still sending, to spill a copy.

        Only with a spill and without a journal (a journaled batch is safe in
        the journal). The worker then leaves that batch's accounting to the
        copy, so that it is spilled and counted once.
        """
        if self._keeper.spill is None or self._keeper.journal is not None:
            return None
        with self._handoff:
            items = self._current
            if items is not None:
                self._adopted = True
        return items

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
        keeper = self._keeper
        # The target holds a batch past the deadline: keep a copy on disk, once
        # (it may arrive twice; receivers drop duplicates by event_id).
        adopted = self._adopt()
        if adopted is not None and not keeper.spill_batch(adopted):
            self._accounts.drop("spill_full", len(adopted))
        if left and keeper.journal is not None:
            keeper.journaled(left, "closed")
        elif left and not keeper.spill_batch(left):
            self._accounts.drop("closed", len(left))
        if stuck:  # the worker holds the transport: close it when it lets go
            start(self._close_transport_after, name="aievents-forward-closing")
        else:
            self._close_transport()
        keeper.close()
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

    @property
    def max_retries(self) -> int | None:
        """Retries of a failed batch before it is spilled or dropped (``retry.max_retries``).

        None: no limit.
        """
        return self.retry.max_retries

    @property
    def backoff(self) -> float:
        """First retry delay in seconds (``retry.backoff``)."""
        return self.retry.backoff

    @property
    def max_backoff(self) -> float:
        """Longest retry delay in seconds (``retry.max_backoff``)."""
        return self.retry.max_backoff

    @property
    def max_retry_after(self) -> float:
        """Longest wait a ``Retry-After`` imposes, in seconds (``retry.max_retry_after``)."""
        return self.retry.max_retry_after

    def _after_fork(self) -> None:
        """In a forked child: counters of its own, fresh locks (it drains at its exit)."""
        self._accounts.after_fork()
        self._keeper.after_fork()
        self._setup()
