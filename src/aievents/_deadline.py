"""Requests that end by their deadline, however slowly the target answers.

An HTTP transport bounds each request by a total deadline (``request_timeout``).
Its own client runs on :class:`DeadlineTransport`: httpcore's connection
pools (direct, or through the proxy the environment names) on a network
backend whose every socket operation ends by the deadline of the request
using it (:data:`DEADLINE`, set by the caller for its thread). An
application's client may do anything: :class:`Watchdog` runs its request on
a helper thread and gives up on it at the deadline.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, TypedDict

import httpcore
import httpx

from aievents import _threads
from aievents.exceptions import TransportError

__all__ = ["DEADLINE", "DeadlineTransport", "Watchdog"]


class _Deadline(threading.local):
    """The deadline (``time.monotonic()``) of the request this thread is making, if any."""

    at: float | None = None


DEADLINE: Final = _Deadline()
#: Bytes written to a socket between two looks at the deadline.
_PIECE: Final = 64 * 1024


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` for one socket operation, cut to what the request has left."""
    at = DEADLINE.at
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


class DeadlineTransport(httpx.BaseTransport):
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


class Watchdog:
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
        _threads.start(self._work, args=(request, deadline, state), name="aievents-http")
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
