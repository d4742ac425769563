"""OpenAI's usage shape, and the input/output shape others share with it.

OpenAI's ``ImagesResponse.usage`` (``input_tokens``, ``output_tokens``,
``total_tokens``, ``input_tokens_details``, ``output_tokens_details``) is the
richest shape in the field; orq.ai and TanStack AI's early ``ImageUsage``
send the same data, in snake_case or camelCase. :func:`read_input_output`
reads all of them.
"""

from __future__ import annotations

from typing import Any, Final

from aievents._usagemodel import ImageUsage, InputTokensDetails, OutputTokensDetails
from aievents.adapters._read import ABSENT, Reader, assemble, details, lookup

__all__ = ["SHAPE_KEYS", "from_openai", "read_input_output"]

#: Keys of which any one marks the input/output shape.
SHAPE_KEYS: Final = (
    "input_tokens",
    "inputTokens",
    "output_tokens",
    "outputTokens",
    "total_tokens",
    "totalTokens",
    "input_tokens_details",
    "inputTokensDetails",
)


def read_input_output(payload: Any, owner: str) -> ImageUsage:
    """Build :class:`ImageUsage` from the input/output shape, in either spelling.

    ``owner`` names what is read in errors (``"openai usage"``).

    Raises:
        EventValidationError: ``payload`` is not an object, or a count is
            negative, fractional or not a number.
    """
    read = Reader(owner)
    payload = read.open(payload)
    cost = lookup(payload, ("cost",))
    return assemble(
        input_tokens=read.tokens(payload, "input_tokens", "inputTokens"),
        output_tokens=read.tokens(payload, "output_tokens", "outputTokens"),
        total_tokens=read.tokens(payload, "total_tokens", "totalTokens"),
        input_details=details(
            read, payload, InputTokensDetails, "input_tokens_details", "inputTokensDetails"
        ),
        output_details=details(
            read, payload, OutputTokensDetails, "output_tokens_details", "outputTokensDetails"
        ),
        cost=None if cost is ABSENT else cost,
        owner=owner,
    )


def from_openai(usage: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from OpenAI's ``ImagesResponse.usage``.

    Accepts the openai SDK's ``Usage`` object (or an image stream's completed
    event usage) and the same data as a plain dict, with or without
    ``output_tokens_details``.

    Raises:
        EventValidationError: ``usage`` is not an object, or a count is
            negative, fractional or not a number.
    """
    return read_input_output(usage, "openai usage")
