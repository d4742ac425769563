"""The wrapper every instrumented openai SDK method gets, per client or process-wide.

A call kind is a *begin* function and the tracker it returns::

    begin(settings, kwargs, endpoint) -> Tracker | None

``None`` means the call is not one to report (the SDK is called untouched).
The provider's neutral wrapper (:func:`aievents.instrument._wrap.wrap`)
does the rest: the claim, the tracker's ``returned``/``failed``, telemetry
failures logged and never raised. This module only turns a call's
arguments into the settings and endpoint of its client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aievents.instrument import _wrap
from aievents.instrument._openai_call import Endpoint, Settings
from aievents.instrument._wrap import Tracker

__all__ = ["Begin", "Scope", "Tracker", "is_async", "wrap"]

#: A call kind's start: ``(settings, kwargs, endpoint) -> Tracker | None``.
Begin = Callable[[Settings, dict[str, Any], Endpoint], Tracker | None]


class Scope(Protocol):
    """What a wrapper reports for: one client, or the SDK's classes."""

    @property
    def active(self) -> bool:
        """Whether calls are reported (false once undone: the wrapper passes through)."""

    @property
    def settings(self) -> Settings:
        """The settings in force now."""

    def endpoint(self, args: tuple[Any, ...]) -> Endpoint:
        """Where the call with these positional arguments goes."""


def is_async(method: Callable[..., Any], owner: Any) -> bool:
    """Whether an SDK method is async (the SDK wraps some in sync-looking decorators).

    ``owner`` is the resource or its class (``AsyncImages``...).
    """
    if _wrap.is_coroutine(method):
        return True
    cls = owner if isinstance(owner, type) else type(owner)
    return cls.__name__.startswith("Async")


def wrap(original: Callable[..., Any], begin: Begin, scope: Scope, owner: Any) -> Any:
    """``original`` (a method of ``owner``) reported for ``scope`` as ``begin`` says."""

    def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tracker | None:
        return begin(scope.settings, kwargs, scope.endpoint(args))

    return _wrap.wrap(
        original, start, scope, source="openai", asynchronous=is_async(original, owner)
    )
