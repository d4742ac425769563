"""The Responses image tool's streams cut short or let go of, raw responses, and the wrapper."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from aievents import BaseEvent, EventClient, ImageRequestErrorEvent, ImageUsageEvent
from aievents.instrument import instrument_openai, uninstrument_openai
from aievents.instrument._guard import claim, release
from aievents.testing import CapturingSink, ImageServer, capture_events
from test_instrument_openai import SEQUENCE, names

TOOL = {"type": "image_generation", "model": "gpt-image-1", "size": "1024x1024", "quality": "low"}
#: gpt-image-1, 1024x1024, low: 3 text tokens at $5/M + 272 image tokens at $40/M.
COST = Decimal("0.010895")
#: The table's per-image estimate for gpt-image-1, 1024x1024, low (no usage reported).
ESTIMATE = Decimal("0.011")
ASK: dict[str, Any] = {"model": "gpt-5", "input": "draw a fox", "tools": [TOOL]}
#: Each test of a class so marked runs with the sync and the async client.
BOTH_CLIENTS = pytest.mark.parametrize("mode", ["sync", "async"])
#: A stream with two partial images before its image completes.
PARTIAL: dict[str, Any] = {**ASK, "tools": [{**TOOL, "partial_images": 2}], "stream": True}


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def sync_client(server: ImageServer, **options: Any) -> openai.OpenAI:
    client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
    return instrument_openai(client, **options)


def async_client(server: ImageServer, **options: Any) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
    return instrument_openai(client, **options)


def read_stream(mode: str, server: ImageServer, upto: str | None = None, how: str = "") -> str:
    """Stream an answer, read it (up to the first event of type ``upto``), close or drop it.

    Returns the answer's request id.
    """
    if mode == "sync":
        with sync_client(server) as client:
            stream = client.responses.create(**PARTIAL)
            request_id = stream.response.headers["x-request-id"]
            for event in stream:
                if event.type == upto:
                    break
            if how == "close":
                stream.close()
            del stream
            gc.collect()
            return str(request_id)

    async def go() -> str:
        async with async_client(server) as client:
            stream = await client.responses.create(**PARTIAL)
            request_id = stream.response.headers["x-request-id"]
            async for event in stream:
                if event.type == upto:
                    break
            if how == "close":
                await stream.close()
            del stream
            gc.collect()
            return str(request_id)

    return asyncio.run(go())


def through_streaming_response(mode: str, server: ImageServer, read: str) -> str:
    """Call with_streaming_response.create and read its answer; its request id.

    ``read``: ``"read"`` the JSON body, ``"stream"`` (``stream=True``) the
    parsed stream to its end, or ``"none"`` of it.
    """
    ask = PARTIAL if read == "stream" else ASK

    async def go() -> str:
        async with (
            async_client(server) as client,
            client.responses.with_streaming_response.create(**ask) as response,
        ):
            if read == "read":
                await response.read()
            elif read == "stream":
                _ = [event async for event in await response.parse()]
            return str(response.headers["x-request-id"])

    if mode != "sync":
        return asyncio.run(go())
    with (
        sync_client(server) as client,
        client.responses.with_streaming_response.create(**ask) as response,
    ):
        if read == "read":
            response.read()
        elif read == "stream":
            list(response.parse())
        return str(response.headers["x-request-id"])


def assert_estimated(events: list[BaseEvent], request_id: str) -> None:
    """One image booked without usage, priced at the table's per-image estimate."""
    assert names(events) == SEQUENCE
    assert {e.request_id for e in events} == {request_id}
    assert events[1].images == 1  # type: ignore[attr-defined]
    usage = events[2]
    assert isinstance(usage, ImageUsageEvent)
    assert usage.usage.total_tokens is None
    assert usage.cost is not None
    assert usage.cost.basis == "estimate"
    assert usage.cost.total == ESTIMATE


@BOTH_CLIENTS
class TestCutShort:
    """The server closes the stream before response.completed: reported as image streams are."""

    def test_after_the_image(self, mode: str, server: ImageServer) -> None:
        """The image completed, the final response never came: one image, at the estimate."""
        server.responses.plan_next(cut_after="response.image_generation_call.completed")
        with capture_events() as events:
            request_id = read_stream(mode, server)
        assert_estimated(events, request_id)

    @pytest.mark.parametrize(
        "cut_after", ["response.image_generation_call.generating", "response.in_progress"]
    )
    def test_before_the_image(self, mode: str, server: ImageServer, cut_after: str) -> None:
        """No image completed: an IncompleteStream error, as a call that failed."""
        server.responses.plan_next(cut_after=cut_after)
        with capture_events() as events:
            request_id = read_stream(mode, server)
        assert names(events) == ["image:request:started", "image:request:error"]
        assert {e.request_id for e in events} == {request_id}
        error = events[1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.error_type == "IncompleteStream"
        assert error.model == "gpt-image-1"


@BOTH_CLIENTS
class TestLetGo:
    """The caller stops reading: the image calls begun are booked, else nothing."""

    @pytest.mark.filterwarnings("ignore::ResourceWarning")
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    @pytest.mark.parametrize("how", ["close", "drop"])
    def test_after_a_call_began(self, mode: str, server: ImageServer, how: str) -> None:
        """Let go of while generating: one image, at the estimate."""
        with capture_events() as events:
            request_id = read_stream(mode, server, "response.image_generation_call.generating", how)
        assert_estimated(events, request_id)

    @pytest.mark.filterwarnings("ignore::ResourceWarning")
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    @pytest.mark.parametrize("how", ["close", "drop"])
    def test_before_any_call(self, mode: str, server: ImageServer, how: str) -> None:
        """Let go of before any image call: not known to be an image request, nothing."""
        with capture_events() as events:
            read_stream(mode, server, "response.created", how)
        assert events == []


class TestStreamHelper:
    """responses.stream(...) goes through create: reported once, from the final response."""

    def test_sync(self, server: ImageServer) -> None:
        with (
            capture_events() as events,
            sync_client(server) as client,
            client.responses.stream(**ASK) as stream,
        ):
            request_id = stream._raw_stream.response.headers["x-request-id"]
            final = stream.get_final_response()
        assert [item.type for item in final.output] == ["image_generation_call", "message"]
        assert names(events) == SEQUENCE
        assert {e.request_id for e in events} == {request_id}
        usage = events[2]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.cost is not None
        assert usage.cost.total == COST

    def test_async(self, server: ImageServer) -> None:
        async def go() -> Any:
            async with (
                async_client(server) as client,
                client.responses.stream(**ASK) as stream,
            ):
                return await stream.get_final_response()

        with capture_events() as events:
            final = asyncio.run(go())
        assert final.tool_usage is not None
        assert names(events) == SEQUENCE
        assert events[2].cost.total == COST  # type: ignore[attr-defined]


@BOTH_CLIENTS
class TestRaw:
    """with_raw_response and with_streaming_response report as the plain call does."""

    @pytest.mark.parametrize("stream", [False, True])
    def test_raw(self, mode: str, server: ImageServer, stream: bool) -> None:
        async def go() -> Any:
            async with async_client(server) as client:
                raw = await client.responses.with_raw_response.create(**ASK, stream=stream)
                parsed = raw.parse()
                if stream:
                    _ = [event async for event in parsed]
                return raw

        with capture_events() as events:
            if mode == "sync":
                with sync_client(server) as client:
                    raw = client.responses.with_raw_response.create(**ASK, stream=stream)
                    parsed = raw.parse()
                    if stream:
                        list(parsed)
            else:
                raw = asyncio.run(go())
        assert names(events) == SEQUENCE
        assert {e.request_id for e in events} == {raw.headers["x-request-id"]}
        assert events[2].cost.total == COST  # type: ignore[attr-defined]

    @pytest.mark.parametrize("read", ["read", "stream"])
    def test_streaming_response(self, mode: str, server: ImageServer, read: str) -> None:
        """The body (or the stream, stream=True) reports when the caller reads it to its end."""
        with capture_events() as events:
            request_id = through_streaming_response(mode, server, read)
        assert names(events) == SEQUENCE
        assert {e.request_id for e in events} == {request_id}
        assert events[2].cost.total == COST  # type: ignore[attr-defined]

    def test_streaming_response_unread(self, mode: str, server: ImageServer) -> None:
        """A body never read: whether it made an image is unknown, nothing is reported."""
        with capture_events() as events:
            through_streaming_response(mode, server, "none")
        assert events == []


class TestWrapper:
    """The per-client wrapper: undone, applied once, claimed once, outputs and prompts on demand."""

    def test_uninstrument(self, server: ImageServer) -> None:
        """The SDK's own create comes back; calls are not reported."""
        client = sync_client(server)
        assert "create" in vars(client.responses)
        uninstrument_openai(client)
        assert "create" not in vars(client.responses)
        with capture_events() as events:
            client.responses.create(**ASK)
        assert events == []
        client.close()

    def test_twice_is_once(self, server: ImageServer) -> None:
        client = instrument_openai(sync_client(server))
        with capture_events() as events:
            client.responses.create(**ASK)
        assert names(events) == SEQUENCE
        client.close()

    def test_derived_client(self, server: ImageServer) -> None:
        """A client made with with_options() reports too."""
        client = sync_client(server)
        with capture_events() as events:
            client.with_options(timeout=30).responses.create(**ASK)
        assert names(events) == SEQUENCE
        client.close()

    def test_claimed_by_an_outer_wrapper(self, server: ImageServer) -> None:
        """Inside a call an outer wrapper reports, the call passes through unreported."""
        client = sync_client(server)
        token = claim()
        assert token is not None
        try:
            with capture_events() as events:
                response = client.responses.create(**ASK)
        finally:
            release(token)
        assert response.tool_usage is not None
        assert events == []
        client.close()

    def test_tools_from_an_iterator(self, server: ImageServer) -> None:
        """tools given as a generator reach the SDK whole, and are seen."""
        client = sync_client(server)
        with capture_events() as events:
            response = client.responses.create(
                model="gpt-5", input="draw a fox", tools=(tool for tool in [TOOL])
            )
        assert [tool.type for tool in response.tools] == ["image_generation"]
        assert names(events) == SEQUENCE
        client.close()

    def test_outputs_and_prompt(self, server: ImageServer) -> None:
        """capture_outputs keeps the completed calls' images; capture_prompts the input."""
        events = EventClient()
        sink = CapturingSink()
        events.add_sink(sink)
        client = sync_client(server, events=events, capture_outputs=True, capture_prompts=True)
        server.responses.plan_next(("completed", "failed"))
        client.responses.create(**ASK)
        started, completed, _ = sink.events
        assert started.prompt == "draw a fox"  # type: ignore[attr-defined]
        outputs = completed.outputs  # type: ignore[attr-defined]
        assert [(o.b64_json, o.revised_prompt) for o in outputs] == [
            ("aGVsbG8=", "a revised prompt")
        ]
        client.close()
        events.close()

    def test_prompt_not_captured_by_default(self, server: ImageServer) -> None:
        with capture_events() as events, sync_client(server) as client:
            client.responses.create(**ASK)
        assert events[0].prompt is None  # type: ignore[attr-defined]

    def test_azure_image_deployment(self, server: ImageServer) -> None:
        """The image deployment Azure's header names is the model, priced as deployments maps it."""
        client = sync_client(server, deployments={"prod-images": "gpt-image-1"})
        header = {"x-ms-oai-image-generation-deployment": "prod-images"}
        with capture_events() as events:
            client.responses.create(**ASK, extra_headers=header)
        assert {e.model for e in events} == {"prod-images"}
        usage = events[2]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.priced_as == "gpt-image-1"
        assert usage.cost is not None
        assert usage.cost.total == COST
        client.close()
