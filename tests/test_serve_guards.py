"""The usage API's guards: the Host a server without a key answers, no redirects.

Servers are :func:`aievents.serve.serving` on 127.0.0.1 (a free port); a
foreign ``Host`` is only a header the client sends, as a page served through
DNS rebinding would.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from aievents.serve import COSTS_PATH, USAGE_PATH, serving
from aievents.serve._run import _check_bound, url_of
from aievents.sinks import AggregateSink
from test_serve import T0, error_of, page_of, stream, summed


@pytest.fixture(name="sink", scope="module")
def _sink() -> AggregateSink:
    """A few events, summed."""
    return summed(stream(7, 40))


@pytest.fixture(name="url", scope="module")
def _url(sink: AggregateSink) -> Iterator[str]:
    """A server of the sink without a key."""
    with serving(sink) as url:
        yield url


class TestHost:
    """Without a key, only requests to 127.0.0.1, localhost or [::1] are answered."""

    @pytest.mark.parametrize(
        "host",
        ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.", "", "[::2]"],
    )
    def test_foreign_refused(self, url: str, host: str) -> None:
        """Another Host, on every path: 400 ``invalid_host``, ``param`` null, no data."""
        for path in (USAGE_PATH, COSTS_PATH, "/"):
            response = httpx.get(url + path, params={"start_time": T0}, headers={"Host": host})
            error = error_of(response, 400)
            assert (error["code"], error["param"]) == ("invalid_host", None)
            assert error["type"] == "invalid_request_error"

    @pytest.mark.parametrize(
        "host", ["127.0.0.1", "127.0.0.1:1", "localhost", "LocalHost:8000", "[::1]", "[::1]:80"]
    )
    def test_local_answered(self, url: str, sink: AggregateSink, host: str) -> None:
        """A loopback name, with any port or none: the page."""
        response = httpx.get(url + USAGE_PATH, params={"start_time": T0}, headers={"Host": host})
        assert page_of(response) == sink.usage(T0).to_dict()

    def test_any_with_key(self, sink: AggregateSink) -> None:
        """With a key, the key guards the server: any Host is answered."""
        key = "guard-" + "k" * 26
        headers = {"Host": "usage.example:443", "Authorization": f"Bearer {key}"}
        with serving(sink, key=key) as url:
            response = httpx.get(url + USAGE_PATH, params={"start_time": T0}, headers=headers)
        assert page_of(response) == sink.usage(T0).to_dict()


class TestNoRedirect:
    """A path with a trailing slash is not redirected (a Location built from the Host)."""

    def test_trailing_slash(self, url: str) -> None:
        """``/v1/organization/costs/``: 404, no Location."""
        response = httpx.get(url + COSTS_PATH + "/", params={"start_time": T0})
        assert error_of(response, 404)["code"] == "not_found"
        assert "location" not in response.headers


class TestBoundAddress:
    """Without a key, the address a host was bound to is checked, not only its name."""

    @pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
    def test_loopback_served(self, sink: AggregateSink, host: str) -> None:
        """``localhost`` is bound to a loopback address: served."""
        with serving(sink, host=host) as url:
            assert page_of(httpx.get(url + USAGE_PATH, params={"start_time": T0}))

    def test_loopback_accepted(self) -> None:
        """A socket bound to 127.0.0.1 passes the check."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            _check_bound(sock, "localhost", None)

    def test_other_refused(self) -> None:
        """An address not loopback (0.0.0.0: not bound): refused without a key, not with one."""
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="needs a bearer key") as caught:
                _check_bound(sock, "localhost.", None)
            assert "host 'localhost.' was bound to 0.0.0.0" in str(caught.value)
            _check_bound(sock, "localhost.", "a-key")


class TestUrl:
    """The URL told is one a client can ask."""

    def test_bound(self) -> None:
        """A socket bound to 127.0.0.1: its address and port."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            assert url_of(sock) == f"http://127.0.0.1:{sock.getsockname()[1]}"

    @pytest.mark.parametrize(
        ("family", "url"),
        [(socket.AF_INET, "http://127.0.0.1:0"), (socket.AF_INET6, "http://[::1]:0")],
        ids=["0.0.0.0", "::"],
    )
    def test_wildcard(self, family: socket.AddressFamily, url: str) -> None:
        """Every address (here a socket not bound, whose address is the wildcard): loopback."""
        with socket.socket(family) as sock:
            assert url_of(sock) == url
