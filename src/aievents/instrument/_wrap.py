"""The wrapper every instrumented SDK method gets, for any provider.

An instrumentation wraps an SDK method with :func:`wrap` and a *begin*
function that looks at the call's arguments::

    begin(args, kwargs) -> Tracker | None

``None`` means the call is not one to report (a text model, an operation
that makes no image): the SDK is called untouched. A tracker is told what
the SDK returned (:meth:`Tracker.returned`, which gives back the value for
the caller: the SDK's own, or a transparent proxy) or raised
(:meth:`Tracker.failed`). An async method's tracker may also have
``areturned`` (awaited instead of ``returned``).

The wrapper claims the call first (:mod:`aievents.instrument._guard`): when
an outer wrapper already reports it (a client instrumented on its own and
through its classes, a gateway's call that makes an instrumented SDK call),
it calls straight through. Telemetry failures are logged under the
instrumentation's ``source`` name, never raised into the call.

:class:`Installation` is one instrumentation's state (process-wide, or of
one client): its settings, whether it is on, and the attributes it changed
(:class:`~aievents.instrument._patches.Patches`), undone by identity.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from aievents import _unfinished as unfinished
from aievents.instrument._guard import claim, release
from aievents.instrument._patches import Patches
from aievents.instrument._request import report_failure
from aievents.instrument._settings import Settings

__all__ = ["Active", "Begin", "Installation", "Tracker", "is_coroutine", "wrap"]

S = TypeVar("S", bound=Settings)


class Tracker(Protocol):
    """One call being reported."""

    def returned(self, result: Any) -> Any:
        """The SDK returned ``result``: report it, and give the caller its value."""

    def failed(self, error: BaseException) -> None:
        """The SDK raised ``error`` (it goes on to the caller unchanged)."""


#: A call's start: ``(args, kwargs) -> Tracker | None`` (None: not reported).
Begin = Callable[[tuple[Any, ...], dict[str, Any]], Tracker | None]


class Active(Protocol):
    """What a wrapper reports for; it passes calls through once ``active`` is false."""

    @property
    def active(self) -> bool:
        """Whether calls are reported (false once undone)."""


class Installation(Generic[S]):
    """One instrumentation (process-wide, or of one client): settings, state, what it changed."""

    def __init__(self, settings: S) -> None:
        self.settings = settings
        self.active = True
        self.patches = Patches()

    def patch(self, target: Any, name: str, value: Any) -> None:
        """Set ``target.name`` to ``value``, noting what it held for :meth:`undo`."""
        self.patches.patch(target, name, value)

    def undo(self) -> None:
        """Restore what :meth:`patch` changed, where nobody wrapped ours since.

        Where someone did, theirs stays and ours, now inactive, passes calls
        through without reporting them.
        """
        self.active = False
        self.patches.undo()


def _begin(source: str, begin: Begin, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The call's tracker, or None (not reported, or the telemetry failed: logged)."""
    if unfinished.pending():  # requests collected since: reported here, on a normal path
        unfinished.report_collected()
    try:
        return begin(args, kwargs)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure(source, exc)
        return None


def _failed(source: str, tracker: Tracker, error: BaseException) -> None:
    try:
        tracker.failed(error)
    except Exception as exc:  # noqa: BLE001 - the call's own error goes on
        report_failure(source, exc)


def _returned(source: str, tracker: Tracker, result: Any) -> Any:
    try:
        return tracker.returned(result)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure(source, exc)
        return result


async def _areturned(source: str, tracker: Any, result: Any) -> Any:
    settle = getattr(tracker, "areturned", None)
    if settle is None:
        return _returned(source, tracker, result)
    try:
        return await settle(result)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure(source, exc)
        return result


def _wrap_sync(original: Callable[..., Any], begin: Begin, scope: Active, source: str) -> Any:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not scope.active:
            return original(*args, **kwargs)
        token = claim()
        if token is None:  # an outer wrapper reports this call
            return original(*args, **kwargs)
        try:
            tracker = _begin(source, begin, args, kwargs)
            if tracker is None:
                return original(*args, **kwargs)
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:  # KeyboardInterrupt too: reported, then raised unchanged
                _failed(source, tracker, exc)
                raise
            return _returned(source, tracker, result)
        finally:
            release(token)

    return call


def _wrap_async(original: Callable[..., Any], begin: Begin, scope: Active, source: str) -> Any:
    @functools.wraps(original)
    async def call(*args: Any, **kwargs: Any) -> Any:
        if not scope.active:
            return await original(*args, **kwargs)
        token = claim()
        if token is None:  # an outer wrapper reports this call
            return await original(*args, **kwargs)
        try:
            tracker = _begin(source, begin, args, kwargs)
            if tracker is None:
                return await original(*args, **kwargs)
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:  # cancellation too: reported, then raised unchanged
                _failed(source, tracker, exc)
                raise
            return await _areturned(source, tracker, result)
        finally:
            release(token)

    return call


def is_coroutine(method: Callable[..., Any]) -> bool:
    """Whether ``method`` (unwrapped through ``functools.wraps``) is an ``async def``."""
    return inspect.iscoroutinefunction(inspect.unwrap(method))


def wrap(
    original: Callable[..., Any],
    begin: Begin,
    scope: Active,
    *,
    source: str,
    asynchronous: bool | None = None,
) -> Any:
    """``original`` reported for ``scope`` as ``begin`` says.

    Args:
        original: The SDK's method or function.
        begin: Looks at each call's ``(args, kwargs)``: its tracker, or None
            for a call not to report.
        scope: The instrumentation; while its ``active`` is false the
            wrapper calls straight through.
        source: The name telemetry failures are logged under (``"bedrock"``).
        asynchronous: Whether ``original`` is a coroutine function; found
            out from it when None.
    """
    if asynchronous is None:
        asynchronous = is_coroutine(original)
    make = _wrap_async if asynchronous else _wrap_sync
    return make(original, begin, scope, source)
