"""What every answer reader builds, :class:`Answer`, and the parts it reads with.

The answer readers (:mod:`aievents.adapters.answers`) import :class:`Answer`
from here (a reader importing ``answers``, which imports the readers, would
make a cycle) and share these: the list of images under a key, a text field,
a ``WxH`` size from a width and height. A payload is a mapping or an SDK
object, read as :func:`~aievents.adapters._read.lookup` does.
"""

from __future__ import annotations

from typing import Any

import attrs

from aievents._usagemodel import ImageUsage
from aievents.adapters._read import ABSENT, Reader, lookup

__all__ = ["Answer", "listed", "size_of", "text"]


@attrs.frozen
class Answer:
    """The facts one provider answer reports about an image request.

    Attributes:
        images: Images the answer returned (held-back ones left out), or
            None when the answer does not say.
        usage: The usage it reported, or None.
        model: The model the answer names (it may be more exact than the
            one asked for), or None.
        request_id: The provider's id of the answer, or None.
        size: Size of the images made, when the answer says.
        quality: Quality of the images made, when the answer says.
        filtered: Images the provider held back (safety filters), when the
            answer says.
    """

    images: int | None = None
    usage: ImageUsage | None = None
    model: str | None = None
    request_id: str | None = None
    size: str | None = None
    quality: str | None = None
    filtered: int | None = None


def listed(payload: Any, name: str) -> list[Any] | None:
    """The list (or tuple) under ``name``, or None when absent or not a list."""
    value = lookup(payload, (name,))
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def text(payload: Any, *names: str) -> str | None:
    """The non-empty text under any of ``names`` (an enum's value too), or None."""
    value = lookup(payload, names)
    value = getattr(value, "value", value)  # an SDK's enum member
    return value if isinstance(value, str) and value else None


def size_of(read: Reader, items: list[Any]) -> str | None:
    """``WxH`` when every item gives the same ``width`` and ``height``, else None.

    Raises:
        EventValidationError: a width or height is not a positive integer.
    """
    sizes = set()
    for index, item in enumerate(items):
        sub = read.nested(f"images[{index}]")
        width = lookup(item, ("width",))
        height = lookup(item, ("height",))
        if width in (ABSENT, None) or height in (ABSENT, None):
            return None
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise sub.error(name, value, "must be a positive number of pixels")
        sizes.add(f"{width}x{height}")
    return sizes.pop() if len(sizes) == 1 else None
