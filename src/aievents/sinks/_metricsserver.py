"""``/metrics`` over HTTP, on a thread of its own: what :func:`serve_metrics` starts.

Built on the standard library's ``wsgiref`` server and ``prometheus_client``'s
WSGI application (content negotiation, gzip, ``name[]`` filters are
``prometheus_client``'s). It listens where the caller says, 127.0.0.1 by
default: every interface only when asked (``host="0.0.0.0"``). Other paths
than ``/metrics`` answer 404; requests are not logged.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import make_wsgi_app

from aievents._validate import setting

__all__ = ["DEFAULT_PORT", "MetricsServer", "serve_metrics"]

#: The port Prometheus exporters of OpenTelemetry use by default.
DEFAULT_PORT: Final = 9464
#: Seconds between two checks of the serving loop for a shutdown.
_POLL: Final = 0.05


class _Handler(WSGIRequestHandler):
    """A request handler that writes nothing to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: scrapes come every few seconds."""


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    """A threaded WSGI server that does not look its own name up (no DNS at start)."""

    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


class _Server6(_Server):
    """The same, on IPv6."""

    address_family = socket.AF_INET6


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
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL},
            name="aievents-metrics-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self, timeout: float | None = 5.0) -> bool:
        """Stop serving and free the port; whether the serving thread ended in ``timeout``."""
        with self._lock:
            if self._closed:
                return not self._thread.is_alive()
            self._closed = True
            self._server.shutdown()
            self._server.server_close()
        self._thread.join(timeout)
        return not self._thread.is_alive()

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
            machine only); ``0.0.0.0`` or ``::`` for every interface.
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
    kind = _Server6 if ":" in host else _Server
    try:
        server = kind((host, port), _Handler)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OSError(error.errno, f"cannot serve /metrics on {host}:{port}: {reason}") from None
    server.set_app(_only_metrics(make_wsgi_app(registry)))
    return MetricsServer(server, host)
