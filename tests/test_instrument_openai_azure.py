"""instrument_openai(deployments=...): the real AzureOpenAI clients against the local server.

Azure calls a model by its deployment name: the events keep the deployment
as ``model``, and the cost is that of the model the mapping names. Prices
are worked by hand from pricing.md: gpt-image-2 is 5.00/M text in, 8.00/M
image in, 30.00/M image out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar

import openai
import pytest
import structlog

from aievents import BaseEvent, EventClient, FieldValueError, ImageCost, ImageUsageEvent
from aievents.instrument import instrument_openai, is_instrumented
from aievents.pricing import PriceBook
from aievents.sinks import AggregateSink
from aievents.testing import ImageServer, capture_events

D = Decimal
SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]
API_VERSION = "2025-04-01-preview"
#: The deployments of the Azure resource the server plays, and what they run.
RESOURCE = {
    "prod-images": "gpt-image-2",
    "team-b": "gpt-image-2",
    "gpt-image-2": "gpt-image-2",
    "legacy-art": "dall-e-3",
}
MAPPING = {"prod-images": "gpt-image-2"}
#: "a red fox in snow": 5 text tokens; a medium 1024x1024 gpt-image-2 image: 1756 tokens.
#: 5 x 5.00/1M = 0.000025; 1756 x 30.00/1M = 0.05268; total 0.052705.
MEDIUM_SQUARE = D("0.052705")


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer(deployments=RESOURCE) as server:
        yield server


#: The sync clients a test made, closed after it.
_OPEN: list[openai.AzureOpenAI] = []


@pytest.fixture(autouse=True, name="closing")
def _closing() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def azure(server: ImageServer, mode: str = "sync", **options: Any) -> Any:
    """An Azure OpenAI client of the local server (sync or async; an async one closes itself)."""
    if mode != "sync":
        return openai.AsyncAzureOpenAI(
            azure_endpoint=server.url, api_key="azure-test-key", api_version=API_VERSION,
            max_retries=0, **options,
        )  # fmt: skip
    client = openai.AzureOpenAI(
        azure_endpoint=server.url, api_key="azure-test-key", api_version=API_VERSION,
        max_retries=0, **options,
    )  # fmt: skip
    _OPEN.append(client)
    return client


def usage_of(events: list[BaseEvent]) -> ImageUsageEvent:
    """The single image:usage event."""
    (usage,) = (e for e in events if isinstance(e, ImageUsageEvent))
    return usage


def medium_square(client: Any, model: str) -> ImageCost:
    """The cost of one medium 1024x1024 image of "a red fox in snow" from ``model``."""
    with capture_events() as events:
        client.images.generate(model=model, prompt="a red fox in snow", quality="medium")
    cost = usage_of(events).cost
    assert cost is not None
    return cost


def generate(client: Any, **kwargs: Any) -> Any:
    """images.generate on a sync or async client, a stream read to its end; the client closed."""
    if isinstance(client, openai.AzureOpenAI):
        result = client.images.generate(**kwargs)
        return list(result) if kwargs.get("stream") else result

    async def go() -> Any:
        async with client:
            answer = await client.images.generate(**kwargs)
            return [event async for event in answer] if kwargs.get("stream") else answer

    return asyncio.run(go())


class TestDeployments:
    """A deployment is reported under its name and priced as the model it is mapped to."""

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_priced_as_the_mapped_model(self, server: ImageServer, mode: str) -> None:
        """model= the deployment: the Azure URL, the events' model, the mapped model's cost."""
        client = instrument_openai(azure(server, mode), deployments=MAPPING)
        with capture_events() as events:
            response = generate(
                client, model="prod-images", prompt="a red fox in snow", size="1024x1024",
                quality="medium",
            )  # fmt: skip
        path = server.requests[-1][0]
        assert (
            path == f"/openai/deployments/prod-images/images/generations?api-version={API_VERSION}"
        )
        assert response.usage.output_tokens == 1756
        assert [e.event_type for e in events] == SEQUENCE
        assert {e.model for e in events} == {"prod-images"}
        usage = usage_of(events)
        assert usage.cost is not None
        assert usage.cost.priced_model == usage.priced_as == "gpt-image-2"
        assert usage.cost.basis == "tokens"
        assert usage.cost.input_text == D("0.000025")
        assert usage.cost.output_image == D("0.05268")
        assert usage.cost.total == MEDIUM_SQUARE

    def test_client_deployment(self, server: ImageServer) -> None:
        """azure_deployment= on the client: the calls go there, and are reported under its name."""
        client = instrument_openai(
            azure(server, azure_deployment="prod-images"), deployments=MAPPING
        )
        with capture_events() as events:
            client.images.generate(prompt="a red fox in snow", size="1024x1024", quality="medium")
        assert server.requests[-1][0].startswith("/openai/deployments/prod-images/images/")
        assert {e.model for e in events} == {"prod-images"}
        cost = usage_of(events).cost
        assert cost is not None
        assert (cost.priced_model, cost.total) == ("gpt-image-2", MEDIUM_SQUARE)

    def test_edit(self, server: ImageServer) -> None:
        """An edit (a multipart body) through a deployment: its image input priced too."""
        client = instrument_openai(azure(server), deployments=MAPPING)
        with capture_events() as events:
            client.images.edit(
                model="prod-images", image=("a.png", b"\x89PNG" + bytes(10), "image/png"),
                prompt="add a scarf", size="1536x1024", quality="low",
            )  # fmt: skip
        assert server.requests[-1][0].startswith("/openai/deployments/prod-images/images/edits?")
        usage = usage_of(events)
        assert (usage.model, usage.operation) == ("prod-images", "image.edit")
        # 3 text tokens x 5.00/1M = 0.000015; 323 image tokens x 8.00/1M = 0.002584;
        # a low 1536x1024 image, 172 tokens x 30.00/1M = 0.00516; total 0.007759.
        assert usage.cost is not None
        assert usage.cost.total == D("0.007759")

    def test_stream(self, server: ImageServer) -> None:
        """A streamed call through a deployment is priced from its completed event's usage."""
        client = instrument_openai(azure(server), deployments=MAPPING)
        with capture_events() as events:
            generate(client, model="prod-images", prompt="x", stream=True)
        usage = usage_of(events)
        # 10 text x 5.00/1M + 40 image x 8.00/1M + 50 out x 30.00/1M = 0.00005 + 0.00032 + 0.0015
        assert usage.cost is not None
        assert (usage.model, usage.cost.total) == ("prod-images", D("0.00187"))

    def test_derived_clients_follow(self, server: ImageServer) -> None:
        """with_options() keeps the mapping, and a later instrument_openai changes it for both."""
        parent = instrument_openai(azure(server), deployments=MAPPING)
        derived = parent.with_options(timeout=30)
        kwargs = {"model": "team-b", "prompt": "a red fox in snow", "quality": "medium"}
        with capture_events() as events, structlog.testing.capture_logs():
            derived.images.generate(**kwargs)
        assert usage_of(events).cost is None  # team-b is not mapped yet
        instrument_openai(parent, deployments={**MAPPING, "team-b": "gpt-image-2"})
        cost = medium_square(derived, "team-b")
        assert (cost.priced_model, cost.total) == ("gpt-image-2", MEDIUM_SQUARE)

    def test_named_after_its_model(self, server: ImageServer) -> None:
        """A deployment named after its model needs no entry."""
        client = instrument_openai(azure(server))
        assert medium_square(client, "gpt-image-2").total == MEDIUM_SQUARE

    def test_per_image_model(self, server: ImageServer) -> None:
        """A deployment of a per-image model gets the SDK's defaults for it (size, quality)."""
        client = instrument_openai(azure(server), deployments={"legacy-art": "dall-e-3"})
        with capture_events() as events, structlog.testing.capture_logs():
            client.images.generate(model="legacy-art", prompt="a fox")
        usage = usage_of(events)
        assert (usage.model, usage.size, usage.quality) == ("legacy-art", "1024x1024", "standard")
        assert usage.cost is not None  # dall-e-3 standard 1024x1024: 0.040 per image
        assert (usage.cost.priced_model, usage.cost.total) == ("dall-e-3", D("0.040"))

    def test_unmapped_deployment(self, server: ImageServer) -> None:
        """A deployment neither mapped nor priced: on the books under its name, cost unknown."""
        events_client = EventClient()
        report = AggregateSink()
        events_client.add_sink(report)
        client = instrument_openai(
            azure(server), events=events_client, prices=PriceBook(), deployments=MAPPING
        )  # a book of its own: its one warning per model is this test's
        started = int(time.time()) - 60
        with capture_events(events_client) as events, structlog.testing.capture_logs() as logs:
            client.images.generate(model="team-b", prompt="a red fox in snow", quality="medium")
        usage = usage_of(events)
        assert (usage.model, usage.cost, usage.usage.output_tokens) == ("team-b", None, 1756)
        assert [log["model"] for log in logs if log["event"] == "price_unknown"] == ["team-b"]
        assert events_client.flush(10)
        page = report.usage(started, group_by=["model"]).to_dict()
        (result,) = [r for bucket in page["data"] for r in bucket["results"]]
        assert (result["model"], result["unpriced_requests"], result["cost"]) == ("team-b", 1, None)
        events_client.close(10)


class TestMappingChecked:
    """A bad mapping is refused at once, naming the entry; nothing is changed."""

    @pytest.mark.parametrize(
        ("deployments", "shown"),
        [
            ({"": "gpt-image-2"}, "field \"deployments['']\" must be keyed by a non-empty"),
            ({"  ": "gpt-image-2"}, "its model: 'gpt-image-2'"),
            ({5: "gpt-image-2"}, "field 'deployments[5]' must be keyed by a non-empty"),
            ({"prod": ""}, "field \"deployments['prod']\" must be a non-empty model name, got ''"),
            (
                {"prod": None},
                "field \"deployments['prod']\" must be a non-empty model name, got None",
            ),
            ({"prod": 2}, "got 2 (int)"),
        ],
    )
    def test_bad_entry(self, server: ImageServer, deployments: Any, shown: str) -> None:
        """FieldValueError (a ValueError) naming the key and the value; the client untouched."""
        client = azure(server)
        with pytest.raises(FieldValueError) as raised:
            instrument_openai(client, deployments=deployments)
        assert shown in str(raised.value)
        assert str(raised.value).startswith("instrument_openai: ")
        assert not is_instrumented(client)

    def test_settings_kept(self, server: ImageServer) -> None:
        """A bad mapping given to an instrumented client leaves its settings as they were."""
        client = instrument_openai(azure(server), deployments=MAPPING)
        with pytest.raises(ValueError, match="deployments"):
            instrument_openai(client, deployments={"prod-images": ""})
        assert medium_square(client, "prod-images").total == MEDIUM_SQUARE

    def test_not_a_mapping(self, server: ImageServer) -> None:
        """A list of pairs is a TypeError naming what was given."""
        with pytest.raises(TypeError, match=r"deployments must be a mapping.*got list"):
            instrument_openai(azure(server), deployments=[("prod-images", "gpt-image-2")])  # type: ignore[arg-type]


class TestResponsesImageDeployment:
    """The Responses API's image tool on Azure: the deployment its header names runs it.

    The server runs "prod-images" as gpt-image-2 and bills it so: a medium
    1024x1024 image of "a red fox in snow" costs MEDIUM_SQUARE (0.052705).
    """

    TOOL: ClassVar[dict[str, Any]] = {
        "type": "image_generation", "size": "1024x1024", "quality": "medium",
    }  # fmt: skip
    HEADER: ClassVar[dict[str, str]] = {"x-ms-oai-image-generation-deployment": "prod-images"}

    @pytest.mark.parametrize("where", ["call", "client", "both"])
    def test_header(self, server: ImageServer, where: str) -> None:
        """Named by the call's extra_headers or the client's default_headers: model and cost."""
        options = {"default_headers": self.HEADER} if where != "call" else {}
        if where == "both":  # the call's header wins over the client's
            options = {"default_headers": {"X-MS-OAI-Image-Generation-Deployment": "team-b"}}
        client = instrument_openai(azure(server, **options), deployments=MAPPING)
        extra = {"extra_headers": self.HEADER} if where != "client" else {}
        with capture_events() as events:
            response = client.responses.create(
                model="gpt-5", input="a red fox in snow", tools=[self.TOOL], **extra
            )
        assert response.tools[0].model == "prod-images"  # type: ignore[union-attr]
        assert [e.event_type for e in events] == SEQUENCE
        usage = usage_of(events)
        assert (usage.provider, usage.model, usage.priced_as) == (
            "azure", "prod-images", "gpt-image-2",
        )  # fmt: skip
        assert usage.cost is not None
        assert usage.cost.total == MEDIUM_SQUARE

    def test_streamed(self, server: ImageServer) -> None:
        """A streamed response through the client's header: the same model and cost."""
        client = instrument_openai(azure(server, default_headers=self.HEADER), deployments=MAPPING)
        with capture_events() as events:
            for _ in client.responses.create(
                model="gpt-5", input="a red fox in snow", tools=[self.TOOL], stream=True
            ):
                pass
        usage = usage_of(events)
        assert (usage.model, usage.priced_as) == ("prod-images", "gpt-image-2")
        assert usage.cost is not None
        assert usage.cost.total == MEDIUM_SQUARE
