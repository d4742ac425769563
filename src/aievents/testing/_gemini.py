"""Gemini's ``generateContent`` and ``streamGenerateContent``, as ImageServer answers them.

:func:`gemini_reply` turns one request (the model in its path, its JSON
body, and what :meth:`~aievents.testing.ImageServer.answer_next` or
``fail_next`` queued for it) into the :class:`Reply` Google would send:

- an answer built from the request: an inline image (and, when
  ``responseModalities`` names ``TEXT``, a text part before it) and
  ``usageMetadata`` by modality, with the image output tokens Google bills
  for the resolution tier asked (``imageConfig.imageSize``, ``1K`` by
  default);
- streamed (``:streamGenerateContent?alt=sse``) as server-sent events, one
  part per chunk: the first chunks carry the prompt's tokens only, the last
  one (an empty text part, the finish reason) the whole ``usageMetadata``;
- a queued failure in Google's shape:
  ``{"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED"}}``;
- a queued answer of only ``{"finish_reason": "IMAGE_SAFETY"}``: the image
  held back (that finish reason, no image part, the prompt's tokens only);
- a queued answer of only ``{"cut_after": 2}``: the stream's first two
  chunks, then the connection dropped before the body ends;
- any other queued answer: sent as it is (one event of a stream).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, Final

import attrs

__all__ = [
    "GEMINI_IMAGE_TOKENS",
    "GEMINI_PATH",
    "Reply",
    "gemini_answer",
    "gemini_error",
    "gemini_reply",
    "send_events",
]

#: Gemini's paths: the model, then ``generateContent`` or ``streamGenerateContent``.
GEMINI_PATH: Final = re.compile(
    r"/v1(?:beta|alpha)?/models/([^/:]+):(generateContent|streamGenerateContent)"
)

#: Image output tokens of one Gemini image by model and resolution tier (as
#: Google bills them: 1120 tokens at $60 per 1M = $0.067 for a 1K image of
#: gemini-3.1-flash-image). Models not listed report 1290 (gemini-2.5-flash-image).
GEMINI_IMAGE_TOKENS: Final[dict[str, dict[str, int]]] = {
    "gemini-3.1-flash-image": {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520},
    "gemini-3-pro-image": {"1K": 1120, "2K": 1120, "4K": 2000},
}
_DEFAULT_TOKENS: Final = 1290
#: The text a model writes before its image, when text is asked for (4 tokens here).
TEXT: Final = "Here is your picture."
#: Google's status names of the HTTP errors it answers with.
_STATUS: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DIRECTIVES: Final = frozenset({"finish_reason", "cut_after"})


@attrs.frozen
class Reply:
    """What to send: a JSON body, or server-sent events (``events`` not None)."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = None
    #: Drop the connection after the events, before the body ends.
    cut: bool = False


def gemini_error(status: int, message: str) -> dict[str, Any]:
    """Google's error body for an HTTP ``status``."""
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def _either(mapping: Any, camel: str, snake: str) -> Any:
    """A field of a Gemini request in its REST (camelCase) or SDK (snake_case) spelling."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(camel, mapping.get(snake))


def _prompt_tokens(body: dict[str, Any]) -> int:
    """The stand-in token count of the prompt: one per word of its text parts, at least one."""
    words = 0
    for content in body.get("contents") or []:
        for part in (content.get("parts") or []) if isinstance(content, dict) else []:
            if isinstance(part, dict) and "text" in part:
                words += len(str(part["text"] or "").split())
    return max(1, words)


def _asked(body: dict[str, Any]) -> tuple[str, bool]:
    """The resolution tier asked (``1K`` by default) and whether text is asked for too."""
    config = _either(body, "generationConfig", "generation_config")
    image_config = _either(config, "imageConfig", "image_config")
    tier = str(_either(image_config, "imageSize", "image_size") or "1K")
    modalities = _either(config, "responseModalities", "response_modalities") or []
    return tier, any(str(m).upper() == "TEXT" for m in modalities)


def _usage(prompt: int, text: int, image: int) -> dict[str, Any]:
    """``usageMetadata``: the prompt's text tokens in, text and image tokens out."""
    details = [{"modality": "TEXT", "tokenCount": text}] if text else []
    if image:
        details.append({"modality": "IMAGE", "tokenCount": image})
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "totalTokenCount": prompt + text + image,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if details:
        usage["candidatesTokenCount"] = text + image
        usage["candidatesTokensDetails"] = details
    return usage


def _candidate(parts: list[dict[str, Any]] | None, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": 0}
    if parts is not None:
        candidate["content"] = {"role": "model", "parts": parts}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


def _answer(
    model: str, candidate: dict[str, Any], usage: dict[str, Any], response_id: str
) -> dict[str, Any]:
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def _made(model: str, body: dict[str, Any], b64: str) -> tuple[list[dict[str, Any]], int, int]:
    """The parts a request gets, its text tokens and its image tokens."""
    tier, text = _asked(body)
    tiers = GEMINI_IMAGE_TOKENS.get(model, {})
    image = tiers.get(tier, tiers.get("1K", _DEFAULT_TOKENS))
    parts: list[dict[str, Any]] = [{"text": TEXT}] if text else []
    parts.append({"inlineData": {"mimeType": "image/png", "data": b64}})
    return parts, len(TEXT.split()) if text else 0, image


def gemini_answer(
    model: str, body: dict[str, Any], *, b64: str, response_id: str
) -> dict[str, Any]:
    """Gemini's ``generateContent`` answer for an image model (see the module)."""
    parts, text, image = _made(model, body, b64)
    usage = _usage(_prompt_tokens(body), text, image)
    return _answer(model, _candidate(parts, "STOP"), usage, response_id)


def _chunks(
    model: str, body: dict[str, Any], *, b64: str, response_id: str
) -> list[dict[str, Any]]:
    """The answer streamed: one part a chunk, the whole usage on the last one."""
    parts, text, image = _made(model, body, b64)
    prompt = _prompt_tokens(body)
    interim = _usage(prompt, 0, 0)
    chunks = [_answer(model, _candidate([part], None), interim, response_id) for part in parts]
    final = _candidate([{"text": ""}], "STOP")
    chunks.append(_answer(model, final, _usage(prompt, text, image), response_id))
    return chunks


def _filtered(model: str, body: dict[str, Any], reason: str, response_id: str) -> dict[str, Any]:
    """The image held back: ``reason``, no image part, the prompt's tokens only."""
    usage = _usage(_prompt_tokens(body), 0, 0)
    return _answer(model, _candidate(None, reason), usage, response_id)


def gemini_reply(
    found: re.Match[str],
    body: dict[str, Any],
    scripted: tuple[int, dict[str, Any], dict[str, str]] | None,
    *,
    b64: str,
    request_id: str,
) -> Reply:
    """What ImageServer sends for a Gemini request (``found`` matched :data:`GEMINI_PATH`)."""
    model, stream = found[1], found[2] == "streamGenerateContent"
    status, payload, extra = scripted if scripted is not None else (200, None, {})
    headers = {"x-request-id": request_id, **extra}
    if status >= 400:
        error = payload.get("error") if isinstance(payload, dict) else None
        if not (isinstance(error, dict) and "status" in error):  # fail_next's: Google's shape
            message = error.get("message") if isinstance(error, dict) else None
            payload = gemini_error(status, str(message or "failure"))
        return Reply(status, headers, body=payload)
    cut_after: int | None = None
    if payload is None or (payload and set(payload) <= _DIRECTIVES):
        directives = payload or {}
        cut_after = directives.get("cut_after")
        reason = directives.get("finish_reason")
        if reason is not None:
            payload = _filtered(model, body, str(reason), request_id)
        elif stream:
            chunks = _chunks(model, body, b64=b64, response_id=request_id)
            events = chunks if cut_after is None else chunks[: int(cut_after)]
            return Reply(status, headers, events=events, cut=cut_after is not None)
        else:
            payload = gemini_answer(model, body, b64=b64, response_id=request_id)
    if stream:
        return Reply(status, headers, events=[payload], cut=cut_after is not None)
    return Reply(status, headers, body=payload)


def _encoded(events: list[dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        yield f"data: {json.dumps(event)}\r\n\r\n".encode()


def send_events(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    """Send ``reply``'s events as server-sent events, chunked as Google sends them.

    A cut reply drops the connection after its events, without the chunk
    that ends the body: the client sees the stream break off.
    """
    assert reply.events is not None
    handler.send_response(reply.status)
    handler.send_header("content-type", "text/event-stream")
    handler.send_header("transfer-encoding", "chunked")
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    for data in _encoded(reply.events):
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()
    if not reply.cut:
        handler.wfile.write(b"0\r\n\r\n")
    handler.close_connection = True
