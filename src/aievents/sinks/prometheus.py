"""PrometheusSink: image requests, tokens, cost and durations as Prometheus metrics.

Extra ``[prometheus]`` (``prometheus_client``). The sink keeps counters and a
histogram in a ``prometheus_client`` registry, which Prometheus scrapes
from ``/metrics`` (:func:`serve_metrics` serves one, or the application's
own endpoint does). With the default namespace ``aievents``:

- ``aievents_image_requests_total``: requests with usage (``image:usage``);
- ``aievents_image_request_errors_total``: failed requests, by ``error_type``;
- ``aievents_images_total``: images produced;
- ``aievents_tokens_total``: tokens, ``type`` ``input`` or ``output``;
- ``aievents_billed_tokens_total``: the same tokens as billed, ``type``
  ``input_text``, ``input_image``, ``input_cached``, ``output_image``,
  ``output_text`` (they add up to the input and output tokens);
- ``aievents_cost_usd_total``: cost in USD as aievents priced it;
- ``aievents_unpriced_requests_total``: requests whose cost is unknown;
- ``aievents_reported_cost_usd_total``: cost in USD as providers reported it;
- ``aievents_image_request_duration_seconds``: histogram of request
  durations (the GenAI conventions' buckets), ``error_type`` empty on success;
- ``aievents_label_overflow_total``: events whose label value was past its
  cap, by ``label``;
- ``aievents_prometheus_sink_failures_total``: events the sink failed to count.

Every metric of a request is labelled ``provider``, ``model`` and
``operation``; ``project_id`` and ``user_id`` are opt-in (``labels=``),
each capped: past ``max_label_values`` distinct values, later ones are
counted under ``"(overflow)"``, so totals stay whole and series bounded.
Requests are counted as :class:`~aievents.sinks.aggregate.AggregateSink`
counts them: one per ``image:usage`` event, a request id once; a request
whose cost is unknown adds nothing to the cost and one to the unpriced
requests, never $0 as if known.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Final

from aievents._extras import missing_extra

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
    from prometheus_client.core import CounterMetricFamily
    from prometheus_client.metrics_core import Metric
except ImportError as _error:
    raise missing_extra("PrometheusSink", "prometheus", _error) from None

from aievents._diag import RateLimitedLog
from aievents._fork import after_fork
from aievents._genai import DURATION_BOUNDARIES
from aievents._validate import setting
from aievents.events import BaseEvent
from aievents.money import ImageCost
from aievents.pricing import PriceBook, PriceTable, book_for
from aievents.sinks._labels import CappedLabel
from aievents.sinks._metricsserver import MetricsServer, serve_metrics
from aievents.usage import billed_tokens

__all__ = ["MetricsServer", "PrometheusSink", "serve_metrics"]

#: The labels a sink may add on request (``labels=``), from the event fields of the same name.
OPT_IN_LABELS: Final = ("project_id", "user_id")
#: Distinct providers and error types kept as label values (then ``"(overflow)"``).
_MAX_PROVIDERS: Final = 100
_MAX_ERROR_TYPES: Final = 100
_NAMESPACE: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
#: The ``type`` of each billed count, in the order of :func:`aievents.usage.billed_tokens`
#: (the billed counts of :func:`aievents.usage.flat_tokens`, which logs and OTLP carry).
_BILLED: Final = ("input_text", "input_image", "input_cached", "output_image", "output_text")


class _Seen:
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

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (a thread of the parent may have held it)."""
        self._lock = threading.Lock()


class _Children:
    """The labelled children of one label set, looked up once (see ``PrometheusSink``)."""

    __slots__ = (
        "billed", "cost", "images", "input", "output", "reported", "requests", "unpriced",
    )  # fmt: skip

    def __init__(self, metrics: _Metrics, key: tuple[str, ...]) -> None:
        self.requests = metrics.requests.labels(*key)
        self.images = metrics.images.labels(*key)
        self.input = metrics.tokens.labels(*key, "input")
        self.output = metrics.tokens.labels(*key, "output")
        self.billed = [metrics.billed.labels(*key, kind) for kind in _BILLED]
        self.cost = metrics.cost.labels(*key)
        self.unpriced = metrics.unpriced.labels(*key)
        self.reported = metrics.reported.labels(*key)


class _Metrics:
    """The sink's metrics: one collector, registered (and unregistered) at once."""

    def __init__(
        self,
        namespace: str,
        labels: tuple[str, ...],
        buckets: Sequence[float],
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
        self.duration = Histogram(
            "image_request_duration_seconds",
            "Duration of image requests (error_type empty when they succeeded)",
            [*labels, "error_type"],
            namespace=namespace,
            buckets=buckets,
            registry=None,
        )
        self._counts = counts
        self._failures = failures

    def _all(self) -> tuple[Counter | Histogram, ...]:
        return (
            self.requests, self.errors, self.images, self.tokens, self.billed,
            self.cost, self.unpriced, self.reported, self.duration,
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


class PrometheusSink:
    """Counts image requests, tokens, cost and durations in a Prometheus registry.

    Args:
        registry: The ``prometheus_client`` registry to register in; by
            default ``prometheus_client.REGISTRY``, the one
            ``start_http_server`` and ``make_wsgi_app`` serve by default. A
            registry holds one sink per namespace: give a second sink its own
            ``CollectorRegistry()`` or ``namespace``, or close the first.
        namespace: The first part of every metric's name (``aievents``:
            ``aievents_image_requests_total``).
        labels: Opt-in labels from the events: ``"project_id"``, ``"user_id"``.
        max_label_values: Distinct values of each opt-in label counted under
            their own value; later ones are counted under ``"(overflow)"``.
        max_models: The same cap for ``model``.
        max_request_ids: Request ids remembered to count each request once.
        buckets: The duration histogram's bucket bounds in seconds (the
            GenAI conventions' by default).
        prices: The :class:`~aievents.pricing.PriceBook` that prices events
            that carry no cost (the process default book by default), as
            AggregateSink does.
        price_events: Price events that carry no ``cost`` with ``prices``.

    Thread-safe; ``handle`` never raises (a failure is logged, rate-limited,
    and counted in :attr:`failures` and ``..._prometheus_sink_failures_total``).
    Closing the sink takes its metrics out of the registry.
    """

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        namespace: str = "aievents",
        labels: Iterable[str] = (),
        max_label_values: int = 100,
        max_models: int = 1_000,
        max_request_ids: int = 100_000,
        buckets: Sequence[float] = DURATION_BOUNDARIES,
        prices: PriceBook | PriceTable | None = None,
        price_events: bool = True,
    ) -> None:
        if registry is None:
            registry = REGISTRY
        if not callable(getattr(registry, "register", None)):
            raise TypeError(
                "registry must be a prometheus_client CollectorRegistry, "
                f"got {type(registry).__name__}"
            )
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
            raise ValueError(
                f"namespace must be a Prometheus metric name prefix (letters, digits, '_', "
                f"':'; not starting with a digit), got {namespace!r}"
            )
        try:
            chosen = tuple(labels) if not isinstance(labels, str) else (labels,)
        except TypeError:
            raise TypeError(
                f"labels must be label names such as ['user_id'], got {type(labels).__name__}"
            ) from None
        for label in chosen:
            if label not in OPT_IN_LABELS:
                raise ValueError(
                    f"labels must be among {', '.join(map(repr, OPT_IN_LABELS))}, got {label!r}"
                )
        chosen = tuple(name for name in OPT_IN_LABELS if name in chosen)
        setting("max_label_values", max_label_values, positive=True)
        setting("max_models", max_models, positive=True)
        setting("max_request_ids", max_request_ids, positive=True)
        buckets = _buckets(buckets)
        #: The registry the metrics are registered in.
        self.registry = registry
        #: The opt-in labels this sink adds, in their order on the metrics.
        self.labels = chosen
        self._provider = CappedLabel("provider", _MAX_PROVIDERS)
        self._model = CappedLabel("model", max_models)
        self._error_type = CappedLabel("error_type", _MAX_ERROR_TYPES)
        self._opt_in = tuple(CappedLabel(name, max_label_values) for name in chosen)
        self._caps = (self._provider, self._model, self._error_type, *self._opt_in)
        self._project = next((c for c in self._opt_in if c.name == "project_id"), None)
        self._user = next((c for c in self._opt_in if c.name == "user_id"), None)
        self._usage_ids = _Seen(max_request_ids)
        self._ended_ids = _Seen(max_request_ids)
        self._book = book_for(prices)
        self._price_events = price_events
        self._lock = threading.Lock()
        after_fork(self)
        self._closed = False
        self._diag = RateLimitedLog("prometheus")
        #: Events the sink failed to count (logged, never raised).
        self.failures = 0
        self._metrics = _Metrics(
            namespace,
            ("provider", "model", "operation", *chosen),
            buckets,
            lambda: [(cap.name, cap.overflowed) for cap in self._caps],
            lambda: self.failures,
        )
        self._children: dict[tuple[str, ...], _Children] = {}
        self._errors: dict[tuple[str, ...], Any] = {}
        self._durations: dict[tuple[str, ...], Any] = {}
        self._routes: dict[str, Callable[[Any], None]] = {
            "image:usage": self._usage,
            "image:request:completed": self._completed,
            "image:request:error": self._error,
        }
        try:
            registry.register(self._metrics)
        except ValueError as error:
            raise ValueError(
                f"PrometheusSink cannot register its metrics: the registry already has "
                f"metrics named like them ({error}); another PrometheusSink with "
                f"namespace={namespace!r}? Close that sink first, or give this one its own "
                f"registry=prometheus_client.CollectorRegistry() or another namespace="
            ) from None

    @property
    def namespace(self) -> str:
        """The first part of every metric's name."""
        return self._metrics.namespace

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (events are ignored then)."""
        return self._closed

    def handle(self, event: BaseEvent) -> None:
        """Count ``event`` (usage, completed and error events; others are ignored)."""
        try:
            route = self._routes.get(event.event_type)
            if route is None or self._closed:
                return
            route(event)
        except Exception as error:  # noqa: BLE001 - metrics must not break the host
            with self._lock:
                self.failures += 1
            self._diag(
                ("failed", type(error)),
                "warning",
                "prometheus_sink_failed",
                error=type(error).__name__,
                event_type=getattr(event, "event_type", None),
            )

    def _key(self, event: Any) -> tuple[str, ...]:
        """The label values of an event's request: provider, model, operation, opt-ins."""
        key: tuple[str, ...] = (
            self._provider(event.provider),
            self._model(event.model),
            event.operation or "",
        )
        if self._project is not None:  # the opt-ins in OPT_IN_LABELS order
            key += (self._project(event.project_id),)
        if self._user is not None:
            key += (self._user(event.user_id),)
        return key

    def _usage(self, event: Any) -> None:
        if not self._usage_ids.first(event.request_id):
            return
        key = self._key(event)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = _Children(self._metrics, key)
        children.requests.inc()
        if event.images:
            children.images.inc(event.images)
        usage = event.usage
        if usage.input_tokens:
            children.input.inc(usage.input_tokens)
        if usage.output_tokens:
            children.output.inc(usage.output_tokens)
        for child, count in zip(children.billed, billed_tokens(usage), strict=True):
            if count:
                child.inc(count)
        cost = self._book.cost_for(event, price=self._price_events)
        if cost is None:
            children.unpriced.inc()
        else:
            total = cost.total if isinstance(cost, ImageCost) else cost
            if total:
                children.cost.inc(float(total))
            if isinstance(cost, ImageCost) and cost.unpriced:
                children.unpriced.inc()  # partly priced: the known part is summed, a lower bound
        reported: Decimal | None = usage.reported_cost
        if reported:
            children.reported.inc(float(reported))

    def _observe(self, key: tuple[str, ...], duration: float) -> None:
        child = self._durations.get(key)
        if child is None:
            child = self._durations[key] = self._metrics.duration.labels(*key)
        child.observe(duration / 1000.0)

    def _completed(self, event: Any) -> None:
        if self._ended_ids.first(event.request_id):
            self._observe((*self._key(event), ""), event.duration)

    def _error(self, event: Any) -> None:
        if not self._ended_ids.first(event.request_id):
            return
        key = (*self._key(event), self._error_type(event.error_type))
        child = self._errors.get(key)
        if child is None:
            child = self._errors[key] = self._metrics.errors.labels(*key)
        child.inc()
        if event.duration is not None:
            self._observe(key, event.duration)

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (a thread of the parent may have held it)."""
        self._lock = threading.Lock()

    def overflowed(self) -> dict[str, int]:
        """Events counted under ``"(overflow)"``, by label (also a metric)."""
        return {cap.name: cap.overflowed for cap in self._caps}

    def flush(self, timeout: float | None = None) -> bool:
        """Counters are current as events come: nothing to flush."""
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop counting and take the metrics out of the registry (a new sink may register)."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        with contextlib.suppress(KeyError):  # unregistered by the application already
            self.registry.unregister(self._metrics)
        return True


def _buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    """Bucket bounds checked: numbers, increasing, at least one."""
    try:
        bounds = tuple(float(bound) for bound in buckets)
    except (TypeError, ValueError):
        raise ValueError(f"buckets must be numbers of seconds, got {buckets!r}") from None
    if not bounds or any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"buckets must be increasing numbers of seconds, got {buckets!r}")
    return bounds
