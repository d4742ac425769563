"""Sinks: handlers with a lifecycle.

A sink is anything with ``handle(event)``, ``flush(timeout)`` and
``close(timeout)`` (see :class:`Sink`). Attach one with
:meth:`aievents.EventClient.add_sink`; closing the client closes its sinks.
"""

from __future__ import annotations

from aievents.sinks._base import Sink
from aievents.sinks.aggregate import AggregateSink
from aievents.sinks.forward import ForwardReport, ForwardSink
from aievents.sinks.log import LogSink
from aievents.sinks.store import StoreSink

__all__ = ["AggregateSink", "ForwardReport", "ForwardSink", "LogSink", "Sink", "StoreSink"]
