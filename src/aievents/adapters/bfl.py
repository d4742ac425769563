"""Black Forest Labs' image answer: the polled result of a FLUX task.

``GET /v1/get_result?id=...`` answers ``{"id", "status", "result":
{"sample": url, "seed", "prompt", ...}}``; ``status`` is ``Ready``,
``Pending``, ``Request Moderated`` (the prompt was refused: no image made),
``Content Moderated`` (the image was held back), ``Error`` or ``Task not
found``. No usage and no model: the events keep the model the request
named, priced per image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aievents.adapters._answer import Answer, text
from aievents.adapters._read import ABSENT, lookup, view

__all__ = ["read_bfl"]

#: Every status BFL documents for a task's result.
_STATUSES: Final = frozenset(
    {"Ready", "Pending", "Request Moderated", "Content Moderated", "Error", "Task not found"}
)


def read_bfl(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of a BFL result, else None.

    Recognised by a ``result`` holding a ``sample``, or by ``id``, ``result``
    and one of BFL's statuses. A ready result made one image (or one per
    sample, when ``sample`` is a list); a content-moderated one held its
    image back (``filtered``); a pending one does not say yet (``images``
    None); any other made none. The request id is the task's ``id``.
    """
    if payload is None or isinstance(payload, (str, bytes, list, tuple)):
        return None
    result = view(lookup(payload, ("result",)))
    status = text(payload, "status")
    has_sample = isinstance(result, Mapping) and "sample" in result
    if not has_sample and not (
        status in _STATUSES and result is not ABSENT and lookup(payload, ("id",)) is not ABSENT
    ):
        return None
    images: int | None = 0
    filtered = None
    if status == "Pending":
        images = None
    elif status == "Content Moderated":
        filtered = 1
    elif has_sample and status in (None, "Ready"):
        sample = result["sample"]
        images = len(sample) if isinstance(sample, (list, tuple)) else int(sample is not None)
    return Answer(images=images, request_id=text(payload, "id"), filtered=filtered)
