"""What an openai image answer tells, however the caller receives it.

A plain call returns an ``ImagesResponse``; ``stream=True`` returns the SDK's
stream; ``with_raw_response`` and ``with_streaming_response`` return a
response whose body the caller reads later, or never. Each way ends the
request once, with the same facts (request id, size, quality, images, usage
and so cost):

- an ``ImagesResponse``, or the same answer as JSON, ends it at once;
- a stream ends it at its completed event(s), its end, or its close;
- a body still to be read ends it when the caller has read it in full
  (``parse()``, ``read()``, ``text()``, ``json()``, ``iter_bytes()``,
  ``iter_text()``, ``iter_lines()``, sync or async), by following the HTTP
  response's decoded bytes;
- a body (or stream) never read ends it when the response is closed, or at
  the latest when it is garbage-collected: images from ``n`` (1 when not
  given), priced per image where the table can, else with cost unknown.

The caller's objects behave as the SDK made them: the bytes it reads, what
``parse()`` returns and what closing does are untouched.
"""

from __future__ import annotations

import contextlib
import functools
import json
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

from aievents.events import ImageOutput
from aievents.exceptions import EventValidationError
from aievents.instrument._request import ImageRequest, report_failure
from aievents.usage import from_openai

__all__ = ["fail", "finish_answer", "is_raw_response", "safe", "watch_raw", "watch_stream"]


def safe(step: Callable[[], Any], fallback: Any = None) -> Any:
    """Run one telemetry step; a failure is logged, never raised into the call."""
    try:
        return step()
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("openai", exc)
        return fallback


# ---------------------------------------------------------------- the answer


def _field(answer: Any, name: str) -> Any:
    """A field of an SDK object or of the same answer as parsed JSON."""
    if isinstance(answer, dict):
        return answer.get(name)
    return getattr(answer, name, None)


def learn(request: ImageRequest, answer: Any) -> None:
    """Take size, quality and usage from an answer or a stream's completed event."""
    size = _field(answer, "size")
    if isinstance(size, str) and (request.size in (None, "auto") or size != "auto"):
        request.size = size
    quality = _field(answer, "quality")
    if isinstance(quality, str) and (request.quality in (None, "auto") or quality != "auto"):
        request.quality = quality
    usage = _field(answer, "usage")
    if usage is not None:
        try:
            request.record_usage(from_openai(usage))
        except EventValidationError:
            request.record_usage(usage)  # not OpenAI's shape after all: logged there


def finish_answer(request: ImageRequest, answer: Any, capture_outputs: bool) -> None:
    """End the request with an ``ImagesResponse`` (or its JSON): images, usage, outputs."""
    if not isinstance(answer, dict):  # the SDK's object carries OpenAI's request id
        request.update(request_id=getattr(answer, "_request_id", None))
    data = _field(answer, "data")
    if not isinstance(data, list):
        report_failure("openai answer", TypeError(f"no image list in {type(answer).__name__}"))
        finish_unread(request)
        return
    learn(request, answer)
    request.record_images(len(data))
    if capture_outputs:
        request.outputs = tuple(
            ImageOutput(
                url=_field(item, "url"),
                b64_json=_field(item, "b64_json"),
                revised_prompt=_field(item, "revised_prompt"),
            )
            for item in data
        )
    request.complete()


def finish_unread(request: ImageRequest) -> None:
    """End a request whose answer was never read: the images asked for (1 by default)."""
    asked = request.number_of_images
    request.record_images(asked if asked is not None else 1)
    request.complete()


# ---------------------------------------------------------------- streams


class StreamWatch:
    """Follows a streamed generation or edit: partial events pass, completed ones count.

    The request is reported once: when as many completed events as images
    requested have arrived, when the stream ends, fails or is closed, or when
    it is collected. A stream closed after it began but before a completed
    event is an error (``StreamClosed``); a stream never read at all counts
    the images asked for.
    """

    def __init__(self, request: ImageRequest, capture_outputs: bool) -> None:
        self.request = request
        self.capture_outputs = capture_outputs
        self.completed = 0
        self.expected = request.number_of_images or 1
        self.began = False
        self.ended = False

    def see(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if isinstance(kind, str) and kind.endswith(".completed"):
            self.completed += 1
            learn(self.request, event)
            if self.capture_outputs:
                output = ImageOutput(b64_json=getattr(event, "b64_json", None))
                self.request.outputs = (*(self.request.outputs or ()), output)
            if self.completed >= self.expected:
                self.end()

    def end(self, error: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        if error is not None and not self.completed:
            fail(self.request, error)
        elif self.completed:
            self.request.record_images(self.completed)
            self.request.complete()
        elif not self.began:
            finish_unread(self.request)
        else:
            self.request.fail(
                RuntimeError("the stream ended before its completed event"),
                error_type="StreamClosed",
            )

    @contextlib.contextmanager
    def follow(self) -> Iterator[None]:
        """Around the reading of the stream: exhausted, failed, closed or collected."""
        self.began = True
        try:
            yield
        except BaseException as exc:  # reported, then raised unchanged
            safe(functools.partial(self.end, exc))
            raise
        safe(self.end)

    def closed(self) -> None:
        # Once the stream is being read, its own end reports it: the HTTP
        # response closes when its bytes run out, before the last events
        # have reached the caller.
        if not self.began:
            self.end()

    def collected(self) -> None:
        self.end()


def fail(request: ImageRequest, error: BaseException) -> None:
    """Report the request as failed with ``error`` (OpenAI's request id when it has one)."""
    request.update(request_id=getattr(error, "request_id", None))
    request.fail(error)


def watch_stream(stream: Any, request: ImageRequest, capture_outputs: bool) -> Any:
    """Start the request and hook the SDK's stream so that its end reports the request."""
    inner = getattr(stream, "_iterator", None)
    close = getattr(stream, "close", None)
    if inner is None or close is None:
        # A stream of a shape this version does not know: leave it alone
        # rather than report what cannot be observed.
        report_failure("openai stream", TypeError(f"unknown stream type {type(stream)!r}"))
        return stream
    http = getattr(stream, "response", None)
    headers = getattr(http, "headers", None)
    if headers is not None:
        request.update(request_id=headers.get("x-request-id"))
    request.start()
    watch = StreamWatch(request, capture_outputs)
    asynchronous = hasattr(inner, "__anext__")
    if asynchronous:
        stream._iterator = _follow_async(inner, watch)

        async def close_async() -> None:
            try:
                await close()
            finally:
                safe(watch.end)

        stream.close = close_async
    else:
        stream._iterator = _follow(inner, watch)

        def close_and_report() -> None:
            try:
                close()
            finally:
                safe(watch.end)

        stream.close = close_and_report
    if http is not None:
        _hook_http(http, watch)
    return stream


def _follow(inner: Iterator[Any], watch: StreamWatch) -> Iterator[Any]:
    with watch.follow():
        for event in inner:
            safe(functools.partial(watch.see, event))
            yield event


async def _follow_async(inner: AsyncIterator[Any], watch: StreamWatch) -> AsyncIterator[Any]:
    with watch.follow():
        async for event in inner:
            safe(functools.partial(watch.see, event))
            yield event


# ---------------------------------------------------------------- raw responses


def is_raw_response(result: Any) -> bool:
    """Whether ``result`` is the SDK's raw or streamed response (``with_raw_response``...)."""
    attributes = getattr(result, "__dict__", None)
    return isinstance(attributes, dict) and "http_response" in attributes


class BodyWatch:
    """Follows a JSON answer the caller reads later: read in full, closed, or collected."""

    def __init__(self, request: ImageRequest, capture_outputs: bool) -> None:
        self.request = request
        self.capture_outputs = capture_outputs
        self.reading = 0
        self.done = False

    def read(self, body: bytes) -> None:
        """The whole body has been read: end the request with what it says."""
        if self.done:
            return
        self.done = True
        try:
            answer = json.loads(body)
        except Exception as exc:  # noqa: BLE001 - not JSON after all (or nested too deep)
            report_failure("openai body", exc)
            finish_unread(self.request)
            return
        finish_answer(self.request, answer, self.capture_outputs)

    def unread(self) -> None:
        """The body will not be read in full: count the images asked for."""
        if self.done:
            return
        self.done = True
        finish_unread(self.request)

    @contextlib.contextmanager
    def follow(self, http: Any) -> Iterator[list[bytes]]:
        """Around one read of ``http``'s bytes, which the reader appends to the list given.

        Read to the end, the body is the answer. Stopped before (abandoned,
        failed), it is not: the request is counted unread once the response
        is closed, else when it is closed or collected later.
        """
        seen: list[bytes] = []
        self.reading += 1
        try:
            yield seen
        except BaseException:  # GeneratorExit too: the reader let go
            self.reading -= 1
            if http.is_closed:
                safe(self.unread)
            raise
        self.reading -= 1
        safe(functools.partial(self.read, b"".join(seen)))

    def closed(self) -> None:
        # A read in progress closes the response when its bytes run out,
        # before it has seen them all: its own end reports the request.
        if not self.reading:
            self.unread()

    def collected(self) -> None:
        self.unread()


def watch_raw(
    response: Any,
    request: ImageRequest,
    capture_outputs: bool,
    *,
    stream: Any = None,
) -> None:
    """Report a raw or streamed response's request as its body is read (or not).

    ``stream`` is the response parsed into the SDK's stream, for
    ``stream=True`` calls (the caller's own ``parse()`` returns the same one).
    """
    http = response.http_response
    request.update(request_id=http.headers.get("x-request-id"))
    if request.streaming and stream is not None:
        watch_stream(stream, request, capture_outputs)
        return
    watch = BodyWatch(request, capture_outputs)
    try:
        body = http.content
    except Exception:  # noqa: BLE001 - not read yet: the httpx2 or httpx ResponseNotRead
        pass
    else:  # ``with_raw_response`` reads the body before it returns
        watch.read(body)
        return
    try:  # reported when read, as the plain call would be: all events then
        _hook_http(http, watch)
    except Exception as exc:  # noqa: BLE001 - a response that cannot be followed
        report_failure("openai response", exc)
        finish_unread(request)  # still on the books


# ---------------------------------------------------------------- the HTTP response

#: Where a hooked HTTP response keeps its watch.
_WATCH: Final = "_aievents_watch"
#: The hooked twin of each HTTP response class, made once.
_HOOKED: dict[type, type] = {}


def _hook_http(http: Any, watch: StreamWatch | BodyWatch) -> None:
    """Tell ``watch`` when ``http`` (an httpx response) is closed, collected, and read.

    The response becomes an instance of a subclass of its own class that
    reports ``close()``/``aclose()`` and, for a body watch, the bytes that
    ``iter_bytes()``/``aiter_bytes()`` give: every way the SDK reads a body
    goes through them (``read()`` joins them, ``iter_text()`` and
    ``iter_lines()`` decode them). Everything else is the response's own.
    """
    cls = type(http)
    hooked = _HOOKED.get(cls)
    if hooked is None:
        hooked = _HOOKED.setdefault(cls, _hooked_class(cls))
    setattr(http, _WATCH, watch)
    http.__class__ = hooked
    weakref.finalize(http, safe, watch.collected)


def _hooked_class(cls: type) -> type:
    def close(self: Any) -> None:
        try:
            cls.close(self)  # type: ignore[attr-defined]
        finally:
            safe(getattr(self, _WATCH).closed)

    async def aclose(self: Any) -> None:
        try:
            await cls.aclose(self)  # type: ignore[attr-defined]
        finally:
            safe(getattr(self, _WATCH).closed)

    def iter_bytes(self: Any, chunk_size: int | None = None) -> Iterator[bytes]:
        parts: Iterator[bytes] = cls.iter_bytes(self, chunk_size)  # type: ignore[attr-defined]
        watch = getattr(self, _WATCH)
        if isinstance(watch, BodyWatch) and not watch.done:
            return _observe(parts, watch, self)
        return parts

    def aiter_bytes(self: Any, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        parts: AsyncIterator[bytes] = cls.aiter_bytes(self, chunk_size)  # type: ignore[attr-defined]
        watch = getattr(self, _WATCH)
        if isinstance(watch, BodyWatch) and not watch.done:
            return _observe_async(parts, watch, self)
        return parts

    methods = {"close": close, "aclose": aclose, "iter_bytes": iter_bytes}
    methods["aiter_bytes"] = aiter_bytes
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, **methods}
    return type(cls.__name__, (cls,), namespace)


def _observe(parts: Iterator[bytes], watch: BodyWatch, http: Any) -> Iterator[bytes]:
    with watch.follow(http) as seen:
        for part in parts:
            seen.append(part)
            yield part


async def _observe_async(
    parts: AsyncIterator[bytes], watch: BodyWatch, http: Any
) -> AsyncIterator[bytes]:
    with watch.follow(http) as seen:
        async with contextlib.aclosing(parts):  # type: ignore[type-var]
            async for part in parts:
                seen.append(part)
                yield part
