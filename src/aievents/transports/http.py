"""HttpTransport: batches POSTed as JSON or NDJSON (extra ``[http]``, httpx).

The body is :mod:`aievents.encoding.jsonl`'s; the request and what its
answer means are :mod:`aievents._http`'s, which the OTLP transport and the
devtools bridge share.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from typing import Any

from aievents._extras import missing_extra

try:
    import httpx  # noqa: F401 - the extra, named when missing
except ImportError as _error:
    raise missing_extra("HttpTransport", "http", _error) from None

from aievents._http import Connections
from aievents._redact import safe_url
from aievents._validate import option
from aievents.encoding.jsonl import FORMATS, SHAPES, Format, Shape, encode_body
from aievents.events import BaseEvent

__all__ = ["HttpTransport"]


class HttpTransport:
    """POSTs each batch to ``url``.

    Args:
        url: The collector's endpoint.
        format: ``json`` (one array per batch) or ``ndjson`` (one line per event).
        shape: ``dict`` (snake_case with ``type``) or ``envelope`` (TanStack).
        gzip: Compress the body (``Content-Encoding: gzip``).
        headers: Extra headers, such as ``Authorization``; never logged.
        connect_timeout: Seconds to connect.
        read_timeout: Seconds to wait for each read of the answer.
        request_timeout: Seconds one request may take in all: connecting,
            sending the batch and reading the answer, however slowly the
            collector trickles it.
        verify: Verify TLS certificates (on by default); or a CA bundle path.
        client: An ``httpx.Client`` to use instead of a new one (its own
            timeouts and proxies apply; a request still running at
            ``request_timeout`` is given up on: ``send`` raises, and the
            request ends in the background under the client's timeouts,
            holding up the next one until then).

    2xx is delivered; 408, 425, 429 and 5xx are retryable (``Retry-After``
    honoured); other statuses are not. Timeouts and connection errors are
    retryable. Requests go through the proxy the environment names
    (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``; ``NO_PROXY`` exempts
    hosts), within ``request_timeout`` all the same.
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
        request_timeout: float = 30.0,
        verify: bool | str = True,
        client: Any = None,
    ) -> None:
        option("format", format, FORMATS)
        option("shape", shape, SHAPES)
        self.url = url
        self.format: Format = format
        self.shape: Shape = shape
        self.gzip = gzip
        content_type = "application/json" if format == "json" else "application/x-ndjson"
        self._headers = {"Content-Type": content_type, **(headers or {})}
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._http = Connections(client, connect_timeout, read_timeout, verify, request_timeout)

    def body(self, batch: Sequence[BaseEvent]) -> bytes:
        """The request body for ``batch``, secrets scrubbed.

        Raises:
            UnencodableError: some events cannot be encoded.
        """
        data = encode_body(batch, self.shape, self.format)
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
