"""OtlpTransport: events as OTLP log records and metrics over OTLP/HTTP (extra ``[otel]``).

Each batch is sent as one logs export (``POST /v1/logs``), then one metrics
export (``POST /v1/metrics``); the messages and what they hold are
:mod:`aievents.encoding.otlp`'s, the requests :mod:`aievents._http`'s.
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
from aievents._http import Connections
from aievents._redact import safe_url
from aievents.encoding.otlp import DURATION_BOUNDARIES, TOKEN_BOUNDARIES, OtlpEncoder
from aievents.events import BaseEvent
from aievents.exceptions import TransportError

__all__ = ["DURATION_BOUNDARIES", "TOKEN_BOUNDARIES", "OtlpTransport"]

_DIAG: Final = RateLimitedLog("otlp")


class OtlpTransport:
    """Sends batches to an OTLP/HTTP collector as log records and metrics.

    Args:
        endpoint: The collector's base URL (``/v1/logs`` and ``/v1/metrics``
            are appended), such as ``http://127.0.0.1:4318``.
        service_name: The ``service.name`` resource attribute.
        headers: Extra headers, such as an API key header; never logged.
        metrics: Also send the metrics (on by default).
        connect_timeout: Seconds to connect.
        read_timeout: Seconds to wait for each read of the answer.
        request_timeout: Seconds one request may take in all (connecting,
            sending and reading the answer).
        verify: Verify TLS certificates (on by default), or a CA bundle path.
        client: An ``httpx.Client`` to use instead of a new one.
    """

    def __init__(
        self,
        endpoint: str = "http://127.0.0.1:4318",
        *,
        service_name: str = "aievents",
        headers: Mapping[str, str] | None = None,
        metrics: bool = True,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        request_timeout: float = 30.0,
        verify: bool | str = True,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.metrics = metrics
        #: What builds the messages (:class:`~aievents.encoding.otlp.OtlpEncoder`).
        self.encoder = OtlpEncoder(service_name)
        self._headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        self._http = Connections(client, connect_timeout, read_timeout, verify, request_timeout)
        self.metrics_failures = 0
        #: A Retry-After the metrics export was answered with, not told to the sender yet.
        self._wait_until: float | None = None

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
        """The metrics export of a batch, or None if it has no points (see :attr:`encoder`)."""
        return self.encoder.metrics_request(batch)

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """Export the batch's log records (the delivery), then its metrics.

        The log records are what is delivered: their failure raises
        :class:`TransportError`. A metrics export that fails afterwards is
        counted in ``metrics_failures`` and logged, never retried (a retry
        would count the deltas twice); a 404 turns metrics off (a collector
        that takes logs only). A ``Retry-After`` it is answered with is
        honoured all the same: the next ``send`` before then sends nothing
        and raises, with the time left as its ``retry_after``.

        Raises:
            UnencodableError: some events cannot be encoded (nothing sent).
            TransportError: the collector did not take the log records, or
                asked to wait (``retry_after``).
        """
        self._honour_wait()
        self._http.post(
            f"{self.endpoint}/v1/logs",
            self.logs_request(batch).SerializeToString(),
            self._headers,
        )
        if not self.metrics:
            return
        try:
            request = self.metrics_request(batch)
        except Exception as exc:  # noqa: BLE001 - the logs are delivered: never sent twice
            self.metrics_failures += 1
            _DIAG("metrics_encode", "warning", "otlp_metrics_unencodable", error=exc)
            return
        if request is None:
            return
        try:
            self._http.post(
                f"{self.endpoint}/v1/metrics",
                request.SerializeToString(),
                self._headers,
            )
        except TransportError as exc:
            self.metrics_failures += 1
            if exc.status == 404:
                self.metrics = False
            if exc.retry_after:
                self._wait_until = time.monotonic() + exc.retry_after
            _DIAG("metrics", "warning", "otlp_metrics_failed", error=exc, metrics_on=self.metrics)

    def _honour_wait(self) -> None:
        """Raise, once, the Retry-After the last metrics export was answered with, if in force."""
        until, self._wait_until = self._wait_until, None
        left = None if until is None else until - time.monotonic()
        if left is not None and left > 0:
            raise TransportError(
                f"{safe_url(self.endpoint)} asked to wait {left:.0f} s more (Retry-After)",
                retryable=True,
                retry_after=left,
            )

    def close(self) -> None:
        """Close the connections (when the client is ours)."""
        self._http.close()
