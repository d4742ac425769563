"""PrometheusSink rows of bench_otel: ``handle`` per event against the bare prometheus_client calls.

The stream is what the instrumentation emits for a mix of requests: started,
completed and usage for most (priced, four models, three operations), started
and error for one in ten. The bare row makes the same metric calls written
out by hand, as an application instrumenting itself would
(``counter.labels(...).inc(n)``, ``histogram.labels(...).observe(s)``), in a
registry of its own with the same metrics. Both rows go over the stream once
before timing, so that each label set's children exist (the steady state).
The sink remembers fewer request ids than the stream has requests, so that
when the stream starts over every request is new to it again (no duplicate
skipped).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from _events import MODELS, SIZES
from aievents import (
    OPERATIONS,
    BaseEvent,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsage,
    ImageUsageEvent,
    InputTokensDetails,
)
from aievents.encoding.otlp import DURATION_BOUNDARIES
from aievents.pricing import image_cost
from aievents.sinks.prometheus import PrometheusSink
from aievents.usage import billed_tokens

#: Requests in the stream; the sink remembers fewer ids than this.
REQUESTS = 3000
REMEMBERED = 1000

Pair = tuple[str, Callable[[], None], Callable[[], None]]


def events(users: int = 50) -> list[BaseEvent]:
    """The stream: started, then completed and usage (or an error), request by request."""
    rng = random.Random(17)
    built: list[BaseEvent] = []
    for index in range(REQUESTS):
        common: dict[str, Any] = {
            "request_id": f"req-{index}",
            "provider": "openai",
            "model": rng.choice(MODELS),
            "operation": rng.choice(OPERATIONS),
            "size": rng.choice(SIZES),
            "user_id": f"user_{rng.randrange(users)}",
            "project_id": f"proj_{rng.randrange(10)}",
        }
        built.append(ImageRequestStartedEvent(**common))
        duration = rng.uniform(2_000, 40_000)
        if rng.random() < 0.1:
            built.append(
                ImageRequestErrorEvent(**common, error_type="RateLimitError", duration=duration)
            )
            continue
        text = rng.randint(10, 80)
        usage = ImageUsage(
            input_tokens=text,
            output_tokens=1056,
            total_tokens=text + 1056,
            input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=0),
        )
        cost = image_cost(common["model"], usage=usage)
        built.append(ImageRequestCompletedEvent(**common, duration=duration, images=1))
        built.append(ImageUsageEvent(**common, usage=usage, cost=cost, images=1))
    return built


def bare_calls(registry: CollectorRegistry, opt_in: tuple[str, ...]) -> Callable[[Any], None]:
    """The sink's metric calls for one event, written out by hand."""
    names = ["provider", "model", "operation", *opt_in]

    def counter(name: str, *more: str) -> Counter:
        return Counter(name, name, [*names, *more], namespace="aievents", registry=registry)

    requests, images = counter("image_requests"), counter("images")
    errors = counter("image_request_errors", "error_type")
    tokens, billed = counter("tokens", "type"), counter("billed_tokens", "type")
    cost_usd, unpriced = counter("cost_usd"), counter("unpriced_requests")
    duration = Histogram(
        "image_request_duration_seconds",
        "duration",
        ["provider", "model", "operation", "error_type"],  # never the opt-in labels
        namespace="aievents",
        buckets=DURATION_BOUNDARIES,
        registry=registry,
    )

    def labels(event: Any) -> tuple[str, ...]:
        found = (event.provider, event.model, event.operation)
        return found + tuple(getattr(event, name) for name in opt_in)

    def usage(event: Any) -> None:
        key = labels(event)
        requests.labels(*key).inc()
        if event.images:
            images.labels(*key).inc(event.images)
        spent = event.usage
        tokens.labels(*key, "input").inc(spent.input_tokens)
        tokens.labels(*key, "output").inc(spent.output_tokens)
        text, image, cached, out_image, out_text = billed_tokens(spent)
        billed.labels(*key, "input_text").inc(text)
        if image:
            billed.labels(*key, "input_image").inc(image)
        if cached:
            billed.labels(*key, "input_cached").inc(cached)
        billed.labels(*key, "output_image").inc(out_image)
        if out_text:
            billed.labels(*key, "output_text").inc(out_text)
        if event.cost is None:
            unpriced.labels(*key).inc()
        else:
            cost_usd.labels(*key).inc(float(event.cost.total))

    def completed(event: Any) -> None:
        duration.labels(event.provider, event.model, event.operation, "").observe(
            event.duration / 1000.0
        )

    def error(event: Any) -> None:
        errors.labels(*labels(event), event.error_type).inc()
        duration.labels(event.provider, event.model, event.operation, event.error_type).observe(
            event.duration / 1000.0
        )

    routes = {
        "image:usage": usage,
        "image:request:completed": completed,
        "image:request:error": error,
    }

    def handle(event: Any) -> None:
        route = routes.get(event.event_type)
        if route is not None:
            route(event)

    return handle


def pair(label: str, stream: list[BaseEvent], opt_in: tuple[str, ...]) -> Pair:
    """One row pair: the sink, and the bare calls, each on its own pass over the stream."""
    sink = PrometheusSink(
        registry=CollectorRegistry(),
        labels=opt_in,
        max_request_ids=REMEMBERED,
        max_series=100_000,  # every label set its own, as the bare calls keep them
    )
    bare = bare_calls(CollectorRegistry(), opt_in)
    ours_next = itertools.cycle(stream).__next__
    bare_next = itertools.cycle(stream).__next__
    handle = sink.handle
    # Both rows see every label set once before timing: the rows compare the
    # steady state of each event (an application's label sets are few and
    # long-lived), not the first sight of a label set, where the sink makes
    # all its children at once and the bare calls make theirs one by one.
    for event in stream:
        handle(event)
        bare(event)

    def ours() -> None:
        handle(ours_next())

    def theirs() -> None:
        bare(bare_next())

    return label, ours, theirs


def pairs() -> list[Pair]:
    """PrometheusSink.handle against its bare calls: by provider, model, operation; and by user."""
    stream = events()
    return [
        pair("PrometheusSink.handle", stream, ()),
        pair(
            "PrometheusSink.handle, user_id and project_id labels",
            stream,
            ("project_id", "user_id"),
        ),
    ]
