"""Instrument fal's client: :func:`instrument_fal`.

``instrument_fal()`` reports the images ``fal_client`` makes, in the whole
process: ``run``, ``subscribe``, ``submit`` then ``result`` (or the
handle's ``get()``), and their async forms (``run_async``,
``subscribe_async``, ``submit_async``, ``result_async``), called as the
module's functions or as methods of any ``SyncClient`` or ``AsyncClient``.
Each request emits, with fal's request id (``x-fal-request-id``, or the
queue's ``request_id``):

1. ``image:request:started``, stamped with the time the call began;
2. ``image:request:completed`` with the images of the result (``images``,
   or one ``image``; those fal flagged in ``has_nsfw_concepts`` are not
   counted);
3. ``image:usage`` with what fal billed: the ``x-fal-billable-units``
   response header as ``usage.billed`` (``Billed(units, "units")``), and,
   where the price entry prices fal's unit (``per_billed_unit`` of
   ``units``, or of the entry's own unit: fal bills each endpoint in it),
   the units at that price as the reported cost (``usage.cost``). The
   event's ``cost`` is ours, from the price table.

The endpoint is the model (``fal-ai/flux/dev``); the size is the
``image_size`` asked for (a preset: ``square_hd`` 1024x1024, ``square``
512x512, ``portrait_4_3`` 768x1024, ``portrait_16_9`` 576x1024,
``landscape_4_3`` 1024x768, ``landscape_16_9`` 1024x576; or ``{"width",
"height"}``; else ``resolution``, a tier such as ``2K``), replaced by the
result's images' own ``width`` x ``height`` when they give it. A call
with ``image_url`` or ``image_urls`` is an edit.

``run`` and ``subscribe`` report when their result comes. ``submit``
announces the request (started) when fal queues it, and its end is
reported when its result is fetched, in whatever thread or task, or when
fetching it answers fal's failure of the request; see
:mod:`aievents.instrument._fal_queue` for a cancelled request, and one
whose result is never fetched, which is booked when the process ends.

A result without images (a text endpoint on fal) emits nothing: whether a
call makes images is known from its answer. A failed call (``fal_client``'s
``FalClientHTTPError``: 422, 500...) emits ``image:request:error`` with
the status code when the call asks for images (an endpoint the price table
knows, or ``image_size``/``num_images`` among its arguments), as does a
queued image request whose status says it failed.

What the SDK returns and raises reaches the caller unchanged. Instrumenting
twice is the same as once; :func:`uninstrument_fal` undoes it. A function
taken from ``fal_client`` before instrumenting (``from fal_client import
run``) is the SDK's own and is not reported.

Needs the ``fal`` extra: ``pip install 'aievents[fal]'``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from contextvars import Token
from typing import Any, Final

from aievents._extras import import_extra
from aievents.client import EventClient
from aievents.instrument import _fal_queue as queue
from aievents.instrument._fal_call import (
    FalCall,
    Heard,
    hearing,
    listen,
    listen_async,
)
from aievents.instrument._guard import claimed
from aievents.instrument._settings import Settings
from aievents.instrument._wrap import Begin, Installation, wrap
from aievents.pricing import PriceBook, PriceTable

__all__ = ["instrument_fal", "is_instrumented", "uninstrument_fal"]

_SOURCE: Final = "fal"
#: The module's functions bound to its default clients at import (the classes'
#: methods do not reach them), and whether each queues its request.
_BOUND: Final = (("run", False), ("submit", True), ("run_async", False), ("submit_async", True))
#: fal_client's functions that send one request and return its response.
_SENDERS: Final = (("_maybe_retry_request", False), ("_async_maybe_retry_request", True))
#: Held while instrumenting or undoing: the check and the wrapping are one step.
_LOCK: Final = threading.Lock()


class _Process:
    """The process-wide instrumentation, when there is one."""

    installed: Installation[Settings] | None = None


_PROCESS: Final = _Process()


def _quiet(token: Token[Heard | None]) -> None:
    """Stop listening to responses for the call that ends (in its own context)."""
    try:
        token.var.reset(token)
    except ValueError:  # ended in another context: its own ends with it
        return


class _Run:
    """A ``run`` call (or a ``submit``): its result or handle, or its failure."""

    __slots__ = ("call", "fetched_here", "heard", "queued", "token")

    def __init__(self, call: FalCall, *, queued: bool, fetched_here: bool = True) -> None:
        self.call = call
        self.queued = queued
        #: Whether the result is for this process to fetch (not a webhook's).
        self.fetched_here = fetched_here
        self.heard, self.token = hearing()

    def returned(self, result: Any) -> Any:
        """Report the result; for ``submit``, announce the queued request."""
        _quiet(self.token)
        if not self.queued:
            self.call.answered(result, self.heard)
            return result
        request_id = getattr(result, "request_id", None) or self.heard.request_id
        if isinstance(request_id, str):
            queue.submitted(self.call, request_id, fetched_here=self.fetched_here)
        return result

    def failed(self, error: BaseException) -> None:
        """Report the failure of an image call."""
        _quiet(self.token)
        self.call.failed(error)


class _Fetch:
    """A handle's ``get()``: the end of a queued request."""

    __slots__ = ("heard", "submission", "token")

    def __init__(self, submission: queue.Submission) -> None:
        self.submission = submission
        self.heard, self.token = hearing()

    def returned(self, result: Any) -> Any:
        """Report the result."""
        _quiet(self.token)
        self.submission.answered(result, self.heard)
        return result

    def failed(self, error: BaseException) -> None:
        """fal says the request failed: it ends; any other failure (a timeout, 429): still open."""
        _quiet(self.token)
        self.submission.fetch_failed(error)


class _Status:
    """A handle's ``status()``: fal says the request failed; its result may tell more."""

    __slots__ = ("submission",)

    def __init__(self, submission: queue.Submission) -> None:
        self.submission = submission

    def returned(self, status: Any) -> Any:
        """Note a status ``COMPLETED`` with an error: the request failed.

        It is not ended here: fetching its result (as ``subscribe`` and
        ``get()`` do) gives fal's answer, and its status code; never fetched,
        it is booked as this error.
        """
        error = getattr(status, "error", None)
        if type(status).__name__ == "Completed" and error:
            kind = getattr(status, "error_type", None)
            # fal's error type (runner_error...), or request_failed when it gives none
            named = kind if isinstance(kind, str) and kind else "request_failed"
            self.submission.said_failed(str(error), named)
        return status

    def failed(self, error: BaseException) -> None:
        """The status could not be read: the request goes on."""


class _Cancel:
    """A handle's ``cancel()``: fal signals the request to stop; its end is still to show."""

    __slots__ = ("submission",)

    def __init__(self, submission: queue.Submission) -> None:
        self.submission = submission

    def returned(self, result: Any) -> Any:
        """fal took the cancellation: a running request may still finish (and bill).

        Its result fetched later reports it; fal's error for it, or no fetch
        at all, books it as cancelled.
        """
        self.submission.cancelling = True
        return result

    def failed(self, error: BaseException) -> None:
        """fal refused it (the request had completed): the request goes on."""


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _begin_call(installed: Installation[Settings], skip: int, *, queued: bool) -> Begin:
    """``run``'s or ``submit``'s start; ``skip`` is 1 for the class's (``self`` first)."""

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Run:
        application = _argument(args, kwargs, skip, "application")
        arguments = _argument(args, kwargs, skip + 1, "arguments")
        call = FalCall(installed.settings, application, arguments)
        return _Run(call, queued=queued, fetched_here=kwargs.get("webhook_url") is None)

    return begin


def _on_handle(kind: type[_Fetch | _Status | _Cancel]) -> Begin:
    """A handle method's start: tracked when the handle's request is one this process queued."""

    def begin(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> _Fetch | _Status | _Cancel | None:
        submission = queue.OPEN.find(getattr(args[0], "request_id", None)) if args else None
        return None if submission is None else kind(submission)

    return begin


#: The handles' methods, and what each tells of the request.
_HANDLE_METHODS: Final = (("get", _Fetch), ("status", _Status), ("cancel", _Cancel))


def _handed_over(
    get: Callable[..., Any], installed: Installation[Settings], *, asynchronous: bool
) -> Callable[..., Any]:
    """``get`` (wrapped), which inside an outer reported call hands the request over to it.

    The outer call (an ``image_request`` block, a gateway's call) reports
    the result: the request is no longer open here, or it would be booked
    again at exit.
    """

    def hand_over(args: tuple[Any, ...]) -> None:
        if args and installed.active and claimed():
            queue.OPEN.drop(getattr(args[0], "request_id", None))

    if asynchronous:

        @functools.wraps(get)
        async def aget(*args: Any, **kwargs: Any) -> Any:
            hand_over(args)
            return await get(*args, **kwargs)

        return aget

    @functools.wraps(get)
    def sget(*args: Any, **kwargs: Any) -> Any:
        hand_over(args)
        return get(*args, **kwargs)

    return sget


def _install(installed: Installation[Settings], sdk: Any, client: Any) -> None:
    """Wrap the clients' classes, the module's bound functions, the handles, the senders."""
    for cls in (client.SyncClient, client.AsyncClient):
        for name, queued in (("run", False), ("submit", True)):
            begin = _begin_call(installed, 1, queued=queued)
            installed.patch(cls, name, wrap(getattr(cls, name), begin, installed, source=_SOURCE))
    for name, queued in _BOUND:
        bound = getattr(sdk, name, None)
        if callable(bound):
            begin = _begin_call(installed, 0, queued=queued)
            installed.patch(sdk, name, wrap(bound, begin, installed, source=_SOURCE))
    for cls, asynchronous in ((client.SyncRequestHandle, False), (client.AsyncRequestHandle, True)):
        for name, kind in _HANDLE_METHODS:
            original = getattr(cls, name)
            method = wrap(original, _on_handle(kind), installed, source=_SOURCE)
            if name == "get":
                method = _handed_over(method, installed, asynchronous=asynchronous)
            installed.patch(cls, name, method)
    for name, asynchronous in _SENDERS:
        send = getattr(client, name, None)
        if callable(send):
            installed.patch(client, name, (listen_async if asynchronous else listen)(send))


def instrument_fal(
    *,
    events: EventClient | None = None,
    prices: PriceBook | PriceTable | None = None,
    capture_prompts: bool = False,
    capture_outputs: bool = False,
) -> None:
    """Report the images ``fal_client`` makes as events, in the whole process.

    Args:
        events: The event client to emit on; the default client when omitted
            (looked up at each call, so ``capture_events()`` sees them).
        prices: The :class:`~aievents.pricing.PriceBook` to price with; the
            process default book when omitted.
        capture_prompts: Copy the ``prompt`` argument into the started events.
        capture_outputs: Copy the images (their URLs) into the completed events.

    Calling this again only updates the settings; the SDK is wrapped once.

    Raises:
        ImportError: fal-client is not installed (the ``fal`` extra).
    """
    sdk = import_extra("fal_client", "instrument_fal", "fal")
    client = import_extra("fal_client.client", "instrument_fal", "fal")
    settings = Settings.given(events, prices, capture_prompts, capture_outputs)
    with _LOCK:
        if _PROCESS.installed is not None:
            _PROCESS.installed.settings = settings
            return
        installed = Installation(settings)
        _install(installed, sdk, client)
        _PROCESS.installed = installed


def uninstrument_fal() -> None:
    """Undo :func:`instrument_fal`; harmless when it was not done.

    The SDK's own functions and methods come back; where another library
    wrapped ours in the meantime, its wrapper stays and ours passes calls
    through without reporting them. Queued requests already announced are
    still reported when their result is fetched through a wrapper still in
    place, and otherwise booked when the process ends.
    """
    with _LOCK:
        if _PROCESS.installed is not None:
            _PROCESS.installed.undo()
            _PROCESS.installed = None


def is_instrumented(client: Any = None) -> bool:
    """Whether :func:`instrument_fal` is on.

    ``client`` (a ``SyncClient`` or ``AsyncClient``) changes nothing: fal is
    instrumented for the whole process, every client's calls alike.
    """
    del client
    return _PROCESS.installed is not None
