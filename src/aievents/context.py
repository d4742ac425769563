"""Attribution bound to the current context and stamped on every event built in it.

Bind who a request is for once, at the edge of your code, and every event
built inside carries it, across threads started with ``contextvars`` and
across ``await``::

    with aievents.context(user_id="user-42", project_id="proj_abc"):
        client.images.generate(...)   # its events carry user_id and project_id

Fields passed explicitly to an event win over bound ones. Binding is done
with :mod:`contextvars`, so concurrent requests in threads or tasks do not see
each other's attribution.

Like every context variable (and structlog's ``bind_contextvars``), the
bindings do not follow work handed to a thread pool, and a pool's thread
keeps what a task bound with :func:`bind_context` into its next task. Hand
the work over through a :class:`ContextExecutor`: each task runs in a copy of
its submitter's context, so it is attributed to the submitter's request, and
what it binds ends with it::

    pool = aievents.ContextExecutor(ThreadPoolExecutor())
    with aievents.context(user_id="user-42"):
        pool.submit(make_thumbnail, photo)

For an executor you do not create, wrap the work when you hand it over:
``pool.submit(aievents.carry_context(make_thumbnail), photo)``. Never use
:func:`carry_context` as a decorator: it carries the context in force when it
wraps, which for a decorator is the import's.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import FrameType, MappingProxyType
from typing import Any, Final, ParamSpec, TypeVar

from aievents.exceptions import EventValidationError

__all__ = [
    "BINDABLE_FIELDS",
    "ContextExecutor",
    "ContextToken",
    "bind_context",
    "carry_context",
    "clear_context",
    "context",
    "get_context",
    "unbind_context",
]

#: Event fields that can be bound to the context.
BINDABLE_FIELDS: Final = frozenset(
    {
        "user_id",
        "project_id",
        "api_key_id",
        "client_id",
        "thread_id",
        "run_id",
        "runtime_id",
        "correlation_id",
    }
)

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
P = ParamSpec("P")
R = TypeVar("R")

#: The bound attribution; events read it when they are built.
BOUND: Final[ContextVar[Mapping[str, str]]] = ContextVar("aievents_bound", default=_EMPTY)


class ContextToken:
    """Undoes one :func:`bind_context` call: ``token.reset()``."""

    __slots__ = ("_token",)

    def __init__(self, token: Token[Mapping[str, str]]) -> None:
        self._token = token

    def reset(self) -> None:
        """Restore the bindings that were in place before the bind."""
        BOUND.reset(self._token)


def _checked(values: Mapping[str, object]) -> dict[str, str]:
    for name, value in values.items():
        if name not in BINDABLE_FIELDS:
            allowed = ", ".join(sorted(BINDABLE_FIELDS))
            raise EventValidationError(
                name,
                value,
                f"cannot be bound to the context (bindable: {allowed})",
                owner="context",
            )
        if not isinstance(value, str) or not value:
            raise EventValidationError(name, value, "must be a non-empty string", owner="context")
    return dict(values)  # type: ignore[arg-type]


def bind_context(**values: str) -> ContextToken:
    """Bind attribution fields for the rest of the current context.

    Args:
        **values: Any of :data:`BINDABLE_FIELDS`, such as ``user_id``,
            ``project_id`` or ``api_key_id``, as non-empty strings.

    Returns:
        A token whose ``reset()`` undoes this bind.

    Raises:
        EventValidationError: a name is not bindable or a value is not a
            non-empty string. Nothing is bound then.
    """
    merged = {**BOUND.get(), **_checked(values)}
    return ContextToken(BOUND.set(MappingProxyType(merged)))


def unbind_context(*names: str) -> None:
    """Remove the named fields from the current context's bindings.

    To undo one :func:`bind_context` call, use the ``reset()`` of the token
    it returned instead.

    Raises:
        EventValidationError: a name is not one of :data:`BINDABLE_FIELDS`
            (a token given here would otherwise unbind nothing, silently).
    """
    for name in names:
        given: object = name  # typed str, but a token is the usual mistake
        if not isinstance(given, str) or given not in BINDABLE_FIELDS:
            allowed = ", ".join(sorted(BINDABLE_FIELDS))
            hint = " (undo a bind with token.reset())" if isinstance(given, ContextToken) else ""
            raise EventValidationError(
                "names", given, f"must be field names out of: {allowed}{hint}", owner="context"
            )
    current = BOUND.get()
    if any(name in current for name in names):
        BOUND.set(MappingProxyType({k: v for k, v in current.items() if k not in names}))


def clear_context() -> None:
    """Remove every binding from the current context."""
    BOUND.set(_EMPTY)


def get_context() -> dict[str, str]:
    """Return a copy of the fields bound in the current context."""
    return dict(BOUND.get())


@contextmanager
def context(**values: str) -> Iterator[dict[str, str]]:
    """Bind attribution fields inside a ``with`` block, restoring them after.

    Yields the bindings in force inside the block. Use it as a ``with`` block
    (``async with`` is not needed: context variables follow ``await``); as a
    decorator of an ``async def`` it would bind only while the coroutine is
    created, not while it runs.
    """
    token = bind_context(**values)
    try:
        yield get_context()
    finally:
        token.reset()


def carry_context(function: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``function`` to run in a copy of the context in force now.

    Wrap at the moment you hand the work to a thread pool, never as a
    decorator: ``pool.submit(carry_context(work), ...)``,
    ``pool.map(carry_context(work), items)``,
    ``loop.run_in_executor(None, carry_context(work), ...)``. Each call of the
    wrapper runs in its own copy of the context that was current when the
    wrapper was made, so events built in it carry that context's attribution,
    and whatever the call binds ends with it instead of staying on the pool's
    thread for the next task. A :class:`ContextExecutor` does this for every
    task submitted to it.

    Args:
        function: A plain callable (not an ``async def`` or a generator
            function: their bodies run later, in whatever context awaits or
            iterates them).

    Returns:
        A callable with the same signature and result.

    Raises:
        TypeError: ``function`` is a coroutine, async generator or generator
            function; or ``carry_context`` decorates a function or method
            where it is defined at module or class level, where it would
            carry the import's context into every call.
    """
    _refuse_deferred(function)
    caller = sys._getframe(1)
    if _defined_here_unbound(function, caller):
        name = getattr(function, "__qualname__", repr(function))
        raise TypeError(
            f"carry_context() cannot decorate {name}(): it would run every call in the "
            "context of the import, not the caller's. Wrap when handing the work over, "
            f"pool.submit(carry_context({function.__name__}), ...), or submit it to "
            "a ContextExecutor"
        )
    captured = contextvars.copy_context()

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(function, *args, **kwargs)

    return run


class ContextExecutor(Executor):
    """An executor that runs each task in a copy of its submitter's context.

    Wrap a thread pool once; every ``submit``, ``map`` and
    ``loop.run_in_executor`` through it then carries the attribution bound
    where the work was handed over, and what a task binds ends with it::

        pool = aievents.ContextExecutor(ThreadPoolExecutor(max_workers=4))
        with aievents.context(user_id="user-42"):
            future = pool.submit(make_thumbnail, "photo.png")

    Shutting it down (or leaving its ``with`` block) shuts the wrapped
    executor down.

    Args:
        executor: The executor that runs the tasks, usually a
            :class:`~concurrent.futures.ThreadPoolExecutor`.
    """

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Schedule ``fn(*args, **kwargs)`` in a copy of the context in force now.

        Raises:
            TypeError: ``fn`` is a coroutine, async generator or generator
                function, whose body would not run in the task.
        """
        _refuse_deferred(fn)
        return self._executor.submit(_call_in, contextvars.copy_context(), fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the wrapped executor down (see :meth:`Executor.shutdown`)."""
        self._executor.shutdown(wait=wait, cancel_futures=cancel_futures)


def _call_in(
    context: contextvars.Context,
    function: Callable[..., R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> R:
    return context.run(function, *args, **kwargs)


def _refuse_deferred(function: Callable[..., object]) -> None:
    """A coroutine or generator function's body would run later, in another context."""
    for test, kind, later in (
        (inspect.iscoroutinefunction, "a coroutine function", "awaits the coroutine"),
        (inspect.isasyncgenfunction, "an async generator function", "iterates it"),
        (inspect.isgeneratorfunction, "a generator function", "iterates it"),
    ):
        if test(function):
            name = getattr(function, "__qualname__", repr(function))
            raise TypeError(
                f"cannot run {name}() in a carried context: it is {kind}, so its body runs "
                f"only when code {later}, in that code's context. Call it where the context "
                "you want is bound (asyncio tasks and asyncio.to_thread copy the context "
                "by themselves), and hand only plain functions to a thread pool"
            )


def _defined_here_unbound(function: Callable[..., object], caller: FrameType) -> bool:
    """Whether module or class code is decorating ``function`` as it defines it.

    Such code made ``function`` (its code object is one of the caller's
    constants) and has not bound it to a name yet: that happens only when a
    decorator is applied. Function bodies are left alone: a decorator applied
    there runs when the body does, which may well be when the work is handed
    over.
    """
    if caller.f_code.co_flags & inspect.CO_OPTIMIZED:  # a function's frame
        return False
    try:
        code = getattr(inspect.unwrap(function), "__code__", None)
    except ValueError:  # a __wrapped__ cycle: not a function being defined
        return False
    if code is None or code.co_name == "<lambda>":
        return False
    if not any(constant is code for constant in caller.f_code.co_consts):
        return False
    return not any(value is function for value in caller.f_locals.values())
