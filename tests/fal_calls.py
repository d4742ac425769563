"""fal_client pointed at ImageServer over HTTPS (a throwaway certificate), for tests.

fal_client builds its URLs from ``RUN_URL_FORMAT`` and ``QUEUE_URL_FORMAT``
(``https://{FAL_RUN_HOST}/``, read at each call) and trusts the
certificates its httpx clients find at their creation: ``SSL_CERT_FILE``,
set for the test only. Each test gets fresh default clients (their httpx
client and key are made at first use), and retries off.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fal_client
import pytest
import trustme
from fal_client import client as sdk

from aievents.instrument.fal import instrument_fal, uninstrument_fal
from aievents.testing import ImageServer
from test_instrument_openai import SEQUENCE, names, one_request, usage_of

__all__ = [
    "KEY",
    "SEQUENCE",
    "Served",
    "close",
    "close_async",
    "names",
    "one_request",
    "point",
    "pointed_fixture",
    "serve",
    "served_fixture",
    "usage_of",
]

#: The fal key of the tests: never in an event or a log line.
KEY = "fal-key-id:fal-key-secret-0123456789"


class Served:
    """A fal server: the ImageServer, and the authority file that trusts it."""

    def __init__(self, server: ImageServer, authority: Path) -> None:
        self.server = server
        self.authority = authority


def serve(folder: Path) -> Iterator[Served]:
    """An HTTPS ImageServer on 127.0.0.1 with a certificate of a throwaway authority."""
    authority = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(served)
    pem = folder / "authority.pem"
    pem.write_bytes(authority.cert_pem.bytes())
    with ImageServer(tls=served) as server:
        yield Served(server, pem)


def _fresh_defaults() -> None:
    """Close and forget the default clients' httpx clients and keys (made again at first use).

    An async client's httpx client is closed by :func:`close_async` in its own event loop.
    """
    made = vars(fal_client.sync_client).pop("_client", None)
    if made is not None:
        made.close()
    for default in (fal_client.sync_client, fal_client.async_client):
        for cached in ("_client", "_auth"):
            vars(default).pop(cached, None)


def close(client: Any) -> None:
    """Close a ``SyncClient``'s httpx client, if it made one."""
    made = vars(client).pop("_client", None)
    if made is not None:
        made.close()


async def close_async(client: Any) -> None:
    """Close an ``AsyncClient``'s httpx client (the module's default too), if it made one."""
    made = vars(client).pop("_client", None)
    if made is not None:  # asyncstdlib keeps an awaitable of the value
        await (await made).aclose()


def point(
    served: Served, monkeypatch: pytest.MonkeyPatch, *, instrumented: bool = True
) -> Iterator[None]:
    """fal_client sends to ``served`` (run and queue hosts), trusts it, does not retry.

    Instrumented process-wide for the test, unless not ``instrumented``.
    """
    url = served.server.url
    monkeypatch.setattr(sdk, "RUN_URL_FORMAT", f"{url}/fal/run/")
    monkeypatch.setattr(sdk, "QUEUE_URL_FORMAT", f"{url}/fal/queue/")
    monkeypatch.setattr(sdk, "MAX_ATTEMPTS", 1)
    monkeypatch.setenv("SSL_CERT_FILE", str(served.authority))
    monkeypatch.setenv("FAL_KEY", KEY)
    _fresh_defaults()
    if instrumented:
        instrument_fal()
    try:
        yield
    finally:
        uninstrument_fal()
        _fresh_defaults()


@pytest.fixture(name="served", scope="module")
def served_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The module's fal server (import it into a test module to use it)."""
    yield from serve(tmp_path_factory.mktemp("fal"))


@pytest.fixture(name="pointed", autouse=True)
def pointed_fixture(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test: fal_client pointed at the server, instrumented process-wide."""
    yield from point(served, monkeypatch)


def enqueued() -> tuple[list[str], Any]:
    """A list, and an ``on_enqueue`` callback that appends each queued request id to it."""
    ids: list[str] = []
    return ids, ids.append
