"""The parts of PrometheusSink: its metrics, the children of a label set, the request ids seen.

Imported by :mod:`aievents.sinks.prometheus` once ``prometheus_client`` is known
to be there (extra ``[prometheus]``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from aievents._fork import after_fork

__all__ = ["BILLED", "Children", "Metrics", "Seen"]

#: The ``type`` of each billed count, in the order of :func:`aievents.usage.billed_tokens`
#: (the billed counts of :func:`aievents.usage.flat_tokens`, which logs and OTLP carry).
BILLED: Final = ("input_text", "input_image", "input_cached", "output_image", "output_text")


class Seen:
    """The last ``size`` request ids, to count each request once."""

    def __init__(self, size: int) -> None:
        self._ids: set[str] = set()
        self._order: deque[str] = deque()
        self._size = size
        self._lock = threading.Lock()
        after_fork(self)

    def first(self, request_id: str) -> bool:
        """Remember ``request_id``; whether it is new."""
        with self._lock:
            if request_id in self._ids:
                return False
            if len(self._order) >= self._size:
                self._ids.discard(self._order.popleft())
            self._ids.add(request_id)
            self._order.append(request_id)
            return True

    def forget(self, request_id: str) -> None:
        """Forget ``request_id`` (its event was not counted after all)."""
        with self._lock:
            if request_id in self._ids:
                self._ids.discard(request_id)
                self._order.remove(request_id)

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (a thread of the parent may have held it)."""
        self._lock = threading.Lock()


class Children:
    """The labelled children of one label set, looked up once (see ``PrometheusSink``).

    The cost and reported-cost children are made on first need: a label set
    whose cost was never known has no cost sample at all (not $0).
    """

    __slots__ = (
        "_cost", "_key", "_metrics", "_reported", "_reporting",
        "billed", "images", "input", "output", "requests", "unpriced",
    )  # fmt: skip

    def __init__(self, metrics: Metrics, key: tuple[str, ...]) -> None:
        self._metrics = metrics
        self._key = key
        self.requests = metrics.requests.labels(*key)
        self.images = metrics.images.labels(*key)
        self.input = metrics.tokens.labels(*key, "input")
        self.output = metrics.tokens.labels(*key, "output")
        self.billed = [metrics.billed.labels(*key, kind) for kind in BILLED]
        self.unpriced = metrics.unpriced.labels(*key)
        self._cost: Any = None
        self._reported: Any = None
        self._reporting: Any = None

    def cost(self) -> Any:
        """The priced-cost child, made now if need be."""
        if self._cost is None:
            self._cost = self._metrics.cost.labels(*self._key)
        return self._cost

    def reported(self) -> tuple[Any, Any]:
        """The reported-cost child and the reporting-requests child, made now if need be."""
        if self._reported is None:
            self._reporting = self._metrics.reporting.labels(*self._key)
            self._reported = self._metrics.reported.labels(*self._key)
        return self._reported, self._reporting


class Metrics:
    """The sink's metrics: one collector, registered (and unregistered) at once."""

    def __init__(
        self,
        namespace: str,
        labels: tuple[str, ...],
        timed: tuple[str, ...],
        buckets: Sequence[float],
        *,
        counts: Callable[[], Iterable[tuple[str, int]]],
        failures: Callable[[], int],
    ) -> None:
        def counter(name: str, doc: str, *more: str) -> Counter:
            return Counter(name, doc, [*labels, *more], namespace=namespace, registry=None)

        self.namespace = namespace
        self.requests = counter("image_requests", "Image requests with usage (image:usage)")
        self.errors = counter("image_request_errors", "Image requests failed", "error_type")
        self.images = counter("images", "Images produced")
        self.tokens = counter("tokens", "Tokens used, by type (input, output)", "type")
        self.billed = counter("billed_tokens", "Tokens by how they are billed", "type")
        self.cost = counter("cost_usd", "Cost in USD as aievents priced it (priced requests)")
        self.unpriced = counter("unpriced_requests", "Requests whose cost is unknown")
        self.reported = counter("reported_cost_usd", "Cost in USD as providers reported it")
        self.reporting = counter(
            "cost_reported_requests", "Requests whose provider reported a cost ($0 included)"
        )
        self.duration = Histogram(
            "image_request_duration_seconds",
            "Duration of image requests (error_type empty when they succeeded)",
            [*timed, "error_type"],
            namespace=namespace,
            buckets=buckets,
            registry=None,
        )
        self._counts = counts
        self._failures = failures

    def _all(self) -> tuple[Counter | Histogram, ...]:
        return (
            self.requests, self.errors, self.images, self.tokens, self.billed,
            self.cost, self.unpriced, self.reported, self.reporting, self.duration,
        )  # fmt: skip

    def _own(self, values: bool) -> Iterator[Metric]:
        """The sink's own counters: capped label values, failures."""
        overflow = CounterMetricFamily(
            f"{self.namespace}_label_overflow",
            "Events whose label value was past its cap and counted as (overflow)",
            labels=["label"],
        )
        failures = CounterMetricFamily(
            f"{self.namespace}_prometheus_sink_failures",
            "Events the Prometheus sink failed to count",
        )
        if values:
            for label, count in self._counts():
                overflow.add_metric([label], count)
            failures.add_metric([], self._failures())
        yield overflow
        yield failures

    def collect(self) -> Iterator[Metric]:
        """Every metric with its samples (what a scrape reads)."""
        for metric in self._all():
            yield from metric.collect()
        yield from self._own(values=True)

    def describe(self) -> Iterator[Metric]:
        """Every metric without samples (what a registry checks names with)."""
        for metric in self._all():
            yield from metric.describe()
        yield from self._own(values=False)
