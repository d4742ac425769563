"""OtelSink's metrics against AggregateSink's totals; the real OTLP/HTTP span exporter."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from aievents import EventClient, ImageUsage, InputTokensDetails
from aievents.events import BaseEvent
from aievents.pricing import cost_of
from aievents.sinks import AggregateSink
from aievents.sinks.otel import MetricNames, OtelSink
from aievents.transports.otlp import DURATION_BOUNDARIES, TOKEN_BOUNDARIES
from collector_server import Receiver
from otel_sdk import Sdk

from helpers import completed_event, error_event, started_event, usage_event

D0 = 1_767_225_600  # 2026-01-01, seconds
DAY = 86_400
MODELS = ("gpt-image-1", "dall-e-3", "mystery-model")


@pytest.fixture(name="sdk")
def _sdk() -> Iterator[Sdk]:
    sdk = Sdk()
    yield sdk
    sdk.shutdown()


def random_stream(seed: int, count: int = 60) -> list[BaseEvent]:
    """Requests of random models, images, tokens and attribution; some failed, one repeated."""
    rng = random.Random(seed)
    events: list[BaseEvent] = []
    for index in range(count):
        request_id = f"req-{seed}-{index}"
        at = D0 * 1000 + rng.randrange(DAY * 1000)
        model = rng.choice(MODELS)
        common: dict[str, Any] = {
            "timestamp": at,
            "model": model,
            "provider": rng.choice(("openai", "azure")),
            "project_id": rng.choice((None, "proj-a", "proj-b")),
            "user_id": rng.choice((None, "u1", "u2", "u3")),
            "size": "1024x1024",
            "quality": rng.choice(("low", "high", "standard")),
        }
        events.append(started_event(request_id, **common))
        if rng.random() < 0.15:
            events.append(error_event(request_id, duration=rng.uniform(5, 900), **common))
            continue
        text, image = rng.randrange(1, 200), rng.randrange(0, 400)
        usage = ImageUsage(
            input_tokens=text + image,
            output_tokens=rng.randrange(0, 5000),
            input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=image),
        )
        images = rng.randrange(0, 4)
        draft = usage_event(request_id, usage=usage, images=images, **common)
        events.append(completed_event(request_id, duration=rng.uniform(50, 90_000), **common))
        events.append(
            usage_event(request_id, usage=usage, images=images, cost=cost_of(draft), **common)
        )
    last = next(e for e in reversed(events) if e.event_type == "image:usage")
    events.append(last)  # delivered twice: counted once
    return events


def aggregate_totals(events: list[BaseEvent]) -> dict[str, Any]:
    sink = AggregateSink()
    for event in events:
        sink.handle(event)
    page = sink.usage(start_time=D0, end_time=D0 + DAY)
    results = [result for bucket in page.data for result in bucket.results]
    return {
        "requests": sum(r.num_model_requests for r in results),
        "images": sum(r.images for r in results),
        "input": sum(r.input_tokens for r in results),
        "output": sum(r.output_tokens for r in results),
        "cost": sum((r.cost or Decimal(0) for r in results), Decimal(0)),
        "unpriced": sum(r.unpriced_requests for r in results),
    }


class TestTotals:
    """Requests, images, tokens and cost equal AggregateSink's for the same events."""

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_random_stream(self, sdk: Sdk, seed: int) -> None:
        """The metrics' totals are AggregateSink's; failures are in their own counter."""
        events = random_stream(seed)
        sink = sdk.sink()
        for event in events:
            sink.handle(event)
        expected = aggregate_totals(events)
        assert expected["unpriced"] > 0
        assert expected["requests"] > 0
        found = {
            "requests": sdk.total("aievents.requests"),
            "images": sdk.total("aievents.images"),
            "input": sdk.total("gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}),
            "output": sdk.total("gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}),
            "cost": sdk.total("aievents.cost"),
            "unpriced": sdk.total("aievents.unpriced_requests"),
        }
        assert found.pop("cost") == pytest.approx(float(expected.pop("cost")), rel=1e-9)
        assert found == expected
        errors = sum(e.event_type == "image:request:error" for e in events)
        assert sdk.total("aievents.request_errors") == errors
        assert sink.duplicates == 1
        assert sink.failures == 0
        assert sink.open_spans == 0
        assert len(sdk.spans) == sum(e.event_type == "image:request:started" for e in events)


class TestRequestIds:
    """A request id is counted once among the last max_request_ids (AggregateSink's window)."""

    def test_window(self, sdk: Sdk) -> None:
        """Within the window a repeat is a duplicate; past it, counted again."""
        _, sink = sdk.client(max_request_ids=2)
        for request_id in ("a", "b", "a", "c", "d", "a"):
            sink.handle(usage_event(request_id))
        assert sink.duplicates == 1
        assert sdk.total("aievents.requests") == 5


class TestInstruments:
    """The conventions' histograms, with their units and advised bucket boundaries."""

    def metric(self, sdk: Sdk, name: str) -> Any:
        data = sdk.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        return metric
        raise AssertionError(name)

    def test_histograms(self, sdk: Sdk) -> None:
        """Token usage in {token} by type; duration in seconds, error.type on failures."""
        client, _ = sdk.client()
        client.emit(started_event("a"))
        client.emit(completed_event("a", duration=1500.0))
        client.emit(usage_event("a"))
        client.emit(error_event("b", duration=250.0, error_type="RateLimitError"))
        tokens = self.metric(sdk, "gen_ai.client.token.usage")
        assert tokens.unit == "{token}"
        assert {p.attributes["gen_ai.token.type"] for p in tokens.data.data_points} == {
            "input",
            "output",
        }
        assert all(tuple(p.explicit_bounds) == TOKEN_BOUNDARIES for p in tokens.data.data_points)
        duration = self.metric(sdk, "gen_ai.client.operation.duration")
        assert duration.unit == "s"
        points = {p.attributes.get("error.type"): p for p in duration.data.data_points}
        assert points[None].sum == 1.5
        assert points["RateLimitError"].sum == 0.25
        assert tuple(points[None].explicit_bounds) == DURATION_BOUNDARIES
        attributes = dict(points[None].attributes)
        assert attributes == {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-image-1",
        }
        assert sdk.total("aievents.request_errors", **{"error.type": "RateLimitError"}) == 1

    def test_names_settable(self, sdk: Sdk) -> None:
        """metric_names renames the instruments it names; the others keep theirs."""
        client, _ = sdk.client(
            metric_names={"requests": "images.requests", "token_usage": "gen_ai.tokens"}
        )
        client.emit(usage_event("a"))
        assert sdk.total("images.requests") == 1
        assert sdk.total("gen_ai.tokens") == 100
        assert sdk.points("aievents.requests") == []
        assert sdk.total("aievents.unpriced_requests") == 1  # no cost on the event

    @pytest.mark.parametrize(
        "name", ["", "1requests", "image requests", "images:count", "a" * 256, "réquêtes", 3]
    )
    def test_malformed_name(self, name: Any) -> None:
        """A name the SDK would refuse is a ValueError naming the instrument and the name."""
        with pytest.raises(ValueError, match=r"metric_names\['requests'\]") as raised:
            OtelSink(metric_names={"requests": name})
        assert repr(name) in str(raised.value)
        with pytest.raises(ValueError, match="requests"):
            MetricNames(requests=name)

    def test_longest_name(self, sdk: Sdk) -> None:
        """255 characters of the allowed ones are a name the SDK takes."""
        name = "a" + "b/_.-9" * 42 + "cc"
        assert len(name) == 255
        client, _ = sdk.client(metric_names={"requests": name})
        client.emit(usage_event("a"))
        assert sdk.total(name) == 1

    @pytest.mark.parametrize("name", ["aievents.images", "AIEVENTS.Images"])
    def test_name_used_twice(self, name: str) -> None:
        """Two instruments of one name (case aside, as the SDK keys them) are refused."""
        with pytest.raises(ValueError, match="each instrument needs its own name") as raised:
            OtelSink(metric_names={"requests": name})
        assert "metric_names['requests']" in str(raised.value)
        assert "metric_names['images']" in str(raised.value)

    def test_metrics_off(self, sdk: Sdk) -> None:
        """metrics=False records none; spans=False makes none."""
        client, _ = sdk.client(metrics=False, spans=False)
        client.emit(started_event("a"))
        client.emit(usage_event("a"))
        assert sdk.spans == []
        assert sdk.points("aievents.requests") == []


class TestCappedLabels:
    """Opt-in project and user labels stay within their cap; the rest is counted as overflow."""

    def test_project_and_user(self, sdk: Sdk) -> None:
        """Five projects with a cap of 2: two labels and (overflow); nothing lost."""
        client, sink = sdk.client(project_label=True, user_label=True, label_cap=2)
        for index in range(5):
            client.emit(usage_event(f"r{index}", project_id=f"p{index}", user_id="u"))
        points = sdk.points("aievents.requests")
        assert sorted(p.attributes["aievents.project_id"] for p in points) == [
            "(overflow)",
            "p0",
            "p1",
        ]
        assert {p.attributes["aievents.user_id"] for p in points} == {"u"}
        assert sdk.total("aievents.requests") == 5
        assert sdk.total("aievents.requests", **{"aievents.project_id": "(overflow)"}) == 3
        assert sink.project_labels is not None
        assert sink.project_labels.overflowed == 3

    def test_missing_value(self, sdk: Sdk) -> None:
        """An event without a project id has no project label (not an empty one)."""
        client, sink = sdk.client(project_label=True)
        client.emit(usage_event("r1"))
        client.emit(usage_event("r2", project_id="p"))
        labels = sorted(
            str(p.attributes.get("aievents.project_id")) for p in sdk.points("aievents.requests")
        )
        assert labels == ["None", "p"]
        assert sink.project_labels is not None
        assert len(sink.project_labels) == 1

    def test_off_by_default(self, sdk: Sdk) -> None:
        """Without opting in, no project or user label."""
        client, sink = sdk.client()
        client.emit(usage_event("r", project_id="p", user_id="u"))
        (point,) = sdk.points("aievents.requests")
        assert "aievents.project_id" not in point.attributes
        assert "aievents.user_id" not in point.attributes
        assert sink.project_labels is None


class TestOtlpExport:
    """The application's real OTLP/HTTP span exporter carries the span to a collector."""

    def test_span_arrives_with_its_parent(self) -> None:
        """The request's span reaches 127.0.0.1 as protobuf, a child of the application span."""
        with Receiver() as receiver:
            provider = TracerProvider()
            provider.add_span_processor(
                SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
            )
            client = EventClient(strict=True)
            client.add_sink(OtelSink(provider, spans=True, metrics=False))
            with provider.get_tracer("app").start_as_current_span("app") as app:
                context = app.get_span_context()
                traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
                client.emit(started_event("r1", traceparent=traceparent))
                client.emit(completed_event("r1", traceparent=traceparent))
                client.emit(usage_event("r1", traceparent=traceparent))
            provider.shutdown()
            spans = [
                span
                for body in receiver.bodies("/v1/traces")
                for resource in ExportTraceServiceRequest.FromString(body).resource_spans
                for scope in resource.scope_spans
                for span in scope.spans
            ]
        by_name = {span.name: span for span in spans}
        request, parent = by_name["generate_content gpt-image-1"], by_name["app"]
        assert request.parent_span_id == parent.span_id
        assert request.trace_id == parent.trace_id
        attributes = {a.key: a.value for a in request.attributes}
        assert attributes["gen_ai.usage.output_tokens"].int_value == 50
        assert attributes["aievents.request_id"].string_value == "r1"
