"""What a provider's answer says about the images it made: :class:`Answer`.

:func:`read_answer` takes a whole answer (an SDK response object, or the
JSON body as a dict) of any supported provider and returns the facts it
reports: the images made, the usage, the model and the provider's id of the
answer. Each provider family has a reader that recognises its own shape and
returns None for any other; :func:`read_answer` asks each in turn.
:func:`to_answer` also takes a bare usage object (what
:func:`~aievents.adapters.to_image_usage` reads) and refuses anything else.

The order of the readers (:data:`_READERS`): a reader whose shape is marked
by a key or a value no other shape has (Gemini's ``candidates``, the
Responses API's ``object: "response"``, OpenAI's ``data`` list, Stability's
``artifacts`` or ``finish_reason``, BFL's ``result.sample``, a Replicate
prediction's ``status`` and ``output``) is asked first; the shapes that are
only an ``images`` list (Bedrock: base64 strings; fal: objects with a
``url``) come last, each checking its items. A reader that knows its shape
but finds it malformed raises
:class:`~aievents.exceptions.EventValidationError` naming the field; it
never claims a shape another reader would read. A reader builds its
:class:`Answer` from :mod:`aievents.adapters._answer` (where it is defined,
so that no reader imports this module, which imports the readers).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final

from aievents._usagemodel import ImageUsage
from aievents.adapters._answer import Answer
from aievents.adapters._read import has_any
from aievents.adapters.detect import _WRAPPERS, SHAPES, to_image_usage
from aievents.exceptions import EventValidationError

__all__ = ["Answer", "Reader", "read_answer", "to_answer"]

#: A reader: the :class:`Answer` of a payload of its provider's shape, else None.
Reader = Callable[[Any], "Answer | None"]

#: The readers, by module and function, asked in this order (imported when
#: first used). A reader returns None for a shape that is not its own.
#: Marked shapes first, the bare ``images`` lists last (see the module).
_READERS: Final[tuple[tuple[str, str], ...]] = (
    ("aievents.adapters.responses", "read_response"),
    ("aievents.adapters.google", "read_response"),
    ("aievents.adapters.openai_images", "read_images_response"),
    ("aievents.adapters.stability", "read_stability"),
    ("aievents.adapters.bfl", "read_bfl"),
    ("aievents.adapters.replicate", "read_prediction"),
    ("aievents.adapters.bedrock", "read_invoke_body"),
    ("aievents.adapters.fal_result", "read_result"),
)


class _Loaded:
    """The reader functions, imported on first use (the modules stay unloaded until asked)."""

    readers: tuple[Reader, ...] | None = None


_LOADED: Final = _Loaded()


def _readers() -> tuple[Reader, ...]:
    readers = _LOADED.readers
    if readers is None:  # a race imports twice, harmlessly: the same functions
        readers = tuple(getattr(importlib.import_module(m), name) for m, name in _READERS)
        _LOADED.readers = readers
    return readers


def read_answer(payload: Any) -> Answer | None:
    """The :class:`Answer` of any supported provider's answer, or None when none knows it."""
    for reader in _LOADED.readers or _readers():
        found = reader(payload)
        if found is not None:
            return found
    return None


def _usage_like(payload: Any) -> bool:
    """Whether ``payload`` has the keys of a usage shape (or of a response holding one)."""
    if payload is None or isinstance(payload, (str, bytes, int, float, list, tuple)):
        return False
    return any(has_any(payload, keys) for keys, _ in SHAPES) or has_any(payload, _WRAPPERS)


#: The openai SDK's raw responses (``with_raw_response``, ``with_streaming_response``)
#: whose ``parse()`` gives the answer without waiting: (module, class).
_RAW_RESPONSES: Final = frozenset(
    {("openai._legacy_response", "LegacyAPIResponse"), ("openai._response", "APIResponse")}
)


def _parsed(payload: Any) -> Any:
    """An openai SDK raw response as the answer its ``parse()`` gives (the SDK caches it)."""
    if any((cls.__module__, cls.__name__) in _RAW_RESPONSES for cls in type(payload).__mro__):
        return payload.parse()
    return payload


def to_answer(payload: Any) -> Answer:
    """The :class:`Answer` of a provider's whole answer, or of a bare usage object.

    A whole answer is read by :func:`read_answer` (an openai SDK raw
    response, from ``with_raw_response``, through its ``parse()``); a usage object of any
    supported provider (an :class:`~aievents.usage.ImageUsage`, OpenAI's
    ``usage``, Gemini's ``usage_metadata``, TanStack's ``TokenUsage``, fal's
    headers...) by :func:`~aievents.adapters.to_image_usage`, as
    ``Answer(usage=...)``. An :class:`Answer` already read is itself.

    Raises:
        EventValidationError: nobody knows ``payload``'s shape (the error
            names its type, never its content), or a known shape is
            malformed (the error names the field).
    """
    if isinstance(payload, Answer):
        return payload
    if isinstance(payload, ImageUsage):
        return Answer(usage=payload)
    payload = _parsed(payload)
    found = read_answer(payload)
    if found is not None:
        return found
    if _usage_like(payload):
        return Answer(usage=to_image_usage(payload))
    raise EventValidationError(
        "answer",
        type(payload),
        "is not a provider answer or usage aievents can read (OpenAI Images or "
        "Responses, Gemini, fal, Bedrock, Replicate, Stability, BFL; or a usage "
        "object): record its facts with record_usage, record_images and update",
        owner="record",
    )
