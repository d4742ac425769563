"""Google's usage shape: Gemini's ``usageMetadata``, in its REST and SDK spellings."""

from __future__ import annotations

from typing import Any, Final

from aievents._usagemodel import ImageUsage, InputTokensDetails, OutputTokensDetails
from aievents.adapters._read import ABSENT, Reader, assemble, known_sum, lookup

__all__ = ["SHAPE_KEYS", "from_gemini"]

#: Keys of which any one marks a ``usageMetadata``.
SHAPE_KEYS: Final = (
    "promptTokenCount",
    "prompt_token_count",
    "candidatesTokenCount",
    "candidates_token_count",
    "totalTokenCount",
    "total_token_count",
)


def _modalities(read: Reader, payload: Any, *names: str) -> dict[str, int]:
    """Tokens by modality (``TEXT``, ``IMAGE``, ...) of a list of ``{modality, tokenCount}``."""
    value = lookup(payload, names)
    if value is ABSENT or value is None:
        return {}
    if not isinstance(value, (list, tuple)):
        raise read.error(names[0], value, "must be a list of {modality, tokenCount}")
    found: dict[str, int] = {}
    for index, item in enumerate(value):
        sub = read.nested(f"{names[0]}[{index}]")
        sub.require_object(item)
        modality = lookup(item, ("modality",))
        modality = None if modality is ABSENT else getattr(modality, "value", modality)
        if not isinstance(modality, str):
            raise sub.error("modality", modality, "must be a modality name such as 'IMAGE'")
        tokens = sub.tokens(item, "tokenCount", "token_count") or 0
        key = modality.upper()
        found[key] = found.get(key, 0) + tokens
    return found


def from_gemini(usage_metadata: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from Gemini's ``usageMetadata``.

    Accepts the REST spelling (``promptTokenCount``,
    ``candidatesTokensDetails: [{modality: "IMAGE", tokenCount}]``) and the
    google-genai SDK's (``prompt_token_count``, enum modalities). Output image
    tokens are the ``IMAGE`` modality of the candidates; thinking tokens
    (``thoughtsTokenCount``) are output text, as Gemini bills them.

    Raises:
        EventValidationError: ``usage_metadata`` is not an object, or a count
            or a modality is malformed.
    """
    owner = "gemini usageMetadata"
    read = Reader(owner)
    payload = read.open(usage_metadata)  # an SDK object's fields, read once
    prompt = read.tokens(payload, "promptTokenCount", "prompt_token_count")
    candidates = read.tokens(payload, "candidatesTokenCount", "candidates_token_count")
    thoughts = read.tokens(payload, "thoughtsTokenCount", "thoughts_token_count")
    cached = read.tokens(payload, "cachedContentTokenCount", "cached_content_token_count")
    prompt_parts = _modalities(read, payload, "promptTokensDetails", "prompt_tokens_details")
    output_parts = _modalities(
        read, payload, "candidatesTokensDetails", "candidates_tokens_details"
    )
    input_details = None
    if prompt_parts or cached is not None:
        input_details = InputTokensDetails(
            text_tokens=prompt_parts.get("TEXT"),
            image_tokens=prompt_parts.get("IMAGE"),
            cached_tokens=cached,
        )
    output_details = None
    if output_parts or thoughts is not None:
        text = known_sum(output_parts.get("TEXT"), thoughts)
        output_details = OutputTokensDetails(
            text_tokens=text, image_tokens=output_parts.get("IMAGE")
        )
    return assemble(
        input_tokens=prompt,
        output_tokens=known_sum(candidates, thoughts) if candidates is not None else None,
        total_tokens=read.tokens(payload, "totalTokenCount", "total_token_count"),
        input_details=input_details,
        output_details=output_details,
        owner=owner,
    )
