"""HttpTransport: batches POSTed as JSON or NDJSON (extra ``[http]``, httpx)."""

from __future__ import annotations

import email.utils
import gzip
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import httpx

from aievents._fork import after_fork
from aievents._validate import option
from aievents.events import BaseEvent
from aievents.transports import TransportError
from aievents.transports.jsonl import SHAPES, Shape, encode

__all__ = ["HttpTransport"]

Format = Literal["json", "ndjson"]
_RETRYABLE: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def safe_url(url: str) -> str:
    """``url`` without user info and query string: what may appear in logs and errors."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def new_client(connect_timeout: float, read_timeout: float, verify: bool | str) -> httpx.Client:
    """An httpx client with the transport's timeouts and TLS verification."""
    return httpx.Client(timeout=httpx.Timeout(read_timeout, connect=connect_timeout), verify=verify)


def post(client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str]) -> None:
    """POST ``body``; raise :class:`TransportError` unless answered 2xx (the URL redacted)."""
    shown = safe_url(url)
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise TransportError(f"{shown} timed out: {type(exc).__name__}", retryable=True) from exc
    except httpx.TransportError as exc:
        raise TransportError(f"cannot reach {shown}: {type(exc).__name__}", retryable=True) from exc
    status = response.status_code
    if not 200 <= status < 300:
        raise TransportError(
            f"{shown} answered {status}",
            retryable=status in _RETRYABLE,
            retry_after=retry_after(response.headers.get("retry-after")),
            status=status,
        )


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
        option("format", format, ("json", "ndjson"))
        option("shape", shape, SHAPES)
        self.url = url
        self.format: Format = format
        self.shape: Shape = shape
        self.gzip = gzip
        content_type = "application/json" if format == "json" else "application/x-ndjson"
        self._headers = {"Content-Type": content_type, **(headers or {})}
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._settings = (connect_timeout, read_timeout, verify)
        self._client = client or new_client(*self._settings)
        self._own_client = client is None
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: connections of its own, never the parent's sockets."""
        if self._own_client:
            self._client = new_client(*self._settings)

    def body(self, batch: Sequence[BaseEvent]) -> bytes:
        """The request body for ``batch``."""
        lines = [encode(event, self.shape) for event in batch]
        text = "[" + ",".join(lines) + "]" if self.format == "json" else "\n".join(lines) + "\n"
        data = text.encode()
        return gzip.compress(data, compresslevel=5) if self.gzip else data

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """POST the batch; raise :class:`TransportError` unless answered 2xx."""
        post(self._client, self.url, self.body(batch), self._headers)

    def close(self) -> None:
        """Close the connections (when the client is ours)."""
        if self._own_client:
            self._client.close()

    def __repr__(self) -> str:
        return f"<HttpTransport {safe_url(self.url)} {self.format}/{self.shape}>"
