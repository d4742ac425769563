"""HttpTransport: batches POSTed as JSON or NDJSON (extra ``[http]``, httpx)."""

from __future__ import annotations

import email.utils
import gzip
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import httpx

from aievents._fork import after_fork
from aievents._redact import safe_url
from aievents._validate import option
from aievents.events import BaseEvent
from aievents.transports import TransportError
from aievents.transports.jsonl import SHAPES, Shape, encode_texts, utf8

__all__ = ["HttpTransport"]

Format = Literal["json", "ndjson"]
_RETRYABLE: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


class Connections:
    """A transport's httpx client: the application's, or its own.

    Its own client has the transport's timeouts and TLS verification, is
    replaced in a forked child (never the parent's sockets) and is closed
    with the transport; the application's is used as given and left open.
    """

    def __init__(
        self, client: Any, connect_timeout: float, read_timeout: float, verify: bool | str
    ) -> None:
        self._settings = (connect_timeout, read_timeout, verify)
        self._own = client is None
        self.client: httpx.Client = client or self._new()
        after_fork(self)

    def _new(self) -> httpx.Client:
        connect, read, verify = self._settings
        return httpx.Client(timeout=httpx.Timeout(read, connect=connect), verify=verify)

    def _after_fork(self) -> None:
        if self._own:
            self.client = self._new()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST ``body`` (see :func:`post`)."""
        post(self.client, url, body, headers)

    def close(self) -> None:
        """Close the client when it is ours."""
        if self._own:
            self.client.close()


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
        self._http = Connections(client, connect_timeout, read_timeout, verify)

    def body(self, batch: Sequence[BaseEvent]) -> bytes:
        """The request body for ``batch``, secrets scrubbed.

        Raises:
            UnencodableError: some events cannot be encoded.
        """
        lines = encode_texts(batch, self.shape)
        data = utf8(
            "[" + ",".join(lines) + "]" if self.format == "json" else "\n".join(lines) + "\n"
        )
        return gzip.compress(data, compresslevel=5) if self.gzip else data

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """POST the batch; raise :class:`TransportError` unless answered 2xx.

        Raises:
            UnencodableError: some events cannot be encoded (nothing sent).
            TransportError: the collector could not be reached or did not
                answer 2xx (its URL shown through :func:`safe_url`).
        """
        self._http.post(self.url, self.body(batch), self._headers)

    def close(self) -> None:
        """Close the connections (when the client is ours)."""
        self._http.close()

    def __repr__(self) -> str:
        return f"<HttpTransport {safe_url(self.url)} {self.format}/{self.shape}>"
