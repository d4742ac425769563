"""OpenAI's Responses API (``POST /v1/responses``) for :class:`~aievents.testing.ImageServer`.

A request whose ``tools`` hold an ``image_generation`` tool is answered as
OpenAI answers it: one ``image_generation_call`` output item per image call
(``completed`` with the image, or ``failed`` as a moderation block), then the
assistant's message; ``tools`` echoed with the tool's defaults filled in (the
image model among them); ``usage`` for the main model and
``tool_usage.image_gen`` with the image model's tokens, as OpenAI bills the
size and quality. A request without the tool gets a text-only answer.
``stream=true`` gets the same answer as server-sent events of the real types,
numbered by ``sequence_number``.

:meth:`ResponsesEndpoint.plan_next` scripts the next answer's image calls
(several, failed ones, none) and can cut its stream short.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Final

from aievents.testing._answers import gpt_image_2_usage, image_tokens

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "GPT_IMAGE_1_TOKENS",
    "IMAGE_DEPLOYMENT",
    "ResponsesEndpoint",
    "image_gen_usage",
]

#: The image model the tool uses when the request names none (the SDK's documented default).
DEFAULT_IMAGE_MODEL: Final = "gpt-image-2.6-sunburst"
#: Azure OpenAI's header naming the deployment of the image model the tool runs.
IMAGE_DEPLOYMENT: Final = "x-ms-oai-image-generation-deployment"
#: Image output tokens of one gpt-image-1 image by (shape, quality), as OpenAI
#: bills them (at $40 per 1M: 272 = $0.011, 1056 = $0.042, 4160 = $0.167 for
#: 1024x1024; 408, 1584, 6240 for 1024x1536 and 1536x1024).
GPT_IMAGE_1_TOKENS: Final[dict[tuple[str, str], int]] = {
    ("square", "low"): 272,
    ("square", "medium"): 1056,
    ("square", "high"): 4160,
    ("oblong", "low"): 408,
    ("oblong", "medium"): 1584,
    ("oblong", "high"): 6240,
}
#: The main model's input tokens beyond the prompt's words (its instructions and tools).
_MAIN_OVERHEAD: Final = 40
#: The assistant's text after the image calls, and its tokens.
_MESSAGE: Final = "Here you are."
_MESSAGE_TOKENS: Final = 5
_CREATED: Final = 1713833628


class _Plan:
    """How one answer goes: its image calls' statuses, and where its stream stops."""

    def __init__(self, calls: Sequence[str], cut_after: str | None) -> None:
        for status in calls:
            if status not in ("completed", "failed"):
                raise ValueError(
                    f"plan_next: calls must be 'completed' or 'failed', got {status!r}"
                )
        self.calls = tuple(calls)
        self.cut_after = cut_after


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _prompt(body: dict[str, Any]) -> str:
    """The text of the request's ``input``: a string, or its messages' text parts."""
    given = body.get("input")
    if isinstance(given, str):
        return given
    texts: list[str] = []
    for message in given if isinstance(given, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return " ".join(texts)


def _has_input_image(body: dict[str, Any]) -> bool:
    given = body.get("input")
    for message in given if isinstance(given, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "input_image":
                return True
    return False


def _echoed(tool: dict[str, Any]) -> dict[str, Any]:
    """The tool as the response echoes it: the request's settings over OpenAI's defaults."""
    return {
        "type": "image_generation",
        "action": "auto",
        "background": "auto",
        "model": DEFAULT_IMAGE_MODEL,
        "moderation": "auto",
        "output_compression": 100,
        "output_format": "png",
        "partial_images": 0,
        "quality": "auto",
        "size": "auto",
        **tool,
    }


def _made(model: str, tool: dict[str, Any]) -> tuple[str, str]:
    """The size and quality an image call makes, ``auto`` resolved as the Images API does."""
    size, quality = str(tool["size"]), str(tool["quality"])
    if model.startswith("gpt-image-2"):
        return ("1024x1024" if size == "auto" else size), ("high" if quality == "auto" else quality)
    return ("1024x1536" if size == "auto" else size), ("high" if quality == "auto" else quality)


def image_gen_usage(
    model: str, calls: int, *, size: str, quality: str, prompt: str, edit: bool
) -> dict[str, Any]:
    """``tool_usage.image_gen`` for ``calls`` completed image calls of ``model``.

    The gpt-image-2 family's tokens are the Images API's
    (:func:`~aievents.testing._answers.gpt_image_2_usage`); other models
    bill gpt-image-1's (:data:`GPT_IMAGE_1_TOKENS`). Input: a text token per
    word of the prompt (and the input image's tokens for an edit).
    """
    usage = gpt_image_2_usage(calls, size=size, quality=quality, prompt=prompt, edit=edit)
    if not model.startswith("gpt-image-2"):
        usage["output_tokens"] = image_tokens(size, quality, GPT_IMAGE_1_TOKENS) * calls
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    if calls == 0:
        usage = {**usage, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        usage["input_tokens_details"] = {"text_tokens": 0, "image_tokens": 0}
    image_out = usage["output_tokens"]
    usage["output_tokens_details"] = {"image_tokens": image_out, "text_tokens": 0}
    return usage


class ResponsesEndpoint:
    """``POST /v1/responses`` of an :class:`~aievents.testing.ImageServer` (its ``responses``).

    Thread-safe. Each answer takes the next plan queued by :meth:`plan_next`,
    else one completed image call when the request has the image tool.
    """

    def __init__(self, b64: str, deployments: dict[str, str] | None = None) -> None:
        self._b64 = b64
        #: Azure deployment names and the model each one runs (the server's).
        self._deployments = deployments if deployments is not None else {}
        self._plans: deque[_Plan] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def plan_next(
        self, calls: Sequence[str] = ("completed",), *, cut_after: str | None = None
    ) -> None:
        """Script the next Responses answer that has the image tool.

        Args:
            calls: Its image calls' statuses, in order: ``"completed"`` (an
                image) or ``"failed"`` (blocked by moderation, no image);
                empty for a response that did not use the tool.
            cut_after: For a streamed answer: the event type after whose
                first occurrence the server closes the connection (the
                stream is cut short; ``response.completed`` never comes).

        Raises:
            ValueError: a status is neither ``completed`` nor ``failed``.
        """
        plan = _Plan(calls, cut_after)
        with self._lock:
            self._plans.append(plan)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):08d}"

    def _plan(self) -> _Plan:
        with self._lock:
            return self._plans.popleft() if self._plans else _Plan(("completed",), None)

    def reply(self, body: dict[str, Any], deployment: str | None = None) -> dict[str, Any]:
        """The JSON answer to ``body`` (a request to ``/v1/responses``).

        ``deployment`` is the image deployment Azure's header names: the tool
        runs it (echoed as the tool's model), and bills the model the
        server's ``deployments`` map it to (its own name otherwise).
        """
        return self._answer(body, deployment)[0]

    def _answer(
        self, body: dict[str, Any], deployment: str | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
        """The final response, its output items in order, and where its stream stops."""
        tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
        tool = next((t for t in tools if t.get("type") == "image_generation"), None)
        prompt = _prompt(body)
        output: list[dict[str, Any]] = []
        cut_after = None
        tool_usage: dict[str, Any] | None = None
        if tool is not None and deployment:  # Azure: the deployment runs the tool
            at = tools.index(tool)
            tool = tools[at] = {**tool, "model": deployment}
        echoed = [_echoed(t) if t is tool else t for t in tools]
        if tool is not None:
            plan = self._plan()
            cut_after = plan.cut_after
            settings = _echoed(tool)
            model = str(settings["model"])
            model = self._deployments.get(model, model) if deployment else model
            size, quality = _made(model, settings)
            edit = settings["action"] == "edit" or (
                settings["action"] == "auto" and _has_input_image(body)
            )
            for status in plan.calls:
                output.append(self._call(status, settings, size, quality, edit=edit))
            completed = plan.calls.count("completed")
            usage = image_gen_usage(
                model, completed, size=size, quality=quality, prompt=prompt, edit=edit
            )
            tool_usage = {"image_gen": usage, "web_search": {"num_requests": 0}}
        output.append(self._message())
        words = _words(prompt) + _MAIN_OVERHEAD
        response = {
            "id": self._next_id("resp"),
            "object": "response",
            "created_at": _CREATED,
            "status": "completed",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "metadata": {},
            "model": str(body.get("model", "gpt-5")),
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": echoed,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": {
                "input_tokens": words,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": _MESSAGE_TOKENS,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": words + _MESSAGE_TOKENS,
            },
            "user": None,
        }
        if tool_usage is not None:
            response["tool_usage"] = tool_usage
        return response, output, cut_after

    def _call(
        self, status: str, tool: dict[str, Any], size: str, quality: str, *, edit: bool
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self._next_id("ig"),
            "type": "image_generation_call",
            "status": status,
            "action": "edit" if edit else "generate",
            "background": "opaque",
            "output_format": str(tool["output_format"]),
            "quality": quality,
            "size": size,
            "result": None,
            "revised_prompt": None,
        }
        if status == "completed":
            item["result"] = self._b64
            item["revised_prompt"] = "a revised prompt"
        else:
            item["error"] = {
                "code": "moderation_blocked",
                "message": "Your request was rejected by the safety system.",
            }
        return item

    def _message(self) -> dict[str, Any]:
        return {
            "id": self._next_id("msg"),
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": _MESSAGE, "annotations": []}],
        }

    def events(
        self, response: dict[str, Any], output: list[dict[str, Any]], partial_images: int
    ) -> Iterator[dict[str, Any]]:
        """The server-sent events of a streamed answer, numbered from 0."""
        numbers = itertools.count()
        opening = {**response, "status": "in_progress", "output": [], "usage": None}
        opening.pop("tool_usage", None)
        yield {"type": "response.created", "response": opening, "sequence_number": next(numbers)}
        yield {
            "type": "response.in_progress",
            "response": opening,
            "sequence_number": next(numbers),
        }
        for index, item in enumerate(output):
            for event in self._item_events(index, item, partial_images):
                yield {**event, "sequence_number": next(numbers)}
        yield {"type": "response.completed", "response": response, "sequence_number": next(numbers)}

    def _item_events(
        self, index: int, item: dict[str, Any], partial_images: int
    ) -> Iterator[dict[str, Any]]:
        at = {"output_index": index}
        ref = {"item_id": item["id"], **at}
        if item["type"] == "image_generation_call":
            started = {**item, "status": "in_progress", "result": None}
            started.pop("error", None)
            yield {"type": "response.output_item.added", "item": started, **at}
            yield {"type": "response.image_generation_call.in_progress", **ref}
            yield {"type": "response.image_generation_call.generating", **ref}
            if item["status"] == "completed":
                for number in range(partial_images):
                    yield {
                        "type": "response.image_generation_call.partial_image",
                        "partial_image_b64": self._b64,
                        "partial_image_index": number,
                        "size": item["size"],
                        "quality": item["quality"],
                        "background": item["background"],
                        "output_format": item["output_format"],
                        **ref,
                    }
                yield {"type": "response.image_generation_call.completed", **ref}
            yield {"type": "response.output_item.done", "item": item, **at}
            return
        part = item["content"][0]
        empty = {**item, "status": "in_progress", "content": []}
        yield {"type": "response.output_item.added", "item": empty, **at}
        where = {"content_index": 0, **ref}
        yield {
            "type": "response.content_part.added",
            "part": {**part, "text": ""},
            **where,
        }
        yield {
            "type": "response.output_text.delta",
            "delta": part["text"],
            "logprobs": [],
            **where,
        }
        yield {
            "type": "response.output_text.done",
            "text": part["text"],
            "logprobs": [],
            **where,
        }
        yield {"type": "response.content_part.done", "part": part, **where}
        yield {"type": "response.output_item.done", "item": item, **at}

    def stream(
        self, body: dict[str, Any], deployment: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The streamed answer to ``body`` as (event name, data), cut short where planned.

        ``deployment``: as :meth:`reply` takes it.
        """
        response, output, cut_after = self._answer(body, deployment)
        tool = next((t for t in response["tools"] if t.get("type") == "image_generation"), None)
        partial = int(tool.get("partial_images") or 0) if tool is not None else 0
        for event in self.events(response, output, partial):
            yield event["type"], event
            if event["type"] == cut_after:
                return
