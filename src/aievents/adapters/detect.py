"""Recognise a provider's usage payload by its keys, and read it with its adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from aievents._usagemodel import ImageUsage
from aievents.adapters import fal, google, openai, tanstack
from aievents.adapters._read import ABSENT, has_any, lookup
from aievents.exceptions import EventValidationError

__all__ = ["SHAPES", "to_image_usage"]


def _input_output(payload: Any) -> ImageUsage:
    return openai.read_input_output(payload, "usage")


#: The shapes :func:`to_image_usage` recognises, tried in this order: the keys
#: of which any one marks the shape, and the adapter that reads it. A new
#: provider's adapter adds its row here.
SHAPES: Final[tuple[tuple[tuple[str, ...], Callable[[Any], ImageUsage]], ...]] = (
    (google.SHAPE_KEYS, google.from_gemini),
    (tanstack.SHAPE_KEYS, tanstack.from_tanstack),
    (openai.SHAPE_KEYS, _input_output),
    (openai.REPORTED_KEYS, _input_output),
    (fal.SHAPE_KEYS, fal.from_fal),
)
#: Where a response object or dict carries its usage, tried in this order.
_WRAPPERS: Final = ("usage_metadata", "usageMetadata", "usage")


def to_image_usage(payload: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from any payload the adapters understand.

    Recognises, by their keys (:data:`SHAPES`): an :class:`ImageUsage`
    (returned as is), a Gemini ``usageMetadata`` (or a response holding one),
    a TanStack ``TokenUsage``, the OpenAI / orq / early TanStack
    input-output shape (a gateway's ``cost``, ``cost_details`` and TanStack's
    ``billed`` included, or alone when the provider reported no tokens), as a
    mapping or an object, and fal's response headers (``x-fal-billable-units``,
    :func:`aievents.adapters.from_fal`; as ``httpx.Headers`` in any case, as a
    dict in lower case). A response object or dict that carries the usage
    under ``usage`` (OpenAI's ``ImagesResponse``) is unwrapped.

    Raises:
        EventValidationError: nothing in ``payload`` looks like usage, or the
            usage is malformed.
    """
    if isinstance(payload, ImageUsage):
        return payload
    if payload is None or isinstance(payload, (str, bytes, int, float, list, tuple)):
        raise EventValidationError("usage", payload, "must be a usage object", owner="usage")
    for keys, adapter in SHAPES:
        if has_any(payload, keys):
            return adapter(payload)
    for wrapper in _WRAPPERS:
        inner = lookup(payload, (wrapper,))
        if inner is not ABSENT and inner is not None:
            return to_image_usage(inner)
    raise EventValidationError(
        "usage",
        payload,
        "is not a usage shape aievents knows (OpenAI, orq, TanStack or Gemini); "
        "build an ImageUsage yourself",
        owner="usage",
    )
