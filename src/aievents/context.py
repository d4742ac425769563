"""Attribution bound to the current context and stamped on every event built in it.

Bind who a request is for once, at the edge of your code, and every event
built inside carries it, across threads started with ``contextvars`` and
across ``await``::

    with aievents.context(user_id="user-42", project_id="proj_abc"):
        client.images.generate(...)   # its events carry user_id and project_id

Fields passed explicitly to an event win over bound ones. Binding is done
with :mod:`contextvars`, so concurrent requests in threads or tasks do not see
each other's attribution.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Final

from aievents.exceptions import EventValidationError

__all__ = [
    "BINDABLE_FIELDS",
    "ContextToken",
    "bind_context",
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
    """Remove the named fields from the current context's bindings."""
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
