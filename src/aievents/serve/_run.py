"""Running the app with uvicorn: the address rules, the bound socket, the way it stops.

The socket is bound (and listening) before uvicorn starts, so the URL told
is the real one (port 0 picks a free port) and a client that connects at
once waits in the backlog rather than being refused.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from aievents._extras import import_extra
from aievents._threads import start
from aievents.serve._app import Reporting, create_app

__all__ = ["is_loopback", "serve", "serving"]

#: Seconds the open connections get to finish once the server is told to stop.
_GRACE: Final = 5


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (``127.0.0.0/8``, ``::1``, localhost).

    Any other name, even one that resolves to a loopback address, is not.
    """
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check(host: str, key: str | None) -> None:
    if key is None and not is_loopback(host):
        raise ValueError(
            f"host {host!r} is not a loopback address: serving it needs a bearer key "
            "(key=..., or the command's --key or AIEVENTS_SERVE_KEY)"
        )


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """The URL a bound socket serves (an IPv6 address in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(reports: Reporting, key: str | None) -> Any:
    """A uvicorn server of the app, quiet but for errors (on stderr, via logging)."""
    uvicorn = import_extra("uvicorn", "aievents.serve", "serve")
    config = uvicorn.Config(
        create_app(reports, key=key),
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=_GRACE,
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(
    reports: Reporting,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    key: str | None = None,
    started: Callable[[str], object] | None = None,
) -> int | None:
    """Serve the usage API until SIGINT (Ctrl-C) or SIGTERM; return the signal that stopped it.

    Run from the main thread: SIGINT and SIGTERM then stop the server
    gracefully (the open requests get a few seconds) and this returns the
    signal's number, with the process's handlers put back. Elsewhere it
    serves until the process ends; :func:`serving` serves from a thread.

    Args:
        reports: What to answer from (see :func:`create_app`).
        host: The address to bind: ``127.0.0.1`` by default. Any address
            but a loopback one needs ``key``.
        port: The port; 0 picks a free one.
        key: The bearer key every request must carry (see
            :func:`create_app`).
        started: Called with the URL once the socket is bound and listening.

    Raises:
        ValueError: a host that is not loopback without ``key``; a bad key
            or port.
        OSError: the address cannot be bound (a port in use, a host that
            is not this machine's).
    """
    _check(host, key)
    server = _server(reports, key)
    caught: list[int] = []

    def stop(number: int, frame: object) -> None:
        caught.append(number)
        server.should_exit = True

    main = threading.current_thread() is threading.main_thread()
    before = (
        {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    )
    try:
        with _bind(host, port) as sock:
            if started is not None:
                started(url_of(sock))
            server.run(sockets=[sock])
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    return caught[0] if caught else None


@contextmanager
def serving(
    reports: Reporting, *, host: str = "127.0.0.1", port: int = 0, key: str | None = None
) -> Iterator[str]:
    """Serve the usage API from a background thread while the block runs; yields its URL.

    The server listens before the block starts, on a free port by default;
    when the block ends it stops (the open requests get a few seconds) and
    the thread is joined. The thread, and those it starts, leave the
    host's signals (Ctrl-C) to the host's threads.

    Raises:
        ValueError: a host that is not loopback without ``key``; a bad key
            or port.
        OSError: the address cannot be bound.
    """
    _check(host, key)
    server = _server(reports, key)
    with _bind(host, port) as sock:
        thread = start(server.run, name="aievents-serve", args=([sock],))
        try:
            yield url_of(sock)
        finally:
            server.should_exit = True
            thread.join()
