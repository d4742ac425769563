"""The optional compiled module ``aievents._speedups``, when it matches these sources.

``aievents._speedups`` is built from ``_speedups.c`` when the package is
installed with a C compiler at hand. An editable install keeps the built
file beside the sources: after the C sources change, a build left from
before no longer matches what the Python side calls (other arguments,
other fields). Each build carries :data:`ABI`, the version of its interface
(``SPEEDUPS_ABI`` in ``_speedups.c``; bump both together): a build whose
version differs is not used, and the pure Python twins take its place.
"""

from __future__ import annotations

import functools
import os
from types import ModuleType
from typing import Final

__all__ = ["ABI", "speedups", "stale_reason"]

#: The version of the compiled interface these sources call (``SPEEDUPS_ABI`` in C).
ABI: Final = 2


@functools.cache
def _load() -> tuple[ModuleType | None, str | None]:
    """(the module, None), (None, why it does not match), or (None, None): not built."""
    try:
        from aievents import _speedups  # noqa: PLC0415 - optional
    except ImportError:
        return None, None
    built = getattr(_speedups, "ABI", None)
    if built != ABI:
        where = getattr(_speedups, "__file__", "aievents._speedups")
        return None, (
            f"{where} was built from other sources (interface {built}, these need {ABI}): "
            "the pure Python twins run instead; rebuild it with pip install -e . "
            "(make setup in a clone)"
        )
    return _speedups, None


def speedups() -> ModuleType | None:
    """``aievents._speedups``, or None: not built, built from other sources, or
    ``AIEVENTS_PURE_PYTHON`` set."""
    if os.environ.get("AIEVENTS_PURE_PYTHON"):
        return None
    return _load()[0]


def stale_reason() -> str | None:
    """Why a built ``aievents._speedups`` is not used (it does not match), else None."""
    if os.environ.get("AIEVENTS_PURE_PYTHON"):
        return None
    return _load()[1]
