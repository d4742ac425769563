"""Attribution across thread pools: carry_context, ContextExecutor, and unbinding by name."""

from __future__ import annotations

import asyncio
import runpy
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

import aievents
from aievents import ContextExecutor, EventValidationError, ImageUsageEvent, carry_context
from aievents.context import BOUND

from helpers import usage_event

USERS = [f"user-{index}" for index in range(30)]


@pytest.fixture(name="isolated_context", autouse=True)
def _isolated_context() -> Iterator[None]:
    """Each test starts with no bindings and leaves the caller's as they were."""
    token = BOUND.set(MappingProxyType({}))
    yield
    BOUND.reset(token)


def carried(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` wrapped by ``aievents.carry_context``."""
    return carry_context(function)


class TestThreadPools:
    """Work handed to a pool is attributed to the request that handed it over, and no other."""

    def test_submitted_work_keeps_the_submitters_user(self) -> None:
        """30 requests, each bound to its user, hand their image call to a shared pool."""

        def generate(index: int) -> ImageUsageEvent:
            return usage_event(f"req-{index}")

        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = []
            for index, user in enumerate(USERS):
                with aievents.context(user_id=user, project_id="proj_web"):
                    futures.append(pool.submit(carried(generate), index))
            events = [future.result(timeout=30) for future in futures]
        assert [(e.user_id, e.project_id) for e in events] == [(u, "proj_web") for u in USERS]

    def test_what_a_task_binds_ends_with_it(self) -> None:
        """bind_context() inside a task, never reset, does not reach the thread's next task."""

        def handle(index: int) -> str | None:
            if index % 3:  # every third request is anonymous
                aievents.bind_context(user_id=USERS[index])
            return usage_event(f"req-{index}").user_id

        with ThreadPoolExecutor(max_workers=4) as pool:
            seen = list(pool.map(carried(handle), range(30), timeout=30))
        assert seen == [USERS[i] if i % 3 else None for i in range(30)]
        # The pool's threads kept nothing either: a plain task there sees no binding.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(carried(handle), 1).result(timeout=30)
            assert pool.submit(aievents.get_context).result(timeout=30) == {}

    def test_one_wrapper_runs_in_many_threads_at_once(self) -> None:
        """Each call gets its own copy of the context, so concurrent calls do not collide."""
        together = threading.Barrier(4, timeout=30)

        def handle(user: str) -> str | None:
            aievents.bind_context(user_id=user)
            together.wait()  # all four are inside their context at once
            return usage_event().user_id

        with aievents.context(project_id="proj_web"):
            work = carried(handle)
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(work, USERS[:4], timeout=30)) == USERS[:4]

    def test_run_in_executor(self) -> None:
        """An async handler's offloaded call keeps the task's attribution."""

        async def request(user: str) -> str | None:
            with aievents.context(user_id=user):
                loop = asyncio.get_running_loop()
                event = await loop.run_in_executor(None, carried(usage_event), "req-1")
            return event.user_id

        async def serve() -> list[str | None]:
            return list(await asyncio.gather(*(request(user) for user in USERS[:5])))

        assert asyncio.run(serve()) == USERS[:5]

    def test_wrapper_passes_results_and_errors_through(self) -> None:
        """Arguments, the result, an exception and the function's name are the function's."""

        def divide(a: int, b: int = 1) -> float:
            """Divide."""
            return a / b

        wrapped = carried(divide)
        assert wrapped(6, b=3) == 2
        assert (wrapped.__name__, wrapped.__doc__) == ("divide", "Divide.")
        with pytest.raises(ZeroDivisionError):
            wrapped(1, 0)


def context_executor(pool: ThreadPoolExecutor) -> Any:
    """``aievents.ContextExecutor`` around ``pool``."""
    return ContextExecutor(pool)


class TestContextExecutor:
    """A pool wrapped once carries each submitter's attribution into every task."""

    def test_submit_and_map_keep_the_submitters_user(self) -> None:
        """30 requests submit their image call; then one request maps over its photos."""
        with context_executor(ThreadPoolExecutor(max_workers=4)) as pool:
            futures = []
            for index, user in enumerate(USERS):
                with aievents.context(user_id=user, project_id="proj_web"):
                    futures.append(pool.submit(usage_event, f"req-{index}"))
            events = [future.result(timeout=30) for future in futures]
            with aievents.context(user_id="user-42"):
                mapped = list(pool.map(usage_event, ["a", "b", "c"], timeout=30))
        assert [(e.user_id, e.project_id) for e in events] == [(u, "proj_web") for u in USERS]
        assert [event.user_id for event in mapped] == ["user-42"] * 3

    def test_what_a_task_binds_ends_with_it(self) -> None:
        """bind_context() in a task, never reset, reaches neither the next task nor the thread."""

        def handle(index: int) -> str | None:
            if index % 3:
                aievents.bind_context(user_id=USERS[index])
            return usage_event(f"req-{index}").user_id

        inner = ThreadPoolExecutor(max_workers=1)
        with context_executor(inner) as pool:
            seen = [pool.submit(handle, index).result(timeout=30) for index in range(9)]
            assert inner.submit(aievents.get_context).result(timeout=30) == {}
        assert seen == [USERS[i] if i % 3 else None for i in range(9)]

    def test_run_in_executor(self) -> None:
        """``loop.run_in_executor(pool, f)`` submits through it, so it carries too."""

        async def serve(pool: Any) -> list[str | None]:
            async def request(user: str) -> str | None:
                with aievents.context(user_id=user):
                    loop = asyncio.get_running_loop()
                    return (await loop.run_in_executor(pool, usage_event, "req-1")).user_id

            return list(await asyncio.gather(*(request(user) for user in USERS[:5])))

        with context_executor(ThreadPoolExecutor(max_workers=2)) as pool:
            assert asyncio.run(serve(pool)) == USERS[:5]

    def test_shutdown_reaches_the_pool(self) -> None:
        """Leaving its ``with`` block shuts the wrapped pool down."""
        inner = ThreadPoolExecutor(max_workers=1)
        with context_executor(inner) as pool:
            assert pool.submit(sum, [1, 2]).result(timeout=30) == 3
        with pytest.raises(RuntimeError, match="shutdown"):
            inner.submit(sum, [1])


async def _fetch() -> None:
    """A coroutine function."""


async def _stream() -> AsyncIterator[int]:
    """An async generator function."""
    yield 1


def _pages() -> Iterator[int]:
    """A generator function."""
    yield 1


class TestMisuse:
    """Wrapping that would carry the wrong context, or none, is refused with what to do instead."""

    @pytest.mark.parametrize(
        "function", [_fetch, _stream, _pages], ids=["coroutine", "async generator", "generator"]
    )
    def test_deferred_bodies_are_refused(self, function: Callable[..., Any]) -> None:
        """Their bodies run later, where they are awaited or iterated, in that context."""
        with pytest.raises(TypeError, match=rf"{function.__name__}\(\).*runs only when") as info:
            carried(function)
        assert "asyncio tasks and asyncio.to_thread copy the context" in str(info.value)
        with (
            context_executor(ThreadPoolExecutor(max_workers=1)) as pool,
            pytest.raises(TypeError, match=function.__name__),
        ):
            pool.submit(function)

    @pytest.mark.parametrize(
        "source",
        [
            "@aievents.carry_context\ndef work(photo):\n    return photo\n",
            "class Jobs:\n    @aievents.carry_context\n    def work(self, photo):\n"
            "        return photo\n",
            "import functools\n\n@aievents.carry_context\n@functools.cache\n"
            "def work(photo):\n    return photo\n",
        ],
        ids=["function", "method", "under another decorator"],
    )
    def test_a_decorator_where_it_is_defined_is_refused(self, source: str, tmp_path: Path) -> None:
        """As a decorator it would carry the import's (empty) context into every call."""
        module = tmp_path / "jobs.py"
        module.write_text(f"import aievents\n\n{source}", encoding="utf-8")
        with aievents.context(user_id="user-42"), pytest.raises(TypeError) as info:
            runpy.run_path(str(module))
        assert "cannot decorate" in str(info.value)
        assert "work()" in str(info.value)
        assert "pool.submit(carry_context(work), ...)" in str(info.value)

    def test_wrapping_at_hand_over_is_accepted(self, tmp_path: Path) -> None:
        """In a module's ``with`` block, of a lambda or a cached function, or in a function."""
        module = tmp_path / "script.py"
        module.write_text(
            """\
import functools
from concurrent.futures import ThreadPoolExecutor

import aievents


def work(photo):
    return aievents.get_context().get("user_id"), photo


@functools.cache
def cached(photo):
    return aievents.get_context().get("user_id"), photo


def handler(user):
    with aievents.context(user_id=user):

        @aievents.carry_context  # made while handling the request: its context
        def inner(photo):
            return aievents.get_context().get("user_id"), photo

        return inner


seen = []
with ThreadPoolExecutor(max_workers=2) as pool, aievents.context(user_id="user-42"):
    seen.append(pool.submit(aievents.carry_context(work), "a").result())
    seen.append(pool.submit(aievents.carry_context(lambda: work("b"))).result())
    seen.append(pool.submit(aievents.carry_context(cached), "c").result())
    seen.append(pool.submit(handler("user-7"), "d").result())
""",
            encoding="utf-8",
        )
        seen = runpy.run_path(str(module))["seen"]
        assert seen == [
            ("user-42", "a"),
            ("user-42", "b"),
            ("user-42", "c"),
            ("user-7", "d"),
        ]


class TestUnbind:
    """unbind_context() takes field names; anything else is an error, not a silent no-op."""

    def test_a_token_is_refused(self) -> None:
        """Passing bind_context()'s token names the mistake; the binding stays."""
        token = aievents.bind_context(user_id="user-42")
        with pytest.raises(EventValidationError, match=r"token\.reset\(\)") as info:
            aievents.unbind_context(token)  # type: ignore[arg-type]
        assert info.value.field == "names"
        assert aievents.get_context() == {"user_id": "user-42"}
        token.reset()
        assert aievents.get_context() == {}

    @pytest.mark.parametrize("name", ["model", "userId", ""])
    def test_an_unknown_name_is_refused(self, name: str) -> None:
        """A name that cannot be bound is named in the error."""
        with pytest.raises(EventValidationError) as info:
            aievents.unbind_context("user_id", name)
        assert info.value.value == name
