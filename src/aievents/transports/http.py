"""HttpTransport: batches POSTed as JSON or NDJSON (extra ``[http]``, httpx)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

from aievents._extras import missing_extra

try:
    import httpx
except ImportError as _error:
    raise missing_extra("HttpTransport", "http", _error) from None

from aievents._fork import after_fork
from aievents._redact import safe_url
from aievents._validate import option, setting
from aievents.events import BaseEvent
from aievents.policy import RETRYABLE_STATUSES, parse_retry_after
from aievents.transports import TransportError
from aievents.transports._deadline import DEADLINE, DeadlineTransport, Watchdog
from aievents.transports.jsonl import SHAPES, Shape, encode_texts, utf8

__all__ = ["HttpTransport"]

Format = Literal["json", "ndjson"]


#: Bytes of an answer's body read (to keep the connection), at most.
_MAX_ANSWER: Final = 64 * 1024


class Connections:
    """A transport's httpx client: the application's, or its own.

    Every request ends by its deadline (``request_timeout``), however slowly
    the target trickles its answer. Its own client has the transport's
    timeouts and TLS verification, goes through the proxy the environment
    names (``HTTPS_PROXY``...), bounds each socket operation by the
    deadline, is replaced in a forked child (never the parent's sockets) and
    is closed with the transport. The application's client is used as given
    and left open; a request through it that is not over by the deadline is
    given up on (see :class:`Watchdog`).
    """

    def __init__(
        self,
        client: Any,
        connect_timeout: float,
        read_timeout: float,
        verify: bool | str,
        request_timeout: float,
    ) -> None:
        setting("connect_timeout", connect_timeout, positive=True, fraction=True)
        setting("read_timeout", read_timeout, positive=True, fraction=True)
        setting("request_timeout", request_timeout, positive=True, fraction=True)
        self._settings = (connect_timeout, read_timeout, verify)
        self.request_timeout = float(request_timeout)
        self._own = client is None
        self.client: httpx.Client = client or self._new()
        self._watchdog = Watchdog()
        after_fork(self)

    def _new(self) -> httpx.Client:
        """A client of the transport's own, on :class:`DeadlineTransport`."""
        connect, read, verify = self._settings
        timeout = httpx.Timeout(read, connect=connect)
        return httpx.Client(timeout=timeout, transport=DeadlineTransport(verify))

    def _after_fork(self) -> None:
        """In a forked child: a client of its own (when ours), no helper thread of the parent's."""
        self._watchdog = Watchdog()
        if self._own:
            self.client = self._new()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST ``body`` (see :func:`post`), within ``request_timeout``."""
        if self._own:
            post(self.client, url, body, headers, timeout=self.request_timeout)
            return

        def request(left: float, delivered: Callable[[], None]) -> None:
            post(self.client, url, body, headers, timeout=left, delivered=delivered)

        self._watchdog.run(request, safe_url(url), self.request_timeout)

    def close(self) -> None:
        """Close the client when it is ours."""
        if self._own:
            self.client.close()


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float | None = None,
    delivered: Callable[[], None] | None = None,
) -> None:
    """POST ``body``; raise :class:`TransportError` unless answered 2xx (the URL redacted).

    ``timeout`` bounds the whole request: connecting, sending the body and
    reading the answer (a timed-out request is retryable). Once the status
    line says 2xx the batch is delivered (``delivered()`` is called then):
    an answer body that trickles past the deadline, or is cut short, does
    not make it fail (a retry would only deliver it twice).
    """
    shown = safe_url(url)
    deadline = None if timeout is None else time.monotonic() + timeout
    outer, DEADLINE.at = DEADLINE.at, deadline
    try:
        with client.stream(
            "POST", url, content=body, headers=headers, timeout=_clipped(client.timeout, timeout)
        ) as response:
            status = response.status_code
            if 200 <= status < 300:
                if delivered is not None:
                    delivered()
                _drain(response, deadline)
                return
            wait = parse_retry_after(response.headers.get("retry-after"))
    except httpx.TimeoutException as exc:
        if deadline is not None and time.monotonic() >= deadline:
            message = f"{shown} took longer than {timeout:g} s"
        else:
            message = f"{shown} timed out: {type(exc).__name__}"
        raise TransportError(message, retryable=True) from exc
    except httpx.TransportError as exc:
        raise TransportError(f"cannot reach {shown}: {type(exc).__name__}", retryable=True) from exc
    finally:
        DEADLINE.at = outer
    raise TransportError(
        f"{shown} answered {status}",
        retryable=status in RETRYABLE_STATUSES,
        retry_after=wait,
        status=status,
    )


def _clipped(configured: httpx.Timeout, total: float | None) -> httpx.Timeout:
    """The client's timeouts, none longer than the whole request may take."""
    if total is None:
        return configured

    def clip(value: float | None) -> float:
        return total if value is None else min(value, total)

    return httpx.Timeout(
        connect=clip(configured.connect),
        read=clip(configured.read),
        write=clip(configured.write),
        pool=clip(configured.pool),
    )


def _drain(response: httpx.Response, deadline: float | None) -> None:
    """Read a delivered batch's answer, so that its connection serves the next request.

    Stops at the deadline, at ``_MAX_ANSWER`` bytes or at an error: the
    connection is then closed instead of kept.
    """
    read = 0
    try:
        for chunk in response.iter_raw():
            read += len(chunk)
            if read > _MAX_ANSWER or (deadline is not None and time.monotonic() >= deadline):
                return
    except httpx.HTTPError:
        return


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

    2xx is delivered; the statuses of
    :data:`~aievents.policy.RETRYABLE_STATUSES` (408, 425, 429, 500, 502,
    503, 504) are retryable (``Retry-After`` honoured); other statuses are
    not. Timeouts and connection errors are retryable. Requests go through
    the proxy the environment names (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``; ``NO_PROXY`` exempts hosts), within ``request_timeout``
    all the same.
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
        self._http = Connections(client, connect_timeout, read_timeout, verify, request_timeout)

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
