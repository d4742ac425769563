"""OtlpTransport: events as OTLP log records and metrics over OTLP/HTTP (extra ``[otel]``).

Each batch is sent as one logs export (``POST /v1/logs``), then one metrics
export (``POST /v1/metrics``); the messages and what they hold are
:mod:`aievents.encoding.otlp`'s, the requests :mod:`aievents._http`'s. The
settings not given as arguments come from the standard ``OTEL_*``
environment variables (see :class:`OtlpTransport`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Final

from aievents._extras import missing_extra

try:
    import httpx
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
except ImportError as _error:
    raise missing_extra("OtlpTransport", "otel", _error) from None

from aievents._diag import RateLimitedLog
from aievents._genai import DEFAULT_OPERATION_NAME
from aievents._http import Connections
from aievents._redact import safe_url
from aievents.encoding.otlp import (
    DURATION_BOUNDARIES,
    MAX_ATTRIBUTE_SETS,
    TOKEN_BOUNDARIES,
    OtlpEncoder,
    Temporality,
)
from aievents.events import BaseEvent
from aievents.exceptions import TransportError
from aievents.transports._otlp_env import DEFAULT_ENDPOINT, settings

__all__ = ["DEFAULT_ENDPOINT", "DURATION_BOUNDARIES", "TOKEN_BOUNDARIES", "OtlpTransport"]

_DIAG: Final = RateLimitedLog("otlp")
#: The longest wait a metrics ``Retry-After`` imposes (seconds; ForwardSink's default cap).
_MAX_METRICS_WAIT: Final = 3600.0


class OtlpTransport:
    """Sends batches to an OTLP/HTTP collector as log records and metrics.

    Each setting not given as an argument is read, when the transport is
    made, from the environment variables the OpenTelemetry exporters read
    (an argument given wins over them, the resource's merged as said below;
    an empty variable counts as unset):

    ============================  =================================================
    Argument                      Environment variables
    ============================  =================================================
    ``endpoint``                  ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` and
                                  ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` (full
                                  URLs, used as they are), else
                                  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL)
    ``headers``                   ``OTEL_EXPORTER_OTLP_LOGS_HEADERS`` and
                                  ``OTEL_EXPORTER_OTLP_METRICS_HEADERS``, else
                                  ``OTEL_EXPORTER_OTLP_HEADERS`` (``key=value``
                                  pairs, comma-separated, percent-decoded;
                                  names sent in lowercase)
    ``service_name``              ``OTEL_SERVICE_NAME``, else ``service.name`` in
                                  the resource attributes
    ``resource_attributes``       ``OTEL_RESOURCE_ATTRIBUTES`` (``key=value``
                                  pairs, comma-separated, percent-decoded)
    ``request_timeout``           ``OTEL_EXPORTER_OTLP_TIMEOUT`` (milliseconds,
                                  as the specification says; the Python
                                  SDK's exporters read seconds there)
    ``temporality``               ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``
                                  (``cumulative``; ``delta`` and ``lowmemory``
                                  both mean delta here)
    ============================  =================================================

    The resource is merged as the SDK's ``Resource.create`` merges it, each
    later source winning for its keys and none dropped:
    ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``,
    ``resource_attributes``, ``service_name``.

    Args:
        endpoint: The collector's base URL (``/v1/logs`` and ``/v1/metrics``
            are appended); by default ``http://127.0.0.1:4318``, the
            collector on this host (the address the exporters' default
            ``localhost`` names, without a name lookup that may try IPv6
            first).
        service_name: The ``service.name`` resource attribute (by default
            the environment's, else ``aievents``); it wins over every other
            source.
        headers: Extra headers, such as an API key header; never logged
            nor shown in errors.
        resource_attributes: More resource attributes, such as
            ``{"deployment.environment.name": "prod"}``, added to the
            environment's (winning for their keys).
        metrics: Also send the metrics (on by default).
        temporality: ``"delta"`` (the default: each export holds its
            batch's points) or ``"cumulative"`` (each export holds the
            running totals since the transport was made).
        max_attribute_sets: The most attribute sets a metric keeps (model,
            provider, operation, size, quality...); later ones are added to
            ``otel.metric.overflow=true``. It bounds the memory the
            cumulative totals hold.
        operation_name: ``gen_ai.operation.name`` of the log records and
            metric points: ``generate_content`` by default, as
            :class:`~aievents.sinks.otel.OtelSink` writes it (the event's
            ``operation``, such as ``image.edit``, is ``aievents.operation``).
        connect_timeout: Seconds to connect.
        read_timeout: Seconds to wait for each read of the answer.
        request_timeout: Seconds one request may take in all (connecting,
            sending and reading the answer); 30 by default.
        verify: Verify TLS certificates (on by default), or a CA bundle path.
        client: An ``httpx.Client`` to use instead of a new one.

    Raises:
        ValueError: an argument or an environment variable is malformed (it
            is named; a header's value is never shown).
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        service_name: str | None = None,
        headers: Mapping[str, str] | None = None,
        resource_attributes: Mapping[str, str | bool | int | float] | None = None,
        metrics: bool = True,
        temporality: Temporality | None = None,
        max_attribute_sets: int = MAX_ATTRIBUTE_SETS,
        operation_name: str = DEFAULT_OPERATION_NAME,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        request_timeout: float | None = None,
        verify: bool | str = True,
        client: httpx.Client | None = None,
    ) -> None:
        found = settings(
            endpoint,
            headers=headers,
            service_name=service_name,
            resource_attributes=resource_attributes,
            request_timeout=request_timeout,
            temporality=temporality,
        )
        #: Where the log records are posted.
        self.logs_url = found.logs_url
        #: Where the metrics are posted.
        self.metrics_url = found.metrics_url
        self.metrics = metrics
        #: What builds the messages (:class:`~aievents.encoding.otlp.OtlpEncoder`).
        self.encoder = OtlpEncoder(
            found.service_name,
            resource_attributes=found.resource,
            temporality=found.temporality,
            max_attribute_sets=max_attribute_sets,
            operation_name=operation_name,
        )
        protobuf = {"content-type": "application/x-protobuf"}  # names in lowercase, as found's
        self._logs_headers = {**found.logs_headers, **protobuf}
        self._metrics_headers = {**found.metrics_headers, **protobuf}
        self._http = Connections(
            client, connect_timeout, read_timeout, verify, found.request_timeout
        )
        self.metrics_failures = 0
        #: Until when (monotonic) the metrics exports wait, as a Retry-After asked.
        self._wait_until: float | None = None

    @property
    def temporality(self) -> Temporality:
        """The metrics' temporality: ``"delta"`` or ``"cumulative"``."""
        return self.encoder.temporality

    @property
    def request_timeout(self) -> float:
        """Seconds one request may take in all."""
        return self._http.request_timeout

    def __repr__(self) -> str:
        return f"OtlpTransport({safe_url(self.logs_url)!r}, temporality={self.temporality!r})"

    def log_record(self, event: BaseEvent) -> LogRecord:
        """The OTLP log record of one event, its secrets scrubbed (see :attr:`encoder`)."""
        return self.encoder.log_record(event)

    def logs_request(self, batch: Sequence[BaseEvent]) -> ExportLogsServiceRequest:
        """The logs export of a batch (see :attr:`encoder`).

        Raises:
            UnencodableError: some events cannot be encoded.
        """
        return self.encoder.logs_request(batch)

    def metrics_request(self, batch: Sequence[BaseEvent]) -> ExportMetricsServiceRequest | None:
        """The metrics export of a batch, or None if there are no points (see :attr:`encoder`).

        With cumulative temporality each call adds the batch to the running
        totals: :meth:`send` calls it once per delivered batch.
        """
        return self.encoder.metrics_request(batch)

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """Export the batch's log records (the delivery), then its metrics.

        The log records are what is delivered: their failure raises
        :class:`TransportError`, and nothing else raises once they are
        delivered (a retry would deliver them twice). A metrics export that
        fails afterwards, whatever the error, is counted in
        ``metrics_failures`` and logged, never retried: with delta
        temporality a retry could count the batch twice (its points are
        lost); with cumulative temporality the next export carries the
        running totals, the failed batch's points with them. A 404 turns
        metrics off (a collector that takes logs only). A ``Retry-After``
        it is answered with (up to an hour) is honoured by the metrics
        alone: until then the log records go on, and the metrics exports
        are skipped, their points kept for the first export after the wait
        (cumulative: in the running totals; delta: the points held, see
        :meth:`~aievents.encoding.otlp.OtlpEncoder.hold`).

        Raises:
            UnencodableError: some events cannot be encoded (nothing sent).
            TransportError: the collector did not take the log records.
        """
        self._http.post(
            self.logs_url,
            self.logs_request(batch).SerializeToString(),
            self._logs_headers,
        )
        if self.metrics:
            self._send_metrics(batch)

    def _send_metrics(self, batch: Sequence[BaseEvent]) -> None:
        """Export the metrics of a delivered batch; never raise (the logs are delivered)."""
        until = self._wait_until
        try:
            if until is not None and time.monotonic() < until:
                self.encoder.hold(batch)  # the collector asked to wait: sent after the wait
                return
            self._wait_until = None
            request = self.metrics_request(batch)
        except Exception as exc:  # noqa: BLE001 - the logs are delivered: never sent twice
            self.metrics_failures += 1
            _DIAG("metrics_encode", "warning", "otlp_metrics_unencodable", error=exc)
            return
        if request is None:
            return
        try:
            self._http.post(self.metrics_url, request.SerializeToString(), self._metrics_headers)
        except TransportError as exc:
            self.metrics_failures += 1
            if exc.status == 404:
                self.metrics = False
            if exc.retry_after:
                wait = min(exc.retry_after, _MAX_METRICS_WAIT)
                self._wait_until = time.monotonic() + wait
            _DIAG("metrics", "warning", "otlp_metrics_failed", error=exc, metrics_on=self.metrics)
        except Exception as exc:  # noqa: BLE001 - the logs are delivered: never sent twice
            self.metrics_failures += 1
            _DIAG(("metrics", type(exc)), "warning", "otlp_metrics_failed", error=exc)

    def close(self) -> None:
        """Close the connections (when the client is ours)."""
        self._http.close()
