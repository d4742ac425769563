"""The provider an openai client's events name, from its endpoint (endpoint_of).

Clients whose base URL names a real provider reach the local image server
through ``ImageServer.http_client``, which sends every request to 127.0.0.1: no request
leaves the machine, and the client (its URL, its ``Host`` header) believes
it talks to the provider. Costs are worked by hand from pricing.md.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import attrs
import openai
import pytest

from aievents import ImageUsageEvent
from aievents.instrument import instrument_openai, uninstrument_openai
from aievents.instrument._openai_call import Endpoint, endpoint_of
from aievents.pricing import PriceBook, default_table
from aievents.testing import ImageServer, capture_events

D = Decimal
SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]
API_VERSION = "2025-04-01-preview"
#: gpt-image-2, a medium 1024x1024 image of "a red fox in snow": 5 text tokens x 5.00/1M
#: = 0.000025, 1756 image tokens x 30.00/1M = 0.05268; total 0.052705.
MEDIUM_SQUARE = D("0.052705")
#: gpt-image-1, the spec's example: 10 x 5/1M + 40 x 10/1M + 50 x 40/1M = 0.00245.
SPEC_COST = D("0.00245")


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer(deployments={"prod-images": "gpt-image-2", "house": "gpt-image-2"}) as server:
        yield server


@pytest.fixture(autouse=True, name="undone")
def _undone() -> Iterator[None]:
    yield
    uninstrument_openai()


class TestEndpointOf:
    """endpoint_of names the provider from the client's kind and base URL."""

    @pytest.mark.parametrize(
        ("base_url", "provider"),
        [
            (None, "openai"),  # the SDK's default: https://api.openai.com/v1
            ("https://api.openai.com/v1", "openai"),
            ("https://eu.api.openai.com/v1", "openai"),
            ("https://api.x.ai/v1", "xai"),
            ("https://openrouter.ai/api/v1", "openrouter"),
            ("https://contoso.openai.azure.com/openai/v1/", "azure"),
            ("https://contoso.cognitiveservices.azure.com/openai/v1", "azure"),
            ("https://contoso.services.ai.azure.com/openai/v1", "azure"),
            ("https://api.together.xyz/v1", "api.together.xyz"),
            ("http://localhost:8080/v1", "localhost"),
            ("http://127.0.0.1:4000/v1", "127.0.0.1"),
            ("https://API.X.AI./v1", "xai"),  # hosts are case-insensitive, a final dot too
            ("https://api.x.ai.example.com/v1", "api.x.ai.example.com"),
            ("https://notopenrouter.ai/v1", "notopenrouter.ai"),
        ],
    )
    def test_base_url(self, monkeypatch: pytest.MonkeyPatch, base_url: Any, provider: str) -> None:
        """OpenAI clients: the provider of the base URL's host."""
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        for cls in (openai.OpenAI, openai.AsyncOpenAI):
            client = cls(api_key="sk-test", base_url=base_url)
            assert endpoint_of(client) == Endpoint(provider, None)

    def test_azure_clients(self) -> None:
        """Azure clients are azure, whatever the host, with the deployment their URL names."""
        common = {"api_key": "az-test", "api_version": API_VERSION}
        plain = openai.AzureOpenAI(azure_endpoint="https://contoso.openai.azure.com", **common)
        assert endpoint_of(plain) == Endpoint("azure", None)
        deployed = openai.AsyncAzureOpenAI(
            azure_endpoint="http://127.0.0.1:9", azure_deployment="prod images", **common
        )
        assert endpoint_of(deployed) == Endpoint("azure", "prod images")

    def test_cached_weakly(self) -> None:
        """Computed once per client, and the cache does not keep the client alive."""
        client = openai.OpenAI(api_key="sk-test", base_url="https://api.x.ai/v1")
        found = endpoint_of(client)
        assert endpoint_of(client) is found
        gone = weakref.ref(client)
        del client
        gc.collect()
        assert gone() is None


class TestCallsNameTheProvider:
    """A real call through a client of each provider: the events name it, the cost is right."""

    def test_local_server(self, server: ImageServer) -> None:
        """Through the local server: its host."""
        instrument_openai()
        with (
            openai.OpenAI(api_key="sk-test", base_url=server.base_url) as client,
            capture_events() as events,
        ):
            client.images.generate(model="gpt-image-1", prompt="a fox")
        assert [e.provider for e in events] == ["127.0.0.1"] * 3

    @pytest.mark.parametrize(
        ("base_url", "provider", "model", "cost"),
        [
            # grok-imagine-image: 0.02 per image, two images: 0.04.
            ("https://api.x.ai/v1", "xai", "grok-imagine-image", D("0.04")),
            ("https://openrouter.ai/api/v1", "openrouter", "gpt-image-1", SPEC_COST),
            ("https://api.openai.com/v1", "openai", "gpt-image-1", SPEC_COST),
        ],
    )
    def test_compatible_api(
        self, server: ImageServer, base_url: str, provider: str, model: str, cost: D
    ) -> None:
        """xAI, OpenRouter, OpenAI: the request reached 127.0.0.1, the events name the provider."""
        instrument_openai()
        n = 2 if provider == "xai" else 1
        with (
            openai.OpenAI(
                api_key="sk-test",
                base_url=base_url,
                http_client=server.http_client(),
                max_retries=0,
            ) as client,
            capture_events() as events,
        ):
            response = client.images.generate(model=model, prompt="a fox", n=n)
        path, _, headers = server.requests[-1]
        assert path == urlsplit(base_url).path + "/images/generations"
        assert headers["Host"] == urlsplit(base_url).hostname
        assert [e.event_type for e in events] == SEQUENCE
        assert {e.request_id for e in events} == {response._request_id}
        assert {e.provider for e in events} == {provider}
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert (usage.images, usage.cost and usage.cost.total) == (n, cost)

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_azure(self, server: ImageServer, mode: str) -> None:
        """An Azure resource's URL: provider azure, the deployment priced through deployments=."""
        instrument_openai(deployments={"prod-images": "gpt-image-2"})
        options = {
            "azure_endpoint": "https://contoso.openai.azure.com",
            "api_key": "az-test",
            "api_version": API_VERSION,
            "max_retries": 0,
        }
        kwargs = {"model": "prod-images", "prompt": "a red fox in snow", "quality": "medium"}
        with capture_events() as events:
            if mode == "sync":
                with openai.AzureOpenAI(http_client=server.http_client(), **options) as client:
                    response = client.images.generate(**kwargs)
            else:

                async def go() -> Any:
                    async with openai.AsyncAzureOpenAI(
                        http_client=server.async_http_client(), **options
                    ) as client:
                        return await client.images.generate(**kwargs)

                response = asyncio.run(go())
        path, _, headers = server.requests[-1]
        assert path.startswith("/openai/deployments/prod-images/images/generations?")
        assert headers["Host"] == "contoso.openai.azure.com"
        assert [e.event_type for e in events] == SEQUENCE
        assert {(e.provider, e.model, e.request_id) for e in events} == {
            ("azure", "prod-images", response._request_id)
        }
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.cost is not None
        assert (usage.cost.priced_model, usage.cost.total) == ("gpt-image-2", MEDIUM_SQUARE)

    def test_azure_alias(self, server: ImageServer) -> None:
        """A deployment the price table lists as an alias needs no deployments= entry."""
        table = default_table()
        book = PriceBook(attrs.evolve(table, aliases={**table.aliases, "house": "gpt-image-2"}))
        instrument_openai(prices=book)
        with (
            openai.AzureOpenAI(
                azure_endpoint="https://contoso.openai.azure.com", api_key="az-test",
                api_version=API_VERSION, http_client=server.http_client(), max_retries=0,
            ) as client,
            capture_events() as events,
        ):  # fmt: skip
            client.images.generate(model="house", prompt="a red fox in snow", quality="medium")
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert (usage.provider, usage.model) == ("azure", "house")
        assert usage.cost is not None
        assert (usage.cost.priced_model, usage.cost.total) == ("gpt-image-2", MEDIUM_SQUARE)

    def test_one_client(self, server: ImageServer) -> None:
        """A client instrumented on its own names its provider too."""
        client = instrument_openai(
            openai.OpenAI(
                api_key="sk-test", base_url="https://api.x.ai/v1", http_client=server.http_client()
            )
        )
        with client, capture_events() as events:
            client.images.generate(model="grok-imagine-image", prompt="a fox")
        assert [e.provider for e in events] == ["xai"] * 3


class TestBaseUrlChanged:
    """A client's base URL set again: the events name the provider its calls now go to."""

    @pytest.mark.parametrize("scope", ["client", "process"])
    def test_client(self, server: ImageServer, scope: str) -> None:
        """``client.base_url = ...``: instrumented on its own or through the classes."""
        client = openai.OpenAI(
            api_key="sk-test", base_url="https://api.x.ai/v1", http_client=server.http_client()
        )
        if scope == "client":
            instrument_openai(client)
        else:
            instrument_openai()
        with client:
            with capture_events() as before:
                client.images.generate(model="grok-imagine-image", prompt="a fox")
            client.base_url = "https://openrouter.ai/api/v1"
            with capture_events() as after:
                client.images.generate(model="gpt-image-1", prompt="a fox")
        assert [e.provider for e in before] == ["xai"] * 3
        assert [e.provider for e in after] == ["openrouter"] * 3
        uninstrument_openai(client)

    def test_module_client(self, server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """``openai.base_url = ...`` moves the module client's calls, and its events with them."""
        monkeypatch.setattr(openai, "api_key", "sk-test")
        monkeypatch.setattr(openai, "base_url", "https://api.x.ai/v1")
        monkeypatch.setattr(openai, "http_client", server.http_client())
        monkeypatch.setattr(openai, "max_retries", 0)
        monkeypatch.setattr(openai, "_client", None)  # made again from the settings above
        instrument_openai(openai)
        try:
            with capture_events() as before:
                openai.images.generate(model="grok-imagine-image", prompt="a fox")
            monkeypatch.setattr(openai, "base_url", "https://openrouter.ai/api/v1")
            with capture_events() as after:
                openai.images.generate(model="gpt-image-1", prompt="a fox")
        finally:
            uninstrument_openai(openai)
        assert [e.provider for e in before] == ["xai"] * 3
        assert [e.provider for e in after] == ["openrouter"] * 3
