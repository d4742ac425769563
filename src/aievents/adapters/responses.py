"""The Responses API's ``image_generation`` tool: what a ``Response`` says about its images.

A response of ``client.responses.create(..., tools=[{"type":
"image_generation", ...}])`` lists the image calls the model made as output
items of type ``image_generation_call`` (``status`` ``completed`` or
``failed``, with the ``size``, ``quality`` and ``action`` used), echoes the
tool's settings in ``tools`` (the image ``model`` among them), and reports the
image model's tokens apart from the main model's: in ``tool_usage.image_gen``
(a declared field of recent SDKs, an extra field of the response in older
ones; both are read). ``response.usage`` is the main model's and is never
image usage.

:func:`read_response` gives the :class:`~aievents.adapters.answers.Answer`
of such a response (the SDK's ``Response`` or its JSON as a dict);
:func:`read_image_tool` gives the same with the action the calls took.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from aievents._usagemodel import ImageUsage
from aievents.adapters._answer import Answer, text
from aievents.adapters._read import ABSENT, lookup, view
from aievents.adapters.openai import read_input_output

__all__ = ["IMAGE_TOOL", "ImageTool", "image_tool", "read_image_tool", "read_response"]

#: The ``type`` of the image generation tool in ``tools``.
IMAGE_TOOL: Final = "image_generation"
#: The ``type`` of the output items the tool's calls produce.
_CALL: Final = "image_generation_call"


@attrs.frozen
class ImageTool:
    """What a response says about its image generation calls.

    Attributes:
        answer: The facts of the image request: completed calls as
            ``images``, failed (filtered) ones as ``filtered``, the image
            model's usage, the image model, size and quality.
        calls: Image generation calls in the response, whatever their status.
        action: ``edit`` when every call edited an image, ``generate`` when
            one generated one, None when the calls do not say.
        status: The response's ``status`` (``completed``, ``failed``...).
        outputs: The completed calls' ``(result, revised_prompt)``: each
            image (base64) and its revised prompt, in order.
    """

    answer: Answer
    calls: int
    action: str | None
    status: str | None = None
    outputs: tuple[tuple[str | None, str | None], ...] = ()


def _field(item: Any, name: str) -> Any:
    """A field of an SDK object (declared or extra) or of a dict; None when absent."""
    found = lookup(item, (name,))
    return None if found is ABSENT else found


def image_tool(tools: Any) -> Any:
    """The first ``image_generation`` tool of a ``tools`` list (dicts or SDK objects), or None."""
    if not isinstance(tools, (list, tuple)):
        return None
    for tool in tools:
        if (tool.get("type") if type(tool) is dict else _field(tool, "type")) == IMAGE_TOOL:
            return tool
    return None


def _usage(payload: Any) -> ImageUsage | None:
    """The image model's usage: ``tool_usage.image_gen`` (declared or extra), or None."""
    tool_usage = _field(payload, "tool_usage")
    image_gen = _field(tool_usage, "image_gen") if tool_usage is not None else None
    if image_gen is None:
        return None
    usage = read_input_output(image_gen, "responses tool_usage.image_gen")
    cached = _field(image_gen, "cached_tokens")
    details = usage.input_tokens_details
    if isinstance(cached, int) and details is not None and details.cached_tokens is None:
        usage = attrs.evolve(
            usage, input_tokens_details=attrs.evolve(details, cached_tokens=cached)
        )
    return usage


def read_image_tool(payload: Any) -> ImageTool | None:
    """What a Responses API response says about its image calls; None for another shape.

    Raises:
        EventValidationError: ``tool_usage.image_gen`` is malformed (the
            error names the field).
    """
    fields = view(payload)  # an SDK object's fields (declared and extra), read once
    if (
        not isinstance(fields, Mapping)
        or fields.get("object") != "response"
        or not isinstance(fields.get("output"), list)
    ):
        return None
    images = filtered = calls = 0
    size = quality = None
    actions = set()
    outputs: list[tuple[str | None, str | None]] = []
    for each in fields["output"]:
        item = view(each)  # an SDK object's fields, read once
        if not isinstance(item, Mapping) or item.get("type") != _CALL:
            continue
        calls += 1
        status = item.get("status")
        if status == "completed":
            images += 1
            outputs.append((text(item, "result"), text(item, "revised_prompt")))
        elif status == "failed":
            filtered += 1
        size = size or text(item, "size")
        quality = quality or text(item, "quality")
        action = item.get("action")
        if action in ("generate", "edit"):
            actions.add(action)
    tool = image_tool(fields.get("tools"))
    if tool is not None:
        size = size or text(tool, "size")
        quality = quality or text(tool, "quality")
    request_id = getattr(payload, "_request_id", None) or text(fields, "id")
    answer = Answer(
        images=images,
        usage=_usage(fields),
        model=text(tool, "model") if tool is not None else None,
        request_id=request_id if isinstance(request_id, str) else None,
        size=size,
        quality=quality,
        filtered=filtered,
    )
    action = "edit" if actions == {"edit"} else "generate" if actions else None
    status = fields.get("status")
    return ImageTool(
        answer=answer,
        calls=calls,
        action=action,
        status=status if isinstance(status, str) else None,
        outputs=tuple(outputs),
    )


def read_response(payload: Any) -> Answer | None:
    """The :class:`Answer` of a Responses API response, or None for another shape.

    ``images`` counts the completed ``image_generation_call`` items,
    ``filtered`` the failed ones; ``usage`` is ``tool_usage.image_gen`` (the
    main model's ``usage`` is not image usage); ``model`` is the image model
    the echoed tool names; ``request_id`` is OpenAI's ``x-request-id`` on
    the SDK's object, else the response's ``id``.

    Raises:
        EventValidationError: ``tool_usage.image_gen`` is malformed (the
            error names the field).
    """
    found = read_image_tool(payload)
    return found.answer if found is not None else None
