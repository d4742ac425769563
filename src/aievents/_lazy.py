"""Names a package exports but imports only when first asked for (PEP 562).

``import aievents`` stays light: a sink, a transport and what they need
(SQLAlchemy, httpx...) are imported when a program first asks for them by
name (``from aievents import StoreSink``, ``aievents.sinks.ForwardSink``).
A package lists them and their modules::

    __getattr__, __dir__ = lazy(__name__, {"StoreSink": "aievents.sinks.store"})

and, for type checkers, imports the same names under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy"]


def lazy(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__`` for ``names`` (name: its module).

    The module is imported when the name is asked for; an extra it needs
    and lacks is named in its :class:`ImportError`.
    """
    namespace = vars(sys.modules[package])
    table = dict(names)

    def attribute(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def listing() -> list[str]:
        return sorted({*namespace, *table})

    return attribute, listing
