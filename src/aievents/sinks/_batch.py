"""The batch worker behind sinks that do I/O: a bounded queue and a named daemon thread.

The caller's ``put`` only appends to a deque under a lock (and wakes the
worker when a batch is full); the worker takes batches by size or by delay
and hands them to ``deliver`` *without* holding the queue lock, so a slow or
hung target never blocks the caller. What happens when the queue is full is
the overflow policy's choice, and every event not delivered is counted.

``flush(timeout)`` and ``close(timeout)`` return within their timeout. After
``os.fork`` the child starts with an empty queue and a worker of its own (the
parent's queued events stay the parent's to send).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aievents._fork import after_fork
from aievents._threads import Thread
from aievents.policy import Batching

__all__ = ["BatchWorker", "Closing", "Deliver"]

Overflowed = Callable[[list[Any]], bool]


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _earlier(one: float | None, other: float | None) -> float | None:
    """The earlier of two deadlines (``None``: none)."""
    if one is None or other is None:
        return other if one is None else one
    return min(one, other)


class Closing:
    """A worker's close, as its ``deliver`` sees it: live, since a close may begin meanwhile.

    True while a close is under way; :attr:`deadline` is when it gives up.
    A ``deliver`` that retries stops retrying then: until a close, a batch
    may wait as long as it takes (new items queue behind it, and the
    overflow policy counts what does not fit).
    """

    __slots__ = ("_worker",)

    def __init__(self, worker: BatchWorker) -> None:
        self._worker = worker

    def __bool__(self) -> bool:
        return self.deadline is not None

    @property
    def deadline(self) -> float | None:
        """When the close under way gives up (``math.inf``: never); None when not closing."""
        return self._worker._closing_by()

    def __repr__(self) -> str:
        return f"Closing(deadline={self.deadline!r})"


#: ``deliver(batch, deadline, closing)``: see :class:`BatchWorker`.
Deliver = Callable[[list[Any], "float | None", Closing], None]


class BatchWorker:
    """A bounded queue drained in batches by a daemon thread.

    Args:
        deliver: Called on the worker thread as ``deliver(batch, deadline,
            closing)``: ``deadline`` is the ``time.monotonic()`` value by
            which the flush or close the batch was taken for wants it done
            (else None), ``closing`` the worker's :class:`Closing`. It must
            account for every item it is given.
        name: The worker thread's name.
        batching: Batch size and delay, queue bound and overflow policy.
        spill: Called with a batch taken out of a full queue (``spill``
            policy); returns whether it kept the batch.
        dropped: Called as ``dropped(reason, count)`` for items let go.
        lost: Called with the items let go (before ``dropped``), for a
            sink that must know which ones will never arrive.

    Raises:
        ValueError: ``overflow="spill"`` without a ``spill``.
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        name: str,
        batching: Batching = Batching(),  # noqa: B008 - a frozen value
        spill: Overflowed | None = None,
        dropped: Callable[[str, int], None] = lambda reason, count: None,
        lost: Callable[[list[Any]], None] | None = None,
    ) -> None:
        if batching.overflow == "spill" and spill is None:
            raise ValueError("overflow='spill' needs a spill directory")
        self._deliver = deliver
        self._spill = spill
        self._dropped = dropped
        self._lost = lost
        self.name = name
        self.batching = batching
        # Read by every put: kept at hand.
        self._batch_size = batching.batch_size
        self._max_queue = batching.max_queue
        self.closing = Closing(self)
        self._setup()
        after_fork(self)

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # work for the worker
        self._idle = threading.Condition(self._lock)  # room in the queue, or drained
        self._queue: deque[Any] = deque()
        self._inflight = 0
        self._current: list[Any] = []
        # Items ever queued, and ever taken out of the queue (first in, first
        # out), and where the batch in delivery starts in that order: what
        # settle() waits on.
        self._queued = 0
        self._taken = 0
        self._batch_start = 0
        self._flushing = 0
        self._deadline: float | None = None
        self._closing = False
        self._closing_at = math.inf  # a close's deadline (a flush's is _deadline)
        self._closed = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ caller side

    def put(self, item: Any) -> None:
        """Queue ``item``; never blocks on I/O (``block`` waits at most ``block_timeout``).

        What the overflow policy lets go (or spills) is reported after the
        queue lock is released: the ``dropped`` and ``spill`` callbacks may
        log and write files without holding up other callers.
        """
        let_go: tuple[str, list[Any]] | None = None
        spilled: list[Any] | None = None
        with self._lock:
            if self._closed:
                let_go = ("closed", [item])
            else:
                queue = self._queue
                accepted = True
                if len(queue) >= self._max_queue:
                    accepted, let_go, spilled = self._make_room(item)
                if accepted:
                    queue.append(item)
                    self._queued += 1
                    if self._thread is None:
                        self._start()
                    if len(queue) == self._batch_size or len(queue) == 1:
                        self._ready.notify()
        if spilled is not None and not self._spill_out(spilled):
            let_go = ("spill_full", spilled)
        if let_go is not None:
            self._let_go(*let_go)

    def _let_go(self, reason: str, items: list[Any]) -> None:
        """Report items that will not be delivered (no lock held)."""
        if self._lost is not None:
            self._lost(items)
        self._dropped(reason, len(items))

    def _spill_out(self, batch: list[Any]) -> bool:
        spill = self._spill
        try:
            return spill is not None and spill(batch)
        except Exception:  # noqa: BLE001 - a spill that raises has not kept the batch
            return False

    def _make_room(self, item: Any) -> tuple[bool, tuple[str, list[Any]] | None, list[Any] | None]:
        """A full queue: apply the policy to the new ``item`` (with the lock held).

        Returns whether the new item is taken, why and which items were let
        go, and the batch to spill (once the lock is released).
        """
        policy = self.batching.overflow
        if policy == "drop_oldest":
            oldest = self._queue.popleft()
            self._taken += 1
            return True, ("queue_full", [oldest]), None
        if policy == "block":
            deadline = time.monotonic() + self.batching.block_timeout
            while len(self._queue) >= self._max_queue and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0 or not self._idle.wait(left):
                    break
            if len(self._queue) < self._max_queue:
                return True, None, None
            return False, ("block_timeout", [item]), None
        if policy == "spill" and self._spill is not None:
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            self._taken += len(batch)
            return True, None, batch
        return False, ("queue_full", [item]), None

    def _start(self) -> None:
        self._thread = Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ worker side

    def _take(self) -> tuple[list[Any], float | None] | None:
        """The next batch (waits for it); None when closing and drained."""
        with self._lock:
            while True:
                queue = self._queue
                if queue and (len(queue) >= self._batch_size or self._flushing or self._closing):
                    break
                if self._closing:
                    return None
                if queue:
                    if not self._ready.wait(self.batching.max_delay):
                        break  # the oldest waited max_delay: send what is there
                else:
                    self._ready.wait()
            count = min(self._batch_size, len(queue))
            batch = [queue.popleft() for _ in range(count)]
            self._batch_start = self._taken
            self._taken += count
            self._inflight += count
            self._current = batch
            self._idle.notify_all()
            return batch, self._deadline

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                with self._lock:
                    self._idle.notify_all()
                return
            batch, deadline = taken
            try:
                self._deliver(batch, deadline, self.closing)
            except Exception:  # noqa: BLE001 - deliver accounts; the worker must live on
                self._let_go("deliver_failed", batch)
            finally:
                with self._lock:
                    self._inflight -= len(batch)
                    self._current = []
                    self._idle.notify_all()

    # ------------------------------------------------------------------ lifecycle

    def inflight(self) -> list[Any]:
        """A copy of the batch being delivered now (empty when none)."""
        with self._lock:
            return list(self._current)

    @property
    def pending(self) -> int:
        """Events queued or being delivered."""
        with self._lock:
            return len(self._queue) + self._inflight

    def _closing_by(self) -> float | None:
        """When a close under way gives up (``math.inf``: never); None when not closing."""
        with self._lock:
            if not self._closing:
                return None
            return self._closing_at

    def flush(self, timeout: float | None) -> bool:
        """Deliver what is queued now; True when done within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if not self._queue and not self._inflight:
                return True
            self._flushing += 1
            if not self._closing:  # a close's deadline stands
                self._deadline = deadline
            self._ready.notify()
            try:
                return self._idle.wait_for(
                    lambda: not self._queue and not self._inflight, _remaining(deadline)
                )
            finally:
                self._flushing -= 1
                if not self._flushing and not self._closing:
                    self._deadline = None

    def _settled(self) -> int:
        """How many items, from the first ever queued, are delivered or let go."""
        return self._batch_start if self._inflight else self._taken

    def settle(self, timeout: float | None) -> int:
        """Wait until every item queued before this call is delivered or let go.

        Unlike :meth:`flush`, items queued meanwhile are not waited for, so a
        steady stream of new items does not hold the caller up; nor is the
        delivery hurried to a deadline. Returns how many of those items are
        still queued or in delivery when ``timeout`` runs out (0: none).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            mark = self._queued
            if self._settled() >= mark:
                return 0
            self._flushing += 1  # the worker sends what it has without waiting for more
            self._ready.notify()
            try:
                self._idle.wait_for(lambda: self._settled() >= mark, _remaining(deadline))
                return max(0, mark - self._settled())
            finally:
                self._flushing -= 1
                if not self._flushing and not self._closing:
                    self._deadline = None

    def begin_close(self, deadline: float | None) -> None:
        """Start draining for a close, without waiting for it.

        The worker sends what is queued without waiting for batches to fill,
        and gives up at ``deadline`` (a ``time.monotonic()`` value). Items
        are still taken until :meth:`close`. Several sinks drain together so.
        """
        with self._lock:
            if self._closing:  # closing already: the earlier deadline holds
                deadline = _earlier(deadline, self._deadline)
            self._closing = True
            self._deadline = deadline
            self._closing_at = math.inf if deadline is None else deadline
            self._ready.notify_all()

    def wait(self, deadline: float | None) -> bool:
        """After :meth:`begin_close`: wait until drained or ``deadline``; whether drained."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_remaining(deadline))
            return not thread.is_alive()
        return True

    def close(self, timeout: float | None) -> list[Any]:
        """Drain within ``timeout`` and stop; returns what could not be drained.

        After :meth:`begin_close`, the earlier of the two deadlines holds.
        """
        with self._lock:
            if self._closed:
                return []
        self.begin_close(None if timeout is None else time.monotonic() + timeout)
        with self._lock:
            deadline = self._deadline
        self.wait(deadline)
        with self._lock:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
            self._taken += len(left)
            self._idle.notify_all()
        return left

    def _after_fork(self) -> None:
        """In a forked child: an empty queue, no worker yet (one starts on demand).

        The events queued at the fork are the parent's: its worker sends them;
        the child sending them too would deliver them twice.
        """
        closed = self._closed
        self._setup()
        self._closed = closed
