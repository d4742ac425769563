"""OpenAI's usage shape, and the input/output shape others share with it.

OpenAI's ``ImagesResponse.usage`` (``input_tokens``, ``output_tokens``,
``total_tokens``, ``input_tokens_details``, ``output_tokens_details``) is the
richest shape in the field; orq.ai and TanStack AI's early ``ImageUsage``
send the same data, in snake_case or camelCase. :func:`read_input_output`
reads all of them, with what a gateway adds to the usage: OpenRouter's
``cost`` and ``cost_details`` (``upstream_inference_cost``, ...), which the
openai SDK keeps among a usage object's extra fields (``model_extra``), and
TanStack's ``cost``, ``costDetails`` and ``billed``.
"""

from __future__ import annotations

from typing import Any, Final

from aievents._usagemodel import ImageUsage, InputTokensDetails, OutputTokensDetails
from aievents.adapters._read import Reader, assemble, details, reported

__all__ = ["REPORTED_KEYS", "SHAPE_KEYS", "from_openai", "read_input_output"]

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
#: Keys of what a provider or gateway reports beside the tokens (or without
#: them): :func:`read_input_output` reads them in every shape.
REPORTED_KEYS: Final = ("cost", "cost_details", "costDetails", "billed")


def read_input_output(payload: Any, owner: str) -> ImageUsage:
    """Build :class:`ImageUsage` from the input/output shape, in either spelling.

    ``owner`` names what is read in errors (``"openai usage"``).

    Raises:
        EventValidationError: ``payload`` is not an object, or a count is
            negative, fractional or not a number.
    """
    read = Reader(owner)
    payload = read.open(payload)
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
        **reported(read, payload),
        owner=owner,
    )


def from_openai(usage: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from OpenAI's ``ImagesResponse.usage``.

    Accepts the openai SDK's ``Usage`` object (or an image stream's completed
    event usage) and the same data as a plain dict, with or without
    ``output_tokens_details``. Through a gateway that reports its cost in the
    usage (OpenRouter: ``cost``, ``cost_details.upstream_inference_cost``),
    those become the usage's ``cost`` and ``cost_details``, from the SDK
    object's extra fields as from a dict.

    Raises:
        EventValidationError: ``usage`` is not an object, or a count is
            negative, fractional or not a number.
    """
    return read_input_output(usage, "openai usage")
