"""orq.ai's image usage shapes."""

from __future__ import annotations

from typing import Any

from aievents._usagemodel import ImageUsage
from aievents.adapters.openai import read_input_output

__all__ = ["from_orq"]


def from_orq(usage: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from orq.ai's image usage objects.

    Covers ``CreateImageUsage`` (every count optional, input details
    required), ``CreateImageEditUsage`` and ``CreateImageVariationUsage``
    (every field required), in their camelCase SDK spelling or their
    snake_case wire spelling. Counts sent as integral floats (``100.0``) are
    accepted; fractional counts are refused.

    Raises:
        EventValidationError: ``usage`` is not an object, or a count is
            negative, fractional or not a number.
    """
    return read_input_output(usage, "orq usage")
