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

from aievents.adapters._answer import Answer

__all__ = ["Answer", "Reader", "read_answer"]


#: A reader: the :class:`Answer` of a payload of its provider's shape, else None.
Reader = Callable[[Any], "Answer | None"]

#: The readers, by module and function, asked in this order (imported when
#: first used). A reader returns None for a shape that is not its own.
_READERS: Final[tuple[tuple[str, str], ...]] = (
    ("aievents.adapters.responses", "read_response"),
    ("aievents.adapters.google", "read_response"),
)


def read_answer(payload: Any) -> Answer | None:
    """The :class:`Answer` of any supported provider's answer, or None when none knows it."""
    for module, name in _READERS:
        reader: Reader = getattr(importlib.import_module(module), name)
        found = reader(payload)
        if found is not None:
            return found
    return None
