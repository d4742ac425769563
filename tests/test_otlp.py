"""OtlpTransport: a local OTLP/HTTP collector decodes the bodies with opentelemetry-proto."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from aievents import (
    ImageRequestCompletedEvent,
    ImageUsage,
    ImageUsageEvent,
    InputTokensDetails,
)
from aievents.pricing import cost_of
from aievents.sinks import ForwardSink
from aievents.transports import TransportError
from aievents.transports.otlp import TOKEN_BOUNDARIES, OtlpTransport
from aievents.usage import Billed
from otlp_receiver import OtlpCollector, clear_otel_environment, metrics_of, plain

from faults import record
from helpers import completed_event, error_event, gateway_priced, gateway_usage, usage_event


@pytest.fixture(name="otlp")
def _otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpCollector]:
    clear_otel_environment(monkeypatch)
    with OtlpCollector() as collector:
        yield collector


def batch() -> list[Any]:
    usage = ImageUsage(
        input_tokens=50,
        output_tokens=1056,
        input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
    )
    priced = usage_event("u1", usage=usage, provider="openai", images=2, size="1024x1024")
    return [
        completed_event("u1", duration=2500.0, size="1024x1024", user_id="user-9"),
        usage_event(
            "u1",
            usage=usage,
            provider="openai",
            images=2,
            size="1024x1024",
            user_id="user-9",
            cost=cost_of(priced),
        ),
        error_event("u2", duration=300.0, status_code=429),
    ]


class TestOtlp:
    """Log records and metric points carry the GenAI attributes they should."""

    def test_log_records(self, otlp: OtlpCollector) -> None:
        """One log record per event, with gen_ai.* and aievents.* attributes."""
        transport = OtlpTransport(otlp.endpoint, service_name="images-api")
        transport.send(batch())
        transport.close()
        (request,) = otlp.logs
        (resource_logs,) = request.resource_logs
        service = {kv.key: plain(kv.value) for kv in resource_logs.resource.attributes}
        assert service["service.name"] == "images-api"
        records = resource_logs.scope_logs[0].log_records
        assert [r.body.string_value for r in records] == [
            "image:request:completed",
            "image:usage",
            "image:request:error",
        ]
        usage = {kv.key: plain(kv.value) for kv in records[1].attributes}
        assert usage["gen_ai.request.model"] == "gpt-image-1"
        assert usage["gen_ai.provider.name"] == "openai"
        assert usage["gen_ai.usage.input_tokens"] == 50
        assert usage["gen_ai.usage.output_tokens"] == 1056
        assert usage["aievents.input_image_tokens"] == 40
        assert usage["aievents.output_image_tokens"] == 1056
        assert usage["aievents.images"] == 2
        assert usage["aievents.size"] == "1024x1024"
        assert usage["aievents.request_id"] == "u1"
        assert usage["aievents.user_id"] == "user-9"
        expected = Decimal("0.00005") + Decimal("0.0004") + 1056 * Decimal(40) / 10**6
        assert usage["aievents.cost_usd"] == pytest.approx(float(expected))
        error = {kv.key: plain(kv.value) for kv in records[2].attributes}
        assert error["error.type"] == "RateLimitError"
        assert records[2].severity_text == "WARN"

    def test_event_name(self, otlp: OtlpCollector) -> None:
        """The event type as the record's event_name (where the proto has it) and attribute."""
        transport = OtlpTransport(otlp.endpoint, metrics=False)
        transport.send(batch())
        transport.close()
        records = otlp.records()
        types = ["image:request:completed", "image:usage", "image:request:error"]
        named = [{kv.key: plain(kv.value) for kv in r.attributes}["event.name"] for r in records]
        assert named == types
        if "event_name" in LogRecord.DESCRIPTOR.fields_by_name:
            assert [r.event_name for r in records] == types

    def test_metrics(self, otlp: OtlpCollector) -> None:
        """Token and duration histograms, image and cost sums, without ids as attributes."""
        transport = OtlpTransport(otlp.endpoint)
        transport.send(batch())
        transport.close()
        (request,) = otlp.metrics
        metrics = {m.name: m for m in request.resource_metrics[0].scope_metrics[0].metrics}
        assert set(metrics) == {
            "gen_ai.client.token.usage",
            "gen_ai.client.operation.duration",
            "aievents.images",
            "aievents.cost",
        }
        tokens = {
            {kv.key: plain(kv.value) for kv in p.attributes}["gen_ai.token.type"]: p
            for p in metrics["gen_ai.client.token.usage"].histogram.data_points
        }
        assert tokens["input"].sum == 50
        assert tokens["output"].sum == 1056
        assert tokens["output"].count == 1
        durations = metrics["gen_ai.client.operation.duration"].histogram.data_points
        assert sorted(p.sum for p in durations) == [0.3, 2.5]  # 2500 ms and 300 ms, in seconds
        (images,) = metrics["aievents.images"].sum.data_points
        assert images.as_int == 2
        (cost,) = metrics["aievents.cost"].sum.data_points
        assert cost.as_double > 0
        for metric in metrics.values():
            points = list(metric.histogram.data_points) + list(metric.sum.data_points)
            for point in points:
                keys = {kv.key for kv in point.attributes}
                assert not keys & {"aievents.request_id", "aievents.user_id", "aievents.event_id"}

    @pytest.mark.parametrize("name", [None, "image_generation"])
    def test_operation_name(self, otlp: OtlpCollector, name: str | None) -> None:
        """gen_ai.operation.name is OtelSink's (generate_content unless set); ours beside it."""
        given = {} if name is None else {"operation_name": name}
        transport = OtlpTransport(otlp.endpoint, **given)
        facts: dict[str, Any] = {
            "request_id": "e1",
            "provider": "openai",
            "model": "gpt-image-1",
            "operation": "image.edit",
        }
        transport.send(
            [
                ImageRequestCompletedEvent(duration=800.0, **facts),
                ImageUsageEvent(usage=ImageUsage(input_tokens=5, output_tokens=9), **facts),
            ]
        )
        transport.close()
        expected = name or "generate_content"
        records = otlp.logs[0].resource_logs[0].scope_logs[0].log_records
        for each in records:
            values = {kv.key: plain(kv.value) for kv in each.attributes}
            assert values["gen_ai.operation.name"] == expected
            assert values["gen_ai.output.type"] == "image"
            assert values["aievents.operation"] == "image.edit"
        for metric in otlp.metrics[0].resource_metrics[0].scope_metrics[0].metrics:
            for point in list(metric.histogram.data_points) + list(metric.sum.data_points):
                values = {kv.key: plain(kv.value) for kv in point.attributes}
                assert values["gen_ai.operation.name"] == expected
                assert values["aievents.operation"] == "image.edit"

    def test_operation_name_refused(self) -> None:
        """An empty operation name is refused, named."""
        with pytest.raises(ValueError, match="operation_name"):
            OtlpTransport("http://127.0.0.1:9", operation_name="")

    def test_units(self, otlp: OtlpCollector) -> None:
        """The units the GenAI conventions give: s for the duration, {token} for the tokens."""
        transport = OtlpTransport(otlp.endpoint)
        transport.send(batch())
        transport.close()
        (request,) = otlp.metrics
        units = {m.name: m.unit for m in request.resource_metrics[0].scope_metrics[0].metrics}
        assert units["gen_ai.client.operation.duration"] == "s"
        assert units["gen_ai.client.token.usage"] == "{token}"
        assert units["aievents.cost"] == "USD"

    def test_histogram_buckets(self, otlp: OtlpCollector) -> None:
        """A value on a boundary counts in the bucket the boundary closes, as OTLP defines."""
        transport = OtlpTransport(otlp.endpoint)
        events = [
            usage_event(request_id=f"r{n}", usage=ImageUsage(input_tokens=n))
            for n in (0, 1, 2, 64, 65, 67_108_864, 67_108_865)
        ]
        request = transport.metrics_request(events)
        transport.close()
        assert request is not None
        metrics = {m.name: m for m in request.resource_metrics[0].scope_metrics[0].metrics}
        (point,) = metrics["gen_ai.client.token.usage"].histogram.data_points
        assert list(point.explicit_bounds) == [float(b) for b in TOKEN_BOUNDARIES]
        expected = [0] * (len(TOKEN_BOUNDARIES) + 1)
        for bucket in (0, 0, 1, 3, 4, 13, 14):  # (-inf, 1], (1, 4], ..., (67108864, +inf)
            expected[bucket] += 1
        assert list(point.bucket_counts) == expected
        assert point.count == 7

    def test_errors_and_forwarding(self, otlp: OtlpCollector) -> None:
        """A 503 is a retryable TransportError; through a ForwardSink everything arrives."""
        otlp.status = 503
        transport = OtlpTransport(otlp.endpoint)
        with pytest.raises(TransportError) as info:
            transport.send(batch())
        assert info.value.retryable
        otlp.status = 200
        sink = ForwardSink(transport, batch_size=3, max_delay=0.01)
        for event in batch():
            sink.handle(event)
        assert sink.close(5.0).sent == 3
        assert sum(len(r.resource_logs[0].scope_logs[0].log_records) for r in otlp.logs) == 3


class TestMetricsFailure:
    """Logs are the delivery: a collector without metrics does not fail the batch."""

    def test_metrics_404(self, otlp: OtlpCollector) -> None:
        """A 404 on /v1/metrics is counted and turns metrics off; the logs are delivered."""
        otlp.statuses["/v1/metrics"] = 404
        transport = OtlpTransport(otlp.endpoint)
        with structlog.testing.capture_logs():
            transport.send(batch())
            transport.send(batch())
        transport.close()
        assert len(otlp.logs) == 2
        assert transport.metrics_failures == 1
        assert transport.metrics is False

    def test_metrics_retry_after(self, otlp: OtlpCollector) -> None:
        """A Retry-After on /v1/metrics holds the metrics only: the logs go on, nothing raises.

        With delta temporality the points of the batches sent during the
        wait are kept, and go with the first export after it.
        """
        otlp.metrics_answers.append((429, {"Retry-After": "60"}))
        endpoint = otlp.endpoint.replace("http://", "http://svc:PASSWORD123@") + "/tok3nSECRET9x"
        transport = OtlpTransport(endpoint, temporality="delta")
        with structlog.testing.capture_logs() as logs:
            transport.send(tokens_batch("r1", 1))  # logs delivered; metrics told to wait
            transport.send(tokens_batch("r2", 20))  # during the wait: logs only
            transport.send(tokens_batch("r3", 300))
        assert len(otlp.logs) == 3
        assert otlp.metrics == []
        assert transport.metrics_failures == 1  # the refused export; the skipped ones are kept
        shown = " ".join(str(line) for line in logs)
        assert "PASSWORD123" not in shown
        assert "SECRET" not in shown
        transport._wait_until = time.monotonic()  # as if the 60 s had passed (no sleep)
        transport.send(tokens_batch("r4", 4000))
        transport.close()
        assert len(otlp.logs) == 4
        (request,) = otlp.metrics
        (tokens,) = metrics_of(request)["gen_ai.client.token.usage"].histogram.data_points
        assert (tokens.count, tokens.sum) == (3, 4320)  # r2, r3 and r4; r1's export was refused
        (images,) = metrics_of(request)["aievents.images"].sum.data_points
        assert images.as_int == 3

    def test_metrics_retry_after_held_capped(self, otlp: OtlpCollector) -> None:
        """The points held during a wait keep max_attribute_sets sets, the rest in the overflow."""
        otlp.metrics_answers.append((503, {"Retry-After": "60"}))
        transport = OtlpTransport(otlp.endpoint, max_attribute_sets=2)
        with structlog.testing.capture_logs():
            transport.send(tokens_batch("r0", 1))
            for number in range(1, 6):
                transport.send(tokens_batch(f"r{number}", 1, model=f"model-{number}"))
        transport._wait_until = time.monotonic()  # as if the 60 s had passed (no sleep)
        transport.send([completed_event("r9")])  # no points of its own
        transport.close()
        (request,) = otlp.metrics
        images = {
            plain(p.attributes[0].value): p.as_int
            for p in metrics_of(request)["aievents.images"].sum.data_points
        }
        assert images == {"model-1": 1, "model-2": 1, True: 3}  # True: otel.metric.overflow

    def test_metrics_retry_after_in_sink(self, otlp: OtlpCollector) -> None:
        """Through a ForwardSink: batches flow while the metrics wait; then the totals go."""
        otlp.metrics_answers.append((503, {"Retry-After": "60"}))
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative")
        sink = ForwardSink(transport, batch_size=3, max_delay=0.01)  # max_retry_after: 1 h
        with structlog.testing.capture_logs():
            for event in batch():
                sink.handle(event)
            assert sink.flush(5.0).sent == 3
            for event in batch():
                sink.handle(event)
            report = sink.flush(5.0)
            assert report.sent == 6
            assert report.retried == 0  # never told to wait: the logs are not held
            assert len(otlp.logs) == 2
            assert otlp.metrics == []
            transport._wait_until = time.monotonic()  # as if the 60 s had passed (no sleep)
            for event in batch():
                sink.handle(event)
            report = sink.close(5.0)
        assert report.sent == 9
        (request,) = otlp.metrics
        (images,) = metrics_of(request)["aievents.images"].sum.data_points
        assert images.as_int == 6  # the totals of the three batches: 2 images each
        arrived = sum(len(r.resource_logs[0].scope_logs[0].log_records) for r in otlp.logs)
        record(
            "OTLP metrics answer 503, Retry-After 60",
            sent=9,
            received=arrived,
            counted=0,
            note="the log records went on; the metrics waited, then sent the totals",
        )

    def test_metrics_post_error(self, otlp: OtlpCollector, monkeypatch: pytest.MonkeyPatch) -> None:
        """A metrics post failing with an error other than TransportError: logs delivered once.

        httpx refuses the metrics URL (a control character in its path)
        only when posting: the error is counted and logged, never raised,
        so the batch is not sent again and the totals count it once.
        """
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"{otlp.endpoint}/v1/logs")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{otlp.endpoint}/v1/me\x7ftrics")
        transport = OtlpTransport(temporality="cumulative")
        sink = ForwardSink(transport, batch_size=3, max_delay=0.01, backoff=0.01)
        with structlog.testing.capture_logs() as logs:
            for event in batch():
                sink.handle(event)
            report = sink.close(5.0)
        assert (report.sent, report.retried, report.dropped) == (3, 0, {})
        assert len(otlp.logs) == 1
        assert transport.metrics_failures == 1
        assert [line["event"] for line in logs] == ["otlp_metrics_failed"]
        assert "InvalidURL" in logs[0]["error"]
        request = transport.metrics_request([])  # the totals: the batch once
        assert request is not None
        (images,) = metrics_of(request)["aievents.images"].sum.data_points
        assert images.as_int == 2


def tokens_batch(request_id: str, tokens: int, *, model: str = "gpt-image-1") -> list[Any]:
    """A usage event of ``tokens`` input tokens and one image."""
    usage = ImageUsage(input_tokens=tokens)
    return [usage_event(request_id, usage=usage, model=model, images=1)]


class TestUsageAttributes:
    """A log record carries a usage's tokens as LogSink's lines do: one flattening for both."""

    @pytest.mark.parametrize(
        "usage",
        [
            pytest.param(batch()[1].usage, id="detailed"),
            pytest.param(ImageUsage(input_tokens=9, total_tokens=9), id="input-only"),
            pytest.param(ImageUsage(cost="0.04"), id="no-tokens-reported"),
        ],
    )
    def test_same_tokens_as_the_log(self, otlp: OtlpCollector, usage: ImageUsage) -> None:
        """The token attributes are the log line's token fields, none where none was reported."""
        from aievents.sinks import LogSink

        event = usage_event("u1", usage=usage)
        transport = OtlpTransport(otlp.endpoint)
        record = transport.log_record(event)
        transport.close()
        sent = {kv.key: plain(kv.value) for kv in record.attributes}
        tokens = {
            key.removeprefix("gen_ai.usage.").removeprefix("aievents."): value
            for key, value in sent.items()
            if key.endswith("_tokens")
        }
        logged = {k: v for k, v in LogSink().fields(event).items() if k.endswith("_tokens")}
        assert tokens == logged
        if usage.input_tokens is None:
            assert tokens == {}


class TestReportedAttributes:
    """The computed and the reported cost travel apart, with LogSink's names."""

    def test_log_record(self, otlp: OtlpCollector) -> None:
        """aievents.cost_usd, priced_as, reported_cost_usd, billed_quantity and billed_unit."""
        from aievents.sinks import LogSink

        event = usage_event("u1", usage=gateway_usage(), cost=gateway_priced())
        transport = OtlpTransport(otlp.endpoint)
        record = transport.log_record(event)
        transport.close()
        sent = {kv.key: plain(kv.value) for kv in record.attributes}
        names = ("cost_usd", "priced_as", "reported_cost_usd", "billed_quantity", "billed_unit")
        assert {name: sent[f"aievents.{name}"] for name in names} == {
            "cost_usd": 0.04249,
            "priced_as": "gpt-image-1",
            "reported_cost_usd": 0.0431,
            "billed_quantity": 1.0,
            "billed_unit": "images",
        }
        logged = LogSink().fields(event)
        assert {name: logged[name] for name in names} == {
            name: sent[f"aievents.{name}"] for name in names
        }

    @pytest.mark.parametrize(
        ("amount", "quantity"),
        [("999999999999999.99", "999999999999999999"), ("1E-30", "1E-30")],
        ids=["largest", "finest"],
    )
    def test_extremes_finite(self, otlp: OtlpCollector, amount: str, quantity: str) -> None:
        """The largest and finest amounts and quantities an event takes are finite, non-0 doubles.

        (Past them the event is refused when built, so no inf or 0.0 is sent.)
        """
        from aievents.sinks import LogSink

        usage = ImageUsage(cost=amount, billed=Billed(quantity, "units"))
        event = usage_event("u1", usage=usage)
        transport = OtlpTransport(otlp.endpoint)
        sent = {kv.key: plain(kv.value) for kv in transport.log_record(event).attributes}
        transport.close()
        logged = LogSink().fields(event)
        for name, exact in (("reported_cost_usd", amount), ("billed_quantity", quantity)):
            for value in (sent[f"aievents.{name}"], logged[name]):
                assert type(value) is float
                assert math.isfinite(value)
                assert value == float(exact) != 0.0

    def test_reported_only(self, otlp: OtlpCollector) -> None:
        """A request only the provider priced has no aievents.cost_usd."""
        event = usage_event("u1", usage=ImageUsage(cost="0.04"))
        transport = OtlpTransport(otlp.endpoint)
        sent = {kv.key for kv in transport.log_record(event).attributes}
        transport.close()
        assert "aievents.reported_cost_usd" in sent
        assert not {"aievents.cost_usd", "aievents.priced_as", "aievents.billed_unit"} & sent

    def test_metrics(self, otlp: OtlpCollector) -> None:
        """aievents.cost sums the computed costs, aievents.reported_cost the reported ones."""
        events = [
            usage_event("a", usage=gateway_usage(), cost=gateway_priced()),
            usage_event("b", usage=ImageUsage(cost="0.04")),  # reported, not priced
            usage_event("c", usage=ImageUsage(input_tokens=5), cost=gateway_priced()),  # priced
        ]
        transport = OtlpTransport(otlp.endpoint)
        request = transport.metrics_request(events)
        transport.close()
        assert request is not None
        metrics = {m.name: m for m in request.resource_metrics[0].scope_metrics[0].metrics}
        (computed,) = metrics["aievents.cost"].sum.data_points
        assert computed.as_double == pytest.approx(2 * 0.04249)
        (reported,) = metrics["aievents.reported_cost"].sum.data_points
        assert reported.as_double == pytest.approx(0.0431 + 0.04)
        assert metrics["aievents.reported_cost"].unit == "USD"
