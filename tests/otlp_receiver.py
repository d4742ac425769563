"""An OTLP/HTTP receiver on 127.0.0.1 that decodes the exports with opentelemetry-proto."""

from __future__ import annotations

import os
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from collector_server import Receiver


class OtlpCollector(Receiver):
    """A receiver that decodes the OTLP/HTTP protobuf exports posted to /v1/logs and /v1/metrics."""

    @property
    def logs(self) -> list[ExportLogsServiceRequest]:
        return [ExportLogsServiceRequest.FromString(b) for b in self.protobufs("/v1/logs")]

    @property
    def metrics(self) -> list[ExportMetricsServiceRequest]:
        return [ExportMetricsServiceRequest.FromString(b) for b in self.protobufs("/v1/metrics")]

    @property
    def metrics_answers(self) -> list[tuple[int, dict[str, str]]]:
        """Answers for the next metrics exports: status and headers."""
        return self.answers.setdefault("/v1/metrics", [])

    def protobufs(self, path: str) -> list[bytes]:
        found = [(headers, body) for at, headers, body in self.requests if at.endswith(path)]
        assert all(h["content-type"] == "application/x-protobuf" for h, _ in found)
        return [body for _, body in found]

    def records(self) -> list[LogRecord]:
        """Every log record received, in order."""
        return [
            record
            for request in self.logs
            for resource in request.resource_logs
            for scope in resource.scope_logs
            for record in scope.log_records
        ]


def plain(value: AnyValue) -> Any:
    """An AnyValue as a Python value."""
    return getattr(value, value.WhichOneof("value"))


def attributes(values: list[KeyValue] | Any) -> dict[str, Any]:
    """OTLP attributes as a dict of Python values."""
    return {kv.key: plain(kv.value) for kv in values}


def metrics_of(request: ExportMetricsServiceRequest) -> dict[str, Metric]:
    """The metrics of an export, by name."""
    return {m.name: m for m in request.resource_metrics[0].scope_metrics[0].metrics}


def clear_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the OTEL_* variables, so that only what a test sets applies."""
    for name in os.environ:
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
