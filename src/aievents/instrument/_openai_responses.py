"""The Responses API's ``image_generation`` tool: one image request per response that used it.

``client.responses.create(..., tools=[{"type": "image_generation", ...}])`` (or ``parse``)
(sync or async, ``stream=True``, ``responses.stream(...)``,
``with_raw_response`` and ``with_streaming_response``) is reported as one
image request, with OpenAI's ``x-request-id`` as its request id, once the
response shows at least one ``image_generation_call``:

- operation ``image.edit`` when the tool's ``action`` is ``edit`` (or the
  calls edited, under ``auto``), else ``image.generation``;
- model, size and quality from the tool's settings, the tools the response
  echoes and the call items (the SDK's documented default model when none
  names one);
- images: the completed calls (failed, filtered ones are no images);
- usage: the image model's ``tool_usage.image_gen`` (:mod:`aievents.adapters.responses`),
  priced as the image model; the main model's ``response.usage`` is not
  image usage and is never counted.

A stream is costed once, from its final response (``response.completed``).
A stream cut short, or let go of by the caller, after an image call began is
reported as the Images API's streams are (see :mod:`._openai_answers`). An
HTTP error of a call with the tool is ``image:request:error``. A response
with the tool that made no image call emits nothing; a call without the tool
is not touched (:func:`begin` returns None after looking at ``tools``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any, Final

from aievents import _unfinished as unfinished
from aievents.adapters.responses import ImageTool, image_tool, read_image_tool
from aievents.events import ImageOutput
from aievents.instrument._httpbody import tap
from aievents.instrument._openai_answers import (
    BodyWatch,
    StreamWatch,
    fail,
    is_raw_response,
    watch_stream,
)
from aievents.instrument._openai_call import IMAGE_DEPLOYMENT, Endpoint, Settings, given, header
from aievents.instrument._request import ImageRequest, report_failure

__all__ = ["DEFAULT_MODEL", "Tracker", "begin"]

#: The image model the tool uses when neither the call nor the response names
#: one: the default the installed openai SDK documents for ``ImageGeneration.model``.
DEFAULT_MODEL: Final = "gpt-image-2.6-sunburst"
#: Stream events that carry the final response.
_FINAL: Final = frozenset({"response.completed", "response.failed", "response.incomplete"})
_WHAT: Final = "openai responses"


class ToolRequest(ImageRequest):
    """An image request of the Responses API: reported only once it is known to be one.

    Its events go out once the response shows an image call, or the call
    fails; until then :meth:`start` emits nothing.
    """

    def __init__(self, *, deployments: dict[str, str], action: str | None, **facts: Any) -> None:
        super().__init__(**facts)
        #: Whether the request is an image request to report (an image call, or an error).
        self.confirmed = False
        self.deployments = deployments
        #: The tool's ``action`` as the call set it.
        self.action = action

    def start(self) -> None:
        """Emit ``image:request:started`` once the request is known to be an image request."""
        if self.confirmed:
            super().start()

    def learn(self, found: ImageTool) -> None:
        """Take the image model, size, quality, operation and usage a response reports."""
        answer = found.answer
        # The model the response names (a dated snapshot, the default filled
        # in), unless the call's is a deployment priced through ``deployments``.
        if answer.model is not None and answer.model != self.model and self.priced_as is None:
            self.model = answer.model
            self.priced_as = self.deployments.get(answer.model)
        self.learn_settings(size=answer.size, quality=answer.quality)
        if self.action in (None, "auto") and found.action == "edit":
            self.operation = "image.edit"
        if answer.usage is not None:
            self.record_usage(answer.usage)


def finish(request: ToolRequest, response: Any, capture_outputs: bool) -> None:
    """End the request with its final response: reported when it made an image call."""
    if not isinstance(response, dict):  # the SDK's object carries OpenAI's request id
        request.update(request_id=getattr(response, "_request_id", None))
    found = read_image_tool(response)
    if found is None:
        report_failure(_WHAT, TypeError(f"not a Responses API response: {type(response)!r}"))
        return
    if found.calls == 0:  # the tool was offered, not used: no image request
        if found.status == "failed":
            request.confirmed = True
            request.fail(RuntimeError("the response failed"), error_type="ResponseFailed")
        return
    request.confirmed = True
    request.learn(found)
    request.record_images(found.answer.images or 0)
    if capture_outputs:
        request.outputs = tuple(
            ImageOutput(b64_json=image, revised_prompt=revised) for image, revised in found.outputs
        )
    request.complete()


class ToolStreamWatch(StreamWatch):
    """Follows a streamed response: image calls confirm the request, the final response costs it.

    Reported once: from the final response's event (``response.completed``,
    ``failed`` or ``incomplete``) when it comes; otherwise as an Images API
    stream is once an image call began (completed calls counted, or an
    error, or the calls begun when the caller lets go of it). A stream that
    ends, fails or is let go of before any image call: an error when it
    ended or failed by itself (as an HTTP error of the call would be),
    nothing when the caller let go of it.
    """

    request: ToolRequest

    def __init__(self, request: ImageRequest, capture_outputs: bool) -> None:
        super().__init__(request, capture_outputs)
        self.final: Any = None
        self.calls = 0

    def see(self, event: Any) -> None:
        """One event of the stream."""
        kind = getattr(event, "type", "")
        request = self.request
        if kind in _FINAL:
            self.final = event.response
            self.end()
        elif kind == "response.created":  # the tool's settings as the response echoes them
            found = read_image_tool(event.response)
            if found is not None:
                request.learn(found)
        elif kind == "response.output_item.added":
            if getattr(event.item, "type", None) == "image_generation_call":
                self.calls += 1
                request.confirmed = True
                request.start()
        elif kind == "response.image_generation_call.completed":
            self.completed += 1

    def end(self, error: BaseException | None = None) -> None:
        """Report the request as the stream left it (once)."""
        if self.final is not None:
            if self.claim():
                finish(self.request, self.final, self.capture_outputs)
            return
        self.request.confirmed = True  # ended or failed before its final response
        super().end(error)

    def abandon(self) -> None:
        """The caller let go of the stream: the calls begun are booked, else nothing."""
        if self.final is not None or not self.calls:
            if self.claim() and self.final is not None:
                finish(self.request, self.final, self.capture_outputs)
            return
        self.request.number_of_images = self.calls
        super().abandon()


class ToolBodyWatch(BodyWatch):
    """Follows a response body the caller reads later (``with_streaming_response``)."""

    request: ToolRequest

    def ended(self) -> None:
        """The body was read to its end: the request ends with what it says."""
        self.drained = True
        if self.claim():
            answer = self.body.answer()
            if answer is not None:
                finish(self.request, answer, self.capture_outputs)

    def abandon(self) -> None:
        """Never read to its end: whether it made an image is unknown, so nothing is reported."""
        self.claim()


class Tracker:
    """Reports one ``responses.create`` call that offered the image tool."""

    def __init__(self, request: ToolRequest, capture_outputs: bool) -> None:
        self.request = request
        self.capture_outputs = capture_outputs

    def returned(self, result: Any) -> Any:
        """Report the call's answer (a response, a stream or a raw response); returns ``result``."""
        try:
            if unfinished.pending():  # requests collected since: reported on a normal path
                unfinished.report_collected()
            if is_raw_response(result):
                self._raw(result)
            elif self.request.streaming:
                return watch_stream(result, self.request, self.capture_outputs, ToolStreamWatch)
            else:
                finish(self.request, result, self.capture_outputs)
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
            report_failure(_WHAT, exc)
        return result

    async def areturned(self, result: Any) -> Any:
        """:meth:`returned` for the async client: a raw stream's ``parse()`` is awaited first.

        The SDK keeps what ``parse()`` gave: the caller's own ``parse()``
        gets the same stream.
        """
        parse = getattr(result, "parse", None)
        if not (self.request.streaming and is_raw_response(result)):
            return self.returned(result)
        if not inspect.iscoroutinefunction(parse):
            return self.returned(result)
        try:
            stream = await parse()
            headers = result.http_response.headers
            self.request.update(request_id=headers.get("x-request-id"))
            watch_stream(stream, self.request, self.capture_outputs, ToolStreamWatch)
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
            report_failure(_WHAT, exc)
        return result

    def failed(self, error: BaseException) -> None:
        """Report the call's error (an HTTP error: ``image:request:error`` with its status)."""
        try:
            self.request.confirmed = True
            fail(self.request, error)
        except Exception as exc:  # noqa: BLE001 - the call's own error goes on
            report_failure(_WHAT, exc)

    def _raw(self, result: Any) -> None:
        """A raw response: its stream, its body read already, or its body read later."""
        request = self.request
        http = result.http_response
        request.update(request_id=http.headers.get("x-request-id"))
        if request.streaming:
            if inspect.iscoroutinefunction(result.parse):  # async: see areturned
                report_failure(_WHAT, TypeError("an async raw stream is followed by areturned"))
                return
            watch_stream(result.parse(), request, self.capture_outputs, ToolStreamWatch)
        elif http.is_stream_consumed:  # with_raw_response read the body before it returned
            request.answered()
            finish(request, json.loads(http.content), self.capture_outputs)
        else:
            watch = ToolBodyWatch(request, self.capture_outputs)
            watch.body.decode(http)
            tap(http, watch)


def begin(settings: Settings, kwargs: dict[str, Any], endpoint: Endpoint) -> Tracker | None:
    """The tracker of a ``responses.create`` call, or None when it offers no image tool.

    Args:
        settings: The instrumentation's settings.
        kwargs: The call's keyword arguments (a ``tools`` iterator that is
            not a list is replaced by the list of its tools).
        endpoint: Where the call goes: the provider the events name, and the
            image deployment the client's default headers name (Azure's
            ``x-ms-oai-image-generation-deployment``; the call's
            ``extra_headers`` win). The deployment the client's URL names is
            the main model's, not the image model's: not used here.
    """
    tools = kwargs.get("tools")
    if not tools:
        return None
    try:
        if not isinstance(tools, (list, tuple)):
            if isinstance(tools, (str, bytes, dict)) or not hasattr(tools, "__iter__"):
                return None
            tools = kwargs["tools"] = list(tools)
        tool = image_tool(tools)
        if tool is None:
            return None
        return Tracker(_request(settings, kwargs, tool, endpoint), settings.capture_outputs)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure(_WHAT, exc)
        return None


def _image_deployment(kwargs: dict[str, Any], endpoint: Endpoint) -> str | None:
    """The image deployment the call's headers name, over the client's default headers'."""
    headers = given(kwargs, "extra_headers")
    if isinstance(headers, Mapping) and any(
        isinstance(key, str) and key.lower() == IMAGE_DEPLOYMENT for key in headers
    ):
        return header(headers, IMAGE_DEPLOYMENT)  # the call's, even one that omits it
    return endpoint.image_deployment


def _request(
    settings: Settings, kwargs: dict[str, Any], tool: Any, endpoint: Endpoint
) -> ToolRequest:
    model = _image_deployment(kwargs, endpoint) or given(tool, "model")
    model = str(model) if model else DEFAULT_MODEL
    action = given(tool, "action")
    size = given(tool, "size")
    quality = given(tool, "quality")
    prompt = kwargs.get("input") if settings.capture_prompts else None
    return ToolRequest(
        deployments=settings.deployments,
        action=action if isinstance(action, str) else None,
        provider=endpoint.provider,
        model=model,
        operation="image.edit" if action == "edit" else "image.generation",
        size=str(size) if size is not None else None,
        quality=str(quality) if quality is not None else None,
        prompt=prompt if isinstance(prompt, str) else None,
        streaming=bool(kwargs.get("stream")),
        client=settings.events,
        prices=settings.prices,
        priced_as=settings.deployments.get(model),
    )
