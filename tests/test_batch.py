"""BatchWorker on its own: batching, overflow, flush and close deadlines, closing, fork."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aievents.policy import Batching
from aievents.sinks._batch import BatchWorker, Closing
from children import run_child

from helpers import until


class Recorder:
    """A ``deliver`` that records its batches and what it was handed; held up on demand."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.deadlines: list[float | None] = []
        self.closing: list[bool] = []
        self.closing_by: list[float | None] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail = False
        self._lock = threading.Lock()

    def hold(self) -> None:
        """Hold up the next deliveries until :attr:`release` is set."""
        self.release.clear()

    def __call__(self, batch: list[Any], deadline: float | None, closing: Closing) -> None:
        self.entered.set()
        self.release.wait(30)
        with self._lock:
            self.batches.append(list(batch))
            self.deadlines.append(deadline)
            self.closing.append(bool(closing))
            self.closing_by.append(closing.deadline)
        if self.fail:
            raise RuntimeError("deliver failed")

    @property
    def items(self) -> list[Any]:
        with self._lock:
            return [item for batch in self.batches for item in batch]


class Drops:
    """The ``dropped`` and ``lost`` callbacks: what was let go, and why."""

    def __init__(self) -> None:
        self.reasons: list[tuple[str, int]] = []
        self.lost: list[Any] = []

    def dropped(self, reason: str, count: int) -> None:
        self.reasons.append((reason, count))

    def let_go(self, items: list[Any]) -> None:
        self.lost.extend(items)


@pytest.fixture(name="deliver")
def _deliver() -> Iterator[Recorder]:
    """A recording deliver, released after the test."""
    recorder = Recorder()
    yield recorder
    recorder.release.set()


@pytest.fixture(name="drops")
def _drops() -> Drops:
    """Records what a worker lets go."""
    return Drops()


def worker_for(
    deliver: Recorder, drops: Drops | None = None, spill: Any = None, **batching: Any
) -> BatchWorker:
    """A worker on ``deliver`` with the ``Batching`` fields given."""
    drops = drops or Drops()
    return BatchWorker(
        deliver,
        name="batch-test",
        batching=Batching(**batching),
        spill=spill,
        dropped=drops.dropped,
        lost=drops.let_go,
    )


def busy(worker: BatchWorker, deliver: Recorder) -> None:
    """Hold the worker in a delivery of the item ``"busy"`` (the queue is empty then)."""
    deliver.hold()
    deliver.entered.clear()
    worker.put("busy")
    assert deliver.entered.wait(10)


class TestBatching:
    """Batches go when full, or when their oldest item has waited max_delay."""

    def test_by_size(self, deliver: Recorder) -> None:
        """A full batch goes at once, however long max_delay is; the rest waits for a flush."""
        worker = worker_for(deliver, batch_size=3, max_delay=3600)
        for item in range(7):
            worker.put(item)
        until(lambda: len(deliver.batches) == 2)
        assert deliver.batches == [[0, 1, 2], [3, 4, 5]]
        assert worker.pending == 1
        assert worker.flush(10)
        assert deliver.batches[-1] == [6]
        assert deliver.deadlines[:2] == [None, None]
        worker.close(10)

    def test_by_delay(self, deliver: Recorder) -> None:
        """A batch that does not fill goes after max_delay, without a flush."""
        worker = worker_for(deliver, batch_size=1000, max_delay=0.01)
        worker.put("alone")
        until(lambda: deliver.items == ["alone"])
        assert deliver.deadlines == [None]
        worker.close(10)

    def test_failed_delivery(self, deliver: Recorder, drops: Drops) -> None:
        """A deliver that raises: its batch is let go (deliver_failed); the worker lives on."""
        worker = worker_for(deliver, drops, batch_size=2, max_delay=3600)
        deliver.fail = True
        worker.put("a")
        worker.put("b")
        until(lambda: drops.reasons == [("deliver_failed", 2)])
        assert drops.lost == ["a", "b"]
        deliver.fail = False
        worker.put("c")
        assert worker.flush(10)
        assert deliver.batches[-1] == ["c"]
        worker.close(10)


class TestOverflow:
    """A full queue does what its overflow policy says, and counts what it lets go."""

    def test_drop_oldest(self, deliver: Recorder, drops: Drops) -> None:
        """The oldest queued item makes room for the new one (queue_full)."""
        worker = worker_for(deliver, drops, batch_size=1, max_queue=2)
        busy(worker, deliver)
        for item in ("a", "b", "c"):
            worker.put(item)
        assert drops.reasons == [("queue_full", 1)]
        assert drops.lost == ["a"]
        deliver.release.set()
        assert worker.flush(10)
        assert deliver.items == ["busy", "b", "c"]
        worker.close(10)

    def test_drop_newest(self, deliver: Recorder, drops: Drops) -> None:
        """The new item is refused (queue_full); the queued ones stay."""
        worker = worker_for(deliver, drops, batch_size=1, max_queue=2, overflow="drop_newest")
        busy(worker, deliver)
        for item in ("a", "b", "c"):
            worker.put(item)
        assert drops.reasons == [("queue_full", 1)]
        assert drops.lost == ["c"]
        deliver.release.set()
        assert worker.flush(10)
        assert deliver.items == ["busy", "a", "b"]
        worker.close(10)

    def test_block_times_out(self, deliver: Recorder, drops: Drops) -> None:
        """``block`` waits up to block_timeout for room, then refuses the new item."""
        batching = {"batch_size": 1, "max_queue": 1, "block_timeout": 0.01}
        worker = worker_for(deliver, drops, overflow="block", **batching)
        busy(worker, deliver)
        worker.put("a")
        worker.put("b")
        assert drops.reasons == [("block_timeout", 1)]
        assert drops.lost == ["b"]
        deliver.release.set()
        assert worker.flush(10)
        assert deliver.items == ["busy", "a"]
        worker.close(10)

    def test_block_gets_room(self, deliver: Recorder, drops: Drops) -> None:
        """``block`` takes the new item once the worker makes room within block_timeout."""
        batching = {"batch_size": 1, "max_queue": 1, "block_timeout": 30}
        worker = worker_for(deliver, drops, overflow="block", **batching)
        busy(worker, deliver)
        worker.put("a")
        putting = threading.Thread(target=worker.put, args=("b",))
        putting.start()
        deliver.release.set()
        putting.join(30)
        assert worker.flush(10)
        assert deliver.items == ["busy", "a", "b"]
        assert drops.reasons == []
        worker.close(10)

    def test_spill(self, deliver: Recorder, drops: Drops) -> None:
        """``spill`` hands the oldest batch to the spill; kept, nothing is dropped."""
        spilled: list[list[Any]] = []

        def spill(batch: list[Any]) -> bool:
            spilled.append(batch)
            return True

        batching = {"batch_size": 2, "max_queue": 3, "max_delay": 3600}
        worker = worker_for(deliver, drops, spill, overflow="spill", **batching)
        deliver.hold()
        worker.put("busy-1")
        worker.put("busy-2")
        assert deliver.entered.wait(10)
        for item in ("a", "b", "c", "d"):
            worker.put(item)
        assert spilled == [["a", "b"]]
        assert drops.reasons == []
        deliver.release.set()
        assert worker.flush(10)
        assert deliver.items == ["busy-1", "busy-2", "c", "d"]
        worker.close(10)

    @pytest.mark.parametrize("kept", [False, None], ids=["refused", "raised"])
    def test_spill_refuses(self, deliver: Recorder, drops: Drops, kept: bool | None) -> None:
        """A spill that refuses the batch (or raises) lets it go: spill_full."""

        def spill(batch: list[Any]) -> bool:
            if kept is None:
                raise OSError("disk full")
            return kept

        worker = worker_for(deliver, drops, spill, overflow="spill", batch_size=1, max_queue=1)
        busy(worker, deliver)
        worker.put("a")
        worker.put("b")
        assert drops.reasons == [("spill_full", 1)]
        assert drops.lost == ["a"]
        deliver.release.set()
        worker.close(10)

    def test_spill_needs_a_spill(self, deliver: Recorder) -> None:
        """``overflow="spill"`` without a spill is refused when the worker is made."""
        with pytest.raises(ValueError, match="spill"):
            worker_for(deliver, overflow="spill")

    def test_closed(self, deliver: Recorder, drops: Drops) -> None:
        """An item put after close is let go (closed)."""
        worker = worker_for(deliver, drops)
        assert worker.close(10) == []
        worker.put("late")
        assert drops.reasons == [("closed", 1)]
        assert drops.lost == ["late"]


class TestDeadlines:
    """flush and close return within their timeout, and hand deliver their deadline."""

    def test_flush_deadline(self, deliver: Recorder) -> None:
        """A flush hands its deadline to the batches it hurries; it returns False when late."""
        worker = worker_for(deliver, batch_size=10, max_delay=3600)
        deliver.hold()
        worker.put("a")
        before = time.monotonic()
        assert not worker.flush(0.05)
        deliver.release.set()
        assert worker.flush(10)
        assert deliver.items == ["a"]
        deadline = deliver.deadlines[0]
        assert deadline is not None
        assert before < deadline <= before + 0.05 + 1
        worker.close(10)

    def test_close_returns_what_is_left(self, deliver: Recorder) -> None:
        """A close past its timeout returns what is still queued; the batch in delivery stays."""
        worker = worker_for(deliver, batch_size=1)
        busy(worker, deliver)
        worker.put("a")
        worker.put("b")
        assert worker.close(0.05) == ["a", "b"]
        assert worker.inflight() == ["busy"]
        assert worker.pending == 1
        deliver.release.set()
        assert worker.wait(time.monotonic() + 30)
        assert worker.pending == 0

    def test_earlier_deadline_holds(self, deliver: Recorder) -> None:
        """After begin_close, close's later deadline does not extend the earlier one."""
        worker = worker_for(deliver, batch_size=1)
        busy(worker, deliver)
        worker.put("a")
        soon = time.monotonic() + 0.05
        worker.begin_close(soon)
        assert worker.close(3600) == ["a"]
        deliver.release.set()
        assert deliver.entered.wait(10)
        until(lambda: deliver.closing_by == [soon])


class TestClosing:
    """deliver is told, live, whether a close is under way and when it gives up."""

    def test_not_closing(self, deliver: Recorder) -> None:
        """Batches taken before any close see ``closing`` false, with no deadline."""
        worker = worker_for(deliver, batch_size=1)
        worker.put("a")
        until(lambda: deliver.items == ["a"])
        assert deliver.closing == [False]
        assert deliver.closing_by == [None]
        worker.close(10)

    def test_drained_by_close(self, deliver: Recorder) -> None:
        """Items drained by a close see ``closing`` true, with the close's deadline."""
        worker = worker_for(deliver, batch_size=10, max_delay=3600)
        worker.put("a")
        before = time.monotonic()
        assert worker.close(30) == []
        assert deliver.closing == [True]
        by = deliver.closing_by[0]
        assert by is not None
        assert before + 30 <= by <= time.monotonic() + 30
        assert deliver.deadlines == [by]

    def test_close_without_timeout(self, deliver: Recorder) -> None:
        """A close without a timeout: ``closing.deadline`` is ``math.inf``."""
        worker = worker_for(deliver, batch_size=10, max_delay=3600)
        worker.put("a")
        assert worker.close(None) == []
        assert deliver.closing_by == [math.inf]

    def test_live(self, deliver: Recorder) -> None:
        """A close that begins during a delivery is seen by that delivery."""
        worker = worker_for(deliver, batch_size=1)
        busy(worker, deliver)
        worker.begin_close(None)
        deliver.release.set()
        assert worker.close(30) == []
        assert deliver.batches == [["busy"]]
        assert deliver.closing == [True]


class TestSettle:
    """settle waits for what was queued before it, and says what is left."""

    def test_counts_what_is_left(self, deliver: Recorder) -> None:
        """With delivery held up, settle returns how many earlier items are not delivered."""
        deliver.hold()
        worker = worker_for(deliver, batch_size=4, max_delay=60)
        for item in range(10):
            worker.put(item)
        assert worker.settle(0.05) == 10
        deliver.release.set()
        assert worker.settle(30) == 0
        assert deliver.items == list(range(10))
        assert worker.settle(0) == 0
        worker.close(10)


class TestFork:
    """A forked child starts with an empty queue and a worker of its own."""

    def test_child_sends_its_own(self) -> None:
        """The parent's queued items stay the parent's; the child delivers what it puts."""
        out, _ = run_child(
            """
import os, sys, threading
sys.path.insert(0, {tests!r})
from aievents.policy import Batching
from aievents.sinks._batch import BatchWorker

delivered = []
held = threading.Event()
def deliver(batch, deadline, closing):
    held.wait(30)
    delivered.extend(batch)

worker = BatchWorker(deliver, name="fork-test", batching=Batching(batch_size=10, max_delay=3600))
worker.put("parent")
pid = os.fork()
if pid == 0:
    held.set()
    worker.put("child")
    done = worker.flush(30)
    print("child", done, delivered, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
held.set()
print("parent", worker.flush(30), delivered, flush=True)
"""
        )
        assert out.splitlines() == ["child True ['child']", "parent True ['parent']"]
