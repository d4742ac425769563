"""Compiled dispatch: the function behind :meth:`aievents.EventClient.emit`.

Each client owns one emit function object for its whole life, so code that
grabbed ``emit = client.emit`` keeps seeing every later subscription. On
every subscription change the function gets new code: one ``is`` test on the
event's class per known event class, then that class's handlers called one
after the other, each in its own ``try`` (free until a handler raises). This
costs little more than calling the handlers directly, which a loop over a
snapshot tuple does not.

The handlers and classes are constants of the generated code object, so one
assignment of ``__code__`` swaps the whole snapshot atomically, and a call
already running keeps the code, hence the handlers, it started with. The
source is generated from placeholders only, never from user data; the
placeholders are then replaced by the real objects in the code's constants.
"""

from __future__ import annotations

import itertools
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias

__all__ = ["MAX_UNROLLED", "Dispatcher", "Route"]

#: The handlers of one event class, in delivery order.
Route: TypeAlias = tuple[Callable[[Any], None], ...]
#: Routes longer than this are delivered by a loop instead of unrolled calls.
MAX_UNROLLED: Final = 32


class _Source:
    """Source text whose placeholders stand for objects."""

    def __init__(self, generation: int) -> None:
        self.prefix = f"\x00aievents-{generation}-"
        self.objects: dict[str, Any] = {}
        self.lines: list[str] = []

    def ref(self, name: str, value: Any) -> str:
        """A literal that :meth:`code` turns into ``value``."""
        key = self.prefix + name
        self.objects[key] = value
        return repr(key)

    def code(self) -> types.CodeType:
        source = "def emit(event):\n" + "\n".join(self.lines) + "\n"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # calling and `is` on literals
            module = compile(source, "<aievents emit>", "exec")
        function = next(c for c in module.co_consts if isinstance(c, types.CodeType))
        objects = self.objects
        consts = tuple(
            objects[c] if isinstance(c, str) and c in objects else c for c in function.co_consts
        )
        return function.replace(co_consts=consts)


class Dispatcher:
    """Owns a stable ``emit`` function and recompiles its code on demand.

    Args:
        failed: Called as ``failed(handler, event, exc)`` when a handler raises.
        unknown: Called with an event whose class the code does not know; it
            must deliver the event itself.
    """

    def __init__(
        self,
        failed: Callable[[Any, Any, Exception], None],
        unknown: Callable[[Any], None],
    ) -> None:
        self._failed = failed
        self._unknown = unknown
        self._generation = itertools.count()
        self.emit = types.FunctionType(self._generate(None), {"__builtins__": __builtins__})

    def install(self, routes: Sequence[tuple[type, Route]] | None) -> None:
        """Make ``emit`` deliver by ``routes``; ``None`` makes it deliver nothing."""
        self.emit.__code__ = self._generate(routes)

    def _generate(self, routes: Sequence[tuple[type, Route]] | None) -> types.CodeType:
        src = _Source(next(self._generation))
        body = src.lines
        if routes is None:
            body.append("    return None")
            return src.code()
        failed = src.ref("failed", self._failed)
        body.append("    t = type(event)")
        busy = [(cls, route) for cls, route in routes if route]
        quiet = [cls for cls, route in routes if not route]
        for i, (cls, route) in enumerate(busy):
            body.append(f"    if t is {src.ref(f'c{i}', cls)}:")
            if len(route) > MAX_UNROLLED:
                body += [
                    f"        for h in {src.ref(f'r{i}', route)}:",
                    "            try:",
                    "                h(event)",
                    "            except Exception as exc:",
                    f"                {failed}(h, event, exc)",
                ]
            else:
                for j, handler in enumerate(route):
                    name = src.ref(f"h{i}_{j}", handler)
                    body += [
                        "        try:",
                        f"            {name}(event)",
                        "        except Exception as exc:",
                        f"            {failed}({name}, event, exc)",
                    ]
            body.append("        return None")
        for k, cls in enumerate(quiet):
            body += [f"    if t is {src.ref(f'q{k}', cls)}:", "        return None"]
        body.append(f"    {src.ref('unknown', self._unknown)}(event)")
        return src.code()
