"""HttpTransport: batches POSTed as JSON or NDJSON (extra ``[http]``, httpx)."""

from __future__ import annotations

import email.utils
import gzip
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

from aievents._extras import missing_extra

try:
    import httpcore
    import httpx
except ImportError as _error:
    raise missing_extra("HttpTransport", "http", _error) from None

from aievents._fork import after_fork
from aievents._redact import safe_url
from aievents._validate import option, setting
from aievents.events import BaseEvent
from aievents.transports import TransportError
from aievents.transports.jsonl import SHAPES, Shape, encode_texts, utf8

__all__ = ["HttpTransport"]

Format = Literal["json", "ndjson"]
_RETRYABLE: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


class _Deadline(threading.local):
    """The deadline (``time.monotonic()``) of the request this thread is making, if any."""

    at: float | None = None


_DEADLINE: Final = _Deadline()
#: Bytes written to a socket between two looks at the deadline.
_PIECE: Final = 64 * 1024
#: Bytes of an answer's body read (to keep the connection), at most.
_MAX_ANSWER: Final = 64 * 1024


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` for one socket operation, cut to what the request has left."""
    at = _DEADLINE.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the request took longer than its deadline")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the deadline of the request using it."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _PIECE):
            piece = buffer[start : start + _PIECE]
            self._stream.write(piece, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's sockets, each operation bounded by the request's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


#: httpcore's errors (they have no common base).
_CORE_ERRORS: Final = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


def _mapped(error: Exception, request: httpx.Request) -> httpx.TransportError:
    """httpcore's error as httpx's of the same name (``ReadTimeout`` -> ``httpx.ReadTimeout``)."""
    kind = getattr(httpx, type(error).__name__, None)
    if not (isinstance(kind, type) and issubclass(kind, httpx.TransportError)):
        kind = httpx.TransportError
    return kind(str(error), request=request)


class _Body(httpx.SyncByteStream):
    """An answer's body as httpx reads it, httpcore's errors mapped."""

    def __init__(self, stream: Any, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except _CORE_ERRORS as error:
            raise _mapped(error, self._request) from error

    def close(self) -> None:
        self._stream.close()


class _DeadlineTransport(httpx.BaseTransport):
    """httpx's connection pool on :class:`_Backend`: requests that end by their deadline."""

    def __init__(self, verify: bool | str) -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = self._pool.handle_request(core)
        except _CORE_ERRORS as error:
            raise _mapped(error, request) from error
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream, request),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class Connections:
    """A transport's httpx client: the application's, or its own.

    Its own client has the transport's timeouts and TLS verification, ends
    every request by its deadline (a socket operation never waits past it,
    however slowly the target trickles), is replaced in a forked child
    (never the parent's sockets) and is closed with the transport. When the
    environment names a proxy (``HTTPS_PROXY``...), its client is httpx's
    own, which goes through the proxy. The application's client is used as
    given and left open. With httpx's client, the deadline cuts each read's
    timeout and is looked at between the reads of the answer.
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
        after_fork(self)

    def _new(self) -> httpx.Client:
        connect, read, verify = self._settings
        timeout = httpx.Timeout(read, connect=connect)
        if any(scheme != "no" for scheme in urllib.request.getproxies_environment()):
            return httpx.Client(timeout=timeout, verify=verify)  # it reads the proxies
        return httpx.Client(timeout=timeout, transport=_DeadlineTransport(verify))

    def _after_fork(self) -> None:
        if self._own:
            self.client = self._new()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST ``body`` (see :func:`post`), within ``request_timeout``."""
        post(self.client, url, body, headers, timeout=self.request_timeout)

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
) -> None:
    """POST ``body``; raise :class:`TransportError` unless answered 2xx (the URL redacted).

    ``timeout`` bounds the whole request: connecting, sending the body and
    reading the answer (a timed-out request is retryable). Once the status
    line says 2xx the batch is delivered: an answer body that trickles past
    the deadline, or is cut short, does not make it fail (a retry would only
    deliver it twice).
    """
    shown = safe_url(url)
    deadline = None if timeout is None else time.monotonic() + timeout
    outer, _DEADLINE.at = _DEADLINE.at, deadline
    try:
        with client.stream(
            "POST", url, content=body, headers=headers, timeout=_clipped(client.timeout, timeout)
        ) as response:
            status = response.status_code
            if 200 <= status < 300:
                _drain(response, deadline)
                return
            wait = retry_after(response.headers.get("retry-after"))
    except httpx.TimeoutException as exc:
        if deadline is not None and time.monotonic() >= deadline:
            message = f"{shown} took longer than {timeout:g} s"
        else:
            message = f"{shown} timed out: {type(exc).__name__}"
        raise TransportError(message, retryable=True) from exc
    except httpx.TransportError as exc:
        raise TransportError(f"cannot reach {shown}: {type(exc).__name__}", retryable=True) from exc
    finally:
        _DEADLINE.at = outer
    raise TransportError(
        f"{shown} answered {status}",
        retryable=status in _RETRYABLE,
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
        read_timeout: Seconds to wait for each read of the answer.
        request_timeout: Seconds one request may take in all: connecting,
            sending the batch and reading the answer, however slowly the
            collector trickles it.
        verify: Verify TLS certificates (on by default); or a CA bundle path.
        client: An ``httpx.Client`` to use instead of a new one (its own
            timeouts apply, cut to ``request_timeout``, which is then looked
            at between the reads of the answer).

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
