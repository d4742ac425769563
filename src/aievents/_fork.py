"""One place that tells objects a fork happened, so each can start afresh in the child."""

from __future__ import annotations

import os
import weakref
from typing import Final, Protocol

__all__ = ["after_fork"]


class _Forkable(Protocol):
    def _after_fork(self) -> None: ...


_OBJECTS: Final[weakref.WeakSet[_Forkable]] = weakref.WeakSet()


def after_fork(obj: _Forkable) -> None:
    """Call ``obj._after_fork()`` in every child forked from now on (while ``obj`` lives)."""
    _OBJECTS.add(obj)


def _notify() -> None:
    for obj in list(_OBJECTS):
        obj._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_notify)
