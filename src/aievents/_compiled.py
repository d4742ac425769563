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

The compiled tally reads the slots of the Python classes it is given
(``ImageUsageEvent``, ``ImageUsage``, ``ImageCost``) and the tuples in two of
them (``ImageUsage.split``, ``ImageCost.units``). Each build carries the
layout it was built for (``LAYOUT``); :func:`fitting` checks it against the
classes (:func:`layout_mismatch`) before the compiled tally is used, and a
build made for another layout is not used, the pure Python twin taking its
place.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from types import MemberDescriptorType, ModuleType
from typing import Any, Final

__all__ = [
    "ABI",
    "fitting",
    "layout_mismatch",
    "source_digest",
    "speedups",
    "stale_reason",
]

#: The version of the compiled interface these sources call (``SPEEDUPS_ABI`` in C).
ABI: Final = 6
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


def layout_mismatch(
    built: Any, classes: Mapping[str, type], orders: Mapping[str, tuple[str, ...]]
) -> str | None:
    """How the layout a build was made for differs from the Python side, or None.

    ``built`` is the build's ``LAYOUT``: for each role in ``classes``
    (``"usage"``: ``ImageUsage``, ...), the names of the slots it reads of
    that class; for each name in ``orders`` (``"split"``:
    ``aievents.usage.SPLIT_FIELDS``, ...), the names of a tuple's items in
    the order it reads them. They match when every slot it reads is a slot
    of the class (an object slot, as ``__slots__`` makes) and every order is
    the same, item for item; a role or an order on one side only is a
    mismatch.
    """
    if not isinstance(built, Mapping):
        return "the build describes no layout"
    expected = set(classes) | set(orders)
    unknown = sorted(set(built) - expected)
    missing = sorted(expected - set(built))
    if unknown or missing:
        return f"the build describes {sorted(built)}, these sources {sorted(expected)}"
    for role, cls in classes.items():
        absent = [
            name
            for name in built[role]
            if not isinstance(inspect.getattr_static(cls, name, None), MemberDescriptorType)
        ]
        if absent:
            return f"{cls.__name__} has no slot {', '.join(map(repr, absent))} the build reads"
    for name, order in orders.items():
        if tuple(built[name]) != tuple(order):
            return f"{name} holds {tuple(order)} here, the build reads {tuple(built[name])}"
    return None


def fitting(
    classes: Mapping[str, type], orders: Mapping[str, tuple[str, ...]]
) -> tuple[ModuleType | None, str | None]:
    """``aievents._speedups`` when it is used and fits the Python classes, else why not.

    Returns (the module, None); (None, why it is not used) when it was built
    from other sources (:func:`stale_reason`) or for another layout
    (:func:`layout_mismatch`); or (None, None) when it was not built or
    ``AIEVENTS_PURE_PYTHON`` is set.
    """
    module = speedups()
    if module is None:
        return None, stale_reason()
    mismatch = layout_mismatch(getattr(module, "LAYOUT", None), classes, orders)
    if mismatch is None:
        return module, None
    where = getattr(module, "__file__", None) or "aievents._speedups"
    return None, f"{where} was built for another layout ({mismatch}): {_REBUILD}"
