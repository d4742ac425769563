"""OtlpTransport's cumulative metrics: running totals since the transport started."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    Metric,
)

from aievents import ImageUsage
from aievents.sinks import ForwardSink
from aievents.transports.otlp import OtlpTransport
from otlp_receiver import OtlpCollector, attributes, clear_otel_environment, metrics_of

from helpers import completed_event, error_event, started_event, usage_event


@pytest.fixture(name="otlp")
def _otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpCollector]:
    clear_otel_environment(monkeypatch)
    with OtlpCollector() as collector:
        yield collector


def batch(request_id: str, tokens: int, *, model: str = "gpt-image-1") -> list[Any]:
    """A request's completed and usage events: ``tokens`` in and out, 2 images, 1.5 s."""
    usage = ImageUsage(input_tokens=tokens, output_tokens=tokens)
    return [
        completed_event(request_id, model=model, duration=1500.0),
        usage_event(request_id, model=model, usage=usage, images=2, provider="openai"),
    ]


def points(metric: Metric) -> list[Any]:
    kind = metric.WhichOneof("data")
    return list(getattr(metric, kind).data_points)


def token_sums(metric: Metric) -> dict[str, tuple[int, float]]:
    """Count and sum of the token histogram, by token type."""
    return {
        attributes(p.attributes)["gen_ai.token.type"]: (p.count, p.sum)
        for p in metric.histogram.data_points
    }


class TestRunningTotals:
    """Each export holds the totals since the transport started, from a fixed start time."""

    def test_two_batches(self, otlp: OtlpCollector) -> None:
        """The second export adds the second batch to the first's; start fixed, time moving."""
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative")
        transport.send(batch("r1", 100))
        transport.send(batch("r2", 300))
        transport.close()
        first, second = (metrics_of(r) for r in otlp.metrics)
        assert token_sums(first["gen_ai.client.token.usage"]) == {
            "input": (1, 100),
            "output": (1, 100),
        }
        assert token_sums(second["gen_ai.client.token.usage"]) == {
            "input": (2, 400),
            "output": (2, 400),
        }
        (tokens,) = [
            p
            for p in second["gen_ai.client.token.usage"].histogram.data_points
            if attributes(p.attributes)["gen_ai.token.type"] == "input"
        ]
        assert (tokens.min, tokens.max) == (100, 300)
        assert sum(tokens.bucket_counts) == 2
        (duration,) = second["gen_ai.client.operation.duration"].histogram.data_points
        assert (duration.count, duration.sum) == (2, 3.0)
        assert [p.as_int for p in points(second["aievents.images"])] == [4]
        start = transport.encoder.start_time_unix_nano
        for export in (first, second):
            for metric in export.values():
                kind = metric.WhichOneof("data")
                assert getattr(metric, kind).aggregation_temporality == (
                    AGGREGATION_TEMPORALITY_CUMULATIVE
                )
                assert {p.start_time_unix_nano for p in points(metric)} == {start}
        end_first = {p.time_unix_nano for m in first.values() for p in points(m)}
        end_second = {p.time_unix_nano for m in second.values() for p in points(m)}
        assert len(end_first) == len(end_second) == 1
        assert start < min(end_first) < min(end_second)

    def test_series_stay(self, otlp: OtlpCollector) -> None:
        """An attribute set seen once stays in every later export, with its total."""
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative")
        transport.send(batch("r1", 10, model="gpt-image-1"))
        transport.send(batch("r2", 10, model="gpt-image-1-mini"))
        transport.send([started_event("r3")])  # no points: the totals all the same
        transport.close()
        last = metrics_of(otlp.metrics[-1])
        images = {
            attributes(p.attributes)["gen_ai.request.model"]: p.as_int
            for p in points(last["aievents.images"])
        }
        assert images == {"gpt-image-1": 2, "gpt-image-1-mini": 2}
        assert len(otlp.metrics) == 3

    def test_nothing_yet(self, otlp: OtlpCollector) -> None:
        """No metrics export until some event has points."""
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative")
        transport.send([started_event("r1")])
        transport.close()
        assert len(otlp.logs) == 1
        assert otlp.metrics == []

    def test_many_batches(self, otlp: OtlpCollector) -> None:
        """After batches of several models and an error, the last export holds every total."""
        events = [
            *batch("r1", 100),
            *batch("r2", 250, model="gpt-image-1-mini"),
            error_event("r3", duration=400.0),
            *batch("r4", 7),
        ]
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative")
        for start in range(0, len(events), 2):
            transport.send(events[start : start + 2])
        transport.close()
        last = metrics_of(otlp.metrics[-1])
        sums = token_sums_all(last["gen_ai.client.token.usage"])
        assert sums == {"input": 357, "output": 357}
        assert sum(p.as_int for p in points(last["aievents.images"])) == 6
        durations = last["gen_ai.client.operation.duration"].histogram.data_points
        assert sum(p.count for p in durations) == 4
        assert sum(p.sum for p in durations) == pytest.approx(4.9)
        errors = [p for p in durations if "error.type" in attributes(p.attributes)]
        assert [(p.count, p.sum) for p in errors] == [(1, 0.4)]


def token_sums_all(metric: Metric) -> dict[str, float]:
    """The token histogram's sums by token type, over every attribute set."""
    found: dict[str, float] = {}
    for point in metric.histogram.data_points:
        kind = attributes(point.attributes)["gen_ai.token.type"]
        found[kind] = found.get(kind, 0) + point.sum
    return found


class TestFailures:
    """A failed metrics export loses nothing with cumulative; logs retried count once."""

    def test_failed_export_covered(self, otlp: OtlpCollector) -> None:
        """The export after a failed one carries the failed batch's points too."""
        otlp.metrics_answers.append((500, {}))
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative")
        with structlog.testing.capture_logs():
            transport.send(batch("r1", 100))  # logs delivered, metrics refused
        transport.send(batch("r2", 300))
        transport.close()
        assert transport.metrics_failures == 1
        assert len(otlp.logs) == 2
        (request,) = otlp.metrics  # the refused one was not received
        last = metrics_of(request)
        assert token_sums(last["gen_ai.client.token.usage"])["input"] == (2, 400)
        assert [p.as_int for p in points(last["aievents.images"])] == [4]

    def test_failed_export_lost_in_delta(self, otlp: OtlpCollector) -> None:
        """With delta, by contrast, the refused batch's points are gone (never sent twice)."""
        otlp.metrics_answers.append((500, {}))
        transport = OtlpTransport(otlp.endpoint, temporality="delta")
        with structlog.testing.capture_logs():
            transport.send(batch("r1", 100))
        transport.send(batch("r2", 300))
        transport.close()
        (request,) = otlp.metrics
        last = metrics_of(request)
        assert token_sums(last["gen_ai.client.token.usage"])["input"] == (1, 300)

    def test_logs_retried_counted_once(self, otlp: OtlpCollector) -> None:
        """A batch whose logs export is retried by ForwardSink adds to the totals once."""
        otlp.answers["/v1/logs"] = [(503, {})]
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative")
        sink = ForwardSink(transport, batch_size=2, max_delay=0.01, backoff=0.01)
        with structlog.testing.capture_logs():
            for event in batch("r1", 100):
                sink.handle(event)
            report = sink.close(5.0)
        assert report.sent == 2
        assert report.retried == 2
        (request,) = otlp.metrics
        last = metrics_of(request)
        assert token_sums(last["gen_ai.client.token.usage"])["input"] == (1, 100)


class TestCap:
    """The attribute sets a metric keeps are capped; the rest add to the overflow set."""

    def test_overflow(self, otlp: OtlpCollector) -> None:
        """Past max_attribute_sets, points go to otel.metric.overflow=true; totals kept."""
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative", max_attribute_sets=2)
        for number in range(5):
            transport.send(batch(f"r{number}", 10, model=f"model-{number}"))
        transport.send(batch("r9", 10, model="model-0"))  # a kept set stays itself
        transport.close()
        last = metrics_of(otlp.metrics[-1])
        images = {
            attributes(p.attributes).get("gen_ai.request.model", "overflow"): (
                attributes(p.attributes),
                p.as_int,
            )
            for p in points(last["aievents.images"])
        }
        assert sorted(images) == ["model-0", "model-1", "overflow"]
        assert images["model-0"][1] == 4
        assert images["overflow"] == ({"otel.metric.overflow": True}, 6)
        assert sum(count for _, count in images.values()) == 12
        # model-0's input and output sets, then the overflow set
        assert len(points(last["gen_ai.client.token.usage"])) == 3

    def test_as_the_sdk(self, otlp: OtlpCollector) -> None:
        """The sets kept and the overflow's total are the SDK's under the same cardinality limit."""
        from opentelemetry.sdk.metrics import Counter, MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        models = ["model-0", "model-1", "model-2", "model-0", "model-3", "model-1", "model-4"]
        reader = InMemoryMetricReader(cardinality_limits={Counter: 3})
        provider = MeterProvider(metric_readers=[reader])
        counter = provider.get_meter("test").create_counter("images")
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative", max_attribute_sets=3)
        for number, model in enumerate(models):
            counter.add(2, {"model": model})
            transport.send(batch(f"r{number}", 10, model=model))
        transport.close()
        data = reader.get_metrics_data()
        provider.shutdown()
        assert data is not None
        (metric,) = data.resource_metrics[0].scope_metrics[0].metrics
        theirs = {
            dict(p.attributes).get("model", "overflow"): p.value for p in metric.data.data_points
        }
        ours = {
            attributes(p.attributes).get("gen_ai.request.model", "overflow"): p.as_int
            for p in points(metrics_of(otlp.metrics[-1])["aievents.images"])
        }
        assert ours == theirs == {"model-0": 4, "model-1": 4, "model-2": 2, "overflow": 4}


def resource_of(request: Any) -> dict[str, Any]:
    return attributes(request.resource_metrics[0].resource.attributes)


def start_of(request: Any) -> int:
    (start,) = {p.start_time_unix_nano for m in metrics_of(request).values() for p in points(m)}
    return start


class TestInstances:
    """Cumulative totals name their process with a service.instance.id; a forked child its own."""

    def test_instance_id(self, otlp: OtlpCollector) -> None:
        """Each cumulative transport makes its own; one given is kept; delta adds none."""
        transports = [
            OtlpTransport(otlp.endpoint, temporality="cumulative"),
            OtlpTransport(otlp.endpoint, temporality="cumulative"),
            OtlpTransport(
                otlp.endpoint,
                temporality="cumulative",
                resource_attributes={"service.instance.id": "pod-7"},
            ),
            OtlpTransport(otlp.endpoint),
        ]
        for transport in transports:
            transport.send(batch("r1", 10))
            transport.close()
        first, second, given, delta = (resource_of(r) for r in otlp.metrics)
        assert first["service.instance.id"] != second["service.instance.id"]
        assert given["service.instance.id"] == "pod-7"
        assert "service.instance.id" not in delta
        logs = attributes(otlp.logs[0].resource_logs[0].resource.attributes)
        assert logs["service.instance.id"] == first["service.instance.id"]  # the same resource

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_fork(self, otlp: OtlpCollector) -> None:
        """A forked child's totals start at the fork, under its own id; the parent's go on."""
        transport = OtlpTransport(otlp.endpoint, temporality="cumulative")
        transport.send(batch("r1", 100))
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                transport.send(batch("r2", 300))
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        transport.send(batch("r3", 5))
        transport.close()
        first, child, parent = otlp.metrics
        assert token_sums(metrics_of(child)["gen_ai.client.token.usage"])["input"] == (1, 300)
        assert token_sums(metrics_of(parent)["gen_ai.client.token.usage"])["input"] == (2, 105)
        assert resource_of(parent) == resource_of(first) != resource_of(child)
        assert start_of(parent) == start_of(first) < start_of(child)

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_fork_given_id(self, otlp: OtlpCollector) -> None:
        """A given id: a forked child's totals go under ``<id>-<pid>``, the parent's keep it.

        The fork happens in a process of its own, which tells the child's pid.
        """
        script = textwrap.dedent(
            """
            import os, sys
            from aievents import ImageUsage
            from aievents.events import ImageUsageEvent
            from aievents.transports.otlp import OtlpTransport

            def batch(request_id, images):
                usage = ImageUsage(input_tokens=1, output_tokens=1)
                return [ImageUsageEvent(request_id=request_id, model="gpt-image-1",
                                        usage=usage, images=images)]

            transport = OtlpTransport(sys.argv[1], temporality="cumulative",
                                      resource_attributes={"service.instance.id": "pod-7"})
            transport.send(batch("r1", 5))
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    transport.send(batch("r2", 1))
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 0
            transport.send(batch("r3", 1))
            transport.close()
            print(pid)
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script, otlp.endpoint],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        child_pid = int(done.stdout.split()[-1])
        first, child, parent = otlp.metrics
        assert resource_of(first)["service.instance.id"] == "pod-7"
        assert resource_of(child)["service.instance.id"] == f"pod-7-{child_pid}"
        assert resource_of(parent)["service.instance.id"] == "pod-7"
        images = {name: points(metrics_of(r)["aievents.images"])[0].as_int for name, r in
                  (("first", first), ("child", child), ("parent", parent))}  # fmt: skip
        assert images == {"first": 5, "child": 1, "parent": 6}
        assert start_of(parent) == start_of(first) < start_of(child)
