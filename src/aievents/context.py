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
keeps what a task bound with :func:`bind_context` into its next task. Submit
the work wrapped with :func:`carry_context`: it runs in a copy of the
submitter's context, so it is attributed to the submitter's request, and what
it binds ends with it::

    with aievents.context(user_id="user-42"):
        pool.submit(aievents.carry_context(make_thumbnail), photo)
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Final, ParamSpec, TypeVar

from aievents.exceptions import EventValidationError

__all__ = [
    "BINDABLE_FIELDS",
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

    Hand the wrapper to a thread pool (``pool.submit(carry_context(work),
    ...)``, ``pool.map``, ``loop.run_in_executor``): each call runs in its own
    copy of the context that was current when the wrapper was made, so events
    built in it carry that context's attribution, and whatever the call binds
    ends with it instead of staying on the pool's thread for the next task.

    Args:
        function: Any callable.

    Returns:
        A callable with the same signature and result.
    """
    captured = contextvars.copy_context()

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(function, *args, **kwargs)

    return run
