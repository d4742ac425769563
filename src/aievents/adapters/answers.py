"""What a provider's answer says about the images it made: :class:`Answer`.

:func:`read_answer` takes a whole answer (an SDK response object, or the
JSON body as a dict) of any supported provider and returns the facts it
reports: the images made, the usage, the model and the provider's id of the
answer. Each provider family has a reader that recognises its own shape and
returns None for any other; :func:`read_answer` asks each in turn.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final

import attrs

from aievents.usage import ImageUsage

__all__ = ["Answer", "Reader", "read_answer"]


@attrs.frozen
class Answer:
    """The facts one provider answer reports about an image request.

    Attributes:
        images: Images the answer returned (held-back ones left out), or
            None when the answer does not say.
        usage: The usage it reported, or None.
        model: The model the answer names (it may be more exact than the
            one asked for), or None.
        request_id: The provider's id of the answer, or None.
        size: Size of the images made, when the answer says.
        quality: Quality of the images made, when the answer says.
        filtered: Images the provider held back (safety filters), when the
            answer says.
    """

    images: int | None = None
    usage: ImageUsage | None = None
    model: str | None = None
    request_id: str | None = None
    size: str | None = None
    quality: str | None = None
    filtered: int | None = None


#: A reader: the :class:`Answer` of a payload of its provider's shape, else None.
Reader = Callable[[Any], "Answer | None"]

#: The readers, by module and function, asked in this order (imported when
#: first used). A reader returns None for a shape that is not its own.
_READERS: Final[tuple[tuple[str, str], ...]] = (("aievents.adapters.google", "read_response"),)


def read_answer(payload: Any) -> Answer | None:
    """The :class:`Answer` of any supported provider's answer, or None when none knows it."""
    for module, name in _READERS:
        reader: Reader = getattr(importlib.import_module(module), name)
        found = reader(payload)
        if found is not None:
            return found
    return None
