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
- ``aievents_cost_usd_total``: cost in USD as aievents priced it (a label
  set has this series once a cost of its was known: no sample is not $0);
- ``aievents_unpriced_requests_total``: requests whose cost is unknown;
- ``aievents_reported_cost_usd_total``: cost in USD as providers reported it
  (once one was reported);
- ``aievents_cost_reported_requests_total``: requests whose provider
  reported a cost ($0 included), to tell "reported $0" from "none reported";
- ``aievents_image_request_duration_seconds``: histogram of request
  durations (the GenAI conventions' buckets), ``error_type`` empty on
  success; labelled ``provider``, ``model``, ``operation`` only (never the
  opt-in ``project_id``/``user_id``: a histogram is many series per label set);
- ``aievents_label_overflow_total``: events whose label value was past its
  cap, by ``label`` (``series`` for label sets past ``max_series``);
- ``aievents_prometheus_sink_failures_total``: events the sink failed to count.

Every metric of a request is labelled ``provider``, ``model`` and
``operation``; ``project_id`` and ``user_id`` are opt-in (``labels=``),
each capped: past ``max_label_values`` distinct values, later ones are
counted under ``"(overflow)"``, so totals stay whole. Combinations are
capped too: past ``max_series`` distinct label sets, a new set is counted
under one set whose every label is ``"(overflow)"``. At most
``max_series + 2`` label sets exist then, each at most ``len(buckets) + 4``
series (13 for a usage set; a duration histogram with its sum and count and
an error count for an ended one): 18 036 with the defaults, plus the
``_created`` series ``prometheus_client`` adds to each counter and histogram
unless ``PROMETHEUS_DISABLE_CREATED_SERIES`` is set.
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
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

from aievents._extras import missing_extra

try:
    from prometheus_client import REGISTRY, CollectorRegistry
except ImportError as _error:
    raise missing_extra("PrometheusSink", "prometheus", _error) from None

from aievents._diag import RateLimitedLog
from aievents._fork import after_fork
from aievents._genai import DURATION_BOUNDARIES
from aievents._validate import setting
from aievents.events import BaseEvent
from aievents.money import ImageCost
from aievents.pricing import PriceBook, PriceTable, book_for
from aievents.sinks._labels import CappedLabel, CappedSets
from aievents.sinks._metricsserver import MetricsServer, serve_metrics
from aievents.sinks._prommetrics import Children, Metrics, Seen
from aievents.usage import billed_tokens

__all__ = ["MetricsServer", "PrometheusSink", "serve_metrics"]

#: The labels a sink may add on request (``labels=``), from the event fields of the same name.
OPT_IN_LABELS: Final = ("project_id", "user_id")
_NAMESPACE: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")


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
        max_providers: The same cap for ``provider``.
        max_error_types: The same cap for ``error_type``.
        max_series: Distinct label sets (combinations of label values)
            counted under their own values; a later new set is counted under
            one set whose every label is ``"(overflow)"`` (counted in
            ``..._label_overflow_total{label="series"}``).
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
        max_providers: int = 100,
        max_error_types: int = 100,
        max_series: int = 1_000,
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
        setting("max_providers", max_providers, positive=True)
        setting("max_error_types", max_error_types, positive=True)
        setting("max_series", max_series, positive=True)
        setting("max_request_ids", max_request_ids, positive=True)
        buckets = _buckets(buckets)
        #: The registry the metrics are registered in.
        self.registry = registry
        #: The opt-in labels this sink adds, in their order on the metrics.
        self.labels = chosen
        self._provider = CappedLabel("provider", max_providers)
        self._model = CappedLabel("model", max_models)
        self._error_type = CappedLabel("error_type", max_error_types)
        self._opt_in = tuple(CappedLabel(name, max_label_values) for name in chosen)
        self._series = CappedSets("series", max_series)
        self._caps: tuple[CappedLabel | CappedSets, ...] = (
            self._provider,
            self._model,
            self._error_type,
            *self._opt_in,
            self._series,
        )
        self._project = next((c for c in self._opt_in if c.name == "project_id"), None)
        self._user = next((c for c in self._opt_in if c.name == "user_id"), None)
        self._usage_ids = Seen(max_request_ids)
        self._ended_ids = Seen(max_request_ids)
        self._book = book_for(prices)
        self._price_events = price_events
        self._lock = threading.Lock()
        after_fork(self)
        self._closed = False
        self._diag = RateLimitedLog("prometheus")
        #: Events the sink failed to count (logged, never raised).
        self.failures = 0
        self._metrics = Metrics(
            namespace,
            ("provider", "model", "operation", *chosen),
            ("provider", "model", "operation"),
            buckets,
            counts=lambda: [(cap.name, cap.overflowed) for cap in self._caps],
            failures=lambda: self.failures,
        )
        self._children: dict[tuple[str, ...], Children] = {}
        # an end's label set (as the event gives it, or as capped) -> (capped set, error child)
        self._ends: dict[tuple[str, ...], tuple[tuple[str, ...], Any]] = {}
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
        # Everything is worked out before the first count: an event is counted whole or not at all.
        usage = event.usage
        counts = (
            event.images or 0,
            usage.input_tokens or 0,
            usage.output_tokens or 0,
            *billed_tokens(usage),
        )
        cost = self._book.cost_for(event, price=self._price_events)
        total: Decimal | None = None
        if cost is not None:
            total = cost.total if isinstance(cost, ImageCost) else cost
        reported: Decimal | None = usage.reported_cost
        if any(n < 0 for n in counts) or (total or 0) < 0 or (reported or 0) < 0:
            raise ValueError("a usage event with a negative count or cost")
        request_id = event.request_id
        if not self._usage_ids.first(request_id):
            return
        try:
            key = self._key(event)
            children = self._children.get(key)  # a label set let through has its children
            if children is None:
                key = self._series(key)
                children = self._children.get(key)
                if children is None:
                    children = self._children[key] = Children(self._metrics, key)
            cost_child = None if total is None else children.cost()
            reported_children = None if reported is None else children.reported()
        except BaseException:
            self._usage_ids.forget(request_id)  # not counted: a later delivery may be
            raise
        images, input_tokens, output_tokens = counts[:3]
        children.requests.inc()
        if images:
            children.images.inc(images)
        if input_tokens:
            children.input.inc(input_tokens)
        if output_tokens:
            children.output.inc(output_tokens)
        for child, count in zip(children.billed, counts[3:], strict=True):
            if count:
                child.inc(count)
        if cost_child is not None and total:
            cost_child.inc(float(total))
        if cost is None or (isinstance(cost, ImageCost) and cost.unpriced):
            children.unpriced.inc()  # partly priced: the known part is summed, a lower bound
        if reported_children is not None:
            reported_child, reporting = reported_children
            reporting.inc()
            if reported:
                reported_child.inc(float(reported))

    def _ended(self, event: Any, error_type: str | None) -> None:
        """Count an end (completed: ``error_type`` None; error): its duration, its error."""
        seconds = None if event.duration is None else float(event.duration) / 1000.0
        request_id = event.request_id
        if not self._ended_ids.first(request_id):
            return
        try:
            kind = "" if error_type is None else self._error_type(error_type)
            wanted = (*self._key(event), kind)
            end = self._ends.get(wanted)  # a label set let through is kept under itself
            if end is None:
                key = self._series(wanted)
                if kind == "":  # a success stays one on the overflow set too
                    key = (*key[:-1], "")
                end = self._ends.get(key)
                if end is None:
                    errors = self._metrics.errors.labels(*key) if kind else None
                    end = self._ends[key] = (key, errors)
            key, error = end
            timed = (*key[:3], key[-1])
            duration = None
            if seconds is not None:
                duration = self._durations.get(timed)
                if duration is None:
                    duration = self._durations[timed] = self._metrics.duration.labels(*timed)
        except BaseException:
            self._ended_ids.forget(request_id)  # not counted: a later delivery may be
            raise
        if error is not None:
            error.inc()
        if duration is not None and seconds is not None:
            duration.observe(seconds)

    def _completed(self, event: Any) -> None:
        self._ended(event, None)

    def _error(self, event: Any) -> None:
        self._ended(event, event.error_type or "")

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
