"""Events as JSON text: one line each, and the bodies made of them.

Two shapes: ``dict`` (snake_case, with ``type``: what ``to_dict`` gives,
written by a compiled encoder) and ``envelope`` (TanStack's, camelCase).
Lines are compact JSON; a lone surrogate, which UTF-8 cannot hold, is
written as its ``\\u`` escape, which JSON reads back as the same character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final, Literal

from aievents._outbound import outbound
from aievents.encoding import encode_each
from aievents.events import BaseEvent
from aievents.wire import PLUGIN_ID, to_envelope, to_json

__all__ = [
    "FORMATS",
    "SHAPES",
    "Format",
    "Shape",
    "encode",
    "encode_body",
    "encode_lines",
    "encode_texts",
    "escape_surrogates",
    "utf8",
]

Shape = Literal["dict", "envelope"]
SHAPES: Final = ("dict", "envelope")
#: A batch as one JSON array, or as one line per event (NDJSON).
Format = Literal["json", "ndjson"]
FORMATS: Final = ("json", "ndjson")
_DUMPS: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, allow_nan=False
).encode
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


def encode(
    event: BaseEvent, shape: Shape, *, plugin_id: str = PLUGIN_ID, show_computed_cost: bool = False
) -> str:
    """One event, its secrets scrubbed, as one line of compact JSON (no newline).

    The dict shape is written by a compiled encoder (the same JSON as
    ``to_dict``, without building the dict); the envelope goes through
    ``to_envelope`` (with ``plugin_id`` and ``show_computed_cost``).

    Raises:
        ValueError: a value JSON cannot write (NaN, infinity, a loop).
        TypeError: a value of a type JSON cannot write.
    """
    event = outbound(event)
    if shape == "dict":
        return to_json(event)
    return _DUMPS(to_envelope(event, plugin_id=plugin_id, show_computed_cost=show_computed_cost))


def escape_surrogates(text: str) -> str:
    """JSON text with each lone surrogate (which UTF-8 cannot hold) as its ``\\u`` escape.

    JSON text holds surrogates only inside strings, where the escape stands
    for the same character: nothing is lost.
    """
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def utf8(text: str) -> bytes:
    """JSON text as UTF-8, lone surrogates escaped (:func:`escape_surrogates`)."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return escape_surrogates(text).encode()


def encode_texts(batch: Sequence[BaseEvent], shape: Shape) -> list[str]:
    """Each event of ``batch`` as one line of JSON text (no newline), secrets scrubbed.

    Raises:
        UnencodableError: naming the events that cannot be encoded (the
            others are not lost: the caller sends them without these).
    """
    try:
        if shape == "dict":  # the hot path, without a call per event to encode()
            return [to_json(outbound(event)) for event in batch]
        return [encode(event, shape) for event in batch]
    except Exception:  # noqa: BLE001 - which events? Each on its own, to name them
        return encode_each(batch, lambda event: encode(event, shape))


def encode_lines(batch: Sequence[BaseEvent], shape: Shape) -> list[bytes]:
    """Each event of ``batch`` as one line of UTF-8 JSON ending in a newline, secrets scrubbed.

    Raises:
        UnencodableError: as :func:`encode_texts`.
    """
    texts = encode_texts(batch, shape)
    try:
        return [(text + "\n").encode() for text in texts]
    except UnicodeEncodeError:  # a lone surrogate somewhere: escaped
        return [utf8(text + "\n") for text in texts]


def encode_body(batch: Sequence[BaseEvent], shape: Shape, format: Format) -> bytes:
    """The batch as one UTF-8 body: a JSON array (``json``) or one line per event (``ndjson``).

    Raises:
        UnencodableError: as :func:`encode_texts`.
    """
    texts = encode_texts(batch, shape)
    return utf8("[" + ",".join(texts) + "]" if format == "json" else "\n".join(texts) + "\n")
