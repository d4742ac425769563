"""OpenAI's whole image answer: ``ImagesResponse``, as the SDK's object or its JSON.

The same shape comes from every OpenAI-compatible images endpoint (Azure
OpenAI, xAI, OpenRouter...): ``data`` (one item per image: ``url``,
``b64_json``, ``revised_prompt``), ``created``, and for GPT image models
``usage``, ``size``, ``quality``, ``background`` and ``output_format``.
A stream's events are read one by one: each ``image_generation.completed``
(or ``image_edit.completed``) is one image with its usage; a partial image
is nothing yet.
"""

from __future__ import annotations

from typing import Any, Final

from aievents.adapters._answer import Answer, listed, text
from aievents.adapters._read import ABSENT, lookup
from aievents.adapters.openai import from_openai

__all__ = ["read_images_response"]

#: The ``type`` of a stream's event that brings one finished image, and of one
#: that brings a partial image.
_COMPLETED: Final = ("image_generation.completed", "image_edit.completed")
_PARTIAL: Final = ("image_generation.partial_image", "image_edit.partial_image")
#: Keys an image item of ``data`` carries (any one marks it).
_ITEM_KEYS: Final = ("url", "b64_json", "revised_prompt")


def _is_image(item: Any) -> bool:
    return any(lookup(item, (key,)) is not ABSENT for key in _ITEM_KEYS)


def read_images_response(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of an ``ImagesResponse``, else None.

    Recognised by its ``data`` list with ``created``, or with image items
    alone (some compatible APIs leave ``created`` out); a stream's event by
    its ``type`` (a completed one is one image, a partial one none). Images
    are the items of ``data``; the usage is read by
    :func:`~aievents.adapters.from_openai`; ``size`` and ``quality`` are
    taken as the answer gives them; the request id is the SDK object's
    ``_request_id`` (OpenAI's ``x-request-id``; a JSON body has none).

    Raises:
        EventValidationError: the usage is malformed (the field is named).
    """
    if isinstance(payload, (str, bytes, list, tuple)) or payload is None:
        return None
    kind = text(payload, "type")
    if kind in _COMPLETED or kind in _PARTIAL:
        return _answer(payload, 1 if kind in _COMPLETED else 0)
    data = listed(payload, "data")
    if data is None:
        return None
    if lookup(payload, ("created",)) is ABSENT and not (data and all(map(_is_image, data))):
        return None
    return _answer(payload, len(data))


def _answer(payload: Any, images: int) -> Answer:
    usage = lookup(payload, ("usage",))
    request_id = None if isinstance(payload, dict) else getattr(payload, "_request_id", None)
    return Answer(
        images=images,
        usage=from_openai(usage) if usage not in (ABSENT, None) else None,
        model=text(payload, "model"),
        request_id=request_id if isinstance(request_id, str) else None,
        size=text(payload, "size"),
        quality=text(payload, "quality"),
    )
