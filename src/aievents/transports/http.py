"""HttpTransport: batches POSTed as JSON or NDJSON (extra ``[http]``, httpx)."""

from __future__ import annotations

import datetime
import email.utils
import gzip
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal, TypedDict

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


class _Limits(TypedDict):
    """httpcore's pool limits, as keyword arguments (typed, for the pools built here)."""

    max_connections: int
    max_keepalive_connections: int
    keepalive_expiry: float


#: The connection pools' limits (httpx's defaults).
_LIMITS: Final[_Limits] = {
    "max_connections": 100,
    "max_keepalive_connections": 20,
    "keepalive_expiry": 5.0,
}


def _core_url(url: httpx.URL) -> httpcore.URL:
    """httpx's URL as httpcore's."""
    return httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )


def _proxy_pool(address: str, ssl_context: ssl.SSLContext) -> httpcore.ConnectionPool:
    """Connections through the proxy at ``address`` (HTTP(S) or SOCKS), on :class:`_Backend`."""
    proxy = httpx.Proxy(address if "://" in address else f"http://{address}")
    if proxy.url.scheme in ("http", "https"):
        return httpcore.HTTPProxy(
            proxy_url=_core_url(proxy.url),
            proxy_auth=proxy.raw_auth,
            proxy_headers=proxy.headers.raw,
            ssl_context=ssl_context,
            network_backend=_Backend(),
            **_LIMITS,
        )
    return httpcore.SOCKSProxy(
        proxy_url=_core_url(proxy.url),
        proxy_auth=proxy.raw_auth,
        ssl_context=ssl_context,
        network_backend=_Backend(),
        **_LIMITS,
    )


#: urllib's reading of ``NO_PROXY``: whether it exempts a host (``host:port``) from the proxy.
_bypass: Callable[[str, Mapping[str, str]], bool]
_bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


class _DeadlineTransport(httpx.BaseTransport):
    """httpx's connection pools on :class:`_Backend`: requests that end by their deadline.

    A request goes through the proxy the environment names for its scheme
    (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, in either case), unless
    ``NO_PROXY`` exempts its host, as urllib reads them.
    """

    def __init__(self, verify: bool | str) -> None:
        context = httpx.create_ssl_context(verify=verify)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, network_backend=_Backend(), **_LIMITS
        )
        found = urllib.request.getproxies_environment()
        self._no_proxy = {"no": found["no"]} if "no" in found else {}
        self._proxies = {
            scheme: _proxy_pool(address, context)
            for scheme, address in found.items()
            if scheme in ("http", "https", "all") and address
        }

    def _pool_for(self, url: httpx.URL) -> httpcore.ConnectionPool:
        """The proxy's connections for ``url``, or the direct ones."""
        pool = self._proxies.get(url.scheme) or self._proxies.get("all")
        if pool is None:
            return self._pool
        host = url.host if url.port is None else f"{url.host}:{url.port}"
        if self._no_proxy and _bypass(host, self._no_proxy):
            return self._pool
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=_core_url(url),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = self._pool_for(url).handle_request(core)
        except _CORE_ERRORS as error:
            raise _mapped(error, request) from error
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream, request),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        for pool in (self._pool, *self._proxies.values()):
            pool.close()


class _Request:
    """A request made on a helper thread, and what became of it."""

    __slots__ = ("delivered", "done", "error", "given_up")

    def __init__(self) -> None:
        self.delivered = False  # answered 2xx (its body may still be read)
        self.done = False
        self.given_up = False
        self.error: BaseException | None = None


#: A request the watchdog runs: given the seconds left and what to call once answered 2xx.
_Post = Callable[[float, Callable[[], None]], None]


class _Watchdog:
    """Ends the requests made with an application's client by their deadline.

    That client may do anything (its own transport, proxies, timeouts per
    read): the request runs on a helper thread, and the caller waits for it
    until the deadline, then gives up on it (unless it was answered 2xx:
    then it is delivered, and the rest of the answer is read in the
    background). A request given up on ends in the background, under the
    client's own timeouts; until it has, the next requests wait for it (each
    up to its own deadline), so that at most one given-up request per caller
    runs at a time.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._stuck = 0  # requests given up on that still run

    def run(self, request: _Post, shown: str, timeout: float) -> None:
        """``request(seconds left, delivered)`` within ``timeout``.

        Raises what it raises, or a timeout; ``delivered`` is for the request
        to call once answered 2xx.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            if not self._changed.wait_for(lambda: not self._stuck, timeout):
                raise TransportError(
                    f"{shown}: an earlier request that took longer than {timeout:g} s "
                    "has not ended yet",
                    retryable=True,
                )
        state = _Request()
        threading.Thread(
            target=self._work, args=(request, deadline, state), name="aievents-http", daemon=True
        ).start()
        with self._changed:
            over = self._changed.wait_for(
                lambda: state.done or state.delivered, deadline - time.monotonic()
            )
            if not over:
                state.given_up = True
                self._stuck += 1
                raise TransportError(f"{shown} took longer than {timeout:g} s", retryable=True)
            error = None if state.delivered else state.error
        if error is not None:
            raise error

    def _work(self, request: _Post, deadline: float, state: _Request) -> None:
        """The helper thread: the request, its error kept for the caller."""

        def delivered() -> None:
            with self._changed:
                state.delivered = True
                self._changed.notify_all()

        try:
            request(max(deadline - time.monotonic(), 0.001), delivered)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            state.error = exc
        finally:
            with self._changed:
                state.done = True
                if state.given_up:
                    self._stuck -= 1
                self._changed.notify_all()


class Connections:
    """A transport's httpx client: the application's, or its own.

    Every request ends by its deadline (``request_timeout``), however slowly
    the target trickles its answer. Its own client has the transport's
    timeouts and TLS verification, goes through the proxy the environment
    names (``HTTPS_PROXY``...), bounds each socket operation by the
    deadline, is replaced in a forked child (never the parent's sockets) and
    is closed with the transport. The application's client is used as given
    and left open; a request through it that is not over by the deadline is
    given up on (see :class:`_Watchdog`).
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
        self._watchdog = _Watchdog()
        after_fork(self)

    def _new(self) -> httpx.Client:
        """A client of the transport's own, on :class:`_DeadlineTransport`."""
        connect, read, verify = self._settings
        timeout = httpx.Timeout(read, connect=connect)
        return httpx.Client(timeout=timeout, transport=_DeadlineTransport(verify))

    def _after_fork(self) -> None:
        """In a forked child: a client of its own (when ours), no helper thread of the parent's."""
        self._watchdog = _Watchdog()
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
    outer, _DEADLINE.at = _DEADLINE.at, deadline
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
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), if valid.

    Seconds are ASCII digits only. A date without a zone (asctime's form, or
    ``-0000``) is UTC, as every HTTP date is. The wait is not capped here
    (``ForwardSink`` caps it with ``max_retry_after``): a huge number may
    come back as ``inf``.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


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
