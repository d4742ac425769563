"""Sinks: handlers with a lifecycle.

A sink is anything with ``handle(event)``, ``flush(timeout)`` and
``close(timeout)`` (see :class:`Sink`). Attach one with
:meth:`aievents.EventClient.add_sink`; closing the client closes its sinks.

Each sink's module is imported when the sink is first asked for
(``from aievents.sinks import StoreSink`` imports SQLAlchemy then, not
before); an extra that is not installed is named in the :class:`ImportError`.
:class:`~aievents.sinks.prometheus.PrometheusSink` and
:func:`~aievents.sinks.prometheus.serve_metrics` (extra ``[prometheus]``) are
importable from here too, but left out of ``__all__``: a star import would
need the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aievents._lazy import lazy
from aievents.protocols import Sink

if TYPE_CHECKING:
    from aievents.sinks._reprice import ModelRepricing as ModelRepricing
    from aievents.sinks._reprice import NotRepriced as NotRepriced
    from aievents.sinks._reprice import Repricing as Repricing
    from aievents.sinks.aggregate import AggregateSink as AggregateSink
    from aievents.sinks.forward import ForwardReport as ForwardReport
    from aievents.sinks.forward import ForwardSink as ForwardSink
    from aievents.sinks.log import LogSink as LogSink
    from aievents.sinks.otel import MetricNames as MetricNames
    from aievents.sinks.otel import OtelSink as OtelSink
    from aievents.sinks.prometheus import PrometheusSink as PrometheusSink
    from aievents.sinks.prometheus import serve_metrics as serve_metrics
    from aievents.sinks.store import StoreSink as StoreSink

__all__ = [
    "AggregateSink",
    "ForwardReport",
    "ForwardSink",
    "LogSink",
    "ModelRepricing",
    "NotRepriced",
    "Repricing",
    "Sink",
    "StoreSink",
]

#: The sinks (what a reprice answers, the /metrics server) importable from this
#: package, and their modules (imported when asked for). OtelSink and its
#: MetricNames are not in ``__all__``: a star import would need the ``[otel]`` extra.
__getattr__, __dir__ = lazy(
    __name__,
    {
        "AggregateSink": "aievents.sinks.aggregate",
        "ForwardReport": "aievents.sinks.forward",
        "ForwardSink": "aievents.sinks.forward",
        "LogSink": "aievents.sinks.log",
        "MetricNames": "aievents.sinks.otel",
        "ModelRepricing": "aievents.sinks._reprice",
        "NotRepriced": "aievents.sinks._reprice",
        "PrometheusSink": "aievents.sinks.prometheus",
        "OtelSink": "aievents.sinks.otel",
        "Repricing": "aievents.sinks._reprice",
        "StoreSink": "aievents.sinks.store",
        "serve_metrics": "aievents.sinks.prometheus",
    },
)
