"""TanStack AI's usage shapes: the early ``ImageUsage`` and the current ``TokenUsage``."""

from __future__ import annotations

from typing import Any, Final

from aievents._usagemodel import ImageUsage, InputTokensDetails, OutputTokensDetails
from aievents.adapters._read import Reader, assemble, has_any, reported
from aievents.adapters.openai import read_input_output

__all__ = ["SHAPE_KEYS", "from_tanstack"]

#: Keys of which any one marks a ``TokenUsage``.
SHAPE_KEYS: Final = (
    "promptTokens",
    "completionTokens",
    "prompt_tokens",
    "completion_tokens",
)


def from_tanstack(usage: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from TanStack AI's usage shapes.

    The early ``ImageUsage`` (``inputTokens``, ``outputTokens``,
    ``totalTokens``, ``inputTokensDetails``) and the current ``TokenUsage``
    (``promptTokens``, ``completionTokens``, ``totalTokens``,
    ``promptTokensDetails``, ``completionTokensDetails``), in camelCase or
    snake_case, with what the provider reported: ``cost``, ``costDetails
    {upstreamCost, upstreamInputCost, upstreamOutputCost}`` (the usage's
    ``cost_details``) and ``billed {quantity, unit}`` (the usage's
    ``billed``; ``unit`` one of :data:`aievents.usage.BILLED_UNITS`). Reasoning
    tokens of ``TokenUsage`` count as output text when no text count is given.

    Raises:
        EventValidationError: ``usage`` is not an object, or a count is
            negative, fractional or not a number.
    """
    if not has_any(usage, SHAPE_KEYS):
        return read_input_output(usage, "tanstack usage")
    owner = "tanstack usage"
    read = Reader(owner)
    usage = read.open(usage)  # an SDK object's fields, read once
    prompt = read.mapping(usage, "promptTokensDetails", "prompt_tokens_details")
    completion = read.mapping(usage, "completionTokensDetails", "completion_tokens_details")
    input_details = None
    if prompt is not None:
        sub = read.nested("promptTokensDetails")
        input_details = InputTokensDetails(
            text_tokens=sub.tokens(prompt, "textTokens", "text_tokens"),
            image_tokens=sub.tokens(prompt, "imageTokens", "image_tokens"),
            cached_tokens=sub.tokens(prompt, "cachedTokens", "cached_tokens"),
        )
    output_details = None
    if completion is not None:
        sub = read.nested("completionTokensDetails")
        text = sub.tokens(completion, "textTokens", "text_tokens")
        if text is None:
            text = sub.tokens(completion, "reasoningTokens", "reasoning_tokens")
        output_details = OutputTokensDetails(
            text_tokens=text, image_tokens=sub.tokens(completion, "imageTokens", "image_tokens")
        )
    return assemble(
        input_tokens=read.tokens(usage, "promptTokens", "prompt_tokens"),
        output_tokens=read.tokens(usage, "completionTokens", "completion_tokens"),
        total_tokens=read.tokens(usage, "totalTokens", "total_tokens"),
        input_details=input_details,
        output_details=output_details,
        **reported(read, usage),
        owner=owner,
    )
