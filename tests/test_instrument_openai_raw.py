"""instrument_openai with the SDK's raw and streamed responses, against a local server.

``with_raw_response`` and ``with_streaming_response`` (sync and async) give
the events and cost of the plain call once the body is parsed or read; a body
never read still counts the request.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import pickle
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import openai
import pytest
import structlog

from aievents import BaseEvent, ImageUsageEvent, get_client, to_dict
from aievents.events import now_ms
from aievents.instrument import instrument_openai, uninstrument_openai
from aievents.testing import ImageServer, capture_events

D = Decimal
SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]
#: Event fields that differ from one call to the next.
VOLATILE = frozenset({"timestamp", "event_id", "duration", "request_id"})
#: Ways the caller reads a streamed response's body in full.
READS = ["parse", "read", "text", "json", "iter_bytes", "iter_text", "iter_lines"]
#: Ways a streamed response ends with its body not read.
UNREAD = ["close", "exit", "collected"]
#: The calls: method, arguments, and when the body is never read, the
#: images counted (``n``) and the cost (per image where the table has a price).
CALLS: dict[str, tuple[str, dict[str, Any], int, Decimal | None]] = {
    "generate-gpt-image-1": ("generate", {"model": "gpt-image-1", "prompt": "x"}, 1, None),
    "generate-dall-e-3": ("generate", {"model": "dall-e-3", "prompt": "x"}, 1, D("0.040")),
    "generate-unpriced": ("generate", {"model": "gpt-image-9-preview", "prompt": "x"}, 1, None),
    "edit": ("edit", {"model": "gpt-image-1", "image": b"png", "prompt": "x", "n": 2}, 2, None),
    "variation": ("create_variation", {"image": b"png", "n": 2, "size": "512x512"}, 2, D("0.036")),
}

#: Streamed calls (stream=True), with one partial image before the completed one.
STREAMED: dict[str, dict[str, Any]] = {
    "generate": {"model": "gpt-image-1", "prompt": "x", "stream": True, "partial_images": 1},
    "edit": {"model": "gpt-image-1", "image": b"png", "prompt": "x", "stream": True},
}


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="mode", params=["sync", "async"])
def _mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _variations_are_deprecated() -> Iterator[None]:
    """The SDK marks images.create_variation deprecated; that is not under test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def names(events: list[BaseEvent]) -> list[str]:
    """The event names, in order."""
    return [e.event_type for e in events]


def facts(events: list[BaseEvent]) -> list[dict[str, Any]]:
    """What the events say, without what differs between two calls (ids, times)."""
    return [{k: v for k, v in to_dict(e).items() if k not in VOLATILE} for e in events]


def request_id_of(events: list[BaseEvent]) -> str:
    """The one request id all the events share."""
    (request_id,) = {e.request_id for e in events}
    assert request_id
    return request_id


def usage_of(events: list[BaseEvent]) -> ImageUsageEvent:
    """The single image:usage event."""
    (usage,) = (e for e in events if isinstance(e, ImageUsageEvent))
    return usage


def make_client(mode: str, server: ImageServer) -> Any:
    """A sync or async openai client of the local server (plain HTTP: no certificates loaded)."""
    if mode == "sync":
        http: Any = openai.DefaultHttpxClient(verify=False)
        return openai.OpenAI(
            api_key="sk-test", base_url=server.base_url, http_client=http, max_retries=0
        )
    http = openai.DefaultAsyncHttpxClient(verify=False)
    return openai.AsyncOpenAI(
        api_key="sk-test", base_url=server.base_url, http_client=http, max_retries=0
    )


def collect(events: list[BaseEvent]) -> None:
    """Let the garbage collector take what was dropped, until the request is reported."""
    if names(events) != SEQUENCE:
        gc.collect()


class Calls:
    """One instrumented client (sync or async), called plainly or through the wrappers."""

    def __init__(self, mode: str, server: ImageServer) -> None:
        self.mode = mode
        self.server = server
        #: The events of the last call, even one that raised.
        self.last_events: list[BaseEvent] = []

    def client(self) -> Any:
        return instrument_openai(make_client(self.mode, self.server), capture_outputs=True)

    def run(self, steps: Any) -> Any:
        """``steps(client)`` with a fresh client: called, or run in an event loop."""
        if self.mode == "sync":
            with self.client() as client:
                return steps(client)

        async def go() -> Any:
            async with self.client() as client:
                return await steps(client)

        return asyncio.run(go())

    def plain(self, method: str, **kwargs: Any) -> list[BaseEvent]:
        """The events of the plain call (a stream read to its end)."""

        def sync(client: Any) -> None:
            result = getattr(client.images, method)(**kwargs)
            if kwargs.get("stream"):
                list(result)

        async def asynchronous(client: Any) -> None:
            result = await getattr(client.images, method)(**kwargs)
            if kwargs.get("stream"):
                [event async for event in result]

        with capture_events() as events:
            self.run(sync if self.mode == "sync" else asynchronous)
        return events

    def raw(self, method: str, how: str, **kwargs: Any) -> tuple[list[BaseEvent], str]:
        """``with_raw_response``: its events and the x-request-id of its answer."""

        def sync(client: Any) -> str:
            response = getattr(client.images.with_raw_response, method)(**kwargs)
            if how == "parse":
                parsed = response.parse()
                if kwargs.get("stream"):
                    list(parsed)
            return str(response.headers["x-request-id"])

        async def asynchronous(client: Any) -> str:
            response = await getattr(client.images.with_raw_response, method)(**kwargs)
            if how == "parse":
                parsed = response.parse()  # the legacy raw response parses synchronously
                if kwargs.get("stream"):
                    [event async for event in parsed]
            return str(response.headers["x-request-id"])

        with capture_events() as events:
            self.last_events = events
            request_id = self.run(sync if self.mode == "sync" else asynchronous)
        return events, request_id

    def streaming(self, method: str, how: str, **kwargs: Any) -> tuple[list[BaseEvent], str]:
        """``with_streaming_response``, its body read (or not) ``how``: events and request id."""

        def sync(client: Any) -> str:
            manager = getattr(client.images.with_streaming_response, method)(**kwargs)
            if how == "collected":
                response = manager.__enter__()
                request_id = str(response.headers["x-request-id"])
                del response, manager
                collect(events)
                return request_id
            with manager as response:
                if how in ("parse", "read", "text", "json"):
                    result = getattr(response, how)()
                    if kwargs.get("stream") and how == "parse":
                        list(result)
                elif how.startswith("iter_"):
                    list(getattr(response, how)())
                elif how == "close":
                    response.close()
                return str(response.headers["x-request-id"])

        async def asynchronous(client: Any) -> str:
            manager = getattr(client.images.with_streaming_response, method)(**kwargs)
            if how == "collected":
                response = await manager.__aenter__()
                request_id = str(response.headers["x-request-id"])
                del response, manager
                collect(events)
                return request_id
            async with manager as response:
                if how in ("parse", "read", "text", "json"):
                    result = await getattr(response, how)()
                    if kwargs.get("stream") and how == "parse":
                        [event async for event in result]
                elif how.startswith("iter_"):
                    [part async for part in getattr(response, how)()]
                elif how == "close":
                    await response.close()
                return str(response.headers["x-request-id"])

        with capture_events() as events:
            self.last_events = events
            request_id = self.run(sync if self.mode == "sync" else asynchronous)
        return events, request_id


@contextmanager
def streamed(client: Any, **kwargs: Any) -> Iterator[tuple[list[BaseEvent], Any]]:
    """One ``with_streaming_response`` call of gpt-image-1, and the events captured around it."""
    arguments = {"model": "gpt-image-1", "prompt": "x", **kwargs}
    with (
        capture_events() as events,
        client.images.with_streaming_response.generate(**arguments) as response,
    ):
        yield events, response


@pytest.fixture(name="calls")
def _calls(mode: str, server: ImageServer) -> Calls:
    return Calls(mode, server)


class TestBodyRead:
    """A raw or streamed response whose body is read reports what the plain call reports."""

    @pytest.mark.parametrize("call", list(CALLS))
    @pytest.mark.parametrize("how", ["parse", "untouched"])
    def test_raw_response(self, calls: Calls, call: str, how: str) -> None:
        """with_raw_response reads the body before returning: the plain call's events at once."""
        method, kwargs, _, _ = CALLS[call]
        plain = calls.plain(method, **kwargs)
        events, request_id = calls.raw(method, how, **kwargs)
        assert names(plain) == SEQUENCE
        assert facts(events) == facts(plain)
        assert request_id_of(events) == request_id

    @pytest.mark.parametrize("call", list(CALLS))
    @pytest.mark.parametrize("how", READS)
    def test_streaming_response(self, calls: Calls, call: str, how: str) -> None:
        """with_streaming_response: the plain call's events once the body is read, however."""
        method, kwargs, _, _ = CALLS[call]
        plain = calls.plain(method, **kwargs)
        events, request_id = calls.streaming(method, how, **kwargs)
        assert facts(events) == facts(plain)
        assert request_id_of(events) == request_id

    def test_priced_like_the_plain_call(self, calls: Calls) -> None:
        """Token usage and its exact cost come from the body, as for the plain call."""
        events, _ = calls.streaming("generate", "parse", model="gpt-image-1", prompt="x")
        usage = usage_of(events)
        assert usage.usage.input_tokens == 50
        assert usage.usage.output_tokens == 50
        assert usage.cost is not None
        assert usage.cost.total == D("0.00245")
        assert usage.size == "1024x1536"
        assert usage.quality == "high"


class TestBodyNotRead:
    """A streamed response closed or dropped unread counts the request: images from n."""

    @pytest.mark.parametrize("call", list(CALLS))
    @pytest.mark.parametrize("how", UNREAD)
    def test_counted(self, calls: Calls, call: str, how: str) -> None:
        """Started, completed and usage; priced per image where the table can, else unpriced."""
        method, kwargs, images, cost = CALLS[call]
        events, request_id = calls.streaming(method, how, **kwargs)
        assert names(events) == SEQUENCE
        assert request_id_of(events) == request_id
        completed, usage = events[1], usage_of(events)
        assert completed.images == images  # type: ignore[attr-defined]
        assert completed.outputs is None  # type: ignore[attr-defined]
        assert usage.images == images
        assert usage.usage.input_tokens is None
        assert usage.usage.output_tokens is None
        if cost is None:
            assert usage.cost is None
            assert usage.usage.cost is None
        else:
            assert usage.cost is not None
            assert usage.cost.basis == "images"
            assert usage.cost.total == cost
            assert usage.usage.cost is None  # computed, not reported

    def test_n_defaults_to_one(self, server: ImageServer) -> None:
        """Without n, one image is counted."""
        events, _ = Calls("sync", server).streaming("generate", "exit", prompt="x")
        assert usage_of(events).images == 1
        assert usage_of(events).cost.total == D("0.020")  # type: ignore[union-attr]

    def test_token_billed_estimate(self, server: ImageServer) -> None:
        """A GPT image model with size and quality given: the table's per-image estimate."""
        kwargs = {"model": "gpt-image-1", "prompt": "x", "size": "1024x1024", "quality": "high"}
        events, _ = Calls("sync", server).streaming("generate", "exit", **kwargs)
        cost = usage_of(events).cost
        assert cost is not None
        assert cost.basis == "estimate"
        assert cost.total == D("0.167")

    def test_read_after_close_is_not_counted_twice(self, server: ImageServer) -> None:
        """Closed unread, then parsed: the SDK refuses, and usage stays counted once."""
        client = instrument_openai(make_client("sync", server))
        with capture_events() as events:
            with client.images.with_streaming_response.generate(prompt="x") as response:
                pass
            with pytest.raises(Exception, match="closed"):
                response.parse()
        assert names(events) == SEQUENCE
        client.close()

    def test_partly_read_then_closed(self, server: ImageServer) -> None:
        """A body read in part is not an answer: counted from n, once, by the next flush.

        The read is let go as its generator is finalized (which may happen
        inside the garbage collector): noted there, reported on a normal path.
        """
        client = instrument_openai(make_client("sync", server))
        with capture_events() as events:
            with client.images.with_streaming_response.generate(
                model="dall-e-3", prompt="x"
            ) as response:
                for _ in response.iter_bytes(chunk_size=8):
                    break
            assert get_client().flush()
            assert names(events) == SEQUENCE
            gc.collect()
            assert get_client().flush()
        assert names(events) == SEQUENCE
        assert usage_of(events).usage.input_tokens is None
        assert usage_of(events).cost.total == D("0.040")  # type: ignore[union-attr]
        client.close()

    def test_parse_after_read(self, server: ImageServer) -> None:
        """read() then parse() then read() again: one report."""
        client = instrument_openai(make_client("sync", server))
        with streamed(client) as (events, response):
            response.read()
            assert len(response.parse().data) == 1
            response.read()
            list(response.iter_bytes())
        assert names(events) == SEQUENCE
        assert usage_of(events).usage.total_tokens == 100
        client.close()


class TestStreamedGeneration:
    """stream=True through the wrappers: the plain stream's events once the stream is read."""

    @pytest.mark.parametrize("method", ["generate", "edit"])
    @pytest.mark.parametrize("wrapper", ["raw", "streaming"])
    def test_read(self, calls: Calls, method: str, wrapper: str) -> None:
        """Parsed into the SDK's stream and read to its end: same events, usage and cost."""
        kwargs = STREAMED[method]
        plain = calls.plain(method, **kwargs)
        events, request_id = getattr(calls, wrapper)(method, "parse", **kwargs)
        assert names(plain) == SEQUENCE
        assert facts(events) == facts(plain)
        assert request_id_of(events) == request_id
        assert usage_of(events).cost is not None

    @pytest.mark.parametrize("how", UNREAD)
    def test_not_read(self, calls: Calls, how: str) -> None:
        """A stream never read counts the images asked for (a GPT image model: unpriced)."""
        kwargs: dict[str, Any] = {"model": "gpt-image-1", "prompt": "x", "stream": True, "n": 1}
        events, request_id = calls.streaming("generate", how, **kwargs)
        assert names(events) == SEQUENCE
        assert request_id_of(events) == request_id
        assert usage_of(events).images == 1
        assert usage_of(events).cost is None


class TestFailure:
    """A call that fails through a wrapper reports the error as the plain call does."""

    @pytest.mark.parametrize("wrapper", ["raw", "streaming"])
    def test_http_error(self, calls: Calls, server: ImageServer, wrapper: str) -> None:
        """HTTP 500: started then error with OpenAI's id; the SDK's exception reaches the caller."""
        server.fail_next(500, "failure 500")
        with pytest.raises(openai.InternalServerError) as info:
            getattr(calls, wrapper)("generate", "parse", model="gpt-image-1", prompt="x")
        events = calls.last_events
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[-1].status_code == 500  # type: ignore[attr-defined]
        assert request_id_of(events) == info.value.request_id


class TestWrapperOrder:
    """Wrappers the SDK built before instrument_openai ran report too; uninstrument undoes it."""

    @pytest.mark.parametrize("cls", [openai.OpenAI, openai.AsyncOpenAI])
    def test_built_before(self, server: ImageServer, cls: type[Any]) -> None:
        """client.images.with_*_response and client.with_*_response.images, made first."""
        client = make_client("sync" if cls is openai.OpenAI else "async", server)
        wrappers = [
            client.images.with_raw_response,
            client.with_raw_response.images,
            client.images.with_streaming_response,
            client.with_streaming_response.images,
        ]
        instrument_openai(client)

        async def call_all() -> None:
            for wrapper in wrappers[:2]:
                (await wrapper.generate(model="dall-e-3", prompt="x")).parse()
            for wrapper in wrappers[2:]:
                async with wrapper.generate(model="dall-e-3", prompt="x") as response:
                    await response.parse()
            await client.close()

        with capture_events() as events:
            if cls is openai.OpenAI:
                for wrapper in wrappers[:2]:
                    wrapper.generate(model="dall-e-3", prompt="x").parse()
                for wrapper in wrappers[2:]:
                    with wrapper.generate(model="dall-e-3", prompt="x") as response:
                        response.parse()
                client.close()
            else:
                asyncio.run(call_all())
        assert names(events) == SEQUENCE * 4
        assert len({e.request_id for e in events}) == 4
        for usage in (e for e in events if isinstance(e, ImageUsageEvent)):
            assert usage.cost.total == D("0.040")  # type: ignore[union-attr]

    def test_built_after_and_undone(self, server: ImageServer) -> None:
        """Wrappers made after instrumenting report; after uninstrument no wrapper does."""
        client = make_client("sync", server)
        before = client.images.with_raw_response
        with structlog.testing.capture_logs() as logs:
            instrument_openai(client)
            instrument_openai(make_client("async", server))  # no wrapper built yet
        assert logs == []
        after = client.with_streaming_response.images
        with capture_events() as events:
            before.generate(prompt="x")
            with after.generate(prompt="x") as response:
                response.read()
        assert names(events) == SEQUENCE * 2
        uninstrument_openai(client)
        with capture_events() as events:
            before.generate(prompt="x")
            client.images.with_raw_response.generate(prompt="x")
            with after.generate(prompt="x") as response:
                response.read()
        assert events == []
        client.close()


class TestResponseUntouched:
    """A followed response keeps the SDK's class: it pickles and compares as before."""

    @pytest.mark.parametrize("read", [False, True])
    def test_class_and_pickle(self, server: ImageServer, read: bool) -> None:
        """type(http_response) is the library's Response; pickled, it gives the same body."""
        client = instrument_openai(make_client("sync", server))
        with streamed(client) as (events, response):
            http = response.http_response
            library = importlib.import_module(type(http).__module__.partition(".")[0])
            assert type(http) is library.Response
            if read:
                body = response.read()
            copied = pickle.loads(pickle.dumps(http))
            assert type(copied) is library.Response
            if read:
                assert copied.content == body
        assert names(events) == SEQUENCE
        assert usage_of(events).usage.total_tokens == (100 if read else None)
        client.close()


class TestEveryWayOfReading:
    """However the body is read, its usage is read from it."""

    @pytest.mark.parametrize("to", [bytes, str, dict, object])
    def test_parse_to(self, server: ImageServer, to: type[Any]) -> None:
        """parse(to=...) reads the body: tokens and cost as for the plain call."""
        client = instrument_openai(make_client("sync", server))
        with streamed(client) as (events, response):
            response.parse(to=to)
        assert usage_of(events).usage.total_tokens == 100
        assert usage_of(events).cost is not None
        client.close()

    @pytest.mark.parametrize("compressed", [False, True])
    @pytest.mark.parametrize("how", ["iter_raw", "iter_bytes", "read"])
    def test_http_response(self, calls: Calls, compressed: bool, how: str) -> None:
        """http_response read raw or decoded, gzip-compressed or not: the plain call's usage."""
        with ImageServer(gzip=compressed) as server:
            client = instrument_openai(make_client(calls.mode, server))

            async def asynchronous() -> None:
                async with client.images.with_streaming_response.generate(
                    model="gpt-image-1", prompt="x"
                ) as response:
                    http = response.http_response
                    if how == "read":
                        await http.aread()
                    else:
                        [part async for part in getattr(http, f"a{how}")()]
                    encoding = http.headers.get("content-encoding")
                    assert encoding == ("gzip" if compressed else None)
                await client.close()

            with capture_events() as events:
                if calls.mode == "async":
                    asyncio.run(asynchronous())
                else:
                    with client.images.with_streaming_response.generate(
                        model="gpt-image-1", prompt="x"
                    ) as response:
                        http = response.http_response
                        getattr(http, how)() if how == "read" else list(getattr(http, how)())
                        encoding = http.headers.get("content-encoding")
                        assert encoding == ("gzip" if compressed else None)
                    client.close()
        assert names(events) == SEQUENCE
        assert usage_of(events).usage.total_tokens == 100
        assert usage_of(events).size == "1024x1536"


#: A body as big as a few real images (base64 characters per image).
BIG = 8 * 1024 * 1024


@pytest.fixture(name="big_server", scope="module")
def _big_server() -> Iterator[ImageServer]:
    with ImageServer(b64_size=BIG) as server:
        yield server


class TestBigBody:
    """A big body read in chunks is followed in little memory; its facts are all there."""

    def test_memory(self, big_server: ImageServer) -> None:
        """16 MiB read in 64 KiB chunks: what aievents keeps meanwhile stays small."""
        client = instrument_openai(make_client("sync", big_server))
        with streamed(client, n=2) as (events, response):
            tracemalloc.start()
            try:
                read = sum(len(part) for part in response.iter_bytes(64 * 1024))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert read > 2 * BIG
        assert peak < 2 * 1024 * 1024, f"{peak} bytes kept while reading"
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.images == 2
        assert usage.usage.input_tokens == 50
        assert usage.size == "1024x1536"
        assert usage.cost is not None
        client.close()

    def test_outputs_captured_whole(self, big_server: ImageServer) -> None:
        """With outputs captured the images are kept whole, as the caller asked."""
        client = instrument_openai(make_client("sync", big_server), capture_outputs=True)
        with streamed(client) as (events, response):
            response.read()
        (output,) = events[1].outputs  # type: ignore[attr-defined]
        assert len(output.b64_json) == BIG
        client.close()


class TestSkim:
    """What is kept of a big JSON body parses to the same facts, however it is cut."""

    @pytest.mark.parametrize("chunk", [1, 2, 3, 7, 4096, 10**9])
    def test_escapes_across_chunks(self, chunk: int) -> None:
        """Escaped quotes and backslashes at any chunk boundary; long strings emptied."""
        from aievents.instrument._httpbody import LONG_STRING, Skim

        answer = {
            "data": [{"b64_json": "A" * (LONG_STRING + 1)}, {"url": 'a\\"b\\\\', "x": "\\"}],
            'quote\\"': ['"', "\\\\\\", "\u00e9\u4e2d", "B" * (2 * LONG_STRING) + '\\"'],
            "usage": {"input_tokens": 5, "nested": [[], {}, [1.5e3, None, True]]},
        }
        text = json.dumps(answer, ensure_ascii=False).encode()
        skim = Skim()
        for start in range(0, len(text), chunk):
            skim.feed(text[start : start + chunk])
        parsed = json.loads(skim.kept)
        assert parsed["data"] == [{"b64_json": ""}, answer["data"][1]]
        assert parsed['quote\\"'] == ['"', "\\\\\\", "\u00e9\u4e2d", ""]
        assert parsed["usage"] == answer["usage"]


class TestStamps:
    """A request reported after its answer arrived is stamped with the answer's arrival."""

    @pytest.mark.parametrize("how", ["read", "close"])
    def test_read_late(self, server: ImageServer, how: str) -> None:
        """The end events' timestamp and duration stop when the answer came, not when read."""
        client = instrument_openai(make_client("sync", server))
        with capture_events() as events:
            with client.images.with_streaming_response.generate(
                model="dall-e-3", prompt="x"
            ) as response:
                arrived = now_ms()
                while now_ms() < arrived + 50:  # the caller reads it later
                    pass
                if how == "read":
                    response.read()
            reported = now_ms()
        started, completed, usage = events
        assert completed.timestamp <= arrived < reported
        assert usage.timestamp == completed.timestamp
        assert completed.duration <= arrived - started.timestamp + 1  # type: ignore[attr-defined]
        client.close()


#: Every way of calling, for the concurrency test.
WAYS = [
    "plain",
    "raw",
    "raw-parse",
    "read",
    "parse",
    "iter",
    "close",
    "exit",
    "stream",
    "raw-stream",
    "stream-parse",
    "stream-exit",
]


class TestConcurrency:
    """Many calls at once, every way: each request reported exactly once, all of them."""

    def test_threads(self, server: ImageServer) -> None:
        """16 threads share one client: started, completed and usage per request."""
        client = instrument_openai(make_client("sync", server))
        images = client.images

        def one(index: int) -> None:
            way = WAYS[index % len(WAYS)]
            model = "dall-e-3" if index % 2 else "gpt-image-1"
            streamed = {"model": "gpt-image-1", "prompt": "x", "stream": True}
            if way == "plain":
                images.generate(model=model, prompt="x")
            elif way == "raw":
                images.with_raw_response.generate(model=model, prompt="x")
            elif way == "raw-parse":
                images.with_raw_response.generate(model=model, prompt="x").parse()
            elif way == "stream":
                list(images.generate(**streamed))
            elif way == "raw-stream":
                list(images.with_raw_response.generate(**streamed).parse())
            elif way.startswith("stream-"):
                with images.with_streaming_response.generate(**streamed) as response:
                    if way == "stream-parse":
                        list(response.parse())
            else:
                with images.with_streaming_response.generate(model=model, prompt="x") as response:
                    if way in ("read", "parse"):
                        getattr(response, way)()
                    elif way == "iter":
                        list(response.iter_lines())
                    elif way == "close":
                        response.close()

        with capture_events() as events, ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(8 * len(WAYS))))
        check_each(events, 8 * len(WAYS))
        client.close()

    def test_gather(self, server: ImageServer) -> None:
        """asyncio.gather of many calls on one async client: each request once."""
        client = instrument_openai(make_client("async", server))
        images = client.images

        async def one(index: int) -> None:
            way = WAYS[index % len(WAYS)]
            model = "dall-e-3" if index % 2 else "gpt-image-1"
            streamed = {"model": "gpt-image-1", "prompt": "x", "stream": True}
            if way == "plain":
                await images.generate(model=model, prompt="x")
            elif way == "raw":
                await images.with_raw_response.generate(model=model, prompt="x")
            elif way == "raw-parse":
                (await images.with_raw_response.generate(model=model, prompt="x")).parse()
            elif way == "stream":
                [event async for event in await images.generate(**streamed)]
            elif way == "raw-stream":
                raw = await images.with_raw_response.generate(**streamed)
                [event async for event in raw.parse()]
            elif way.startswith("stream-"):
                async with images.with_streaming_response.generate(**streamed) as response:
                    if way == "stream-parse":
                        [event async for event in await response.parse()]
            else:
                async with images.with_streaming_response.generate(
                    model=model, prompt="x"
                ) as response:
                    if way in ("read", "parse"):
                        await getattr(response, way)()
                    elif way == "iter":
                        [line async for line in response.iter_lines()]
                    elif way == "close":
                        await response.close()

        async def all_of_them() -> None:
            lanes = asyncio.Semaphore(16)  # as many connections as the local server takes

            async def limited(index: int) -> None:
                async with lanes:
                    await one(index)

            await asyncio.gather(*(limited(index) for index in range(8 * len(WAYS))))
            await client.close()

        with capture_events() as events:
            asyncio.run(all_of_them())
        check_each(events, 8 * len(WAYS))


def check_each(events: list[BaseEvent], requests: int) -> None:
    """Each of ``requests`` requests has exactly started, completed and usage, in order."""
    by_request: dict[str | None, list[str]] = {}
    for event in events:
        by_request.setdefault(event.request_id, []).append(event.event_type)
    assert len(by_request) == requests
    assert Counter(tuple(types) for types in by_request.values()) == {tuple(SEQUENCE): requests}
