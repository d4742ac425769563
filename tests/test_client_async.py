"""Async handlers from sync and async callers; contextvars; flush; fork."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading

import pytest

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
            while not release.is_set():
                await asyncio.sleep(0.001)
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
