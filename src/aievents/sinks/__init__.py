"""Sinks: handlers with a lifecycle.

A sink is anything with ``handle(event)``, ``flush(timeout)`` and
``close(timeout)`` (see :class:`Sink`). Attach one with
:meth:`aievents.EventClient.add_sink`; closing the client closes its sinks.

Each sink's module is imported when the sink is first asked for
(``from aievents.sinks import StoreSink`` imports SQLAlchemy then, not
before); an extra that is not installed is named in the :class:`ImportError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from aievents.protocols import Sink

if TYPE_CHECKING:
    from aievents.sinks.aggregate import AggregateSink as AggregateSink
    from aievents.sinks.forward import ForwardReport as ForwardReport
    from aievents.sinks.forward import ForwardSink as ForwardSink
    from aievents.sinks.log import LogSink as LogSink
    from aievents.sinks.store import StoreSink as StoreSink

__all__ = ["AggregateSink", "ForwardReport", "ForwardSink", "LogSink", "Sink", "StoreSink"]

#: The sinks importable from this package, and their modules (imported when asked for).
_LAZY: Final = {
    "AggregateSink": "aievents.sinks.aggregate",
    "ForwardReport": "aievents.sinks.forward",
    "ForwardSink": "aievents.sinks.forward",
    "LogSink": "aievents.sinks.log",
    "StoreSink": "aievents.sinks.store",
}


def __getattr__(name: str) -> Any:
    """A sink, its module imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
