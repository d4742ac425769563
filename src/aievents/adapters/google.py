"""Google's shapes: Gemini's ``usageMetadata`` and its ``GenerateContentResponse``.

Both in the REST spelling (camelCase) and the google-genai SDK's (snake_case
objects, enum values).
"""

from __future__ import annotations

from typing import Any, Final

from aievents._usagemodel import ImageUsage, InputTokensDetails, OutputTokensDetails
from aievents.adapters._answer import Answer, text
from aievents.adapters._read import ABSENT, Reader, assemble, has_any, known_sum, lookup, view

__all__ = ["FILTERED_REASONS", "SHAPE_KEYS", "from_gemini", "read_response"]

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
        EventValidationError: ``usage_metadata`` is not an object, has none
            of Gemini's counts (the error names ``promptTokenCount``), or a
            count or a modality is malformed.
    """
    owner = "gemini usageMetadata"
    read = Reader(owner)
    payload = read.open(usage_metadata)  # an SDK object's fields, read once
    if not has_any(payload, SHAPE_KEYS):
        raise read.error(
            "promptTokenCount",
            sorted(payload) if isinstance(payload, dict) else type(payload).__name__,
            "is missing: a Gemini usageMetadata has promptTokenCount,"
            " candidatesTokenCount or totalTokenCount (prompt_token_count... in the SDK)",
        )
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


#: Keys of which any one marks a ``GenerateContentResponse`` (REST or SDK);
#: else its usage, when that has Gemini's counts (:data:`SHAPE_KEYS`).
RESPONSE_KEYS: Final = ("candidates", "promptFeedback", "prompt_feedback")
_METADATA_KEYS: Final = ("usageMetadata", "usage_metadata")
#: Finish reasons of a candidate held back by a filter (safety, policy,
#: recitation) rather than finished.
FILTERED_REASONS: Final = frozenset(
    {
        "SAFETY",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "RECITATION",
        "MODEL_ARMOR",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


def _name(value: Any) -> str | None:
    """An enum's value (the SDK's) or a string (REST), upper case; else None."""
    value = getattr(value, "value", value)
    return value.upper() if isinstance(value, str) else None


def _fields(read: Reader, payload: Any, where: str) -> Any:
    """An object's fields (:func:`view`): one read of an SDK object, a dict as it is."""
    if payload is None or isinstance(payload, (str, bytes, int, float, list, tuple)):
        raise read.error(where, payload, "must be an object")
    return view(payload)


def _listed(read: Reader, payload: Any, where: str, *names: str) -> list[Any]:
    value = lookup(payload, names)
    if value is ABSENT or value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise read.error(where, value, "must be a list")
    return list(value)


def _image_parts(read: Reader, candidate: Any, where: str) -> int:
    """The inline image parts (mime type ``image/*``) of one candidate's content."""
    content = lookup(candidate, ("content",))
    if content is ABSENT or content is None:
        return 0
    content = _fields(read, content, f"{where}.content")
    count = 0
    for index, item in enumerate(_listed(read, content, f"{where}.content.parts", "parts")):
        part = _fields(read, item, f"{where}.content.parts[{index}]")
        data = lookup(part, ("inlineData", "inline_data"))
        if data is ABSENT or data is None:
            continue
        mime = text(data, "mimeType", "mime_type")
        if mime is not None and mime.lower().startswith("image/"):
            count += 1
    return count


def _gemini_usage(payload: Any) -> bool:
    """Whether ``payload`` carries a ``usageMetadata`` with Gemini's counts."""
    metadata = lookup(payload, _METADATA_KEYS)
    if metadata is ABSENT or metadata is None or isinstance(metadata, (str, bytes)):
        return False
    return has_any(metadata, SHAPE_KEYS)


def read_response(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of a Gemini ``GenerateContentResponse``.

    Takes the google-genai SDK's object or the REST JSON (camelCase or
    snake_case), recognised by its ``candidates`` or ``promptFeedback``, or
    by a ``usageMetadata`` with Gemini's counts (:data:`SHAPE_KEYS`);
    returns None for any other shape (an answer of another library with a
    ``usage_metadata`` of its own). Images are the inline
    image parts (mime type ``image/*``) of the candidates; a candidate that
    a filter stopped (``IMAGE_SAFETY``, ``PROHIBITED_CONTENT``...,
    :data:`FILTERED_REASONS`) with no image, or a prompt blocked outright
    (``promptFeedback.blockReason``), counts as one ``filtered`` image.
    Usage is :func:`from_gemini` of ``usageMetadata``; ``model`` is
    ``modelVersion``; ``request_id`` is ``responseId``. One chunk of a
    stream reads the same way (its own parts, and the usage it carries).

    Raises:
        EventValidationError: the shape is Gemini's but a field is malformed
            (the error names it).
    """
    if payload is None or isinstance(payload, (str, bytes, int, float, list, tuple)):
        return None
    payload = view(payload)  # an SDK object's fields, read once
    if not has_any(payload, RESPONSE_KEYS) and not _gemini_usage(payload):
        return None  # another's answer that has a usage_metadata (LangChain's AIMessage...)
    read = Reader("gemini GenerateContentResponse")
    images = filtered = 0
    for index, item in enumerate(_listed(read, payload, "candidates", "candidates")):
        where = f"candidates[{index}]"
        candidate = _fields(read, item, where)
        made = _image_parts(read, candidate, where)
        images += made
        reason = _name(lookup(candidate, ("finishReason", "finish_reason")))
        if not made and reason in FILTERED_REASONS:
            filtered += 1
    feedback = read.mapping(payload, "promptFeedback", "prompt_feedback")
    if feedback is not None and not images:
        blocked = lookup(feedback, ("blockReason", "block_reason"))
        if blocked is not ABSENT and blocked is not None:
            filtered = max(filtered, 1)
    metadata = read.mapping(payload, "usageMetadata", "usage_metadata")
    return Answer(
        images=images,
        usage=from_gemini(metadata) if metadata is not None else None,
        model=text(payload, "modelVersion", "model_version"),
        request_id=text(payload, "responseId", "response_id"),
        filtered=filtered,
    )
