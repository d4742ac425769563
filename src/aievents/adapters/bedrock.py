"""Amazon Bedrock's image answers: the body ``invoke_model`` returns, parsed.

Pass ``json.loads(response["body"].read())``:

- Amazon Titan Image Generator and Nova Canvas: ``{"images": [base64, ...],
  "error": message | null}``;
- Stability models on Bedrock: ``{"seeds": [...], "finish_reasons": [null |
  "Filter reason: prompt" | "Filter reason: output image" | ...], "images":
  [base64, ...]}``;
- Stable Diffusion XL on Bedrock: Stability's v1 shape, ``{"result":
  "success", "artifacts": [{"base64", "seed", "finishReason"}]}``.

No usage, no model, no id: the model is the ``modelId`` called, and quality,
width and height are those the request body asked for (give them to
``image_request``); Bedrock prices these models per image.
:func:`read_invoke` gives the images themselves beside the count, from the
same reading.
"""

from __future__ import annotations

from typing import Any

import attrs

from aievents.adapters._answer import Answer, listed, text
from aievents.adapters._read import ABSENT, lookup
from aievents.adapters.stability import read_stability

__all__ = ["InvokeBody", "read_invoke", "read_invoke_body"]


@attrs.frozen
class InvokeBody:
    """What a Bedrock image body holds: its :class:`Answer`, and the images it returned.

    Attributes:
        answer: The images counted (held-back ones left out) and filtered.
        images: The base64 of each image counted, in order.
    """

    answer: Answer
    images: tuple[str, ...]


def read_invoke_body(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of a Bedrock image body, else None.

    Recognised by ``images``, a list of base64 texts (an empty one only
    beside ``error``, ``seeds`` or ``finish_reasons``), or SDXL's
    ``artifacts`` (read as :func:`~aievents.adapters.stability.read_stability`
    reads them). An image whose ``finish_reasons`` entry is not null was
    held back by a filter: it is ``filtered``, not counted (each such entry
    is one held back, whether ``images`` still holds it or is empty).
    Titan's and Nova's ``error`` message says why no image came; it is not
    an image.

    Raises:
        EventValidationError: an SDXL finish reason is not one Stability documents.
    """
    found = read_invoke(payload)
    return None if found is None else found.answer


def read_invoke(payload: Any) -> InvokeBody | None:
    """The :class:`InvokeBody` of a Bedrock image body (see :func:`read_invoke_body`), else None.

    Raises:
        EventValidationError: an SDXL finish reason is not one Stability documents.
    """
    if payload is None or isinstance(payload, (str, bytes, list, tuple)):
        return None
    artifacts = listed(payload, "artifacts")
    if artifacts is not None:
        answer = read_stability(payload)
        if answer is None:
            return None
        kept = (item for item in artifacts if _succeeded(item))
        return InvokeBody(answer, tuple(image for item in kept if (image := text(item, "base64"))))
    images = listed(payload, "images")
    if images is None or not all(isinstance(item, str) for item in images):
        return None
    if not images and all(
        lookup(payload, (key,)) is ABSENT for key in ("error", "seeds", "finish_reasons")
    ):
        return None
    reasons = listed(payload, "finish_reasons") or []
    # A held-back image may still be in ``images`` (its reason beside it) or left out.
    returned = tuple(
        image
        for index, image in enumerate(images)
        if index >= len(reasons) or reasons[index] is None
    )
    held_back = sum(1 for reason in reasons if reason is not None)
    answer = Answer(images=len(returned), filtered=held_back if reasons else None)
    return InvokeBody(answer, returned)


def _succeeded(artifact: Any) -> bool:
    """Whether an SDXL artifact is an image made (``SUCCESS``, the default), as Stability counts."""
    return (text(artifact, "finishReason", "finish_reason") or "SUCCESS") == "SUCCESS"
