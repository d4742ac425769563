"""The optional compiled module ``aievents._speedups``, when it matches these sources.

``aievents._speedups`` is built from ``_speedups.c`` and ``_screen.c`` when the package is
installed with a C compiler at hand. An editable install keeps the built
file beside the sources: after the C sources change, a build left from
before no longer does what they say (other arguments, other fields, a
counting fixed since). Two checks keep such a build from being used, the
pure Python twins taking its place:

- each build carries :data:`ABI`, the version of its interface
  (``SPEEDUPS_ABI`` in ``_speedups.c``; bump both together);
- each build carries the digest of the C sources it was built from
  (``SOURCES``, set by ``setup.py`` from :func:`source_digest`): where the
  C sources are kept beside the build (a clone, an editable install), they
  must still have that digest.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["ABI", "source_digest", "speedups", "stale_reason"]

#: The version of the compiled interface these sources call (``SPEEDUPS_ABI`` in C).
ABI: Final = 4
_REBUILD: Final = (
    "the pure Python twins run instead; rebuild it with pip install -e . (make setup in a clone)"
)


def source_digest(folder: str | os.PathLike[str]) -> str:
    """The SHA-256 of the C sources and headers in ``folder`` (``*.c``, ``*.h``), hex.

    ``setup.py`` builds it into the compiled module; this module compares.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.[ch]")):
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _load() -> tuple[ModuleType | None, str | None]:
    """(the module, None), (None, why it does not match), or (None, None): not built."""
    try:
        from aievents import _speedups  # noqa: PLC0415 - optional
    except ImportError:
        return None, None
    where = Path(getattr(_speedups, "__file__", None) or "aievents/_speedups")
    built = getattr(_speedups, "ABI", None)
    folder = where.parent
    if built != ABI:
        changed = f"interface {built}, these need {ABI}"
    elif any(folder.glob("*.c")) and getattr(_speedups, "SOURCES", "") != source_digest(folder):
        changed = f"the C sources in {folder} changed since"
    else:
        return _speedups, None
    return None, f"{where} was built from other sources ({changed}): {_REBUILD}"


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
