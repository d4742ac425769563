"""serve_metrics: /metrics on 127.0.0.1 by default, on the port asked, closed cleanly."""

from __future__ import annotations

import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from aievents import ImageUsage, ImageUsageEvent
from aievents.sinks._metricsserver import _Handler
from aievents.sinks.prometheus import MetricsServer, PrometheusSink, serve_metrics
from children import run_child
from prom_scrape import scrape, total


@pytest.fixture(name="sink")
def _sink() -> Iterator[PrometheusSink]:
    """A sink in a registry of its own, with one request counted."""
    sink = PrometheusSink(registry=CollectorRegistry())
    sink.handle(ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(input_tokens=1)))
    yield sink
    sink.close()


def port_free(port: int) -> bool:
    """Whether a listener can take ``port`` on 127.0.0.1 (connections left in TIME_WAIT aside)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class TestServe:
    """The server listens where asked, answers /metrics, and lets go of its port."""

    def test_loopback_by_default(self, sink: PrometheusSink) -> None:
        """127.0.0.1 unless asked; port 0 picks a free port; the URL says where."""
        with serve_metrics(sink, port=0) as server:
            assert isinstance(server, MetricsServer)
            assert server.host == "127.0.0.1"
            assert server.address == ("127.0.0.1", server.port)
            assert server.port > 0
            assert server.url == f"http://127.0.0.1:{server.port}/metrics"
            assert total(scrape(server.url), "aievents_image_requests_total") == 1
            assert "serving" in repr(server)
        assert server.closed

    def test_close_frees_the_port(self, sink: PrometheusSink) -> None:
        """After close, the port is free again, and a new server can take it."""
        server = serve_metrics(sink, port=0)
        port = server.port
        scrape(server.url)
        assert not port_free(port)
        assert server.close()
        assert port_free(port)
        assert server.close()  # twice is fine
        with serve_metrics(sink, port=port) as again:
            assert total(scrape(again.url), "aievents_image_requests_total") == 1

    def test_port_in_use(self, sink: PrometheusSink) -> None:
        """A port taken by another listener: an OSError naming the address."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(OSError, match=f"cannot serve /metrics on 127.0.0.1:{port}"):
                serve_metrics(sink, port=port)

    def test_only_metrics(self, sink: PrometheusSink) -> None:
        """Other paths answer 404."""
        with serve_metrics(sink, port=0) as server:
            other = server.url.replace("/metrics", "/other")
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(other, timeout=10)
        caught.value.close()
        assert caught.value.code == 404

    def test_registry(self) -> None:
        """A registry is served as it is."""
        registry = CollectorRegistry()
        sink = PrometheusSink(registry=registry)
        with serve_metrics(registry, port=0) as server:
            assert total(scrape(server.url), "aievents_image_requests_total") == 0
        sink.close()

    def test_ipv6_loopback(self, sink: PrometheusSink) -> None:
        """::1 when asked, its URL bracketed."""
        try:
            server = serve_metrics(sink, host="::1", port=0)
        except OSError:
            pytest.skip("no IPv6 loopback here")
        with server:
            assert server.url == f"http://[::1]:{server.port}/metrics"
            assert total(scrape(server.url), "aievents_image_requests_total") == 1
        with serve_metrics(sink, host="[::1]", port=0) as bracketed:  # as in a URL
            assert bracketed.host == "::1"
            assert bracketed.address == ("::1", bracketed.port)
            assert total(scrape(bracketed.url), "aievents_image_requests_total") == 1


class TestServeSettings:
    """Bad arguments are refused, naming them."""

    @pytest.mark.parametrize(
        ("arguments", "error", "message"),
        [
            ({"host": ""}, ValueError, "host must be an address such as '127.0.0.1', got ''"),
            ({"host": None}, ValueError, "host must be an address"),
            ({"port": -1}, ValueError, "port must be a integer from 0 to 65535, got -1"),
            ({"port": 70000}, ValueError, "got 70000"),
            ({"port": "9464"}, ValueError, "got '9464'"),
        ],
    )
    def test_refused(
        self, sink: PrometheusSink, arguments: dict[str, object], error: type, message: str
    ) -> None:
        """A clear error, nothing started."""
        with pytest.raises(error, match=message):
            serve_metrics(sink, **arguments)  # type: ignore[arg-type]

    def test_not_a_source(self) -> None:
        """Something that is neither a sink nor a registry is a TypeError."""
        with pytest.raises(TypeError, match="PrometheusSink or a prometheus_client registry"):
            serve_metrics(42)


def threads_serving() -> list[threading.Thread]:
    """The threads serving a connection, of any server of this process."""
    return [t for t in threading.enumerate() if t.name == "aievents-metrics-request"]


class TestConnections:
    """Idle connections neither outlive close nor hold a thread for ever."""

    def test_close_ends_idle_connections(self, sink: PrometheusSink) -> None:
        """Three clients connected and silent: close ends their threads and they read EOF."""
        server = serve_metrics(sink, port=0)
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(3)]
        try:
            # connections are accepted in order: once a later scrape is answered, the idle
            # ones have a thread each
            assert total(scrape(server.url), "aievents_image_requests_total") == 1
            assert len(threads_serving()) >= 3
            assert server.close(timeout=30)
            assert threads_serving() == []
            for client in idle:
                assert client.recv(1) == b""  # the server let go of it
        finally:
            for client in idle:
                client.close()
            server.close()

    def test_idle_connection_dropped(
        self, sink: PrometheusSink, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A connection silent past the handler's timeout is dropped while the server serves."""
        assert _Handler.timeout == 10.0
        monkeypatch.setattr(_Handler, "timeout", 0.05)
        with serve_metrics(sink, port=0) as server:
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
                client.sendall(b"GET /metr")  # a request never finished
                assert client.recv(1) == b""  # dropped by the server, not by close
            assert not server.closed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    """A forked child lets go of the parent's server: its port, and its close does not hang."""

    def test_child_closes_and_frees(self) -> None:
        """The child's close returns at once; once the parent closes, the port is free."""
        out, _ = run_child(
            """
import os, signal, socket, sys
sys.path.insert(0, {tests!r})
from prometheus_client import CollectorRegistry
from aievents.sinks.prometheus import serve_metrics
from prom_scrape import scrape
from test_prometheus_serve import port_free

server = serve_metrics(CollectorRegistry(), port=0)
scrape(server.url)
to_child, from_parent = os.pipe()
to_parent, from_child = os.pipe()
pid = os.fork()
if pid == 0:
    signal.alarm(30)  # a child stuck in close ends here instead of hanging the test
    closed = server.close(timeout=None)
    os.write(from_child, f"{{server.closed}} {{closed}}".encode())
    os.read(to_child, 1)  # alive until the parent has checked the port
    os._exit(0)
os.close(from_child)
os.close(to_child)
print("child", os.read(to_parent, 100).decode(), flush=True)
scrape(server.url)  # the parent still serves
print("parent", server.close(), port_free(server.port), flush=True)
os.write(from_parent, b"x")
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status), flush=True)
"""
        )
        assert out.splitlines() == ["child True True", "parent True True", "exit 0"]
