"""Async handlers from sync and async callers; contextvars; flush; fork."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from typing import Any

import pytest
import structlog

import aievents
from aievents import BaseEvent, EventClient

from helpers import usage_event

REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="unset")


class TestFromSyncCallers:
    """emit schedules async handlers on the client's loop thread; flush waits."""

    def test_runs_with_context_at_emit(self, client: EventClient) -> None:
        """The handler sees the contextvars bound when emit was called, not later ones."""
        seen: list[tuple[str, str, str | None]] = []

        async def handler(event: BaseEvent) -> None:
            await asyncio.sleep(0)
            seen.append(
                (event.request_id or "", REQUEST.get(), aievents.get_context().get("user_id"))
            )

        client.on("image:usage", handler)
        token = REQUEST.set("first")
        with aievents.context(user_id="user-1"):
            client.emit(usage_event("a"))
        REQUEST.set("second")
        client.emit(usage_event("b"))
        REQUEST.reset(token)
        assert client.flush(5.0) is True
        assert sorted(seen) == [("a", "first", "user-1"), ("b", "second", None)]

    def test_flush_waits_and_times_out(self, client: EventClient) -> None:
        """flush waits for scheduled handlers and reports False when they outlast it."""
        release = threading.Event()
        done: list[str] = []

        async def slow(event: BaseEvent) -> None:
            await asyncio.to_thread(release.wait)
            done.append(event.request_id or "")

        client.on("image:usage", slow)
        client.emit(usage_event("slow"))
        assert client.flush(0.05) is False
        release.set()
        assert client.flush(5.0) is True
        assert done == ["slow"]

    def test_error_isolated(self, client: EventClient) -> None:
        """A raising async handler is counted; the sync ones still run."""
        heard: list[BaseEvent] = []

        async def broken(event: BaseEvent) -> None:
            raise RuntimeError("async bug")

        client.on("image:usage", broken)
        client.on("image:usage", heard.append)
        client.emit(usage_event())
        assert client.flush(5.0) is True
        assert len(heard) == 1
        assert client.handler_errors == 1

    def test_strict_flush_reraises(self) -> None:
        """In strict mode the error of a scheduled handler comes out of flush."""
        client = EventClient(strict=True)

        async def broken(event: BaseEvent) -> None:
            raise LookupError("from the task")

        client.on("image:usage", broken)
        client.emit(usage_event())
        with pytest.raises(LookupError, match="from the task"):
            client.flush(5.0)
        client.close()

    def test_async_callable_object(self, client: EventClient) -> None:
        """An object whose __call__ is async is treated as an async handler."""
        seen: list[str] = []

        class Handler:
            async def __call__(self, event: BaseEvent) -> None:
                seen.append(event.request_id or "")

        client.on("image:usage", Handler())
        client.emit(usage_event("obj"))
        client.flush(5.0)
        assert seen == ["obj"]


class TestFromAsyncCallers:
    """Inside a running loop, emit schedules on that loop and aemit awaits."""

    def test_emit_in_loop(self, client: EventClient) -> None:
        """emit from a coroutine schedules on the running loop; aflush waits for it."""
        seen: list[tuple[str, str]] = []

        async def handler(event: BaseEvent) -> None:
            await asyncio.sleep(0)
            seen.append((event.request_id or "", REQUEST.get()))

        client.on("image:usage", handler)

        async def main() -> bool:
            REQUEST.set("in-loop")
            client.emit(usage_event("a"))
            REQUEST.set("changed")
            assert seen == []
            assert client.flush(0) is False  # cannot wait for this loop from inside it
            return await client.aflush(5.0)

        assert asyncio.run(main()) is True
        assert seen == [("a", "in-loop")]

    def test_aemit_awaits_in_order(self, client: EventClient) -> None:
        """aemit runs sync and async handlers in subscription order and awaits them."""
        order: list[str] = []

        async def first(event: BaseEvent) -> None:
            await asyncio.sleep(0.01)
            order.append(f"first:{REQUEST.get()}")

        async def third(event: BaseEvent) -> None:
            order.append("third")

        client.on("image:usage", first)
        client.on("image:usage", lambda e: order.append("second"))
        client.on("image:usage", third)

        async def main() -> None:
            REQUEST.set("caller")
            await client.aemit(usage_event())
            order.append("returned")

        asyncio.run(main())
        assert order == ["first:caller", "second", "third", "returned"]

    def test_aemit_isolates_and_strict_raises(self) -> None:
        """aemit isolates a raising async handler; a strict client re-raises it."""
        lenient = EventClient()
        strict = EventClient(strict=True)
        heard: list[BaseEvent] = []

        async def broken(event: BaseEvent) -> None:
            raise ValueError("aemit")

        for client in (lenient, strict):
            client.on("image:usage", broken)
            client.on("image:usage", heard.append)
        asyncio.run(lenient.aemit(usage_event()))
        assert len(heard) == 1
        assert lenient.handler_errors == 1
        with pytest.raises(ValueError, match="aemit"):
            asyncio.run(strict.aemit(usage_event()))

    def test_aemit_new_class_and_bad_input(self, client: EventClient) -> None:
        """aemit routes unseen classes and refuses non-events like emit."""
        with pytest.raises(TypeError, match="takes an aievents event"):
            asyncio.run(client.aemit(None))  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    """A forked child gets a working client of its own."""

    def test_child_runs_async_handlers(self, client: EventClient) -> None:
        """After fork the child starts its own loop thread and delivers; the parent still works."""
        seen: list[str] = []

        async def handler(event: BaseEvent) -> None:
            seen.append(event.request_id or "")

        client.on("image:usage", handler)
        client.emit(usage_event("parent-before"))
        assert client.flush(5.0)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.close(read)
                client.emit(usage_event("child"))
                ok = client.flush(5.0) and seen == ["parent-before", "child"]
                os.write(write, b"ok" if ok else repr(seen).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            answer = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        assert answer == b"ok"
        client.emit(usage_event("parent-after"))
        assert client.flush(5.0)
        assert seen == ["parent-before", "parent-after"]


class TestLifecycleEdges:
    """flush and close never hang, lose nothing silently and leak nothing."""

    def test_stopped_loop_does_not_hang_flush(self, client: EventClient) -> None:
        """A handler scheduled on a loop that then stopped is not waited for, and is reported."""
        loop = asyncio.new_event_loop()

        async def handler(event: BaseEvent) -> None:
            await asyncio.sleep(0)

        client.on("image:usage", handler)

        async def emit_then_leave() -> None:
            client.emit(usage_event())

        loop.run_until_complete(emit_then_leave())
        try:
            assert client.flush(None) is False  # returns at once: the loop no longer runs
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
        stats = client.stats()
        assert stats["async_pending"] == 0
        assert stats["async_dropped"] + stats["async_cancelled"] == 1  # the run never happened
        assert client.close(None) is False  # and close says so
        assert client.close(None) is True

    def test_cancelled_runs_are_counted(self, client: EventClient) -> None:
        """Runs cancelled when their loop shuts down are counted and flush reports them."""

        async def handler(event: BaseEvent) -> None:
            await asyncio.sleep(0)

        client.on("image:usage", handler)

        async def main() -> None:
            client.emit(usage_event())

        with structlog.testing.capture_logs() as logs:
            asyncio.run(main())
            assert client.flush(1.0) is False
            assert client.flush(1.0) is True
        assert client.stats()["async_cancelled"] == 1
        assert any(log["event"] == "async_handlers_lost" for log in logs)

    def test_bounded_backlog(self) -> None:
        """Beyond max_pending, async runs are dropped and counted, not queued without end."""
        client = EventClient(max_pending=5)
        release = threading.Event()

        async def slow(event: BaseEvent) -> None:
            await asyncio.to_thread(release.wait)

        client.on("image:usage", slow)
        with structlog.testing.capture_logs():
            for _ in range(20):
                client.emit(usage_event())
            stats = client.stats()
            release.set()
            assert client.flush(5.0) is False  # 15 runs were lost
        assert stats["async_pending"] == 5
        assert stats["async_dropped"] == 15
        client.close()

    def test_emit_after_close_starts_nothing(self) -> None:
        """After close, scheduling an async run starts no new loop thread."""
        client = EventClient()

        async def handler(event: BaseEvent) -> None:
            return None

        subscription = client.on("image:usage", handler)
        client.emit(usage_event())
        client.close()
        with structlog.testing.capture_logs():
            subscription.dispatch(usage_event())  # an emit that raced close()
        assert "aievents-async-handlers" not in {t.name for t in threading.enumerate()}

    def test_unclosed_client_is_collected(self) -> None:
        """A client dropped without close() is garbage-collected and its thread stops."""
        import gc
        import weakref

        client = EventClient()

        async def handler(event: BaseEvent) -> None:
            return None

        client.on("*", handler)
        client.emit(usage_event())
        client.flush(5.0)
        thread = client._runs.loop_thread.thread  # type: ignore[union-attr]
        ref = weakref.ref(client)
        del client
        gc.collect()
        assert ref() is None
        thread.join(5.0)
        assert not thread.is_alive()

    @pytest.mark.parametrize("kind", ["where", "once", "replay"])
    def test_aemit_awaits_wrapped_handlers(self, kind: str) -> None:
        """aemit awaits async handlers subscribed with where=, once or replay too."""
        client = EventClient(replay=4)
        done: list[str] = []

        async def handler(event: BaseEvent) -> None:
            await asyncio.sleep(0.01)
            done.append(kind)

        if kind == "where":
            client.on("image:usage", handler, where=lambda e: True)
        elif kind == "once":
            client.once("image:usage", handler)
        else:
            client.on("image:usage", handler, replay=True)

        async def main() -> list[str]:
            await client.aemit(usage_event())
            return list(done)

        assert asyncio.run(main()) == [kind]

    def test_strict_close_still_closes(self) -> None:
        """A strict client whose close re-raises a handler error is closed all the same."""
        from aievents.testing import CapturingSink

        client = EventClient(strict=True)
        sink = CapturingSink()
        client.add_sink(sink)

        async def broken(event: BaseEvent) -> None:
            raise ValueError("late")

        client.on("image:usage", broken)
        client.emit(usage_event())
        with pytest.raises(ValueError, match="late"):
            client.close(5.0)
        assert client.closed
        assert sink.closed

    def test_aflush_inside_a_handler(self, client: EventClient) -> None:
        """aflush called from an async handler does not wait for itself."""
        results: list[bool] = []

        async def handler(event: BaseEvent) -> None:
            results.append(await client.aflush(2.0))

        client.on("image:usage", handler)

        async def main() -> None:
            client.emit(usage_event())
            await client.aflush(5.0)

        asyncio.run(main())
        assert results == [True]

    def test_close_from_a_handler(self) -> None:
        """close() called from an async handler on the client's own loop returns at once."""
        client = EventClient()
        closed: list[bool] = []

        async def handler(event: BaseEvent) -> None:
            closed.append(client.close(30.0))  # False: this very handler is still running

        client.on("image:usage", handler)
        client.emit(usage_event())
        client.flush(5.0)
        assert closed == [False]
        assert client.closed

    def test_decorated_async_handler(self, client: EventClient) -> None:
        """An async handler behind a functools.wraps decorator is run as async."""
        import functools

        seen: list[str] = []

        def logged(fn: Any) -> Any:
            @functools.wraps(fn)
            def wrapper(event: BaseEvent) -> Any:
                return fn(event)

            return wrapper

        @logged
        async def handler(event: BaseEvent) -> None:
            seen.append(event.request_id or "")

        client.on("image:usage", handler)
        client.emit(usage_event("wrapped"))
        assert client.flush(5.0)
        assert seen == ["wrapped"]
