"""OpenAI's whole image answer: ``ImagesResponse``, as the SDK's object or its JSON.

The same shape comes from every OpenAI-compatible images endpoint (Azure
OpenAI, xAI, OpenRouter...): ``data`` (one item per image: ``url``,
``b64_json``, ``revised_prompt``), ``created``, and for GPT image models
``usage``, ``size``, ``quality``, ``background`` and ``output_format``.
"""

from __future__ import annotations

from typing import Any, Final

from aievents.adapters._answer import Answer, listed, text
from aievents.adapters._read import ABSENT, lookup
from aievents.adapters.openai import from_openai

__all__ = ["read_images_response"]

#: Keys an image item of ``data`` carries (any one marks it).
_ITEM_KEYS: Final = ("url", "b64_json", "revised_prompt")


def _is_image(item: Any) -> bool:
    return any(lookup(item, (key,)) is not ABSENT for key in _ITEM_KEYS)


def read_images_response(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of an ``ImagesResponse``, else None.

    Recognised by its ``data`` list with ``created``, or with image items
    alone (some compatible APIs leave ``created`` out). Images are the items
    of ``data``; the usage is read by
    :func:`~aievents.adapters.from_openai`; ``size`` and ``quality`` are
    taken as the answer gives them; the request id is the SDK object's
    ``_request_id`` (OpenAI's ``x-request-id``; a JSON body has none).

    Raises:
        EventValidationError: the usage is malformed (the field is named).
    """
    if isinstance(payload, (str, bytes, list, tuple)) or payload is None:
        return None
    data = listed(payload, "data")
    if data is None:
        return None
    if lookup(payload, ("created",)) is ABSENT and not (data and all(map(_is_image, data))):
        return None
    usage = lookup(payload, ("usage",))
    request_id = None if isinstance(payload, dict) else getattr(payload, "_request_id", None)
    return Answer(
        images=len(data),
        usage=from_openai(usage) if usage not in (ABSENT, None) else None,
        model=text(payload, "model"),
        request_id=request_id if isinstance(request_id, str) else None,
        size=text(payload, "size"),
        quality=text(payload, "quality"),
    )
