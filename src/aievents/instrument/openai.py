"""Instrument the openai SDK's image calls: :func:`instrument_openai`.

``instrument_openai(client)`` wraps ``images.generate``, ``images.edit`` and
``images.create_variation`` of one ``OpenAI`` or ``AsyncOpenAI`` instance
(streaming included). Each call emits, all with one request id (OpenAI's
``x-request-id`` when the answer carries it, otherwise a generated one):

1. ``image:request:started`` once the request id is known (when the answer
   or the stream arrives), stamped with the time the call began;
2. ``image:request:completed``, or ``image:request:error`` with the error
   type, message and HTTP status;
3. ``image:usage`` with the usage the answer reported and the exact cost
   (``None`` when the price table cannot tell it).

Calls through ``with_raw_response`` and ``with_streaming_response`` report
the same once their body is parsed or read. A body or stream the caller
lets go of before its end (never read, or read in part) is counted with the
images asked for (``n``), priced per image where the price table can,
stamped with the time the answer arrived: when the response or stream is
closed, or, once it is garbage-collected (or its reading abandoned), at the
next instrumented call, ``EventClient.flush()``/``close()``, or the end of
the process, whichever comes first. ``instrument_openai(openai)`` covers
the SDK's module-level client.

What the SDK returns and raises reaches the caller unchanged (a stream is
the SDK's own object; its events pass through untouched). Prompts and image
data stay out of the events unless you opt in. ``instrument_openai`` twice
is the same as once; :func:`uninstrument_openai` restores the client.

Azure OpenAI clients (``AzureOpenAI``, ``AsyncAzureOpenAI``) call a model by
its deployment name: the events keep the deployment as ``model``, and
``deployments={"deployment": "model"}`` says which model to price each one
as (the cost's ``priced_model``).

Needs the ``openai`` extra: ``pip install 'aievents[openai]'``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from aievents import _unfinished as unfinished
from aievents.client import EventClient
from aievents.instrument._openai_answers import (
    fail,
    finish_answer,
    is_raw_response,
    safe,
    watch_raw,
    watch_stream,
)
from aievents.instrument._openai_call import (
    Settings,
    checked_deployments,
    request_for,
    url_deployment,
)
from aievents.instrument._openai_responses import wrap_create
from aievents.instrument._request import ImageRequest, report_failure
from aievents.pricing import PriceBook, PriceTable, book_for

__all__ = ["instrument_openai", "is_instrumented", "uninstrument_openai"]

C = TypeVar("C")

_METHODS: Final = {
    "generate": "image.generation",
    "edit": "image.edit",
    "create_variation": "image.variation",
}
_MARK: Final = "_aievents_instrumentation"


def _begin(installed: _Installed, operation: str, kwargs: dict[str, Any]) -> ImageRequest | None:
    if unfinished.pending():  # requests collected since: reported here, on a normal path
        unfinished.report_collected()
    try:
        return request_for(installed.settings, operation, kwargs, installed.deployment)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("openai", exc)
        return None


def _failed(request: ImageRequest | None, error: BaseException) -> None:
    if request is not None:
        try:
            fail(request, error)
        except Exception as exc:  # noqa: BLE001 - the call's own error goes on
            report_failure("openai", exc)


def _returned(
    request: ImageRequest | None,
    result: Any,
    settings: Settings,
    *,
    stream: Any = None,
) -> Any:
    """Report a call that returned; the value returned is the SDK's own ``result``."""
    if request is None:
        return result
    capture = settings.capture_outputs
    try:
        if is_raw_response(result):  # with_raw_response, with_streaming_response
            watch_raw(result, request, capture, stream=stream)
        elif request.streaming:
            return watch_stream(result, request, capture)
        else:
            finish_answer(request, result, capture)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("openai", exc)
    return result


def _raw_stream(request: ImageRequest | None, result: Any) -> Any:
    """The stream a raw ``stream=True`` response parses into, or None.

    The SDK caches what ``parse()`` returns: the caller's own ``parse()``
    gets this same stream. The async client's ``parse()`` may give an
    awaitable: :func:`_settled` awaits it.
    """
    if request is None or not request.streaming or not is_raw_response(result):
        return None
    return safe(result.parse)


async def _settled(value: Any) -> Any:
    """``value``, awaited if it is awaitable; a failure is logged, and gives None."""
    if not inspect.isawaitable(value):
        return value
    try:
        return await value
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("openai", exc)
        return None


def _wrap_sync(original: Callable[..., Any], operation: str, installed: _Installed) -> Any:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not installed.active:
            return original(*args, **kwargs)
        settings = installed.settings
        request = _begin(installed, operation, kwargs)
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:  # KeyboardInterrupt too: reported, then raised unchanged
            _failed(request, exc)
            raise
        stream = _raw_stream(request, result)
        return _returned(request, result, settings, stream=stream)

    return call


def _wrap_async(original: Callable[..., Any], operation: str, installed: _Installed) -> Any:
    @functools.wraps(original)
    async def call(*args: Any, **kwargs: Any) -> Any:
        if not installed.active:
            return await original(*args, **kwargs)
        settings = installed.settings
        request = _begin(installed, operation, kwargs)
        try:
            result = await original(*args, **kwargs)
        except BaseException as exc:  # cancellation too: reported, then raised unchanged
            _failed(request, exc)
            raise
        stream = await _settled(_raw_stream(request, result))
        return _returned(request, result, settings, stream=stream)

    return call


def _is_async(resource: Any, method: Callable[..., Any]) -> bool:
    """Whether a resource method is async (the SDK wraps some in sync-looking decorators)."""
    if inspect.iscoroutinefunction(inspect.unwrap(method)):
        return True
    return type(resource).__name__.startswith("Async")


def instrument_openai(
    client: C,
    *,
    events: EventClient | None = None,
    prices: PriceBook | PriceTable | None = None,
    capture_prompts: bool = False,
    capture_outputs: bool = False,
    deployments: Mapping[str, str] | None = None,
) -> C:
    """Report the image calls of an ``OpenAI`` or ``AsyncOpenAI`` client as events.

    Clients derived from it with ``with_options()`` or ``copy()`` are
    instrumented too: they use its settings (as they are at each call, until
    ``instrument_openai`` gives one of them settings of its own), and each
    client can be uninstrumented alone. So are its ``with_raw_response`` and
    ``with_streaming_response`` calls, whether the SDK built those wrappers
    before or after this call.

    The ``openai`` module itself stands for its module-level client
    (``openai.images.generate(...)`` after setting ``openai.api_key``): the
    client behind the module's proxies is instrumented, as it is loaded
    then (the SDK makes it once, from the module's settings).

    Args:
        client: The openai client instance (sync or async, Azure included),
            or the ``openai`` module.
        events: The event client to emit on; the default client when omitted
            (looked up at each call, so ``capture_events()`` sees them).
        prices: The :class:`~aievents.pricing.PriceBook` to price with; the
            process default book when omitted.
        capture_prompts: Copy prompts into the started events.
        capture_outputs: Copy image URLs and data into the completed events.
        deployments: Azure deployment names and the model each one runs
            (``{"prod-images": "gpt-image-2"}``). The events keep the
            deployment as ``model`` (the name in the call, or the client's
            ``azure_deployment``); the cost is that of the model it maps to
            (``cost.priced_model``). A deployment named after its model
            needs no entry; one neither mapped nor priced costs ``None``.

    Returns:
        The same client, instrumented. Calling this again only updates the
        settings; the methods are wrapped once.

    Raises:
        TypeError: ``client`` has no ``images`` resource with any of
            ``generate``, ``edit`` or ``create_variation``, or
            ``deployments`` is not a mapping.
        FieldValueError: a deployment name or model is not a non-empty
            string (nothing is changed).
        openai.OpenAIError: ``client`` is the ``openai`` module and the SDK
            cannot make its client yet (no API key set).
    """
    settings = Settings(
        events=events,
        prices=book_for(prices),
        capture_prompts=capture_prompts,
        capture_outputs=capture_outputs,
        deployments=checked_deployments(deployments),
    )
    target = _resolved(client)
    installed = _installed(target)
    if installed is not None:
        # Its own settings from now on; the clients derived from it follow them.
        installed.own = settings
        installed.active = True
        return client
    _install(target, _Installed(settings))
    return client


class _Installed:
    """One client's instrumentation: its settings, whether it reports, what it changed.

    A client derived with ``with_options()``/``copy()`` gets an install of
    its own, with its own ``active`` flag (undoing one client leaves the
    other reporting), that uses its parent's settings, as they are at each
    call, until it is given settings of its own.
    """

    def __init__(self, own: Settings | None, parent: _Installed | None = None) -> None:
        self.own = own
        self.parent = parent
        #: The deployment the client's base URL names (Azure), set when installed.
        self.deployment: str | None = None
        self.active = True
        self.patches: list[tuple[Any, str, Any, Any]] = []

    @property
    def settings(self) -> Settings:
        """The settings in force: this client's own, else its parent's."""
        installed = self
        while installed.own is None and installed.parent is not None:
            installed = installed.parent
        assert installed.own is not None  # the first install has its own
        return installed.own

    def patch(self, target: Any, name: str, value: Any) -> None:
        """Set ``target.name`` to ``value``, noting what it held for :func:`uninstrument_openai`."""
        previous = target.__dict__.get(name, _ABSENT)
        setattr(target, name, value)
        self.patches.append((target, name, previous, value))


_ABSENT: Final[Any] = object()


def _resolved(client: Any) -> Any:
    """The client whose resources to wrap: ``client``, or the one behind a module's proxies.

    The ``openai`` module's ``images`` is the SDK's lazy proxy of the module
    client's resource: it forwards each attribute (``with_raw_response``
    too) to the real resource, so that is where the methods are wrapped.
    Loading it makes the module client, as the first call through it would.
    """
    images = getattr(client, "images", None)
    load = getattr(type(images), "__get_proxied__", None)
    if load is None:
        return client
    real = load(images)
    owner = getattr(real, "_client", None)
    return owner if owner is not None and getattr(owner, "images", None) is real else client


def _loaded(client: Any) -> Any:
    """:func:`_resolved`, or None when a module client cannot be made (so was never wrapped)."""
    try:
        return _resolved(client)
    except Exception:  # noqa: BLE001 - the SDK's error for a module client not set up
        return None


def _installed(client: Any) -> _Installed | None:
    images = getattr(client, "images", None)
    found = getattr(images, _MARK, None) if images is not None else None
    return found if isinstance(found, _Installed) else None


def _install(client: Any, installed: _Installed) -> None:
    """Wrap ``client``'s image methods (and wrappers, and derive methods) for ``installed``.

    Raises:
        TypeError: ``client`` has no ``images`` resource with an image method.
    """
    images = getattr(client, "images", None)
    methods = [name for name in _METHODS if callable(getattr(images, name, None))]
    if images is None or not methods:
        raise TypeError(f"instrument_openai needs an openai client, got {client!r}")
    installed.deployment = url_deployment(client)
    for name in methods:
        original = getattr(images, name)
        wrap = _wrap_async if _is_async(images, original) else _wrap_sync
        installed.patch(images, name, wrap(original, _METHODS[name], installed))
    responses = getattr(client, "responses", None)  # the Responses API's image tool
    if callable(create := getattr(responses, "create", None)):
        installed.patch(
            responses, "create", wrap_create(create, installed, _is_async(responses, create))
        )
    for holder in _response_wrappers(client, images):
        safe(functools.partial(_rewrap, installed, holder, images, methods))
    for name in ("copy", "with_options"):
        derive = getattr(client, name, None)
        if callable(derive):
            installed.patch(client, name, _wrap_derive(derive, installed))
    setattr(images, _MARK, installed)


#: The SDK's cached properties that wrap the images methods for raw and
#: streamed responses, on the resource and on the client.
_RESPONSE_WRAPPERS: Final = ("with_raw_response", "with_streaming_response")


def _response_wrappers(client: Any, images: Any) -> list[Any]:
    """The SDK's raw/streamed-response wrappers of ``images`` built before instrumenting.

    The SDK builds them on first use from the methods the resource has then;
    those built later take ours by themselves.
    """
    found = []
    for name in _RESPONSE_WRAPPERS:
        found.append(_cached(images, name))
        found.append(_cached(_cached(client, name), "images"))
    return [
        holder
        for holder in found
        if holder is not None and getattr(holder, "_images", images) is images
    ]


def _cached(owner: Any, name: str) -> Any:
    """What ``owner`` holds under ``name`` itself (a cached property once used), or None."""
    return getattr(owner, "__dict__", {}).get(name)


def _rewrap(installed: _Installed, holder: Any, images: Any, methods: list[str]) -> None:
    """Point a wrapper built before instrumenting at our methods, as the SDK would now."""
    fresh = type(holder)(images)
    for name in methods:
        if name in vars(holder):
            installed.patch(holder, name, getattr(fresh, name))


def _wrap_derive(derive: Callable[..., Any], installed: _Installed) -> Any:
    """``with_options()``/``copy()`` that instrument the client they make."""

    @functools.wraps(derive)
    def make(*args: Any, **kwargs: Any) -> Any:
        derived = derive(*args, **kwargs)
        if installed.active and _installed(derived) is None:
            safe(functools.partial(_install, derived, _Installed(None, installed)))
        return derived

    return make


def uninstrument_openai(client: C) -> C:
    """Undo :func:`instrument_openai`; harmless on a client that is not instrumented.

    The SDK's own methods come back. Where another library wrapped ours in
    the meantime, its wrapper is left in place and ours passes calls through
    without reporting them. Only ``client`` is undone: the client it was
    derived from, and those derived from it, report as before.
    """
    resolved = _loaded(client)
    installed = _installed(resolved)
    if installed is None:
        return client
    installed.active = False
    for target, name, previous, ours in reversed(installed.patches):
        if target.__dict__.get(name) is not ours:
            continue  # wrapped again by someone else: theirs stays, ours is inert
        if previous is _ABSENT:
            target.__dict__.pop(name, None)
        else:
            setattr(target, name, previous)
    delattr(resolved.images, _MARK)
    return client


def is_instrumented(client: Any) -> bool:
    """Whether ``client``'s image calls are instrumented (and so reported)."""
    return _installed(_loaded(client)) is not None
