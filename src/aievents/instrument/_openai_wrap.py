"""The wrapper every instrumented openai SDK method gets, per client or process-wide.

A call kind is a *begin* function and the tracker it returns::

    begin(settings, kwargs, endpoint) -> Tracker | None

``None`` means the call is not one to report (the SDK is called untouched).
The tracker is told what the SDK returned (:meth:`Tracker.returned`, which
gives back the value for the caller: the SDK's own, or a transparent proxy)
or raised (:meth:`Tracker.failed`). An async client's tracker may also have
``areturned`` (awaited instead of ``returned``).

The wrapper claims the call first (:mod:`aievents.instrument._guard`): when
an outer wrapper already reports it (a client instrumented on its own and
through its classes, a gateway's instrumented call), it calls straight
through. Telemetry failures are logged, never raised into the call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Protocol

from aievents import _unfinished as unfinished
from aievents.instrument._guard import claim, release
from aievents.instrument._openai_call import Endpoint, Settings
from aievents.instrument._request import report_failure

__all__ = ["Begin", "Scope", "Tracker", "is_async", "wrap"]


class Tracker(Protocol):
    """One call being reported."""

    def returned(self, result: Any) -> Any:
        """The SDK returned ``result``: report it, and give the caller its value."""

    def failed(self, error: BaseException) -> None:
        """The SDK raised ``error`` (it goes on to the caller unchanged)."""


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


def _begin(scope: Scope, begin: Begin, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The call's tracker, or None (not reported, or the telemetry failed: logged)."""
    if unfinished.pending():  # requests collected since: reported here, on a normal path
        unfinished.report_collected()
    try:
        return begin(scope.settings, kwargs, scope.endpoint(args))
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("openai", exc)
        return None


def _failed(tracker: Tracker, error: BaseException) -> None:
    try:
        tracker.failed(error)
    except Exception as exc:  # noqa: BLE001 - the call's own error goes on
        report_failure("openai", exc)


def _returned(tracker: Tracker, result: Any) -> Any:
    try:
        return tracker.returned(result)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("openai", exc)
        return result


async def _areturned(tracker: Any, result: Any) -> Any:
    settle = getattr(tracker, "areturned", None)
    if settle is None:
        return _returned(tracker, result)
    try:
        return await settle(result)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("openai", exc)
        return result


def _wrap_sync(original: Callable[..., Any], begin: Begin, scope: Scope) -> Any:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not scope.active:
            return original(*args, **kwargs)
        token = claim()
        if token is None:  # an outer wrapper reports this call
            return original(*args, **kwargs)
        try:
            tracker = _begin(scope, begin, args, kwargs)
            if tracker is None:
                return original(*args, **kwargs)
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:  # KeyboardInterrupt too: reported, then raised unchanged
                _failed(tracker, exc)
                raise
            return _returned(tracker, result)
        finally:
            release(token)

    return call


def _wrap_async(original: Callable[..., Any], begin: Begin, scope: Scope) -> Any:
    @functools.wraps(original)
    async def call(*args: Any, **kwargs: Any) -> Any:
        if not scope.active:
            return await original(*args, **kwargs)
        token = claim()
        if token is None:  # an outer wrapper reports this call
            return await original(*args, **kwargs)
        try:
            tracker = _begin(scope, begin, args, kwargs)
            if tracker is None:
                return await original(*args, **kwargs)
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:  # cancellation too: reported, then raised unchanged
                _failed(tracker, exc)
                raise
            return await _areturned(tracker, result)
        finally:
            release(token)

    return call


def is_async(method: Callable[..., Any], owner: Any) -> bool:
    """Whether an SDK method is async (the SDK wraps some in sync-looking decorators).

    ``owner`` is the resource or its class (``AsyncImages``...).
    """
    if inspect.iscoroutinefunction(inspect.unwrap(method)):
        return True
    cls = owner if isinstance(owner, type) else type(owner)
    return cls.__name__.startswith("Async")


def wrap(original: Callable[..., Any], begin: Begin, scope: Scope, owner: Any) -> Any:
    """``original`` (a method of ``owner``) reported for ``scope`` as ``begin`` says."""
    make = _wrap_async if is_async(original, owner) else _wrap_sync
    return make(original, begin, scope)
