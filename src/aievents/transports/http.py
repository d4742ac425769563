"""HttpTransport: batches POSTed as JSON or NDJSON (extra ``[http]``, httpx)."""

from __future__ import annotations

import email.utils
import gzip
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import httpx

from aievents.events import BaseEvent
from aievents.transports import TransportError
from aievents.transports.jsonl import Shape, encode

__all__ = ["HttpTransport"]

Format = Literal["json", "ndjson"]
_RETRYABLE: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), if valid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpTransport:
    """POSTs each batch to ``url``.

    Args:
        url: The collector's endpoint.
        format: ``json`` (one array per batch) or ``ndjson`` (one line per event).
        shape: ``dict`` (snake_case with ``type``) or ``envelope`` (TanStack).
        gzip: Compress the body (``Content-Encoding: gzip``).
        headers: Extra headers, such as ``Authorization``; never logged.
        connect_timeout: Seconds to connect.
        read_timeout: Seconds to wait for the answer.
        verify: Verify TLS certificates (on by default); or a CA bundle path.
        client: An ``httpx.Client`` to use instead of a new one.

    2xx is delivered; 408, 425, 429 and 5xx are retryable (``Retry-After``
    honoured); other statuses are not. Timeouts and connection errors are
    retryable.
    """

    def __init__(
        self,
        url: str,
        *,
        format: Format = "json",
        shape: Shape = "dict",
        gzip: bool = False,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        verify: bool | str = True,
        client: Any = None,
    ) -> None:
        if format not in ("json", "ndjson"):
            raise ValueError(f"format must be 'json' or 'ndjson', got {format!r}")
        if shape not in ("dict", "envelope"):
            raise ValueError(f"shape must be 'dict' or 'envelope', got {shape!r}")
        self.url = url
        self.format: Format = format
        self.shape: Shape = shape
        self.gzip = gzip
        content_type = "application/json" if format == "json" else "application/x-ndjson"
        self._headers = {"Content-Type": content_type, **(headers or {})}
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout), verify=verify
        )
        self._own_client = client is None

    def body(self, batch: Sequence[BaseEvent]) -> bytes:
        """The request body for ``batch``."""
        lines = [encode(event, self.shape) for event in batch]
        text = "[" + ",".join(lines) + "]" if self.format == "json" else "\n".join(lines) + "\n"
        data = text.encode()
        return gzip.compress(data, compresslevel=5) if self.gzip else data

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """POST the batch; raise :class:`TransportError` unless answered 2xx."""
        try:
            response = self._client.post(self.url, content=self.body(batch), headers=self._headers)
        except httpx.TimeoutException as exc:
            raise TransportError(f"timed out: {type(exc).__name__}", retryable=True) from exc
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}", retryable=True) from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        raise TransportError(
            f"{self.url} answered {status}",
            retryable=status in _RETRYABLE,
            retry_after=retry_after(response.headers.get("retry-after")),
            status=status,
        )

    def close(self) -> None:
        """Close the connections (when the client is ours)."""
        if self._own_client:
            self._client.close()

    def __repr__(self) -> str:
        return f"<HttpTransport {self.url} {self.format}/{self.shape}>"
