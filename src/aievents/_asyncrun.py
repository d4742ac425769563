"""Running async handlers for sync and async emitters.

``emit`` schedules an async handler as a task, with the context variables
of the emit captured: on the running event loop when the emitter is inside
one, otherwise on a private loop thread. :class:`Pending` counts the runs in
flight so that ``flush`` can wait for them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aievents.events import BaseEvent

__all__ = ["AsyncHandler", "LoopThread", "Pending"]


class _Client(Protocol):
    """What an :class:`AsyncHandler` needs of its client."""

    def _handler_failed(
        self, handler: object, event: BaseEvent, exc: Exception, *, defer: bool = False
    ) -> None: ...

    def _schedule(self, coro: Awaitable[None]) -> None: ...


class AsyncHandler:
    """Runs an async handler for ``emit`` (scheduled) and ``aemit`` (awaited)."""

    __slots__ = ("client", "fn")

    def __init__(self, client: _Client, fn: Callable[[Any], Awaitable[None]]) -> None:
        self.client = client
        self.fn = fn

    async def run(self, event: BaseEvent, *, scheduled: bool = False) -> None:
        try:
            await self.fn(event)
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            self.client._handler_failed(self.fn, event, exc, defer=scheduled)

    def __call__(self, event: BaseEvent) -> None:
        self.client._schedule(self.run(event, scheduled=True))


class LoopThread:
    """A private event loop on a daemon thread, for async handlers emitted from sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._run, name="aievents-async-handlers", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            leftover = asyncio.all_tasks(loop)
            for task in leftover:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.close()

    def stop(self, timeout: float | None) -> None:
        """Stop the loop (cancelling what still runs) and close it, within ``timeout``."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)

    def orphan(self) -> None:
        """Forget the loop in a forked child, where its thread does not exist.

        The loop cannot be closed there (it still looks like it is running),
        and letting it be collected would warn about an unclosed loop; so it is
        kept, unused, for the life of the child.
        """
        _ORPHANED.append(self.loop)


_ORPHANED: list[asyncio.AbstractEventLoop] = []


class Pending:
    """Counts async handler runs in flight, per event loop.

    A run is counted when ``emit`` schedules it, before the loop starts it, so
    a ``flush`` right after ``emit`` always waits for it.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.counts: dict[asyncio.AbstractEventLoop, int] = {}
        self.tasks: dict[asyncio.AbstractEventLoop, set[asyncio.Task[None]]] = {}
        self.errors: list[Exception] = []

    def begin(self, loop: asyncio.AbstractEventLoop) -> None:
        with self.cond:
            self.counts[loop] = self.counts.get(loop, 0) + 1

    def started(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
        with self.cond:
            self.tasks.setdefault(loop, set()).add(task)
        task.add_done_callback(lambda t: self.end(loop, t))

    def end(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None] | None = None) -> None:
        with self.cond:
            left = self.counts.get(loop, 1) - 1
            if left:
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

    def count(self, *, besides: asyncio.AbstractEventLoop | None = None) -> int:
        return sum(n for loop, n in self.counts.items() if loop is not besides)

    def tasks_on(self, loop: asyncio.AbstractEventLoop) -> set[asyncio.Task[None]]:
        with self.cond:
            return set(self.tasks.get(loop, ()))

    def wait(self, timeout: float | None, *, besides: asyncio.AbstractEventLoop | None) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.count(besides=besides) == 0, timeout)
