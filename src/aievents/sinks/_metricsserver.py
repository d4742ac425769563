"""``/metrics`` over HTTP, on a thread of its own: what :func:`serve_metrics` starts.

Built on the standard library's ``wsgiref`` server and ``prometheus_client``'s
WSGI application (content negotiation, gzip, ``name[]`` filters are
``prometheus_client``'s). It listens where the caller says, 127.0.0.1 by
default: every interface only when asked (``host="0.0.0.0"``). Other paths
than ``/metrics`` answer 404; requests are not logged. Each connection is
served on a thread of its own, dropped after 10 s of silence; closing the
server cuts the open connections and waits for their threads. A forked
child's copy lets go of the sockets and counts as closed.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import make_wsgi_app

from aievents._fork import after_fork
from aievents._threads import Thread
from aievents._validate import setting

__all__ = ["DEFAULT_PORT", "MetricsServer", "serve_metrics"]

#: The port Prometheus exporters of OpenTelemetry use by default.
DEFAULT_PORT: Final = 9464
#: Seconds between two checks of the serving loop for a shutdown.
_POLL: Final = 0.05


class _Handler(WSGIRequestHandler):
    """A request handler that writes nothing to stderr and drops idle connections."""

    #: Seconds a connection may stay silent before it is dropped (a scrape is one request).
    timeout = 10.0

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: scrapes come every few seconds."""


class _Server(WSGIServer):
    """A WSGI server with a thread per connection, each one tracked so that close ends it.

    It does not look its own name up (no DNS at start), and no other
    process may bind its port beside it (no ``SO_REUSEPORT``).
    """

    allow_reuse_port = False
    daemon_threads = True
    block_on_close = False

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()
        self.connections: dict[threading.Thread, socket.socket] = {}
        self.connections_lock = threading.Lock()
        self.closing = False

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on a thread of its own."""
        thread = Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="aievents-metrics-request",
            daemon=True,
        )
        with self.connections_lock:
            if self.closing:
                self.shutdown_request(request)
                return
            self.connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - one connection's failure is that connection's
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self.connections_lock:
                self.connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Write nothing: a client that went away is no news."""

    def end_connections(self, deadline: float | None) -> bool:
        """Cut every open connection and wait for its thread until ``deadline``."""
        with self.connections_lock:
            self.closing = True
            open_now = list(self.connections.items())
        for _, connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)  # a thread blocked reading wakes
        for thread, _ in open_now:
            thread.join(_left(deadline))
        return not any(thread.is_alive() for thread, _ in open_now)

    def drop_inherited(self) -> None:
        """In a forked child: close its copies of the sockets; the connections are the parent's."""
        with contextlib.suppress(OSError):
            self.socket.close()
        for connection in self.connections.values():
            with contextlib.suppress(OSError):
                connection.close()
        self.connections = {}
        self.connections_lock = threading.Lock()
        self.closing = True


class _Server6(_Server):
    """The same, on IPv6."""

    address_family = socket.AF_INET6


def _left(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (None: no end)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _only_metrics(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """``app`` at ``/metrics``; 404 elsewhere."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/metrics":
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not found: the metrics are at /metrics\n"]

    return serve


class MetricsServer:
    """``/metrics`` served on a thread of its own; made by :func:`serve_metrics`.

    Use it as a context manager, or call :meth:`close`.

    Attributes:
        host: The address it was asked to listen on.
        address: The address and port its socket is bound to.
        port: The port it listens on (the one chosen when ``0`` was asked).
        url: The address to scrape, such as ``http://127.0.0.1:9464/metrics``.
    """

    def __init__(self, server: _Server, host: str) -> None:
        self._server = server
        self.host = host
        name = server.socket.getsockname()
        self.address: tuple[str, int] = (str(name[0]), int(name[1]))
        self.port: int = self.address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/metrics"
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._thread = Thread(target=self._serve, name="aievents-metrics-server", daemon=True)
        after_fork(self)
        self._thread.start()

    def _serve(self) -> None:
        """Accept connections until :meth:`close` (each served on a thread of its own)."""
        server = self._server
        server.timeout = _POLL
        while not self._stop.is_set():
            try:
                server.handle_request()
            except (OSError, ValueError):  # the socket closed under it: close() gave up waiting
                return

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the process is a fork of the one serving)."""
        return self._closed

    def close(self, timeout: float | None = 5.0) -> bool:
        """Stop serving, free the port, cut open connections; whether all ended in ``timeout``.

        A connection in the middle of a scrape is cut; a forked child's
        server is closed already (see :meth:`_after_fork`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            first = not self._closed
            self._closed = True
        if first:
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(_left(deadline))
            self._server.server_close()
        ended = self._server.end_connections(deadline)
        return ended and not self._thread.is_alive()

    def _after_fork(self) -> None:
        """In a forked child: the serving threads are the parent's; let go of its sockets here.

        The child closes its copies of the listening socket and of the open
        connections (so the port is free once the parent closes), and the
        server counts as closed: :meth:`close` has nothing left to wait for.
        """
        self._lock = threading.Lock()
        self._closed = True
        self._stop = threading.Event()  # the parent's may be locked by one of its threads
        self._stop.set()
        self._server.drop_inherited()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "serving"
        return f"<MetricsServer {self.url} {state}>"


def serve_metrics(source: Any, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> MetricsServer:
    """Serve ``/metrics`` for Prometheus to scrape, on a thread of its own.

    Args:
        source: A :class:`~aievents.sinks.prometheus.PrometheusSink` (its
            registry is served) or a ``prometheus_client`` registry.
        host: The address to listen on: ``127.0.0.1`` by default (this
            machine only); ``0.0.0.0`` or ``::`` for every interface; an
            IPv6 address may be bracketed (``[::1]``); a name is looked up
            and its first address taken.
        port: The port; ``0`` picks a free one (read it from the answer).

    Returns:
        The running server: its ``url``, ``port``, and ``close()``.

    Raises:
        TypeError: ``source`` is neither a sink nor a registry.
        ValueError: ``host`` or ``port`` is not one.
        OSError: the address cannot be listened on (a port in use).
    """
    registry = getattr(source, "registry", source)
    if not callable(getattr(registry, "collect", None)):
        raise TypeError(
            f"serve_metrics needs a PrometheusSink or a prometheus_client registry, "
            f"got {type(source).__name__}"
        )
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"host must be an address such as '127.0.0.1', got {host!r}")
    setting("port", port, at_most=65535)
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        family, _, _, _, address = socket.getaddrinfo(
            bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        kind = _Server6 if family == socket.AF_INET6 else _Server
        server = kind((str(address[0]), int(address[1])), _Handler)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OSError(error.errno, f"cannot serve /metrics on {host}:{port}: {reason}") from None
    server.set_app(_only_metrics(make_wsgi_app(registry)))
    return MetricsServer(server, bare)
