"""Instrument the openai SDK's image calls: :func:`instrument_openai`.

``instrument_openai(client)`` wraps ``images.generate``, ``images.edit`` and
``images.create_variation`` of one ``OpenAI`` or ``AsyncOpenAI`` instance
(streaming included). Each call emits, all with one request id (OpenAI's
``x-request-id`` when the answer carries it, otherwise a generated one):

1. ``image:request:started`` once the request id is known (when the answer
   or the stream arrives), stamped with the time the call began;
2. ``image:request:completed``, or ``image:request:error`` with the error
   type, message and HTTP status;
3. ``image:usage`` when the answer reported usage or the model has a
   per-image price, with the exact cost.

What the SDK returns and raises reaches the caller unchanged (a stream is
the SDK's own object; its events pass through untouched). Prompts and image
data stay out of the events unless you opt in. ``instrument_openai`` twice
is the same as once; :func:`uninstrument_openai` restores the client.

Needs the ``openai`` extra: ``pip install 'aievents[openai]'``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final, TypeVar

from aievents.client import EventClient
from aievents.events import ImageOutput
from aievents.exceptions import EventValidationError
from aievents.instrument._request import ImageRequest, report_failure
from aievents.pricing import PriceTable
from aievents.usage import from_openai

__all__ = ["instrument_openai", "is_instrumented", "uninstrument_openai"]

C = TypeVar("C")

PROVIDER: Final = "openai"
_METHODS: Final = {
    "generate": "image.generation",
    "edit": "image.edit",
    "create_variation": "image.variation",
}
_MARK: Final = "_aievents_instrumentation"
#: Parameters only GPT image models take: the SDK's documented rule picks
#: ``gpt-image-1`` over the ``dall-e-2`` default when one of them is used.
_GPT_IMAGE_ONLY: Final = frozenset(
    {
        "background",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "moderation",
        "output_compression",
        "output_format",
        "partial_images",
        "stream",
        "svg",
    }
)
_GPT_IMAGE_QUALITIES: Final = frozenset({"low", "medium", "high", "xhigh", "max", "auto"})
_DALL_E_DEFAULT_SIZE: Final = "1024x1024"


def _given(kwargs: dict[str, Any], name: str) -> Any:
    """A call argument, or None when omitted (the SDK's ``omit``/``NOT_GIVEN`` included)."""
    value = kwargs.get(name)
    if value is None or type(value).__name__ in ("Omit", "NotGiven"):
        return None
    return value


def default_model(operation: str, kwargs: dict[str, Any]) -> str:
    """The model the SDK documents for a call that names none.

    ``dall-e-2``, unless a parameter specific to GPT image models is used,
    which makes it ``gpt-image-1`` (variations are ``dall-e-2`` only).
    """
    if operation == "image.variation":
        return "dall-e-2"
    gpt_only = any(_given(kwargs, name) is not None for name in _GPT_IMAGE_ONLY)
    if gpt_only or _given(kwargs, "quality") in _GPT_IMAGE_QUALITIES:
        return "gpt-image-1"
    return "dall-e-2"


class _Settings:
    def __init__(
        self,
        events: EventClient | None,
        prices: PriceTable | None,
        capture_prompts: bool,
        capture_outputs: bool,
    ) -> None:
        self.events = events
        self.prices = prices
        self.capture_prompts = capture_prompts
        self.capture_outputs = capture_outputs
        self.active = True


def _request_for(settings: _Settings, operation: str, kwargs: dict[str, Any]) -> ImageRequest:
    model = _given(kwargs, "model")
    model = str(model) if model is not None else default_model(operation, kwargs)
    size = _given(kwargs, "size")
    quality = _given(kwargs, "quality")
    if model.startswith("dall-e"):
        size = size or _DALL_E_DEFAULT_SIZE
        quality = quality or "standard"
    image = _given(kwargs, "image")
    inputs = None
    if operation != "image.generation" and image is not None:
        inputs = len(image) if isinstance(image, (list, tuple)) else 1
    prompt = _given(kwargs, "prompt") if settings.capture_prompts else None
    number = _given(kwargs, "n")
    return ImageRequest(
        provider=PROVIDER,
        model=model,
        operation=operation,
        size=str(size) if size is not None else None,
        quality=str(quality) if quality is not None else None,
        number_of_images=number if isinstance(number, int) else 1,
        image_input_count=inputs,
        prompt=prompt if isinstance(prompt, str) else None,
        streaming=bool(_given(kwargs, "stream")),
        client=settings.events,
        prices=settings.prices,
    )


def _learn(request: ImageRequest, answer: Any) -> None:
    """Take size, quality, usage and images from an ``ImagesResponse`` or a completed event."""
    size = getattr(answer, "size", None)
    if isinstance(size, str) and (request.size in (None, "auto") or size != "auto"):
        request.size = size
    quality = getattr(answer, "quality", None)
    if isinstance(quality, str) and (request.quality in (None, "auto") or quality != "auto"):
        request.quality = quality
    usage = getattr(answer, "usage", None)
    if usage is not None:
        try:
            request.record_usage(from_openai(usage))
        except EventValidationError:
            request.record_usage(usage)  # not OpenAI's shape after all: logged there


def _finish_response(request: ImageRequest, response: Any, settings: _Settings) -> None:
    data = getattr(response, "data", None)
    if not isinstance(data, list):
        # Not an ImagesResponse: a raw response (``with_raw_response``). Its
        # request id is in the headers; its body is the caller's to read, so
        # images and usage stay unknown (cost None, never a made-up 0).
        headers = getattr(response, "headers", None)
        if headers is not None:
            request.update(request_id=headers.get("x-request-id"))
        request.complete()
        return
    request.update(request_id=getattr(response, "_request_id", None))
    _learn(request, response)
    request.record_images(len(data))
    if settings.capture_outputs:
        request.outputs = tuple(
            ImageOutput(
                url=getattr(item, "url", None),
                b64_json=getattr(item, "b64_json", None),
                revised_prompt=getattr(item, "revised_prompt", None),
            )
            for item in data
        )
    request.complete()


def _fail(request: ImageRequest, error: BaseException) -> None:
    request.update(request_id=getattr(error, "request_id", None))
    request.fail(error)


class _StreamWatch:
    """Follows a streamed generation or edit: partial events pass, completed ones count.

    The request is reported once: when as many completed events as images
    requested have arrived, when the stream ends or is closed, or when it
    fails. Every step is guarded: the stream's events and errors reach the
    caller as the SDK yields and raises them.
    """

    def __init__(self, request: ImageRequest, settings: _Settings) -> None:
        self.request = request
        self.settings = settings
        self.completed = 0
        self.expected = request.number_of_images or 1

    def see(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if isinstance(kind, str) and kind.endswith(".completed"):
            self.completed += 1
            _learn(self.request, event)
            if self.settings.capture_outputs:
                output = ImageOutput(b64_json=getattr(event, "b64_json", None))
                self.request.outputs = (*(self.request.outputs or ()), output)
            if self.completed >= self.expected:
                self.end()

    def end(self, error: BaseException | None = None) -> None:
        if error is not None and not self.completed:
            _fail(self.request, error)
        elif self.completed:
            self.request.record_images(self.completed)
            self.request.complete()
        else:
            self.request.fail(
                RuntimeError("the stream ended before its completed event"),
                error_type="StreamClosed",
            )


def _watch_stream(stream: Any, request: ImageRequest, settings: _Settings) -> Any:
    """Start the request and hook the SDK's stream so that its end reports the request."""
    inner = getattr(stream, "_iterator", None)
    close = getattr(stream, "close", None)
    if inner is None or close is None:
        # A stream of a shape this version does not know: leave it alone
        # rather than report what cannot be observed.
        report_failure("openai stream", TypeError(f"unknown stream type {type(stream)!r}"))
        return stream
    headers = getattr(getattr(stream, "response", None), "headers", None)
    if headers is not None:
        request.update(request_id=headers.get("x-request-id"))
    request.start()
    watch = _StreamWatch(request, settings)
    if hasattr(inner, "__anext__"):
        stream._iterator = _follow_async(inner, watch)

        async def close_async() -> None:
            try:
                await close()
            finally:
                _safe(watch.end)

        stream.close = close_async
    else:
        stream._iterator = _follow(inner, watch)

        def close_and_report() -> None:
            try:
                close()
            finally:
                _safe(watch.end)

        stream.close = close_and_report
    return stream


def _follow(inner: Iterator[Any], watch: _StreamWatch) -> Iterator[Any]:
    error: BaseException | None = None
    try:
        for event in inner:
            _safe(functools.partial(watch.see, event))
            yield event
    except BaseException as exc:  # reported, then raised unchanged
        error = exc
        raise
    finally:  # exhausted, failed, closed or collected: reported once
        _safe(functools.partial(watch.end, error))


async def _follow_async(inner: AsyncIterator[Any], watch: _StreamWatch) -> AsyncIterator[Any]:
    error: BaseException | None = None
    try:
        async for event in inner:
            _safe(functools.partial(watch.see, event))
            yield event
    except BaseException as exc:  # reported, then raised unchanged
        error = exc
        raise
    finally:  # exhausted, failed, closed or collected: reported once
        _safe(functools.partial(watch.end, error))


def _safe(step: Callable[[], Any], fallback: Any = None) -> Any:
    """Run one telemetry step; a failure is logged, never raised into the call."""
    try:
        return step()
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("openai", exc)
        return fallback


def _begin(settings: _Settings, operation: str, kwargs: dict[str, Any]) -> ImageRequest | None:
    return _safe(functools.partial(_request_for, settings, operation, kwargs))  # type: ignore[no-any-return]


def _failed(request: ImageRequest | None, error: BaseException) -> None:
    if request is not None:
        _safe(functools.partial(_fail, request, error))


def _returned(request: ImageRequest | None, result: Any, settings: _Settings) -> Any:
    """Report a call that returned; the value returned is the SDK's own ``result``."""
    if request is None:
        return result
    if request.streaming:
        return _safe(functools.partial(_watch_stream, result, request, settings), result)
    _safe(functools.partial(_finish_response, request, result, settings))
    return result


def _wrap_sync(original: Callable[..., Any], operation: str, settings: _Settings) -> Any:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not settings.active:
            return original(*args, **kwargs)
        request = _begin(settings, operation, kwargs)
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:  # KeyboardInterrupt too: reported, then raised unchanged
            _failed(request, exc)
            raise
        return _returned(request, result, settings)

    return call


def _wrap_async(original: Callable[..., Any], operation: str, settings: _Settings) -> Any:
    @functools.wraps(original)
    async def call(*args: Any, **kwargs: Any) -> Any:
        if not settings.active:
            return await original(*args, **kwargs)
        request = _begin(settings, operation, kwargs)
        try:
            result = await original(*args, **kwargs)
        except BaseException as exc:  # cancellation too: reported, then raised unchanged
            _failed(request, exc)
            raise
        return _returned(request, result, settings)

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
    prices: PriceTable | None = None,
    capture_prompts: bool = False,
    capture_outputs: bool = False,
) -> C:
    """Report the image calls of an ``OpenAI`` or ``AsyncOpenAI`` client as events.

    Clients derived from it with ``with_options()`` or ``copy()`` are
    instrumented too, with the same settings.

    Args:
        client: The openai client instance (sync or async, Azure included).
        events: The event client to emit on; the default client when omitted
            (looked up at each call, so ``capture_events()`` sees them).
        prices: The price table; the process-wide one when omitted.
        capture_prompts: Copy prompts into the started events.
        capture_outputs: Copy image URLs and data into the completed events.

    Returns:
        The same client, instrumented. Calling this again only updates the
        settings; the methods are wrapped once.

    Raises:
        TypeError: ``client`` has no ``images`` resource with any of
            ``generate``, ``edit`` or ``create_variation``.
    """
    settings = _Settings(events, prices, capture_prompts, capture_outputs)
    installed = _installed(client)
    if installed is not None:
        installed.settings.__dict__.update(settings.__dict__)
        installed.settings.active = True
        return client
    _install(client, settings)
    return client


class _Installed:
    """What instrumenting one client changed, to undo exactly that."""

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings
        self.patches: list[tuple[Any, str, Any, Any]] = []

    def patch(self, target: Any, name: str, value: Any) -> None:
        previous = target.__dict__.get(name, _ABSENT)
        setattr(target, name, value)
        self.patches.append((target, name, previous, value))


_ABSENT: Final[Any] = object()


def _installed(client: Any) -> _Installed | None:
    images = getattr(client, "images", None)
    found = getattr(images, _MARK, None) if images is not None else None
    return found if isinstance(found, _Installed) else None


def _install(client: Any, settings: _Settings) -> None:
    images = getattr(client, "images", None)
    methods = [name for name in _METHODS if callable(getattr(images, name, None))]
    if images is None or not methods:
        raise TypeError(f"instrument_openai needs an openai client, got {client!r}")
    installed = _Installed(settings)
    for name in methods:
        original = getattr(images, name)
        wrap = _wrap_async if _is_async(images, original) else _wrap_sync
        installed.patch(images, name, wrap(original, _METHODS[name], settings))
    for name in ("copy", "with_options"):
        derive = getattr(client, name, None)
        if callable(derive):
            installed.patch(client, name, _wrap_derive(derive, settings))
    setattr(images, _MARK, installed)


def _wrap_derive(derive: Callable[..., Any], settings: _Settings) -> Any:
    """``with_options()``/``copy()`` that instrument the client they make."""

    @functools.wraps(derive)
    def make(*args: Any, **kwargs: Any) -> Any:
        derived = derive(*args, **kwargs)
        if settings.active and _installed(derived) is None:
            _safe(functools.partial(_install, derived, settings))
        return derived

    return make


def uninstrument_openai(client: C) -> C:
    """Undo :func:`instrument_openai`; harmless on a client that is not instrumented.

    The SDK's own methods come back. Where another library wrapped ours in
    the meantime, its wrapper is left in place and ours passes calls through
    without reporting them.
    """
    installed = _installed(client)
    if installed is None:
        return client
    installed.settings.active = False
    for target, name, previous, ours in reversed(installed.patches):
        if target.__dict__.get(name) is not ours:
            continue  # wrapped again by someone else: theirs stays, ours is inert
        if previous is _ABSENT:
            target.__dict__.pop(name, None)
        else:
            setattr(target, name, previous)
    delattr(client.images, _MARK)  # type: ignore[attr-defined]
    return client


def is_instrumented(client: Any) -> bool:
    """Whether ``client``'s image calls are instrumented."""
    return _installed(client) is not None
