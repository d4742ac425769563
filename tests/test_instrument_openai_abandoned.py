"""An answer let go of before its end is booked one way, whatever gave it.

A ``stream=True`` call read in part, through the plain call,
``with_raw_response`` or ``with_streaming_response``, and a streamed body
read in part; sync and async; closed, dropped (garbage-collected), or still
held when the process ends: the provider ran the generation and bills it,
so the request is completed with the images asked for, priced per image
where the table can, exactly as an unread body is. The real openai SDK
against the local image server; a real child process for the exit.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from aievents import BaseEvent, ImageUsageEvent
from aievents.instrument import instrument_openai
from aievents.testing import ImageServer, capture_events
from children import run_child

SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]
#: Two images asked for, at a size and quality the table has an estimate for.
ASKED: dict[str, Any] = {
    "model": "gpt-image-1",
    "prompt": "x",
    "size": "1024x1024",
    "quality": "high",
    "n": 2,
}
#: The table's per-image estimate for gpt-image-1, 1024x1024, high: two images.
COST = Decimal("0.167") * 2
#: The ways an answer is received, read in part: a stream (plain, raw,
#: streamed response) read up to its first partial image, or a streamed
#: response's body read up to its first bytes.
WAYS = ["stream", "raw-stream", "streaming-stream", "streaming-body"]


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def names(events: list[BaseEvent]) -> list[str]:
    """The event names, in order."""
    return [e.event_type for e in events]


def arguments(way: str) -> dict[str, Any]:
    """The call's arguments: a stream with partial images before the completed one, or not."""
    if way == "streaming-body":
        return dict(ASKED)
    return {**ASKED, "stream": True, "partial_images": 2}


def let_go_sync(client: openai.OpenAI, way: str, how: str) -> str:
    """Receive the answer ``way``, read it in part, then close it or drop it; its request id."""
    images: Any = client.images
    if way in ("stream", "raw-stream"):
        if way == "stream":
            stream = images.generate(**arguments(way))
            request_id = stream.response.headers["x-request-id"]
        else:
            raw = images.with_raw_response.generate(**arguments(way))
            request_id, stream = raw.headers["x-request-id"], raw.parse()
            del raw
        next(iter(stream))
        if how == "close":
            stream.close()
        del stream
    else:
        manager = images.with_streaming_response.generate(**arguments(way))
        response = manager.__enter__()
        request_id = response.headers["x-request-id"]
        reader = iter(response.parse()) if way == "streaming-stream" else response.iter_bytes(8)
        next(reader)
        if how == "close":  # leaving the with block
            manager.__exit__(None, None, None)
        del manager, response, reader
    gc.collect()
    return str(request_id)


async def let_go_async(client: openai.AsyncOpenAI, way: str, how: str) -> str:
    """:func:`let_go_sync` with the async client."""
    images: Any = client.images
    if way in ("stream", "raw-stream"):
        if way == "stream":
            stream = await images.generate(**arguments(way))
            request_id = stream.response.headers["x-request-id"]
        else:
            raw = await images.with_raw_response.generate(**arguments(way))
            request_id, stream = raw.headers["x-request-id"], raw.parse()
            del raw
        await anext(aiter(stream))
        if how == "close":
            await stream.close()
        del stream
    else:
        manager = images.with_streaming_response.generate(**arguments(way))
        response = await manager.__aenter__()
        request_id = response.headers["x-request-id"]
        if way == "streaming-stream":
            reader = aiter(await response.parse())
        else:
            reader = response.iter_bytes(8)
        await anext(reader)
        if how == "close":  # leaving the async with block
            await manager.__aexit__(None, None, None)
        del manager, response, reader
    gc.collect()
    return str(request_id)


def let_go(mode: str, server: ImageServer, way: str, how: str) -> str:
    """:func:`let_go_sync` or :func:`let_go_async` with a fresh instrumented client."""
    if mode == "sync":
        with instrument_openai(
            openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        ) as client:
            return let_go_sync(client, way, how)

    async def go() -> str:
        async with instrument_openai(
            openai.AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        ) as client:
            return await let_go_async(client, way, how)

    return asyncio.run(go())


def assert_booked(events: list[BaseEvent], request_id: str) -> None:
    """Started, completed and usage of one request: the two images asked for, at the estimate."""
    assert names(events) == SEQUENCE
    assert {e.request_id for e in events} == {request_id}
    completed = events[1]
    assert completed.images == 2  # type: ignore[attr-defined]
    usage = events[2]
    assert isinstance(usage, ImageUsageEvent)
    assert usage.images == 2
    assert usage.usage.input_tokens is None
    assert usage.cost is not None
    assert usage.cost.basis == "estimate"
    assert usage.cost.total == COST


class TestLetGo:
    """Read in part, then closed or dropped: the images asked for, whatever gave the answer."""

    @pytest.mark.filterwarnings("ignore::ResourceWarning")
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    @pytest.mark.parametrize("how", ["close", "drop"])
    @pytest.mark.parametrize("way", WAYS)
    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_booked(self, server: ImageServer, mode: str, way: str, how: str) -> None:
        """Completed with n images, priced per image, once (reported by the end of capture)."""
        with capture_events() as events:
            request_id = let_go(mode, server, way, how)
        assert_booked(events, request_id)

    def test_same_as_unread(self, server: ImageServer) -> None:
        """A stream read in part and a body never read give the same report."""
        with capture_events() as part_read:
            let_go("sync", server, "stream", "close")
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        with (
            capture_events() as unread,
            instrument_openai(client) as client,
            client.images.with_streaming_response.generate(**ASKED),
        ):
            pass
        kept = ("images", "cost", "usage", "size", "quality", "model", "operation")
        assert [{k: getattr(e, k, None) for k in kept} for e in part_read] == [
            {k: getattr(e, k, None) for k in kept} for e in unread
        ]

    def test_read_to_the_end_is_not_let_go(self, server: ImageServer) -> None:
        """A stream read to its end and then closed: its completed event counts, once."""
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        with capture_events() as events, instrument_openai(client) as client:
            with client.images.with_streaming_response.generate(
                **arguments("streaming-stream")
            ) as response:
                kinds = [event.type for event in response.parse()]
            assert kinds[-1] == "image_generation.completed"
        assert names(events) == SEQUENCE
        usage = events[2]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.images == 1  # the one completed event the server sent
        assert usage.usage.total_tokens is not None
        assert usage.cost is not None
        assert usage.cost.basis != "estimate"


#: A child that ends while it holds answers read in part, each way, sync and
#: async; its events go to a JSONL file through a batching sink.
AT_EXIT = """
import asyncio, sys
sys.path.insert(0, {tests!r})
import openai
from aievents import get_client
from aievents.testing import ImageServer
from aievents.instrument import instrument_openai
from aievents.sinks import ForwardSink
from aievents.transports.jsonl import JsonlTransport
from test_instrument_openai_abandoned import WAYS, arguments

get_client().add_sink(ForwardSink(JsonlTransport({path!r})))
server = ImageServer().__enter__()
HELD = []

def sync_way(client, way):
    images = client.images
    if way == "stream":
        stream = images.generate(**arguments(way))
    elif way == "raw-stream":
        stream = images.with_raw_response.generate(**arguments(way)).parse()
    else:
        response = images.with_streaming_response.generate(**arguments(way)).__enter__()
        HELD.append(response)
        stream = response.parse() if way == "streaming-stream" else response.iter_bytes(8)
    reader = iter(stream)
    next(reader)
    HELD.extend([stream, reader])

async def async_ways():
    client = instrument_openai(
        openai.AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
    )
    images = client.images
    for way in WAYS:
        if way == "stream":
            stream = await images.generate(**arguments(way))
        elif way == "raw-stream":
            stream = (await images.with_raw_response.generate(**arguments(way))).parse()
        else:
            manager = images.with_streaming_response.generate(**arguments(way))
            response = await manager.__aenter__()
            HELD.append(response)
            if way == "streaming-stream":
                stream = await response.parse()
            else:
                stream = response.iter_bytes(8)
        reader = aiter(stream)
        await anext(reader)
        HELD.extend([stream, reader])

client = instrument_openai(
    openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
)
for way in WAYS:
    sync_way(client, way)
asyncio.run(async_ways())
print("exiting", flush=True)
"""


class TestAtExit:
    """Answers read in part and still held when the process ends are on the books."""

    @pytest.mark.filterwarnings("ignore::ResourceWarning")
    def test_every_way(self, tmp_path: Path) -> None:
        """Each of the eight requests: started, completed, usage with the two images asked for."""
        path = tmp_path / "events.jsonl"
        out, err = run_child(AT_EXIT, path=str(path))
        assert out == "exiting\n", err
        found: dict[str, list[dict[str, Any]]] = {}
        for line in path.read_text().splitlines():
            event = json.loads(line)
            found.setdefault(event["request_id"], []).append(event)
        assert len(found) == 2 * len(WAYS)
        for events in found.values():
            assert [e["type"] for e in events] == SEQUENCE
            usage = events[2]
            assert usage["images"] == 2
            assert Decimal(str(usage["cost"]["total"])) == COST
