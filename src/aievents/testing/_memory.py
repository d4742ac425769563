"""MemoryTransport: a transport that keeps what a ForwardSink sends, and fails on demand."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from aievents.events import BaseEvent
from aievents.exceptions import TransportError
from aievents.policy import RETRYABLE_STATUSES

__all__ = ["MemoryTransport"]


class MemoryTransport:
    """A :class:`~aievents.transports.Transport` that keeps every batch in memory.

    Give it to a :class:`~aievents.sinks.ForwardSink` in tests: what the sink
    delivers is in :attr:`batches` (and, flattened, :attr:`events`), and
    :meth:`fail_next` makes the next sends fail, as an unreachable or
    refusing target would::

        transport = MemoryTransport()
        transport.fail_next(2, status=503)  # two retryable failures first
        sink = ForwardSink(transport, batch_size=10)
        ...
        assert transport.wait_for(3, timeout=5)  # three events delivered

    The events are kept as the sink hands them over (not encoded, not
    scrubbed). Thread-safe: the sink sends from its worker thread while the
    test reads.

    Attributes:
        sends: How many times ``send`` was called, failed sends included.
        closed: Whether ``close`` was called.
    """

    def __init__(self) -> None:
        self.sends = 0
        self.closed = False
        self._batches: list[list[BaseEvent]] = []
        self._count = 0
        self._failures: deque[Exception] = deque()
        self._changed = threading.Condition()

    @property
    def batches(self) -> list[list[BaseEvent]]:
        """The delivered batches, in the order they came (a copy)."""
        with self._changed:
            return [list(batch) for batch in self._batches]

    @property
    def events(self) -> list[BaseEvent]:
        """Every delivered event, batch after batch (a copy)."""
        with self._changed:
            return [event for batch in self._batches for event in batch]

    def fail_next(
        self,
        times: int = 1,
        *,
        status: int | None = None,
        error: Exception | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Make the next ``times`` sends fail, delivering nothing.

        Args:
            times: How many sends fail (after those already told to fail).
            status: Fail as a target answering this HTTP status would: a
                :class:`~aievents.transports.TransportError` with it,
                retryable for the statuses in
                :data:`~aievents.policy.RETRYABLE_STATUSES` unless
                ``retryable`` says otherwise.
            error: Raise this exception instead (any exception; the same
                object each time). Not with ``status``.
            retryable: Whether a retry may succeed (by default: as the
                status says, or yes without one).
            retry_after: Seconds the failure asks to wait (``Retry-After``).

        Without ``status`` or ``error``, a send fails with a retryable
        ``TransportError``, as when the target cannot be reached.
        """
        if times < 0:
            raise ValueError(f"times must be 0 or more, got {times}")
        if error is not None and (status, retryable, retry_after) != (None, None, None):
            raise ValueError("give error, or status/retryable/retry_after, not both")
        if error is None:
            if retryable is None:
                retryable = status is None or status in RETRYABLE_STATUSES
            what = "memory transport: refused" if status is None else f"HTTP {status}"
            error = TransportError(
                what, retryable=retryable, retry_after=retry_after, status=status
            )
        with self._changed:
            self._failures.extend([error] * times)

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """Keep ``batch``, or raise the next failure :meth:`fail_next` queued."""
        with self._changed:
            self.sends += 1
            failure = self._failures.popleft() if self._failures else None
            if failure is None:
                self._batches.append(list(batch))
                self._count += len(batch)
            self._changed.notify_all()
        if failure is not None:
            raise failure

    def wait_for(self, count: int, timeout: float | None = None) -> bool:
        """Wait until at least ``count`` events were delivered; whether they were in time.

        ``timeout`` is in seconds (no limit when ``None``).
        """
        with self._changed:
            return self._changed.wait_for(lambda: self._count >= count, timeout)

    def clear(self) -> None:
        """Forget the delivered batches (and the count :meth:`wait_for` waits on)."""
        with self._changed:
            self._batches.clear()
            self._count = 0

    def close(self) -> None:
        """Note the close; sends after it are still kept."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()
