"""Wrapping attributes of an SDK's classes or objects, and undoing it.

:class:`Patches` sets attributes, remembers what each held (or that it held
nothing of its own), and puts them back by identity: an attribute someone
replaced since (a library that wrapped ours) is left as they set it, and
ours, still inside theirs, is told apart by the instrumentation's own
``active`` flag. Callers hold their own lock around a check-and-patch.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["Patches"]

_ABSENT: Final[Any] = object()


class Patches:
    """The attributes one instrumentation changed: what each held, and what it set."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        #: (target, attribute, what it held of its own or ``_ABSENT``, what we set)
        self.done: list[tuple[Any, str, Any, Any]] = []

    def patch(self, target: Any, name: str, value: Any) -> None:
        """Set ``target.name`` to ``value``, noting what ``target`` itself held there."""
        self.done.append((target, name, vars(target).get(name, _ABSENT), value))
        setattr(target, name, value)

    def undo(self) -> None:
        """Put back what :meth:`patch` changed, latest first, where ours is still in place."""
        done, self.done = self.done, []
        for target, name, previous, ours in reversed(done):
            if vars(target).get(name) is not ours:
                continue  # replaced since: theirs stays
            if previous is _ABSENT:
                delattr(target, name)
            else:
                setattr(target, name, previous)
