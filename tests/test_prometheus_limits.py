"""PrometheusSink: unknown costs have no sample, label sets stay bounded, an event counts whole."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
from prometheus_client import CollectorRegistry

from aievents import (
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageUsage,
    ImageUsageEvent,
)
from aievents.pricing import image_cost
from aievents.sinks.prometheus import PrometheusSink, serve_metrics
from prom_scrape import Samples, scrape, total

#: The label sets of a metric: what Prometheus stores one series for.
COST = "aievents_cost_usd_total"
REPORTED = "aievents_reported_cost_usd_total"
REPORTING = "aievents_cost_reported_requests_total"


@pytest.fixture(name="registry")
def _registry() -> CollectorRegistry:
    """A registry of the test's own."""
    return CollectorRegistry()


def scrape_sink(sink: PrometheusSink) -> Samples:
    """The sink's registry served on 127.0.0.1 and scraped once."""
    with serve_metrics(sink, port=0) as server:
        return scrape(server.url)


def label_sets(samples: Samples, name: str) -> set[tuple[tuple[str, str], ...]]:
    """The distinct label sets of the samples named ``name``."""
    return {tuple(sorted(s.labels.items())) for s in samples if s.name == name}


def has_sample(samples: Samples, name: str, **labels: str) -> bool:
    """Whether a sample named ``name`` with ``labels`` exists (whatever its value)."""
    return any(
        s.name == name and all(s.labels.get(k) == v for k, v in labels.items()) for s in samples
    )


def usage_event(request_id: str, model: str = "gpt-image-1", **fields: Any) -> ImageUsageEvent:
    """A usage event of one image."""
    fields.setdefault("usage", ImageUsage(input_tokens=10, output_tokens=1056))
    return ImageUsageEvent(request_id=request_id, provider="openai", model=model, **fields)


class TestUnknownCost:
    """A cost nobody knows has no sample; a known $0 has one."""

    @pytest.fixture(name="sink")
    def _sink(self, registry: CollectorRegistry) -> Iterator[PrometheusSink]:
        """A sink that prices nothing itself (events bring their cost or none)."""
        sink = PrometheusSink(registry=registry, price_events=False)
        yield sink
        sink.close()

    def test_unpriced_model(self, sink: PrometheusSink) -> None:
        """A model without a price: requests and unpriced counted, no cost or reported sample."""
        sink.handle(usage_event("r1", model="acme-image-x"))
        samples = scrape_sink(sink)
        assert total(samples, "aievents_image_requests_total", model="acme-image-x") == 1
        assert total(samples, "aievents_unpriced_requests_total", model="acme-image-x") == 1
        for name in (COST, REPORTED, REPORTING):
            assert not has_sample(samples, name, model="acme-image-x"), name

    def test_priced_at_zero(self, sink: PrometheusSink) -> None:
        """A cost known to be $0 shows 0, and no unpriced request."""
        usage = ImageUsage(input_tokens=10, output_tokens=1056)
        cost = image_cost("gpt-image-1", usage=usage)
        assert cost is not None
        free = attrs.evolve(cost, total=Decimal(0))
        sink.handle(usage_event("r1", usage=usage, cost=free))
        samples = scrape_sink(sink)
        assert has_sample(samples, COST, model="gpt-image-1")
        assert total(samples, COST, model="gpt-image-1") == 0
        assert total(samples, "aievents_unpriced_requests_total") == 0

    def test_reported(self, sink: PrometheusSink) -> None:
        """Reported $0 and reported $0.04 are counted; a request that reported none is not."""
        sink.handle(usage_event("r1", model="a", usage=ImageUsage(input_tokens=1, cost=Decimal(0))))
        sink.handle(usage_event("r2", model="b", usage=ImageUsage(input_tokens=1)))
        sink.handle(
            usage_event("r3", model="c", usage=ImageUsage(input_tokens=1, cost=Decimal("0.04")))
        )
        samples = scrape_sink(sink)
        assert has_sample(samples, REPORTED, model="a")
        assert total(samples, REPORTED, model="a") == 0
        assert total(samples, REPORTING, model="a") == 1
        assert not has_sample(samples, REPORTED, model="b")
        assert not has_sample(samples, REPORTING, model="b")
        assert total(samples, REPORTED, model="c") == pytest.approx(0.04)
        assert total(samples, REPORTING, model="c") == 1


class TestSeriesCap:
    """Combinations of capped labels are capped too: past max_series, one overflow set."""

    def test_combinations_capped(self, registry: CollectorRegistry) -> None:
        """10 users x 10 projects x 3 models, max_series=20: 21 label sets, totals whole."""
        sink = PrometheusSink(registry=registry, labels=["user_id", "project_id"], max_series=20)
        count = 0
        for user in range(10):
            for project in range(10):
                for model in ("m1", "m2", "m3"):
                    count += 1
                    sink.handle(
                        usage_event(
                            f"r{count}", model=model, user_id=f"u{user}", project_id=f"p{project}"
                        )
                    )
        samples = scrape_sink(sink)
        sets = label_sets(samples, "aievents_image_requests_total")
        assert len(sets) == 21
        overflow = {"provider", "model", "operation", "user_id", "project_id"}
        assert (
            tuple(sorted((name, "(overflow)") for name in overflow)) in sets
        )  # every label of the fold is "(overflow)"
        assert total(samples, "aievents_image_requests_total") == count
        assert total(samples, "aievents_tokens_total", type="output") == 1056 * count
        folded = count - 20
        assert total(samples, "aievents_label_overflow_total", label="series") == folded
        assert sink.overflowed()["series"] == folded
        sink.close()

    def test_ends_capped(self, registry: CollectorRegistry) -> None:
        """Error types and durations count against the same cap, and fold the same way."""
        sink = PrometheusSink(registry=registry, max_series=2)
        for index in range(6):
            sink.handle(
                ImageRequestErrorEvent(
                    request_id=f"e{index}",
                    provider="openai",
                    model=f"m{index}",
                    error_type=f"Error{index}",
                    duration=100.0,
                )
            )
        sink.handle(
            ImageRequestCompletedEvent(
                request_id="ok", provider="openai", model="m9", duration=100.0
            )
        )
        samples = scrape_sink(sink)
        errors = "aievents_image_request_errors_total"
        assert len(label_sets(samples, errors)) == 3
        # a success past the cap is still a success (the dashboard's p95 reads error_type="")
        count = "aievents_image_request_duration_seconds_count"
        assert total(samples, count, model="(overflow)", error_type="") == 1
        assert total(samples, errors, error_type="(overflow)", model="(overflow)") == 4
        assert total(samples, errors) == 6
        assert total(samples, count) == 7
        assert not has_sample(samples, errors, error_type="")
        sink.close()

    def test_histogram_without_opt_ins(self, registry: CollectorRegistry) -> None:
        """The duration histogram is never labelled by user or project (the counters are)."""
        sink = PrometheusSink(registry=registry, labels=["user_id", "project_id"])
        common: dict[str, Any] = {"provider": "openai", "model": "m", "user_id": "u"}
        for index in range(3):
            sink.handle(
                ImageRequestCompletedEvent(
                    request_id=f"r{index}", project_id=f"p{index}", duration=900.0, **common
                )
            )
            sink.handle(
                ImageRequestErrorEvent(
                    request_id=f"e{index}", error_type="Timeout", duration=9.0, **common
                )
            )
        samples = scrape_sink(sink)
        name = "aievents_image_request_duration_seconds_count"
        assert label_sets(samples, name) == {
            (("error_type", ""), ("model", "m"), ("operation", ""), ("provider", "openai")),
            (("error_type", "Timeout"), ("model", "m"), ("operation", ""), ("provider", "openai")),
        }
        assert total(samples, name) == 6
        assert total(samples, "aievents_image_request_errors_total", user_id="u") == 3
        sink.close()

    def test_provider_and_error_caps(self, registry: CollectorRegistry) -> None:
        """max_providers and max_error_types are settings of their own."""
        sink = PrometheusSink(registry=registry, max_providers=1, max_error_types=1)
        for index in range(3):
            sink.handle(
                ImageRequestErrorEvent(
                    request_id=f"e{index}",
                    provider=f"p{index}",
                    model="m",
                    error_type=f"E{index}",
                )
            )
        samples = scrape_sink(sink)
        errors = "aievents_image_request_errors_total"
        assert {s.labels["provider"] for s in samples if s.name == errors} == {"p0", "(overflow)"}
        assert {s.labels["error_type"] for s in samples if s.name == errors} == {"E0", "(overflow)"}
        assert sink.overflowed()["provider"] == 2
        assert sink.overflowed()["error_type"] == 2
        sink.close()

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ({"max_series": 0}, "max_series must be a positive integer, got 0"),
            ({"max_providers": -1}, "max_providers must be a positive integer, got -1"),
            ({"max_error_types": 2.5}, "max_error_types must be a positive integer, got 2.5"),
        ],
    )
    def test_refused(
        self, registry: CollectorRegistry, settings: dict[str, Any], message: str
    ) -> None:
        """A ValueError naming the setting; nothing registered."""
        with pytest.raises(ValueError, match=message):
            PrometheusSink(registry=registry, **settings)
        assert list(registry.collect()) == []


class TestWholeEvent:
    """An event that cannot be counted adds nothing, and its request id stays countable."""

    def test_bad_then_good(self, registry: CollectorRegistry) -> None:
        """A usage event spoilt after it was built, then the same request delivered right."""
        sink = PrometheusSink(registry=registry)
        bad = usage_event("r1", images=2)
        object.__setattr__(bad, "images", -1)
        sink.handle(bad)
        assert sink.failures == 1
        samples = scrape_sink(sink)
        assert not has_sample(samples, "aievents_image_requests_total")
        assert not has_sample(samples, "aievents_tokens_total")
        sink.handle(usage_event("r1", images=2))
        samples = scrape_sink(sink)
        assert total(samples, "aievents_image_requests_total") == 1
        assert total(samples, "aievents_images_total") == 2
        assert total(samples, "aievents_tokens_total", type="input") == 10
        sink.close()

    def test_bad_duration(self, registry: CollectorRegistry) -> None:
        """An error event whose duration is not a number: no error counted, the id kept free."""
        sink = PrometheusSink(registry=registry)
        bad = ImageRequestErrorEvent(
            request_id="e", provider="openai", model="m", error_type="Timeout", duration=5.0
        )
        object.__setattr__(bad, "duration", "slow")
        sink.handle(bad)
        assert sink.failures == 1
        sink.handle(
            ImageRequestErrorEvent(
                request_id="e", provider="openai", model="m", error_type="Timeout", duration=5.0
            )
        )
        samples = scrape_sink(sink)
        assert total(samples, "aievents_image_request_errors_total") == 1
        assert total(samples, "aievents_image_request_duration_seconds_count") == 1
        sink.close()
