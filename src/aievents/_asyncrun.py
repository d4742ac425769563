"""Running async handlers for sync and async emitters.

``emit`` schedules an async handler as a task, with the context variables
of the emit captured: on the running event loop when the emitter is inside
one, otherwise on a private loop thread. :class:`Pending` counts the runs in
flight, bounded, so that ``flush`` can wait for them without ever waiting on
a loop that no longer runs; :class:`AsyncRuns` is what one client holds of
all this.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aievents._diag import RateLimitedLog
from aievents._threads import Thread
from aievents.events import BaseEvent

__all__ = ["AsyncHandler", "AsyncRuns", "Client", "LoopThread", "Pending"]


class Client(Protocol):
    """What an :class:`AsyncHandler` needs of its client."""

    def _handler_failed(
        self, handler: object, event: BaseEvent, exc: Exception, *, defer: bool = False
    ) -> None: ...

    def _schedule(self, coro: Awaitable[None]) -> None: ...


class AsyncHandler:
    """Runs an async handler for ``emit`` (scheduled) and ``aemit`` (awaited)."""

    __slots__ = ("client", "fn")

    def __init__(self, client: Client, fn: Callable[[Any], Awaitable[None]]) -> None:
        self.client = client
        self.fn = fn

    @property
    def handler(self) -> Callable[[Any], Awaitable[None]]:
        """The user's handler."""
        return self.fn

    async def run(self, event: BaseEvent, *, scheduled: bool = False) -> None:
        """Run the handler; its errors are the client's to report."""
        try:
            await self.fn(event)
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            self.client._handler_failed(self.fn, event, exc, defer=scheduled)

    async def arun(self, event: BaseEvent) -> None:
        """Run the handler to its end (what ``aemit`` awaits)."""
        await self.run(event)

    def __call__(self, event: BaseEvent) -> None:
        self.client._schedule(self.run(event, scheduled=True))


class LoopThread:
    """A private event loop on a daemon thread, for async handlers emitted from sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._accepting = True
        self._lock = threading.Lock()
        ready = threading.Event()
        self.loop.call_soon(ready.set)
        self.thread = Thread(target=self._run, name="aievents-async-handlers", daemon=True)
        self.thread.start()
        ready.wait()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            while leftover := asyncio.all_tasks(loop):
                for task in leftover:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.close()

    def submit(self, callback: Callable[..., Any], *args: Any, context: Any = None) -> bool:
        """Run ``callback`` on the loop thread; False once the loop is stopping."""
        with self._lock:
            if not self._accepting:
                return False
            try:
                self.loop.call_soon_threadsafe(callback, *args, context=context)
            except RuntimeError:  # closed under our feet
                self._accepting = False
                return False
            return True

    def stop(self, timeout: float | None) -> None:
        """Stop the loop (cancelling what still runs) and close it, within ``timeout``."""
        with self._lock:
            if not self._accepting:
                return
            self._accepting = False
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def orphan(self) -> None:
        """Forget the loop in a forked child, where its thread does not exist.

        The loop cannot be closed there (it still looks like it is running),
        and letting it be collected would warn about an unclosed loop; so it is
        kept, unused, for the life of the child.
        """
        _ORPHANED.append(self.loop)


_ORPHANED: list[asyncio.AbstractEventLoop] = []


def _alive(loop: asyncio.AbstractEventLoop) -> bool:
    return loop.is_running() and not loop.is_closed()


class Pending:
    """Counts async handler runs in flight, per event loop, up to ``limit``.

    A run is counted when ``emit`` schedules it, before the loop starts it, so
    a ``flush`` right after ``emit`` waits for it. Runs on a loop that has
    stopped are not waited for (they cannot progress); runs on a loop that
    was closed are counted as dropped.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cond = threading.Condition()
        self.counts: dict[asyncio.AbstractEventLoop, int] = {}
        self.tasks: dict[asyncio.AbstractEventLoop, set[asyncio.Task[None]]] = {}
        self.dropped = 0
        self.cancelled = 0

    def begin(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Count one run on ``loop``; False (and counted as dropped) when the bound is hit."""
        with self.cond:
            if sum(self.counts.values()) >= self.limit:
                self.dropped += 1
                return False
            self.counts[loop] = self.counts.get(loop, 0) + 1
            return True

    def started(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
        with self.cond:
            self.tasks.setdefault(loop, set()).add(task)
        task.add_done_callback(lambda t: self.end(loop, t))

    def lost(self) -> int:
        """Runs that will never complete: dropped at the bound or on a closed loop, or cancelled."""
        return self.dropped + self.cancelled

    def end(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None] | None = None) -> None:
        with self.cond:
            if task is not None and task.cancelled():  # its loop shut down under it
                self.cancelled += 1
            left = self.counts.get(loop, 1) - 1
            if left > 0:
                self.counts[loop] = left
            else:
                self.counts.pop(loop, None)
            if task is not None:
                tasks = self.tasks.get(loop)
                if tasks is not None:
                    tasks.discard(task)
                    if not tasks:
                        del self.tasks[loop]
            self.cond.notify_all()

    def _forget_closed(self) -> None:
        for loop in [loop for loop in self.counts if loop.is_closed()]:
            self.dropped += self.counts.pop(loop)
            self.tasks.pop(loop, None)

    def total(self) -> int:
        """Runs counted as in flight, on any loop."""
        with self.cond:
            self._forget_closed()
            return sum(self.counts.values())

    def _waitable(self, besides: asyncio.AbstractEventLoop | None) -> int:
        self._forget_closed()
        return sum(n for loop, n in self.counts.items() if loop is not besides and _alive(loop))

    def tasks_on(self, loop: asyncio.AbstractEventLoop) -> set[asyncio.Task[None]]:
        with self.cond:
            return set(self.tasks.get(loop, ()))

    def wait(self, timeout: float | None, *, besides: asyncio.AbstractEventLoop | None) -> bool:
        """Wait for the runs on running loops other than ``besides``.

        True when no run is left on any loop other than ``besides`` (runs on
        a stopped loop are not waited for, but they are left).
        """
        with self.cond:
            self.cond.wait_for(lambda: self._waitable(besides) == 0, timeout)
            return not any(n for loop, n in self.counts.items() if loop is not besides)


class AsyncRuns:
    """The async handler runs of one client: where they run, how many wait, what was lost.

    Args:
        limit: Runs that may wait at once; beyond, new ones are dropped.
        diag: Where lost runs are reported.
    """

    def __init__(self, limit: int, diag: RateLimitedLog) -> None:
        self.pending = Pending(limit)
        self.loop_thread: LoopThread | None = None
        self.closed = False
        self._diag = diag
        self._lock = threading.Lock()
        self._lost_reported = 0

    def schedule(self, coro: Awaitable[None]) -> None:
        """Start ``coro`` with the current context: on the running loop, else on the loop thread."""
        ctx = contextvars.copy_context()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            runner = self._runner()
            if runner is None or not self.pending.begin(runner.loop):
                self._drop(coro)
                return
            if not runner.submit(self._start, runner.loop, coro, context=ctx):
                self.pending.end(runner.loop)
                self._drop(coro)
            return
        if not self.pending.begin(loop):
            self._drop(coro)
            return
        ctx.run(self._start, loop, coro)

    def _drop(self, coro: Awaitable[None]) -> None:
        """An async run that will not happen (client closed, or too many in flight)."""
        close = getattr(coro, "close", None)
        if close is not None:
            close()
        self._report_lost(1)

    def _report_lost(self, count: int) -> None:
        self._diag(
            "<lost>",
            "warning",
            "async_handlers_lost",
            lost=count,
            dropped=self.pending.dropped,
            cancelled=self.pending.cancelled,
            max_pending=self.pending.limit,
            closed=self.closed,
        )

    def report_lost(self) -> bool:
        """Report the runs lost since the last call; whether there were none."""
        lost = self.pending.lost()
        if lost == self._lost_reported:
            return True
        self._report_lost(lost - self._lost_reported)
        self._lost_reported = lost
        return False

    def _start(self, loop: asyncio.AbstractEventLoop, coro: Awaitable[None]) -> None:
        """Create the task in the current (captured) context, on ``loop``'s thread."""
        self.pending.started(loop, loop.create_task(coro))  # type: ignore[arg-type]

    def _runner(self) -> LoopThread | None:
        """The loop thread, started on first use; None once closed."""
        with self._lock:
            if self.closed:
                with self.pending.cond:
                    self.pending.dropped += 1
                return None
            if self.loop_thread is None:
                runner = self.loop_thread = LoopThread()
                # A client dropped without close() must not leave its thread behind.
                weakref.finalize(self, runner.stop, 1.0)
            return self.loop_thread

    def close(self) -> LoopThread | None:
        """Start no more runs; the loop thread, for the caller to stop."""
        with self._lock:
            self.closed = True
            runner, self.loop_thread = self.loop_thread, None
        return runner

    def after_fork(self) -> None:
        """In a forked child: forget the parent's loop thread and counts."""
        if self.loop_thread is not None:
            self.loop_thread.orphan()
        self.loop_thread = None
        self.pending = Pending(self.pending.limit)
        self._lock = threading.Lock()
