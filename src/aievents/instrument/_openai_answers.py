"""What an openai image answer tells, however the caller receives it.

A plain call returns an ``ImagesResponse``; ``stream=True`` returns the SDK's
stream; ``with_raw_response`` and ``with_streaming_response`` return a
response whose body the caller reads later, or never. Each way ends the
request once, with the same facts (request id, size, quality, images, usage
and so cost):

- an ``ImagesResponse``, or the same answer as JSON, ends it at once;
- a stream ends it at its completed event(s), its end, or its close;
- a body still to be read ends it when the caller has read it to its end,
  however (``parse()``, ``read()``, ``text()``, ``json()``, the
  ``iter_*()`` methods, ``http_response.iter_raw()``, sync or async): the
  bytes are followed where the HTTP response reads them from its network
  stream, and only what the report needs is kept (a long string, such as
  an image's base64 data, is not, unless outputs are captured);
- a body or stream the caller lets go of before its end (never read, or
  read in part; closed, garbage-collected, or left when the process ends)
  ends it the same way, whichever wrapper gave it (:meth:`_Watch.abandon`):
  completed with the images asked for (``n``, 1 when not given), priced
  per image where the table can, else with cost unknown, stamped with the
  time the answer arrived. The provider ran the generation, and bills it.

A response collected by the garbage collector, or a read abandoned part-way,
is only noted where it happens (the collector may run while this thread
holds a sink's lock): it is reported on the next normal path (see
:mod:`aievents._unfinished`), and at the latest when the process ends.

The caller's objects behave as the SDK made them: the bytes it reads, what
``parse()`` returns, what closing does, the response's class (it pickles
and compares as before) are untouched; only the HTTP response's network
stream is wrapped.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from aievents.adapters import from_openai
from aievents.events import ImageOutput
from aievents.exceptions import EventValidationError
from aievents.instrument._httpbody import Body, tap
from aievents.instrument._request import ImageRequest, report_failure
from aievents.instrument._watch import StreamWatch as FollowedStream
from aievents.instrument._watch import Watch, follow, follow_async

__all__ = [
    "BodyWatch",
    "StreamWatch",
    "fail",
    "finish_answer",
    "finish_body",
    "is_raw_response",
    "safe",
    "watch_raw",
    "watch_stream",
]


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
    quality = _field(answer, "quality")
    request.learn_settings(
        size=size if isinstance(size, str) else None,
        quality=quality if isinstance(quality, str) else None,
    )
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


def finish_body(request: ImageRequest, body: bytes, capture_outputs: bool) -> None:
    """End the request with a JSON body read whole (what is kept of it, as it arrives)."""
    kept = Body(whole=capture_outputs)
    kept.feed(body)
    _finish_kept(request, kept, capture_outputs)


def _finish_kept(request: ImageRequest, body: Body, capture_outputs: bool) -> None:
    """End the request with what ``body`` kept: its answer, or the images asked for."""
    answer = body.answer()
    if answer is None:
        finish_unread(request)
    else:
        finish_answer(request, answer, capture_outputs)


def fail(request: ImageRequest, error: BaseException) -> None:
    """Report the request as failed with ``error`` (OpenAI's request id when it has one)."""
    request.update(request_id=getattr(error, "request_id", None))
    request.fail(error)


class _Watch(Watch):
    """An openai answer the caller has yet to end: a body, or a stream's HTTP response."""

    #: Whether the HTTP response's bytes were read to their end.
    drained = False

    def feed(self, data: bytes) -> None:
        """Bytes of the body (only a body watch keeps them)."""

    def ended(self) -> None:
        """The HTTP response's bytes were read to their end."""
        self.drained = True

    def closed(self) -> None:
        """The HTTP response was closed: unread, let go of part-way, or read to its end.

        Closed before any read: the caller let go of it, reported now.
        Closed during a read, before the bytes ran out (the reader let go:
        httpx closes the response as its generator is finalized, perhaps
        inside the garbage collector): noted, and reported on the next
        normal path. Closed as its bytes ran out: the reading's end reports
        it (a stream's last events may still be on their way to the caller).
        """
        if not self.began:
            self.abandon()
        elif not self.drained:
            self.collected()

    def abandon(self) -> None:
        """The caller let go of the answer before its end: book the request (once).

        Closed, garbage-collected (reported later, see ``_unfinished``), or
        left when the process ends, never read or read in part, a body or a
        stream: the provider ran the generation, so the request is completed
        with the images asked for, stamped with the time the answer arrived.
        """
        if self.claim():
            self.request.answered(self.arrived)
            finish_unread(self.request)


# ---------------------------------------------------------------- streams


class StreamWatch(_Watch, FollowedStream):
    """Follows a streamed generation or edit: partial events pass, completed ones count.

    The request is reported once: when as many completed events as images
    requested have arrived, or when the stream ends or fails; a stream the
    caller lets go of first (closed, collected, or left at exit) is
    abandoned as a body is (:meth:`_Watch.abandon`). A stream that ends by
    itself without a completed event is an error (``IncompleteStream``).
    """

    what = "openai"

    def __init__(self, request: ImageRequest, capture_outputs: bool) -> None:
        super().__init__(request)
        self.capture_outputs = capture_outputs
        self.completed = 0
        self.expected = request.number_of_images or 1

    def see(self, event: Any) -> None:
        """One event of the stream: a completed one counts its image, usage and outputs."""
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
        """Report the request as the stream left it (once): completed, or failed."""
        if not self.claim():
            return
        if self.completed:
            self.request.record_images(self.completed)
            self.request.complete()
        elif error is not None:
            fail(self.request, error)
        else:
            self.request.fail(
                RuntimeError("the stream ended without its completed event"),
                error_type="IncompleteStream",
            )


def watch_stream(
    stream: Any,
    request: ImageRequest,
    capture_outputs: bool,
    watch_class: type[StreamWatch] = StreamWatch,
) -> Any:
    """Start the request and hook the SDK's stream so that its end reports the request.

    ``watch_class`` reads the stream's events (the Images API's by default).
    """
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
    watch = watch_class(request, capture_outputs)
    method = _weakly(close)
    if hasattr(inner, "__anext__"):
        stream._iterator = follow_async(inner, watch)

        async def close_async() -> None:
            try:
                original = method()
                if original is not None:
                    await original()
            finally:
                safe(watch.abandon)

        stream.close = close_async
    else:
        stream._iterator = follow(inner, watch)

        def close_and_report() -> None:
            try:
                original = method()
                if original is not None:
                    original()
            finally:
                safe(watch.abandon)

        stream.close = close_and_report
    if http is not None:
        tap(http, watch)
    return stream


def _weakly(method: Any) -> Callable[[], Any]:
    """``method`` (a stream's close), held weakly when bound: the stream keeps its new close."""
    if hasattr(method, "__self__") and hasattr(method, "__func__"):
        return weakref.WeakMethod(method)
    return lambda: method


# ---------------------------------------------------------------- raw responses


def is_raw_response(result: Any) -> bool:
    """Whether ``result`` is the SDK's raw or streamed response (``with_raw_response``...)."""
    attributes = getattr(result, "__dict__", None)
    return isinstance(attributes, dict) and "http_response" in attributes


class BodyWatch(_Watch):
    """Follows a JSON answer the caller reads later: read to its end, closed, or collected."""

    def __init__(self, request: ImageRequest, capture_outputs: bool) -> None:
        super().__init__(request)
        request.answered(self.arrived)
        self.capture_outputs = capture_outputs
        #: What is kept of the body (all of it when outputs are captured).
        self.body = Body(whole=capture_outputs)

    def feed(self, data: bytes) -> None:
        """Bytes of the body as they come off the network (content-encoded as sent)."""
        self.body.feed(data)

    def ended(self) -> None:
        """The body was read to its end: end the request with what it says."""
        super().ended()
        if self.claim():
            _finish_kept(self.request, self.body, self.capture_outputs)


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
    if http.is_stream_consumed:  # with_raw_response reads the body before it returns
        request.answered()
        try:
            body = http.content
        except Exception as exc:  # noqa: BLE001 - consumed but not kept: nothing to read
            report_failure("openai response", exc)
            finish_unread(request)
            return
        finish_body(request, body, capture_outputs)  # ended here: nothing to track
        return
    watch = BodyWatch(request, capture_outputs)
    try:  # reported when read, as the plain call would be: all events then
        watch.body.decode(http)
        tap(http, watch)
    except Exception as exc:  # noqa: BLE001 - a response that cannot be followed
        report_failure("openai response", exc)
        watch.abandon()  # still on the books
