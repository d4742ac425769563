"""fal's image answer: the result body ``fal_client`` returns.

Image endpoints answer ``{"images": [{"url", "width", "height",
"content_type"}, ...], "seed", "has_nsfw_concepts": [bool, ...], "timings",
"prompt"}`` (upscalers and editors: ``{"image": {...}}``). The body carries
no usage, no model and no id: what fal billed is the
``x-fal-billable-units`` response header (:func:`~aievents.adapters.from_fal`),
and the model is the endpoint called (``fal-ai/flux/dev``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aievents.adapters._answer import Answer, listed, size_of
from aievents.adapters._read import ABSENT, Reader, lookup, view

__all__ = ["read_result"]

_OWNER: Final = "fal result"


def _is_file(item: Any) -> bool:
    """Whether ``item`` is one of fal's files: an object with a ``url``."""
    return not isinstance(item, (str, bytes)) and lookup(item, ("url",)) is not ABSENT


def read_result(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of a fal result, else None.

    Recognised by ``images``, a list of files (objects with a ``url``), or
    one file under ``image``. An image flagged in ``has_nsfw_concepts`` is
    ``filtered`` (fal sends it blacked out), not counted. The size is the
    images' ``width`` x ``height`` when they all share one (what a
    megapixel-priced endpoint is priced by).

    Raises:
        EventValidationError: a width or height is not a positive integer.
    """
    if payload is None or isinstance(payload, (str, bytes, list, tuple)):
        return None
    images = listed(payload, "images")
    if images is None:
        single = view(lookup(payload, ("image",)))
        if not isinstance(single, Mapping) or not _is_file(single):
            return None
        images = [single]
    elif not all(_is_file(item) for item in images):
        return None
    flags = listed(payload, "has_nsfw_concepts")
    held_back = sum(1 for flag in (flags or [])[: len(images)] if flag is True)
    return Answer(
        images=len(images) - held_back,
        size=size_of(Reader(_OWNER), images),
        filtered=held_back if flags is not None else None,
    )
