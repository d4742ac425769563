"""Compiled dispatch: the function behind :meth:`aievents.EventClient.emit`.

Each client owns one emit function object for its whole life, so code that
grabbed ``emit = client.emit`` keeps seeing every later subscription. The
code is a cache of the client's routes: a subscription change makes it stale
(:meth:`Dispatcher.invalidate`, every event then takes the client's slow
path), and the client installs new code built from its signals at the next
emit (:meth:`Dispatcher.install`): one ``is`` test on the
event's class per known event class, then that class's handlers called one
after the other, each in its own ``try`` (free until a handler raises). This
costs little more than calling the handlers directly, which a loop over a
snapshot tuple does not.

The objects the code needs (classes, handlers) live in one tuple per
generation, stored in the function's own globals and unpacked into locals as
the call's first step: a call that has started keeps the handlers it started
with (snapshot semantics), and the garbage collector sees every reference
(constants of a code object would hide them from it). The previous
generations' tuples are kept for a while so that a call that began just
before a swap still finds its own; one that does not (it would have to
stall across several swaps) is delivered by the client's slow path instead.
Only generated identifiers go into the source, never user data.
"""

from __future__ import annotations

import builtins
import itertools
import types
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias

__all__ = ["MAX_UNROLLED", "MAX_UNROLLED_TOTAL", "Dispatcher", "Route"]

#: The handlers of one event class, in delivery order.
Route: TypeAlias = tuple[Callable[[Any], None], ...]
#: Routes longer than this are delivered by a loop instead of unrolled calls.
MAX_UNROLLED: Final = 8
#: Unrolled calls across all routes, at most: beyond, routes loop, which keeps
#: the generated code (and the cost of a subscription change) small.
MAX_UNROLLED_TOTAL: Final = 64
#: Generations whose objects stay reachable after they are replaced.
_KEPT_GENERATIONS: Final = 3


class _Source:
    """The source of one generation, and the globals its names stand for."""

    def __init__(self, generation: str) -> None:
        self.prefix = f"{generation}_"
        self.objects: dict[str, Any] = {}
        self.lines: list[str] = []

    def ref(self, name: str, value: Any) -> str:
        """A global of the generated function, unique to this generation, holding ``value``."""
        key = self.prefix + name
        self.objects[key] = value
        return key

    def code(self) -> types.CodeType:
        # Global lookups (classes, routes) all happen before any handler runs,
        # so a call that finds its generation gone is delivered once, by RESCUE.
        # Only a NameError raised by this frame's own lookups means that: one
        # coming out of a call (a strict client re-raising a handler's error,
        # RESCUE itself) went through deeper frames and is the caller's.
        head = ["def emit(event):", "  try:"]
        tail = [
            "  except NameError as exc:",
            "    if exc.__traceback__.tb_next is not None:",
            "      raise",
            "    return RESCUE(event)",
        ]
        body = ["    " + line for line in self.lines]
        source = "\n".join([*head, *body, *tail]) + "\n"
        namespace: dict[str, Any] = {}
        exec(compile(source, "<aievents emit>", "exec"), {}, namespace)
        code: types.CodeType = namespace["emit"].__code__
        return code


class Dispatcher:
    """Owns a stable ``emit`` function and recompiles its code on demand.

    Args:
        failed: Called as ``failed(handler, event, exc)`` when a handler raises.
        unknown: Called with an event the code cannot deliver (a class it does
            not know yet, or any event while the code is stale); it must
            deliver the event itself.

    ``emit`` starts stale: until the first :meth:`install`, every event goes
    to ``unknown``.
    """

    def __init__(
        self,
        failed: Callable[[Any, Any, Exception], None],
        unknown: Callable[[Any], None],
    ) -> None:
        self._failed = failed
        self._generation = itertools.count()
        self._globals: dict[str, Any] = {"__builtins__": builtins, "RESCUE": unknown}
        self._live: list[list[str]] = []
        self._stale = self._generate([]).code()
        self.emit = types.FunctionType(self._stale, self._globals, "emit")

    def invalidate(self) -> None:
        """Make ``emit`` hand every event to ``unknown`` until the next :meth:`install`.

        Cheap and lock-free: safe from any thread, and from a weak reference's
        callback in the middle of anything.
        """
        self.emit.__code__ = self._stale

    def install(self, routes: Sequence[tuple[type, Route]] | None) -> None:
        """Make ``emit`` deliver by ``routes``; ``None`` makes it deliver nothing."""
        generation = f"_g{next(self._generation)}"
        src = self._generate(routes, generation)
        self._globals.update(src.objects)
        self.emit.__code__ = src.code()
        self._live.append(list(src.objects))
        while len(self._live) > _KEPT_GENERATIONS:
            for name in self._live.pop(0):
                self._globals.pop(name, None)

    def _generate(
        self, routes: Sequence[tuple[type, Route]] | None, generation: str = "_g"
    ) -> _Source:
        src = _Source(generation)
        body = src.lines
        if routes is None:
            body.append("return None")
            return src
        body.append("t = type(event)")
        busy = [(cls, route) for cls, route in routes if route]
        quiet = [cls for cls, route in routes if not route]
        unrolled = 0
        for i, (cls, route) in enumerate(busy):
            body.append(f"if t is {src.ref(f'c{i}', cls)}:")
            if len(route) <= MAX_UNROLLED and unrolled + len(route) <= MAX_UNROLLED_TOTAL:
                unrolled += len(route)
                handlers = [f"h{j}" for j in range(len(route))]
                targets = ", ".join(["failed", *handlers])
                body.append(f"    ({targets},) = {src.ref(f'r{i}', (self._failed, *route))}")
                for name in handlers:
                    body += [
                        "    try:",
                        f"        {name}(event)",
                        "    except Exception as exc:",
                        f"        failed({name}, event, exc)",
                    ]
            else:
                body += [
                    f"    route = {src.ref(f'r{i}', route)}",
                    f"    failed = {src.ref(f'f{i}', self._failed)}",
                    "    for h in route:",
                    "        try:",
                    "            h(event)",
                    "        except Exception as exc:",
                    "            failed(h, event, exc)",
                ]
            body.append("    return None")
        for k, cls in enumerate(quiet):
            body += [f"if t is {src.ref(f'q{k}', cls)}:", "    return None"]
        body.append("return RESCUE(event)")
        return src
