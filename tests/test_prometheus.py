"""PrometheusSink: a real scrape of /metrics gives AggregateSink's totals, labels stay capped."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest

from aievents import (
    OPERATIONS,
    AggregateSink,
    BaseEvent,
    EventClient,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsage,
    ImageUsageEvent,
    InputTokensDetails,
    OutputTokensDetails,
)
from aievents._diag import forget
from aievents.pricing import image_cost
from aievents.sinks.prometheus import PrometheusSink, serve_metrics
from prom_scrape import Samples, by_label, scrape, total, values_of

#: Models of the random streams: priced ones, and one no price table knows.
MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-2", "acme-image-x")
ERRORS = ("RateLimitError", "APITimeoutError", "BadRequestError")


@pytest.fixture(name="registry")
def _registry() -> CollectorRegistry:
    """A registry of the test's own."""
    return CollectorRegistry()


@pytest.fixture(name="sink")
def _sink(registry: CollectorRegistry) -> Iterator[PrometheusSink]:
    """A sink in the test's registry, closed after."""
    sink = PrometheusSink(registry=registry)
    yield sink
    sink.close()


def request_events(rng: random.Random, index: int, users: int = 5) -> list[BaseEvent]:
    """One request's events as the instrumentation emits them, with random facts.

    Most succeed (started, completed, usage); some fail (started, error). Some
    usages carry their cost, others are left for the sinks to price; some
    models have no price; some costs are partial; some providers report a cost;
    some usage events are delivered twice.
    """
    common: dict[str, Any] = {
        "request_id": f"req-{index}",
        "provider": rng.choice(("openai", "azure")),
        "model": rng.choice(MODELS),
        "operation": rng.choice(OPERATIONS),
        "user_id": rng.choice([f"user_{n}" for n in range(users)] + [None]),
        "project_id": rng.choice(("proj_a", "proj_b", None)),
    }
    started = ImageRequestStartedEvent(**common)
    duration = rng.uniform(5, 90_000)
    if rng.random() < 0.2:
        error = ImageRequestErrorEvent(
            **common,
            error_type=rng.choice(ERRORS),
            duration=duration if rng.random() < 0.8 else None,
        )
        return [started, error]
    text, image = rng.randint(0, 200), rng.choice((0, 0, 256, 1024))
    out_text, out_image = rng.choice((0, 0, 12)), rng.randint(100, 6000)
    usage = ImageUsage(
        input_tokens=text + image,
        output_tokens=out_text + out_image,
        input_tokens_details=InputTokensDetails(
            text_tokens=text, image_tokens=image, cached_tokens=rng.choice((0, 0, text // 2))
        ),
        output_tokens_details=OutputTokensDetails(text_tokens=out_text, image_tokens=out_image),
        cost=rng.choice((None, None, None, Decimal(rng.randint(1, 9000)) / 100_000)),
    )
    cost = image_cost(common["model"], usage=usage) if rng.random() < 0.5 else None
    if cost is not None and rng.random() < 0.2:
        cost = attrs.evolve(cost, unpriced=("output_text",))
    usage_event = ImageUsageEvent(**common, usage=usage, cost=cost, images=rng.randint(0, 4))
    completed = ImageRequestCompletedEvent(**common, duration=duration, images=usage_event.images)
    twice = [usage_event] if rng.random() < 0.05 else []
    return [started, completed, usage_event, *twice]


def stream(seed: int, requests: int, users: int = 5) -> list[BaseEvent]:
    """The events of ``requests`` random requests."""
    rng = random.Random(seed)
    return [e for index in range(requests) for e in request_events(rng, index, users)]


def aggregate_results(aggregate: AggregateSink, **query: Any) -> list[Any]:
    """Every result of a usage query over the last two days and the next."""
    start = int(time.time()) - 2 * 86_400
    page = aggregate.usage(start_time=start, end_time=start + 4 * 86_400, **query)
    return [result for bucket in page.data for result in bucket.results]


def scrape_sink(sink: PrometheusSink) -> Samples:
    """What Prometheus reads: the sink's registry served on 127.0.0.1 and scraped once."""
    with serve_metrics(sink, port=0) as server:
        return scrape(server.url)


class TestSameTotalsAsAggregate:
    """A scrape of /metrics gives AggregateSink's totals for the same random stream."""

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_totals(self, sink: PrometheusSink, seed: int) -> None:
        """Requests, images, tokens by type, cost, unpriced requests and reported cost agree."""
        aggregate = AggregateSink()
        with EventClient() as client:
            client.add_sink(sink)
            client.add_sink(aggregate)
            for event in stream(seed, 400):
                client.emit(event)
            samples = scrape_sink(sink)
            (computed,) = aggregate_results(aggregate)
            (reported,) = aggregate_results(aggregate, cost="reported")
        assert total(samples, "aievents_image_requests_total") == computed.num_model_requests
        assert total(samples, "aievents_images_total") == computed.images
        assert total(samples, "aievents_unpriced_requests_total") == computed.unpriced_requests
        assert computed.unpriced_requests > 0
        assert total(samples, "aievents_cost_usd_total") == pytest.approx(float(computed.cost))
        assert total(samples, "aievents_reported_cost_usd_total") == pytest.approx(
            float(reported.cost)
        )
        tokens = by_label(samples, "aievents_tokens_total", "type")
        assert tokens == {"input": computed.input_tokens, "output": computed.output_tokens}
        billed = by_label(samples, "aievents_billed_tokens_total", "type")
        assert billed == {
            "input_text": computed.input_text_tokens,
            "input_image": computed.input_image_tokens,
            "input_cached": computed.input_cached_tokens,
            "output_image": computed.output_image_tokens,
            "output_text": computed.output_text_tokens,
        }
        assert sum(billed.values()) == sum(tokens.values())  # the parts of the whole

    def test_by_model(self, sink: PrometheusSink) -> None:
        """Per model too: requests, images and cost (unknown for a model without a price)."""
        aggregate = AggregateSink()
        for event in stream(7, 300):
            sink.handle(event)
            aggregate.handle(event)
        samples = scrape_sink(sink)
        for result in aggregate_results(aggregate, group_by=["model"]):
            model = result.model
            assert total(samples, "aievents_image_requests_total", model=model) == (
                result.num_model_requests
            )
            assert total(samples, "aievents_images_total", model=model) == result.images
            assert total(samples, "aievents_unpriced_requests_total", model=model) == (
                result.unpriced_requests
            )
            cost = 0.0 if result.cost is None else float(result.cost)
            assert total(samples, "aievents_cost_usd_total", model=model) == pytest.approx(cost)
        unknown = total(samples, "aievents_image_requests_total", model="acme-image-x")
        assert unknown > 0
        assert total(samples, "aievents_unpriced_requests_total", model="acme-image-x") == unknown
        assert (
            not [  # no sample at all: unknown, not $0
                s
                for s in samples
                if s.name == "aievents_cost_usd_total" and s.labels["model"] == "acme-image-x"
            ]
        )

    def test_errors_and_durations(self, sink: PrometheusSink) -> None:
        """Errors by type; one duration per ended request, in seconds, on the GenAI buckets."""
        events = stream(11, 300)
        for event in events:
            sink.handle(event)
        samples = scrape_sink(sink)
        errors = [e for e in events if isinstance(e, ImageRequestErrorEvent)]
        completed = [e for e in events if isinstance(e, ImageRequestCompletedEvent)]
        counted = by_label(samples, "aievents_image_request_errors_total", "error_type")
        assert counted == {t: sum(e.error_type == t for e in errors) for t in ERRORS}
        timed = [*completed, *(e for e in errors if e.duration is not None)]
        name = "aievents_image_request_duration_seconds"
        assert total(samples, f"{name}_count") == len(timed)
        assert total(samples, f"{name}_sum") == pytest.approx(sum(e.duration for e in timed) / 1000)
        assert total(samples, f"{name}_count", error_type="") == len(completed)
        bounds = {s.labels["le"] for s in samples if s.name == f"{name}_bucket"}
        assert bounds == {"0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28",
                          "2.56", "5.12", "10.24", "20.48", "40.96", "81.92", "+Inf"}  # fmt: skip
        fast = sum(e.duration <= 640 for e in timed)
        assert total(samples, f"{name}_bucket", le="0.64") == fast

    def test_duplicates_once(self, sink: PrometheusSink) -> None:
        """A usage or end event delivered twice is counted once, as AggregateSink counts it."""
        usage = ImageUsageEvent(
            request_id="r1", model="gpt-image-1", usage=ImageUsage(input_tokens=5), images=2
        )
        completed = ImageRequestCompletedEvent(
            request_id="r1", provider="openai", model="gpt-image-1", duration=1000.0
        )
        for event in (usage, usage, completed, completed):
            sink.handle(event)
        samples = scrape_sink(sink)
        assert total(samples, "aievents_image_requests_total") == 1
        assert total(samples, "aievents_images_total") == 2
        assert total(samples, "aievents_image_request_duration_seconds_count") == 1


class TestCappedLabels:
    """High-cardinality user and project labels stay capped; the totals stay whole."""

    def test_users_capped(self, registry: CollectorRegistry) -> None:
        """N distinct users past the cap: cap + 1 label values, same totals, overflow counted."""
        sink = PrometheusSink(registry=registry, labels=["user_id"], max_label_values=10)
        aggregate = AggregateSink()
        events = stream(5, 400, users=60)
        for event in events:
            sink.handle(event)
            aggregate.handle(event)
        samples = scrape_sink(sink)
        users = values_of(samples, "aievents_image_requests_total", "user_id")
        assert len(users) == 10 + 1 + 1  # 10 users, the overflow, and no user ("")
        assert "(overflow)" in users
        assert "project_id" not in {k for s in samples for k in s.labels}
        (computed,) = aggregate_results(aggregate)
        assert total(samples, "aievents_image_requests_total") == computed.num_model_requests
        assert total(samples, "aievents_images_total") == computed.images
        assert total(samples, "aievents_cost_usd_total") == pytest.approx(float(computed.cost))
        overflowed = total(samples, "aievents_label_overflow_total", label="user_id")
        assert overflowed == sink.overflowed()["user_id"] > 0
        sink.close()

    def test_both_labels(self, registry: CollectorRegistry) -> None:
        """project_id and user_id together, each with its own cap."""
        sink = PrometheusSink(
            registry=registry, labels=("user_id", "project_id"), max_label_values=1
        )
        for index in range(3):
            sink.handle(
                ImageUsageEvent(
                    request_id=f"r{index}",
                    model="gpt-image-1",
                    user_id=f"u{index}",
                    project_id=f"p{index}",
                    usage=ImageUsage(input_tokens=1),
                )
            )
        samples = scrape_sink(sink)
        assert values_of(samples, "aievents_image_requests_total", "user_id") == {
            "u0",
            "(overflow)",
        }
        assert values_of(samples, "aievents_image_requests_total", "project_id") == {
            "p0",
            "(overflow)",
        }
        assert total(samples, "aievents_label_overflow_total", label="project_id") == 2
        sink.close()

    def test_models_capped(self, registry: CollectorRegistry) -> None:
        """Model names are capped as well (names from the wire can be anything)."""
        sink = PrometheusSink(registry=registry, max_models=2)
        for index in range(5):
            sink.handle(
                ImageUsageEvent(
                    request_id=f"r{index}", model=f"m{index}", usage=ImageUsage(input_tokens=1)
                )
            )
        samples = scrape_sink(sink)
        assert values_of(samples, "aievents_image_requests_total", "model") == {
            "m0",
            "m1",
            "(overflow)",
        }
        assert total(samples, "aievents_image_requests_total") == 5
        sink.close()


class TestRegistries:
    """The application's registry, the default one, and two sinks."""

    def test_application_registry(self, registry: CollectorRegistry) -> None:
        """Given a registry, the sink's metrics are served beside the application's own."""
        own = Counter("app_jobs", "The application's own counter", registry=registry)
        own.inc(3)
        sink = PrometheusSink(registry=registry)
        sink.handle(ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(input_tokens=1)))
        with serve_metrics(registry, port=0) as server:
            samples = scrape(server.url)
        assert total(samples, "app_jobs_total") == 3
        assert total(samples, "aievents_image_requests_total") == 1
        assert b"aievents_image_requests_total" not in generate_latest(REGISTRY)
        sink.close()

    def test_default_registry(self) -> None:
        """Without registry=, prometheus_client's default REGISTRY; closing takes them out."""
        sink = PrometheusSink()
        try:
            assert sink.registry is REGISTRY
            sink.handle(
                ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(input_tokens=1))
            )
            value = REGISTRY.get_sample_value(
                "aievents_image_requests_total", {"provider": "", "model": "m", "operation": ""}
            )
            assert value == 1
        finally:
            sink.close()
        assert REGISTRY.get_sample_value("aievents_image_requests_total") is None

    def test_two_sinks(self, registry: CollectorRegistry, sink: PrometheusSink) -> None:
        """A second sink on one registry is refused, naming the fix; another namespace works."""
        with pytest.raises(ValueError, match="registry already has") as caught:
            PrometheusSink(registry=registry)
        message = str(caught.value)
        assert "namespace='aievents'" in message
        assert "CollectorRegistry()" in message
        assert "Close that sink first" in message
        other = PrometheusSink(registry=registry, namespace="images")
        other.handle(ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(input_tokens=1)))
        assert registry.get_sample_value("aievents_image_requests_total") is None
        assert total(scrape_sink(other), "images_image_requests_total") == 1
        other.close()
        sink.close()
        again = PrometheusSink(registry=registry)  # the first one's place is free again
        assert again.namespace == "aievents"
        again.close()

    def test_two_registries(self) -> None:
        """Two sinks in two registries count apart."""
        first, second = (
            PrometheusSink(registry=CollectorRegistry()),
            PrometheusSink(registry=CollectorRegistry()),
        )
        first.handle(ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(input_tokens=1)))
        assert total(scrape_sink(first), "aievents_image_requests_total") == 1
        assert total(scrape_sink(second), "aievents_image_requests_total") == 0
        first.close()
        second.close()


class TestSettings:
    """Bad settings are refused, naming the setting and the value."""

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ({"namespace": "9lives"}, "namespace must be a Prometheus metric name prefix"),
            ({"namespace": "a-b"}, "got 'a-b'"),
            ({"labels": ["api_key_id"]}, "labels must be among 'project_id', 'user_id'"),
            ({"labels": "size"}, "got 'size'"),
            ({"max_label_values": 0}, "max_label_values must be a positive integer, got 0"),
            ({"max_models": -1}, "max_models must be a positive integer, got -1"),
            ({"max_request_ids": 1.5}, "max_request_ids must be a positive integer"),
            ({"buckets": []}, "buckets must be increasing"),
            ({"buckets": [1, 0.5]}, "buckets must be increasing numbers of seconds"),
            ({"buckets": ["soon"]}, "buckets must be numbers of seconds"),
        ],
    )
    def test_refused(
        self, registry: CollectorRegistry, settings: dict[str, Any], message: str
    ) -> None:
        """A ValueError naming the setting; nothing registered."""
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            PrometheusSink(registry=registry, **settings)
        assert list(registry.collect()) == []

    def test_not_a_registry(self) -> None:
        """Something that is not a registry, labels that are not names: a TypeError."""
        with pytest.raises(TypeError, match=r"registry must be a prometheus_client.*got str"):
            PrometheusSink(registry="default")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="labels must be label names such as"):
            PrometheusSink(registry=CollectorRegistry(), labels=3)  # type: ignore[arg-type]

    def test_buckets(self, registry: CollectorRegistry) -> None:
        """Bucket bounds of one's own."""
        sink = PrometheusSink(registry=registry, buckets=(1, 10))
        sink.handle(
            ImageRequestCompletedEvent(request_id="r", provider="p", model="m", duration=5000.0)
        )
        samples = scrape_sink(sink)
        name = "aievents_image_request_duration_seconds_bucket"
        assert {s.labels["le"]: s.value for s in samples if s.name == name} == {
            "1.0": 0,
            "10.0": 1,
            "+Inf": 1,
        }
        sink.close()


class TestNeverRaises:
    """handle never raises into the application: failures are logged and counted."""

    def test_failure_counted(self, sink: PrometheusSink, caplog: pytest.LogCaptureFixture) -> None:
        """An event changed after it was built (a negative count): counted, logged, not raised."""
        forget()
        bad = ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(input_tokens=1))
        object.__setattr__(bad, "images", -1)
        with caplog.at_level(logging.WARNING, logger="aievents.prometheus"):
            sink.handle(bad)
        assert sink.failures == 1
        assert "prometheus_sink_failed" in caplog.text
        assert "EventValidationError" in caplog.text
        good = ImageUsageEvent(request_id="r2", model="m", usage=ImageUsage(input_tokens=1))
        sink.handle(good)
        samples = scrape_sink(sink)
        assert total(samples, "aievents_prometheus_sink_failures_total") == 1
        # the bad one not at all (a whole event or nothing), the good one in full
        assert total(samples, "aievents_image_requests_total", model="m") == 1
        assert total(samples, "aievents_tokens_total", model="m") == 1

    def test_not_an_event(self, sink: PrometheusSink) -> None:
        """Something that is not an event at all: counted as a failure, not raised."""
        sink.handle(object())  # type: ignore[arg-type]
        assert sink.failures == 1

    def test_other_events_ignored(self, sink: PrometheusSink) -> None:
        """Started events and events of other families add nothing."""
        sink.handle(ImageRequestStartedEvent(request_id="r", provider="p", model="m"))
        sink.handle(BaseEvent())
        samples = scrape_sink(sink)
        assert total(samples, "aievents_image_requests_total") == 0
        assert sink.failures == 0

    def test_closed(self, registry: CollectorRegistry) -> None:
        """A closed sink ignores events and leaves the registry."""
        sink = PrometheusSink(registry=registry)
        assert sink.close()
        assert sink.closed
        assert sink.flush()
        sink.handle(ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(input_tokens=1)))
        assert list(registry.collect()) == []
        assert sink.close()  # twice is fine


class TestThreads:
    """Many threads emitting at once lose no update."""

    def test_no_lost_update(self, sink: PrometheusSink) -> None:
        """8 threads x 300 requests: every request and image counted."""
        start = threading.Barrier(8)

        def work(thread: int) -> None:
            start.wait()
            for index in range(300):
                sink.handle(
                    ImageUsageEvent(
                        request_id=f"t{thread}-{index}",
                        model=MODELS[index % 3],
                        usage=ImageUsage(input_tokens=3, output_tokens=7),
                        images=2,
                    )
                )

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        samples = scrape_sink(sink)
        assert total(samples, "aievents_image_requests_total") == 2400
        assert total(samples, "aievents_images_total") == 4800
        assert total(samples, "aievents_tokens_total", type="output") == 7 * 2400
