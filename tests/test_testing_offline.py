"""ImageServer.http_client: the openai SDK names the real host, and reaches only 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from aievents.testing import ImageServer


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def last_request(server: ImageServer) -> tuple[str, dict[str, str]]:
    """The path and headers (names lowercased) of the last request the server saw."""
    path, _, headers = server.requests[-1]
    return path, {name.lower(): value for name, value in headers.items()}


class TestHttpClient:
    """A client with a real provider's base URL reaches the local server, Host header intact."""

    def test_sync(self, server: ImageServer) -> None:
        """OpenAI at https://api.x.ai/v1: the request arrives here, for host api.x.ai."""
        with openai.OpenAI(
            base_url="https://api.x.ai/v1", api_key="xai-test", http_client=server.http_client()
        ) as client:
            answer = client.images.generate(model="grok-imagine-image", prompt="a fox", n=2)
        assert len(answer.data or []) == 2
        path, headers = last_request(server)
        assert (path, headers["host"]) == ("/v1/images/generations", "api.x.ai")

    def test_async(self, server: ImageServer) -> None:
        """AsyncOpenAI likewise, through async_http_client."""

        async def go() -> openai.types.ImagesResponse:
            async with openai.AsyncOpenAI(
                base_url="https://openrouter.ai/api/v1",
                api_key="sk-or-test",
                http_client=server.async_http_client(),
            ) as client:
                return await client.images.generate(model="openai/gpt-image-1", prompt="a fox")

        answer = asyncio.run(go())
        assert len(answer.data or []) == 1
        path, headers = last_request(server)
        assert (path, headers["host"]) == ("/api/v1/images/generations", "openrouter.ai")

    def test_sdk_defaults(self, server: ImageServer) -> None:
        """The clients are the SDK's own defaults (its timeouts and limits)."""
        with server.http_client() as sync, openai.OpenAI(api_key="t", http_client=sync) as client:
            assert isinstance(sync, openai.DefaultHttpxClient)
            assert client.timeout == openai.DEFAULT_TIMEOUT
        assert isinstance(server.async_http_client(), openai.DefaultAsyncHttpxClient)

    def test_proxies_ignored(self, server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """A proxy named by the environment is not used: the request still comes here."""
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, "http://127.0.0.1:9")
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        with openai.OpenAI(api_key="sk-test", http_client=server.http_client()) as client:
            client.images.generate(model="gpt-image-2", prompt="a fox")
        path, headers = last_request(server)
        assert (path, headers["host"]) == ("/v1/images/generations", "api.openai.com")
