"""Amazon Bedrock's image answers: the body ``invoke_model`` returns, parsed.

Pass ``json.loads(response["body"].read())``:

- Amazon Titan Image Generator and Nova Canvas: ``{"images": [base64, ...],
  "error": message | null}``;
- Stability models on Bedrock: ``{"seeds": [...], "finish_reasons": [null |
  "Filter reason: prompt" | "Filter reason: output image" | ...], "images":
  [base64, ...]}``.

No usage, no model, no id: the model is the ``modelId`` called, and quality,
width and height are those the request body asked for (give them to
``image_request``); Bedrock prices these models per image.
"""

from __future__ import annotations

from typing import Any

from aievents.adapters._answer import Answer, listed
from aievents.adapters._read import ABSENT, lookup

__all__ = ["read_invoke_body"]


def read_invoke_body(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of a Bedrock image body, else None.

    Recognised by ``images``, a list of base64 texts (an empty one only
    beside ``error``, ``seeds`` or ``finish_reasons``). An image whose
    ``finish_reasons`` entry is not null was held back by a filter: it is
    ``filtered``, not counted. Titan's and Nova's ``error`` message says why
    no image came; it is not an image.
    """
    if payload is None or isinstance(payload, (str, bytes, list, tuple)):
        return None
    images = listed(payload, "images")
    if images is None or not all(isinstance(item, str) for item in images):
        return None
    if not images and all(
        lookup(payload, (key,)) is ABSENT for key in ("error", "seeds", "finish_reasons")
    ):
        return None
    reasons = listed(payload, "finish_reasons") or []
    held_back = sum(1 for reason in reasons[: len(images)] if reason is not None)
    return Answer(
        images=len(images) - held_back,
        filtered=held_back if reasons else None,
    )
