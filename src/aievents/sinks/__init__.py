"""Sinks: handlers with a lifecycle.

A sink is anything with ``handle(event)``, ``flush(timeout)`` and
``close(timeout)`` (see :class:`Sink`). Attach one with
:meth:`aievents.EventClient.add_sink`; closing the client closes its sinks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aievents.sinks._base import Sink
from aievents.sinks.aggregate import AggregateSink
from aievents.sinks.forward import ForwardReport, ForwardSink
from aievents.sinks.log import LogSink

if TYPE_CHECKING:
    from aievents.sinks.store import StoreSink

__all__ = ["AggregateSink", "ForwardReport", "ForwardSink", "LogSink", "Sink", "StoreSink"]


def __getattr__(name: str) -> Any:
    """``StoreSink`` loads SQLAlchemy: it is imported when first asked for."""
    if name == "StoreSink":
        from aievents.sinks.store import StoreSink  # noqa: PLC0415 - loaded when used

        return StoreSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
