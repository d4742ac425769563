"""Attribution across thread pools: carry_context, and unbinding by name."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any

import pytest

import aievents
from aievents import EventValidationError, ImageUsageEvent
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
    """``aievents.carry_context`` (imported here: it is new)."""
    from aievents import carry_context

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
