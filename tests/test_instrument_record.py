"""ImageRequest.record: one line per call site records what a provider's answer says."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest
import structlog

from aievents import (
    BaseEvent,
    EventClient,
    EventValidationError,
    ImageRequestCompletedEvent,
    ImageUsageEvent,
)
from aievents.instrument import current_request, image_request, instrument_openai
from aievents.pricing import PriceTable
from aievents.testing import ImageServer, capture_events
from aievents.usage import Billed

SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]
PNG = "iVBORw0KGgo="  # stands for an image's base64


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="strict")
def _strict() -> Iterator[EventClient]:
    """A strict event client (as tests use): telemetry errors are raised."""
    client = EventClient(strict=True)
    yield client
    client.close(5.0)


def names(events: list[BaseEvent]) -> list[str]:
    """The event names, in order."""
    return [e.event_type for e in events]


def ended(events: list[BaseEvent]) -> tuple[ImageRequestCompletedEvent, ImageUsageEvent]:
    """The completed and usage events of one request, checked to be its whole sequence."""
    assert names(events) == SEQUENCE
    assert len({e.request_id for e in events}) == 1
    completed, usage = events[1], events[2]
    assert isinstance(completed, ImageRequestCompletedEvent)
    assert isinstance(usage, ImageUsageEvent)
    return completed, usage


def cost(usage: ImageUsageEvent) -> Decimal:
    """The event's computed cost, which must be known."""
    assert usage.cost is not None
    return usage.cost.total


class TestOpenAI:
    """The real openai SDK's answer, recorded in a plain block: images, tokens, id."""

    def test_sync(self, client: EventClient, server: ImageServer) -> None:
        """Two gpt-image-1 images: the server's usage, priced by token."""
        sdk = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client) as req,
        ):
            response = req.record(sdk.images.generate(model="gpt-image-1", prompt="a fox", n=2))
        assert isinstance(response, openai.types.ImagesResponse)
        completed, usage = ended(events)
        assert completed.images == usage.images == 2
        assert usage.usage.input_tokens == 50
        assert usage.usage.output_tokens == 100
        # 10 text x $5/M + 40 image x $10/M + 100 output x $40/M
        # = 0.00005 + 0.0004 + 0.004 = 0.00445
        assert cost(usage) == Decimal("0.00445")
        # The started event went out with the block's id; OpenAI's is kept beside it.
        assert usage.correlation_id == response._request_id
        assert usage.request_id != response._request_id

    def test_async(self, client: EventClient, server: ImageServer) -> None:
        """The same in an async block, through current_request()."""

        @image_request(provider="openai", model="gpt-image-1", client=client)
        async def draw() -> Any:
            async with openai.AsyncOpenAI(
                api_key="sk-test", base_url=server.base_url, max_retries=0
            ) as sdk:
                answer = await sdk.images.generate(model="gpt-image-1", prompt="a fox")
                return current_request().record(answer)

        with capture_events(client) as events:
            response = asyncio.run(draw())
        _, usage = ended(events)
        assert usage.images == len(response.data) == 1
        # 10 x $5/M + 40 x $10/M + 50 x $40/M = 0.00005 + 0.0004 + 0.002 = 0.00245
        assert cost(usage) == Decimal("0.00245")

    def test_stream(self, client: EventClient, server: ImageServer) -> None:
        """Each event of a stream recorded: the completed one counts, with its usage."""
        sdk = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client) as req,
        ):
            stream = sdk.images.generate(
                model="gpt-image-1", prompt="a fox", stream=True, partial_images=2
            )
            kinds = [req.record(event).type for event in stream]
        assert kinds[-1] == "image_generation.completed"
        assert len(kinds) > 1  # partial images first
        _, usage = ended(events)
        assert usage.images == 1
        assert cost(usage) == Decimal("0.00245")  # as above: 10 x $5/M + 40 x $10/M + 50 x $40/M

    def test_instrumented_client_inside(self, client: EventClient, server: ImageServer) -> None:
        """An instrumented client called in the block is reported once, by the block."""
        sdk = instrument_openai(
            openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0),
            events=client,
        )
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client) as req,
        ):
            req.record(sdk.images.generate(model="gpt-image-1", prompt="a fox"))
        _, usage = ended(events)
        assert cost(usage) == Decimal("0.00245")  # as above: one image, once
        with capture_events(client) as events:  # outside a block it reports as before
            sdk.images.generate(model="gpt-image-1", prompt="a fox")
        ended(events)


def recorded(client: EventClient, *answers: Any, **options: Any) -> ImageUsageEvent:
    """Each answer recorded in one ``image_request(**options)`` block: its usage event."""
    with capture_events(client) as events, image_request(client=client, **options) as req:
        for answer in answers:
            assert req.record(answer) is answer  # the very object, for the caller
    return ended(events)[1]


class TestResponses:
    """A Responses answer with the image tool, recorded in a block around an instrumented client."""

    def test_image_tool(self, client: EventClient, server: ImageServer) -> None:
        """One set of events: the image call, the image model's tokens, OpenAI's id."""
        sdk = instrument_openai(
            openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0),
            events=client,
        )
        tool = {"type": "image_generation", "model": "gpt-image-1", "size": "1024x1024"}
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client) as req,
        ):
            response = req.record(
                sdk.responses.create(
                    model="gpt-5", input="draw a fox", tools=[{**tool, "quality": "low"}]
                )
            )
        _, usage = ended(events)
        assert usage.images == 1
        assert (usage.size, usage.quality) == ("1024x1024", "low")
        assert usage.correlation_id == response._request_id
        # 3 text tokens in x $5/M + 272 image tokens out x $40/M = 0.000015 + 0.01088
        assert cost(usage) == Decimal("0.010895")


class TestGemini:
    """Gemini's answer from the real google-genai SDK, recorded in a plain block."""

    def test_generate_content(self, client: EventClient, server: ImageServer) -> None:
        """The image part, the usage by modality, Gemini's response_id kept beside."""
        from google import genai
        from google.genai import types

        gemini = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=server.url))
        config = types.GenerateContentConfig(response_modalities=["IMAGE"])
        with (
            capture_events(client) as events,
            image_request(provider="google", model="gemini-3.1-flash-image", client=client) as req,
        ):
            response = req.record(
                gemini.models.generate_content(
                    model="gemini-3.1-flash-image", contents="a fox", config=config
                )
            )
        _, usage = ended(events)
        assert usage.images == 1
        assert usage.usage.output_image_tokens == 1120
        assert usage.correlation_id == response.response_id
        # 2 text tokens in x $0.50/M + 1120 image tokens out x $60/M = 0.000001 + 0.0672
        assert cost(usage) == Decimal("0.067201")


class TestProviders:
    """Each provider's answer, as its docs shape it, gives images, usage and cost."""

    def test_fal(self, client: EventClient) -> None:
        """fal: images and their size (per megapixel), the billed header kept beside."""
        image = {"url": "https://fal.media/1.png", "width": 1024, "height": 1024}
        result = {"images": [image, image], "seed": 7, "has_nsfw_concepts": [False, False]}
        headers = {"x-fal-billable-units": "2"}  # fal's response header
        usage = recorded(client, result, headers, provider="fal", model="fal-ai/flux/dev")
        assert usage.images == 2
        assert usage.size == "1024x1024"
        assert usage.usage.billed == Billed(2, "units")
        # 1024x1024 = 1 megapixel (1048576 pixels) x $0.025 x 2 images = 0.05
        assert cost(usage) == Decimal("0.050")

    def test_fal_flagged(self, client: EventClient) -> None:
        """fal: a flagged image is not counted."""
        image = {"url": "https://fal.media/1.png"}
        result = {"images": [image, image, image], "has_nsfw_concepts": [False, True, False]}
        usage = recorded(client, result, provider="fal", model="fal-ai/flux/schnell")
        assert usage.images == 2
        assert cost(usage) == Decimal("0.006")  # 2 images x $0.003

    def test_bedrock_titan(self, client: EventClient) -> None:
        """Bedrock Titan: the count from the answer, size and quality from the request."""
        usage = recorded(
            client,
            {"images": [PNG, PNG], "error": None},
            provider="bedrock",
            model="amazon.titan-image-generator-v1",
            size="1024x1024",
            quality="premium",
        )
        assert usage.images == 2
        assert cost(usage) == Decimal("0.024")  # 2 x $0.012 (premium 1024x1024)

    def test_bedrock_stability(self, client: EventClient) -> None:
        """Stability on Bedrock: the filtered image is not counted."""
        body = {
            "seeds": [1, 2],
            "finish_reasons": [None, "Filter reason: prompt"],
            "images": [PNG, PNG],
        }
        usage = recorded(client, body, provider="bedrock", model="stability.sd3-5-large-v1:0")
        assert usage.images == 1
        assert cost(usage) == Decimal("0.08")  # 1 x $0.08

    def test_stability(self, client: EventClient) -> None:
        """Stability v1 artifacts: CONTENT_FILTERED ones are not counted."""
        body = {
            "artifacts": [
                {"base64": PNG, "seed": 1, "finishReason": "SUCCESS"},
                {"base64": PNG, "seed": 2, "finishReason": "SUCCESS"},
                {"base64": PNG, "seed": 3, "finishReason": "CONTENT_FILTERED"},
            ]
        }
        usage = recorded(client, body, provider="stability", model="sd3.5-large")
        assert usage.images == 2
        assert cost(usage) == Decimal("0.130")  # 2 x $0.065

    def test_stability_v2(self, client: EventClient) -> None:
        """Stability v2 JSON: one image."""
        body = {"image": PNG, "finish_reason": "SUCCESS", "seed": 3}
        usage = recorded(client, body, provider="stability", model="stable-image-core")
        assert usage.images == 1
        assert cost(usage) == Decimal("0.03")  # 1 x $0.03

    def test_bfl(self, client: EventClient) -> None:
        """BFL: one sample; the task id is kept as correlation_id."""
        result = {"id": "task-9", "status": "Ready", "result": {"sample": "https://bfl/1.jpg"}}
        usage = recorded(client, result, provider="bfl", model="flux-pro-1.1")
        assert usage.images == 1
        assert usage.correlation_id == "task-9"
        assert cost(usage) == Decimal("0.04")  # 1 x $0.04

    def test_bfl_id_up_front(self, client: EventClient) -> None:
        """A request id given up front is the request's own id for every event."""
        result = {"id": "task-9", "status": "Ready", "result": {"sample": "https://bfl/1.jpg"}}
        usage = recorded(client, result, provider="bfl", model="flux-pro-1.1", request_id="task-9")
        assert usage.request_id == "task-9"
        assert usage.correlation_id is None

    def test_two_answers(self, client: EventClient) -> None:
        """Two answers of one request add up; the first id is kept."""
        first = {"id": "t", "status": "Ready", "result": {"sample": "https://bfl/1.jpg"}}
        second = dict(first, id="t2")
        usage = recorded(client, first, second, provider="bfl", model="flux-dev")
        assert usage.images == 2
        assert usage.correlation_id == "t"
        assert cost(usage) == Decimal("0.050")  # 2 x $0.025


REPLICATE_PRICES = PriceTable.from_dict(
    {
        "format": 2,
        "version": "test",
        "currency": "usd",
        "models": [
            {
                "provider": "replicate",
                "model": "black-forest-labs/flux-dev",
                "unit": "images",
                "per_image": [{"price": "0.025"}],
                "per_billed_unit": {"seconds": "0.001525"},
                "source": "test",
                "effective": "2026-01-01",
            },
            {
                "provider": "replicate",
                "model": "black-forest-labs/flux-schnell",
                "unit": "images",
                "per_image": [{"price": "0.003"}],
                "source": "test",
                "effective": "2026-01-01",
            },
        ],
    }
)


def replicate(asked: str, answered: str, client: EventClient) -> ImageUsageEvent:
    """A block asking for model ``asked`` recording a succeeded prediction of ``answered``.

    The prediction made two images and ran 2.5 seconds.
    """
    prediction = {
        "id": "pred-1",
        "model": answered,
        "version": "v1",
        "status": "succeeded",
        "output": ["https://replicate.delivery/a.webp", "https://replicate.delivery/b.webp"],
        "error": None,
        "metrics": {"predict_time": 2.5},
    }
    options = {"provider": "replicate", "model": asked, "prices": REPLICATE_PRICES}
    return recorded(client, prediction, **options)


class TestReplicate:
    """Replicate: predict_time priced where the entry prices seconds; the answer's model."""

    def test_billed_seconds(self, client: EventClient) -> None:
        """An entry with a price per second prices the seconds billed."""
        usage = replicate("black-forest-labs/flux-dev", "black-forest-labs/flux-dev", client)
        assert usage.usage.billed == Billed(Decimal("2.5"), "seconds")
        assert usage.cost is not None
        assert usage.cost.basis == "billed"
        assert usage.cost.total == Decimal("0.0038125")  # 2.5 s x $0.001525

    def test_per_image(self, client: EventClient) -> None:
        """The answer's model (more exact) is reported; an entry priced per image."""
        usage = replicate("flux-schnell", "black-forest-labs/flux-schnell", client)
        assert usage.model == "black-forest-labs/flux-schnell"
        assert cost(usage) == Decimal("0.006")  # 2 x $0.003

    def test_model_the_table_does_not_know(self, client: EventClient) -> None:
        """An answer's model the table does not know is reported, priced as the one asked."""
        asked = "black-forest-labs/flux-schnell"
        usage = replicate(asked, "black-forest-labs/flux-schnell-lora", client)
        assert usage.model == "black-forest-labs/flux-schnell-lora"
        assert usage.cost is not None
        assert usage.cost.priced_model == asked
        assert usage.cost.total == Decimal("0.006")  # 2 x $0.003


class TestFailures:
    """Telemetry never breaks the call: logged, or raised only with a strict client."""

    def test_unknown_shape_logged(self, client: EventClient) -> None:
        """Not strict: the answer comes back, the failure is logged, the request counted."""
        answer = {"prompt": "secret plan"}
        with (
            structlog.testing.capture_logs() as logs,
            capture_events(client) as events,
            image_request(provider="acme", model="acme-1", client=client) as req,
        ):
            assert req.record(answer) is answer
        _, usage = ended(events)
        assert usage.images is None
        assert usage.cost is None
        (log,) = [entry for entry in logs if entry["event"] == "instrumentation_failed"]
        assert log["step"] == "record"
        assert "'answer'" in log["error"]
        assert "secret plan" not in str(logs)

    def test_unknown_shape_strict(self, strict: EventClient) -> None:
        """Strict: the error names the type and leaves the block, reported as its error."""
        with (
            capture_events(strict) as events,
            pytest.raises(EventValidationError) as info,
            image_request(provider="acme", model="acme-1", client=strict) as req,
        ):
            req.record(object())
        assert info.value.field == "answer"
        assert info.value.value is object
        assert names(events) == ["image:request:started", "image:request:error"]

    def test_malformed_strict(self, strict: EventClient) -> None:
        """Strict: a known shape with a bad field names the field; nothing was recorded."""
        with (
            pytest.raises(EventValidationError) as info,
            image_request(provider="fal", model="fal-ai/flux/dev", client=strict) as req,
        ):
            req.record({"images": [{"url": "https://fal.media/1.png", "width": 0, "height": 1}]})
        assert info.value.field == "images[0].width"
        assert req.images is None

    def test_after_the_end(self, client: EventClient) -> None:
        """An answer recorded after the block ended is logged, not reported."""
        with capture_events(client) as events:
            with image_request(provider="bfl", model="flux-pro-1.1", client=client) as req:
                pass
            answer = {"id": "t", "status": "Ready", "result": {"sample": "https://bfl/1.jpg"}}
            with structlog.testing.capture_logs() as logs:
                assert req.record(answer) is answer
        assert names(events) == SEQUENCE
        assert [entry["step"] for entry in logs] == ["record"]


class TestClaim:
    """A block claims its call: instrumented SDK calls inside it pass; blocks still report."""

    def test_claimed_inside(self, client: EventClient) -> None:
        """The claim is held in the block (sync and async) and given back after it."""
        from aievents.instrument._guard import claimed

        with image_request(provider="bfl", model="flux-dev", client=client):
            assert claimed()
        assert not claimed()

        async def draw() -> bool:
            async with image_request(provider="bfl", model="flux-dev", client=client):
                return claimed()

        assert asyncio.run(draw())
        assert not claimed()

    def test_nested_blocks_each_report(self, client: EventClient) -> None:
        """A block inside a block is a request of its own: both report; the outer's claim holds."""
        from aievents.instrument._guard import claimed

        with (
            capture_events(client) as events,
            image_request(provider="bfl", model="flux-dev", client=client) as outer,
        ):
            with image_request(provider="bfl", model="flux-pro", client=client) as inner:
                inner.record_images(1)
            assert claimed()
            outer.record_images(1)
        assert [e.model for e in events if e.event_type == "image:usage"] == [
            "flux-pro",
            "flux-dev",
        ]
