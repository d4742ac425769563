"""AieventsLogger: the real LiteLLM against ImageServer's OpenAI endpoints (127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from decimal import Decimal
from typing import Any

import litellm
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from aievents import (
    EventClient,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
    LogSink,
)
from aievents.events import BaseEvent
from aievents.instrument._litellm_call import provider_of
from aievents.integrations.litellm import instrument_litellm, uninstrument_litellm
from aievents.testing import ImageServer
from aievents.wire import to_dict
from litellm_calls import SECRET, Received, Witness, agenerate, forget, generate, types
from test_instrument_openai import SEQUENCE, one_request

D = Decimal


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="received")
def _received(client: EventClient) -> Iterator[Received]:
    """Events of the logger that instrument_litellm registered, undone after."""
    received = Received(client)
    instrument_litellm(events=client)
    yield received
    uninstrument_litellm()


@pytest.fixture(name="witness")
def _witness(received: Received) -> Iterator[Witness]:
    """A callback after ours: what LiteLLM told the callbacks."""
    witness = Witness()
    litellm.callbacks.append(witness)
    yield witness
    forget(witness)


async def in_loop(received: Received, call: Awaitable[Any]) -> tuple[Any, list[BaseEvent]]:
    """Await ``call``, then its events with the loop still running (LiteLLM logs in a task)."""
    try:
        answer = await call
    except Exception:
        await asyncio.to_thread(received.wait)
        raise
    return answer, await asyncio.to_thread(received.wait)


class TestGenerate:
    """image_generation: started (at the call's start), completed, usage, with the upstream's id."""

    def test_sync_gpt_image_1(
        self, server: ImageServer, received: Received, witness: Witness
    ) -> None:
        answer = generate(server, size="1024x1024", quality="high", n=2)
        events = received.wait()
        (logged,) = witness.wait()
        assert types(events) == SEQUENCE
        started, completed, usage = events
        request_id = one_request(events)
        # The upstream's x-request-id; LiteLLM's call id kept beside it.
        assert request_id == answer._hidden_params["headers"]["x-request-id"]
        assert {e.correlation_id for e in events} == {logged["kwargs"]["litellm_call_id"]}
        assert isinstance(started, ImageRequestStartedEvent)
        assert (started.prompt, completed.outputs) == (None, None)  # not asked for
        # Stamped when the call began: the wrapper's start, just before LiteLLM's own.
        assert started.timestamp <= int(logged["start"].timestamp() * 1000)
        assert started.number_of_images == 2
        assert (usage.provider, usage.model, usage.size, usage.quality) == (
            "openai",
            "gpt-image-1",
            "1024x1024",
            "high",
        )
        assert completed.images == 2
        assert isinstance(usage, ImageUsageEvent)
        assert (usage.usage.input_tokens, usage.usage.output_tokens) == (50, 100)
        # Ours: 10 text tokens x $5/M + 40 image tokens x $10/M + 100 output
        # tokens x $40/M = 0.00005 + 0.0004 + 0.004 = 0.00445. LiteLLM prices
        # gpt-image-1's tokens at the same rates: 0.00445 too.
        assert usage.cost is not None
        assert usage.cost.total == D("0.00445")
        assert usage.usage.reported_cost == D("0.00445")

    def test_async_dall_e_3(self, server: ImageServer, received: Received) -> None:
        answer, events = asyncio.run(
            in_loop(received, agenerate(server, model="openai/dall-e-3", size="1024x1024"))
        )
        assert types(events) == SEQUENCE
        assert one_request(events) == answer._hidden_params["headers"]["x-request-id"]
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert (usage.model, usage.size, usage.quality, usage.images) == (
            "dall-e-3",
            "1024x1024",
            "standard",
            1,
        )
        # Where LiteLLM and ours differ: ours is DALL-E 3's price for one
        # standard 1024x1024 image, $0.040; LiteLLM reports 0.0 (it prices
        # dall-e-3 by quality, which the call left to the API's default):
        # no reported cost, never 0.
        assert usage.cost is not None
        assert usage.cost.total == D("0.040")
        assert usage.usage.reported_cost is None
        # DALL-E reports no tokens: LiteLLM's zero-filled usage is not taken as usage.
        assert usage.usage.input_tokens is None

    def test_edit(self, server: ImageServer, received: Received) -> None:
        litellm.image_edit(
            model="openai/gpt-image-1",
            image=b"\x89PNG fake",
            prompt="a fox",
            api_base=server.base_url,
            api_key=SECRET,
        )
        events = received.wait()
        assert types(events) == SEQUENCE
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert (usage.operation, usage.images) == ("image.edit", 1)
        # 10 text x $5/M + 323 image x $10/M + 50 output x $40/M
        # = 0.00005 + 0.00323 + 0.002 = 0.00528; LiteLLM's is the same.
        assert usage.cost is not None
        assert usage.cost.total == D("0.00528")
        assert usage.usage.reported_cost == D("0.00528")


class TestErrors:
    """A provider error is image:request:error with its status code, after started."""

    @pytest.mark.parametrize(
        ("status", "raised"),
        [
            (400, litellm.BadRequestError),
            (429, litellm.RateLimitError),
            (500, litellm.InternalServerError),
        ],
    )
    def test_status(
        self, server: ImageServer, received: Received, status: int, raised: type[Exception]
    ) -> None:
        server.fail_next(status, "refused")
        with pytest.raises(raised):
            generate(server)
        events = received.wait()
        assert types(events) == ["image:request:started", "image:request:error"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.status_code == status
        assert error.error_type == raised.__name__
        assert one_request(events).startswith("req_local_")

    def test_async(self, server: ImageServer, received: Received) -> None:
        server.fail_next(429, "slow down")
        with pytest.raises(litellm.RateLimitError):
            asyncio.run(in_loop(received, agenerate(server)))
        error = received.events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.status_code == 429


class TestOtherCalls:
    """A call that makes no image (a completion) gives no event."""

    def test_completion(self, received: Received, witness: Witness) -> None:
        litellm.completion(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}], mock_response="hi"
        )
        (logged,) = witness.wait()  # our callback ran before the witness
        assert logged["kwargs"]["call_type"] == "completion"
        assert received.events == []


class TestSecrets:
    """The call's API key, which LiteLLM hands its callbacks, reaches no event and no log line."""

    def test_key_nowhere(self, server: ImageServer, client: EventClient) -> None:
        client.add_sink(LogSink())
        received = Received(client)
        with structlog.testing.capture_logs() as logs:
            instrument_litellm(events=client)
            try:
                generate(server)
                server.fail_next(401, f"Incorrect API key provided: {SECRET}")
                with pytest.raises(litellm.AuthenticationError):
                    generate(server)
                events = received.wait(2)
            finally:
                uninstrument_litellm()
        assert len(logs) >= len(events) == 5
        assert SECRET not in repr([to_dict(event) for event in events])
        assert SECRET not in repr(events)
        assert SECRET not in repr(logs)


class TestCapture:
    """capture_prompts and capture_outputs copy the prompt and the images into the events."""

    def test_both(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client, capture_prompts=True, capture_outputs=True)
        try:
            generate(server, n=2)
            started, completed, _ = received.wait()
        finally:
            uninstrument_litellm()
        assert started.prompt == "a fox"
        assert [output.b64_json for output in completed.outputs] == ["aGVsbG8=", "aGVsbG8="]


class TestProviders:
    """LiteLLM's provider names become aievents' (the price table's)."""

    @pytest.mark.parametrize(
        ("theirs", "ours"),
        [
            ("openai", "openai"),
            ("azure", "azure"),
            ("azure_ai", "azure"),
            ("vertex_ai", "google"),
            ("gemini", "google"),
            ("bedrock", "bedrock"),
            ("xai", "xai"),
            ("openrouter", "openrouter"),
            ("fal_ai", "fal"),
        ],
    )
    def test_names(self, theirs: str, ours: str) -> None:
        assert provider_of({"custom_llm_provider": theirs}) == ours


class TestTrace:
    """The application's span when the call began is the events' traceparent."""

    def test_span_at_the_call(self, server: ImageServer, received: Received) -> None:
        tracer = TracerProvider().get_tracer("app")
        with tracer.start_as_current_span("handler") as span:
            generate(server, size="1024x1024", quality="high")
        events = received.wait()
        context = span.get_span_context()
        assert {e.traceparent for e in events} == {
            f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
        }
