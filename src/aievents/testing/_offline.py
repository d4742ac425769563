"""HTTP clients for the openai SDK that take every request to a local ImageServer.

A client made with the real provider's ``base_url`` (``https://api.x.ai/v1``)
names that provider in its events; with one of these as its ``http_client``
its requests still reach only the local server: each request's address is
rewritten to ``http://127.0.0.1:{port}`` on its way out, its ``Host`` header
and path left as the client wrote them. Proxies from the environment are
ignored, so nothing leaves 127.0.0.1.

The openai SDK is built on ``httpx2`` (its ``DefaultHttpxClient`` is an
``httpx2.Client`` with the SDK's timeouts and limits); this module imports
it, so only :meth:`ImageServer.http_client
<aievents.testing.ImageServer.http_client>` loads it, once the ``openai``
extra is known to be there.
"""

from __future__ import annotations

import httpx2
import openai

__all__ = ["async_local_client", "local_client"]


def _to_local(request: httpx2.Request, port: int) -> None:
    """Address ``request`` to 127.0.0.1:``port``, keeping its path and ``Host`` header."""
    request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)


class _ToLocal(httpx2.HTTPTransport):
    """Sends every request to 127.0.0.1:``port``, whatever host its URL names."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        _to_local(request, self._port)
        return super().handle_request(request)


class _AsyncToLocal(httpx2.AsyncHTTPTransport):
    """:class:`_ToLocal` for async clients."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        _to_local(request, self._port)
        return await super().handle_async_request(request)


def local_client(port: int) -> httpx2.Client:
    """The SDK's default HTTP client, every request sent to 127.0.0.1:``port``."""
    return openai.DefaultHttpxClient(transport=_ToLocal(port), trust_env=False)


def async_local_client(port: int) -> httpx2.AsyncClient:
    """:func:`local_client` for ``AsyncOpenAI``."""
    return openai.DefaultAsyncHttpxClient(transport=_AsyncToLocal(port), trust_env=False)
