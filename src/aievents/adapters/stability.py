"""Stability AI's image answers: v1 ``artifacts`` and the v2 Stable Image JSON.

- v1 (``/v1/generation/{engine}/text-to-image``): ``{"artifacts": [{"base64",
  "seed", "finishReason"}]}``, one artifact per image; ``finishReason`` is
  ``SUCCESS``, ``CONTENT_FILTERED`` (the image was held back by the safety
  filter) or ``ERROR``.
- v2 (``/v2beta/stable-image/generate/{core,ultra,sd3}`` with ``Accept:
  application/json``): ``{"image": base64, "finish_reason", "seed"}``, one
  image.

Neither reports usage, a model or an id: the events keep the model the
request named, priced per image.
"""

from __future__ import annotations

from typing import Any, Final

from aievents.adapters._answer import Answer, listed, text
from aievents.adapters._read import Reader

__all__ = ["read_stability"]

_FILTERED: Final = "CONTENT_FILTERED"
_REASONS: Final = frozenset({"SUCCESS", _FILTERED, "ERROR"})
_OWNER: Final = "stability answer"


def _reason(read: Reader, item: Any, *names: str) -> str:
    """The finish reason (``SUCCESS`` when the item gives none)."""
    reason = text(item, *names) or "SUCCESS"
    if reason not in _REASONS:
        reason_list = ", ".join(sorted(_REASONS))
        raise read.error(names[0], reason, f"must be one of {reason_list}")
    return reason


def read_stability(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of a Stability answer, else None.

    Images are those that finished with ``SUCCESS``; those finished with
    ``CONTENT_FILTERED`` are ``filtered``; an ``ERROR`` one is neither.

    Raises:
        EventValidationError: a finish reason is not one Stability documents.
    """
    if payload is None or isinstance(payload, (str, bytes, list, tuple)):
        return None
    read = Reader(_OWNER)
    artifacts = listed(payload, "artifacts")
    if artifacts is not None:
        reasons = [
            _reason(read.nested(f"artifacts[{index}]"), item, "finishReason", "finish_reason")
            for index, item in enumerate(artifacts)
        ]
    elif text(payload, "finish_reason") is not None and text(payload, "image") is not None:
        reasons = [_reason(read, payload, "finish_reason")]
    else:
        return None
    return Answer(images=reasons.count("SUCCESS"), filtered=reasons.count(_FILTERED))
