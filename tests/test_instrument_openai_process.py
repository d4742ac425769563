"""instrument_openai(): the openai SDK's classes, so that every client of the process reports.

The real openai SDK against the local image server. Costs are worked by hand
from pricing.md: gpt-image-1 is 5.00/M text in, 10.00/M image in, 40.00/M
image out; the server's gpt-image-1 answer is the spec's example (10 text +
40 image tokens in, 50 out): 10 x 5/1M + 40 x 10/1M + 50 x 40/1M
= 0.00005 + 0.0004 + 0.002 = 0.00245.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from aievents import BaseEvent, EventClient, ImageUsageEvent
from aievents.instrument import instrument_openai, is_instrumented, uninstrument_openai
from aievents.testing import ImageServer, capture_events

# The image tool asked for gpt-image-1, 1024x1024, low, by the 3-word PROMPT: 3 text
# tokens x 5.00/1M = 0.000015, 272 image tokens x 40.00/1M = 0.01088; total 0.010895.
from test_instrument_openai_responses import LOW_SQUARE, LOW_SQUARE_COST, PROMPT

D = Decimal
SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]
SPEC_COST = D("0.00245")
#: gpt-image-2, a medium 1024x1024 image of "a red fox in snow": 5 text tokens x 5.00/1M
#: = 0.000025, 1756 image tokens x 30.00/1M = 0.05268; total 0.052705.
MEDIUM_SQUARE = D("0.052705")
API_VERSION = "2025-04-01-preview"
ARGUMENTS: dict[str, Any] = {"model": "gpt-image-1", "prompt": "a fox"}
IMAGES = importlib.import_module("openai.resources.images")
RESPONSES = importlib.import_module("openai.resources.responses")
CLIENT_MODULE = importlib.import_module("openai._client")
HOLDERS = ("with_raw_response", "with_streaming_response")
#: Every attribute process-wide instrumentation may change, on its class.
PATCHED = [
    *(
        (cls, name)
        for cls in (IMAGES.Images, IMAGES.AsyncImages)
        for name in ("generate", "edit", "create_variation", *HOLDERS)
    ),
    *(
        (cls, name)
        for cls in (RESPONSES.Responses, RESPONSES.AsyncResponses)
        for name in ("create", "parse", *HOLDERS)
    ),
    *(
        (getattr(CLIENT_MODULE, name), resource)
        for name in (
            "OpenAIWithRawResponse",
            "AsyncOpenAIWithRawResponse",
            "OpenAIWithStreamedResponse",
            "AsyncOpenAIWithStreamedResponse",
        )
        for resource in ("images", "responses")
    ),
]
ORIGINALS = {(cls, name): cls.__dict__[name] for cls, name in PATCHED}


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer(deployments={"prod-images": "gpt-image-2"}) as server:
        yield server


@pytest.fixture(autouse=True, name="undone")
def _undone() -> Iterator[None]:
    """Every test leaves the SDK's classes as it found them."""
    yield
    uninstrument_openai()
    assert {key: key[0].__dict__[key[1]] for key in PATCHED} == ORIGINALS


def library_factory(base_url: str, **options: Any) -> openai.OpenAI:
    """Stands for a library (a gateway, an agent framework) that makes its own client."""
    return openai.OpenAI(api_key="sk-library", base_url=base_url, max_retries=0, **options)


def names(events: list[BaseEvent]) -> list[str]:
    """The event names, in order."""
    return [e.event_type for e in events]


def check_reported(events: list[BaseEvent], request_id: str, provider: str, cost: D) -> None:
    """Exactly one request: started, completed, usage; its id, provider and cost."""
    assert names(events) == SEQUENCE
    assert {e.request_id for e in events} == {request_id}
    assert {e.provider for e in events} == {provider}
    usage = events[-1]
    assert isinstance(usage, ImageUsageEvent)
    assert usage.cost is not None
    assert usage.cost.total == cost


def call(client: Any, how: str) -> str:
    """One images.generate through ``client`` as ``how`` says, read to its end; its request id."""
    images = client.images
    if how == "plain":
        return str(images.generate(**ARGUMENTS)._request_id)
    if how == "stream":
        stream = images.generate(**ARGUMENTS, stream=True)
        list(stream)
        return str(stream.response.headers["x-request-id"])
    if how == "raw":
        raw = images.with_raw_response.generate(**ARGUMENTS)
        raw.parse()
        return str(raw.headers["x-request-id"])
    if how == "client-raw":
        raw = client.with_raw_response.images.generate(**ARGUMENTS)
        raw.parse()
        return str(raw.headers["x-request-id"])
    assert how == "streaming"
    with images.with_streaming_response.generate(**ARGUMENTS) as response:
        response.parse()
        return str(response.headers["x-request-id"])


async def acall(client: Any, how: str) -> str:
    """:func:`call` for an async client."""
    images = client.images
    if how == "plain":
        return str((await images.generate(**ARGUMENTS))._request_id)
    if how == "stream":
        stream = await images.generate(**ARGUMENTS, stream=True)
        [event async for event in stream]
        return str(stream.response.headers["x-request-id"])
    if how == "raw":
        raw = await images.with_raw_response.generate(**ARGUMENTS)
        raw.parse()
        return str(raw.headers["x-request-id"])
    async with images.with_streaming_response.generate(**ARGUMENTS) as response:
        await response.parse()
        return str(response.headers["x-request-id"])


HOWS = ["plain", "stream", "raw", "client-raw", "streaming"]


class TestEveryClient:
    """Every client, made before or after, however called, reports each call once."""

    @pytest.mark.parametrize("how", HOWS)
    @pytest.mark.parametrize("made", ["before", "after"])
    def test_made_by_a_library(self, server: ImageServer, made: str, how: str) -> None:
        """A client a library makes (before or after instrumenting) reports, however called."""
        early = library_factory(server.base_url)
        if how in ("raw", "streaming", "client-raw"):  # wrappers the SDK built before
            call(early, how)
        instrument_openai()
        client = early if made == "before" else library_factory(server.base_url)
        with client, capture_events() as events:
            request_id = call(client, how)
        check_reported(events, request_id, "127.0.0.1", SPEC_COST)

    def test_holder_kept_from_before(self, server: ImageServer) -> None:
        """A with_raw_response object kept from before is not reported; one asked for after is.

        The SDK binds the resource's methods into it when it is built: the
        documented limit of process-wide instrumentation (per client, it is
        pointed at the instrumented methods).
        """
        client = library_factory(server.base_url)
        kept = client.images.with_raw_response
        instrument_openai()
        with client, capture_events() as events:
            kept.generate(**ARGUMENTS).parse()
            assert events == []
            raw = client.images.with_raw_response.generate(**ARGUMENTS)
            raw.parse()
        check_reported(events, raw.headers["x-request-id"], "127.0.0.1", SPEC_COST)

    @pytest.mark.parametrize("how", ["plain", "stream", "raw", "streaming"])
    def test_async(self, server: ImageServer, how: str) -> None:
        """AsyncOpenAI clients report too, every kind of call."""
        instrument_openai()

        async def go() -> str:
            async with openai.AsyncOpenAI(
                api_key="sk-test", base_url=server.base_url, max_retries=0
            ) as client:
                return await acall(client, how)

        with capture_events() as events:
            request_id = asyncio.run(go())
        check_reported(events, request_id, "127.0.0.1", SPEC_COST)

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_azure(self, server: ImageServer, mode: str) -> None:
        """Azure clients: provider azure, the deployment priced as the process-wide mapping says."""
        instrument_openai(deployments={"prod-images": "gpt-image-2"})
        kwargs = {"model": "prod-images", "prompt": "a red fox in snow", "quality": "medium"}
        options = {"azure_endpoint": server.url, "api_key": "az-test", "api_version": API_VERSION}
        with capture_events() as events:
            if mode == "sync":
                with openai.AzureOpenAI(**options) as client:
                    response = client.images.generate(**kwargs)
            else:

                async def go() -> Any:
                    async with openai.AsyncAzureOpenAI(**options) as client:
                        return await client.images.generate(**kwargs)

                response = asyncio.run(go())
        check_reported(events, response._request_id, "azure", MEDIUM_SQUARE)
        assert {e.model for e in events} == {"prod-images"}
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.cost is not None
        assert usage.cost.priced_model == "gpt-image-2"

    @pytest.mark.parametrize("derive", ["with_options", "copy"])
    def test_derived(self, server: ImageServer, derive: str) -> None:
        """Clients derived with with_options() or copy() report."""
        instrument_openai()
        with library_factory(server.base_url) as parent:
            derived = getattr(parent, derive)(timeout=30)
            with capture_events() as events:
                request_id = call(derived, "plain")
        check_reported(events, request_id, "127.0.0.1", SPEC_COST)

    @pytest.mark.parametrize("how", ["plain", "stream", "raw", "streaming"])
    def test_module_client(
        self, server: ImageServer, monkeypatch: pytest.MonkeyPatch, how: str
    ) -> None:
        """The module's own client (openai.images...) reports."""
        monkeypatch.setattr(openai, "api_key", "sk-test")
        monkeypatch.setattr(openai, "base_url", server.base_url)
        monkeypatch.setattr(openai, "max_retries", 0)
        monkeypatch.setattr(openai, "_client", None)
        instrument_openai()
        with capture_events() as events:
            request_id = call(openai, how)
        check_reported(events, request_id, "127.0.0.1", SPEC_COST)

    def test_error(self, server: ImageServer) -> None:
        """A refused call: started then error, with the status and the answer's request id."""
        instrument_openai()
        server.fail_next(429, "slow down")
        with (
            library_factory(server.base_url) as client,
            capture_events() as events,
            pytest.raises(openai.RateLimitError) as raised,
        ):
            client.images.generate(**ARGUMENTS)
        assert names(events) == ["image:request:started", "image:request:error"]
        assert {e.request_id for e in events} == {raised.value.request_id}
        assert events[-1].status_code == 429  # type: ignore[attr-defined]


class TestResponses:
    """responses.create with the image tool reports through the classes; without it, nothing."""

    @pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_image_tool(self, server: ImageServer, mode: str, stream: bool) -> None:
        """A library's client: one image request, the response's request id, the tool's cost."""
        instrument_openai()
        kwargs = {"model": "gpt-5", "input": PROMPT, "tools": [LOW_SQUARE], "stream": stream}

        def sync() -> str:
            with library_factory(server.base_url) as client:
                result = client.responses.create(**kwargs)
                if not stream:
                    return str(result._request_id)
                list(result)
                return str(result.response.headers["x-request-id"])

        async def go() -> str:
            async with openai.AsyncOpenAI(
                api_key="sk-test", base_url=server.base_url, max_retries=0
            ) as client:
                result = await client.responses.create(**kwargs)
                if not stream:
                    return str(result._request_id)
                [event async for event in result]
                return str(result.response.headers["x-request-id"])

        with capture_events() as events:
            request_id = sync() if mode == "sync" else asyncio.run(go())
        check_reported(events, request_id, "127.0.0.1", LOW_SQUARE_COST)

    def test_raw(self, server: ImageServer) -> None:
        """Through with_raw_response, a wrapper the SDK built before instrumenting."""
        kwargs = {"model": "gpt-5", "input": PROMPT, "tools": [LOW_SQUARE]}
        with library_factory(server.base_url) as client:
            client.responses.with_raw_response.create(**kwargs).parse()
            instrument_openai()
            with capture_events() as events:
                raw = client.responses.with_raw_response.create(**kwargs)
                raw.parse()
        check_reported(events, raw.headers["x-request-id"], "127.0.0.1", LOW_SQUARE_COST)

    def test_text_only(self, server: ImageServer) -> None:
        """A call without the image tool is not an image request: no events."""
        instrument_openai()
        with library_factory(server.base_url) as client, capture_events() as events:
            client.responses.create(model="gpt-5", input="say hello")
        assert events == []

    def test_with_one_client(self, both: tuple[openai.OpenAI, EventClient]) -> None:
        """A client instrumented on its own too: reported once, with its settings."""
        client, own = both
        with capture_events() as default, capture_events(own) as events:
            result = client.responses.create(model="gpt-5", input=PROMPT, tools=[LOW_SQUARE])
        assert default == []
        check_reported(events, result._request_id, "127.0.0.1", LOW_SQUARE_COST)


class TestSettings:
    """instrument_openai() is idempotent: again, it only changes the settings."""

    def test_twice_is_once(self, server: ImageServer) -> None:
        """Twice: the classes wrapped once, each call reported once."""
        instrument_openai()
        wrapped = {key: key[0].__dict__[key[1]] for key in PATCHED}
        instrument_openai()
        assert {key: key[0].__dict__[key[1]] for key in PATCHED} == wrapped
        with library_factory(server.base_url) as client, capture_events() as events:
            call(client, "plain")
        assert names(events) == SEQUENCE

    def test_new_settings(self, server: ImageServer) -> None:
        """Again with other settings: the calls follow them."""
        instrument_openai()
        elsewhere = EventClient()
        instrument_openai(events=elsewhere, capture_prompts=True)
        with (
            library_factory(server.base_url) as client,
            capture_events() as default,
            capture_events(elsewhere) as events,
        ):
            call(client, "plain")
        assert default == []
        assert names(events) == SEQUENCE
        assert events[0].prompt == "a fox"  # type: ignore[attr-defined]
        elsewhere.close(5)


class TestUndone:
    """uninstrument_openai() puts back the SDK's very attributes, and calls are not reported."""

    @pytest.mark.parametrize("how", HOWS)
    def test_no_wrapper_left(self, server: ImageServer, how: str) -> None:
        """Every attribute is the SDK's own again, by identity; no call of any kind reports."""
        instrument_openai()
        assert is_instrumented()
        with library_factory(server.base_url) as client:
            call(client, how)  # wrappers built while instrumented
            uninstrument_openai()
            assert not is_instrumented()
            assert not is_instrumented(client)
            for cls, name in PATCHED:
                assert cls.__dict__[name] is ORIGINALS[(cls, name)], (cls, name)
            with capture_events() as events:
                call(client, how)
                call(library_factory(server.base_url), how)
        assert events == []

    def test_a_class_is_not_a_client(self) -> None:
        """instrument_openai(openai.OpenAI) is a TypeError that says how to instrument them all."""
        with pytest.raises(TypeError, match=r"call instrument_openai\(\) for every client"):
            instrument_openai(openai.OpenAI)
        assert not is_instrumented()

    def test_undone_twice(self) -> None:
        """Undoing what is not instrumented is harmless."""
        uninstrument_openai()
        uninstrument_openai()
        assert not is_instrumented()

    def test_wrapped_since(self, server: ImageServer) -> None:
        """Another library wrapped ours since: theirs stays, ours passes the calls through."""
        instrument_openai()
        ours = IMAGES.Images.generate
        seen: list[str] = []

        @functools.wraps(ours)
        def theirs(*args: Any, **kwargs: Any) -> Any:
            seen.append("theirs")
            return ours(*args, **kwargs)

        IMAGES.Images.generate = theirs
        try:
            uninstrument_openai()
            assert IMAGES.Images.__dict__["generate"] is theirs
            with library_factory(server.base_url) as client, capture_events() as events:
                client.images.generate(**ARGUMENTS)
            assert (seen, events) == (["theirs"], [])
        finally:
            IMAGES.Images.generate = ORIGINALS[(IMAGES.Images, "generate")]


@pytest.fixture(name="both", params=["client-first", "classes-first"])
def _both(
    server: ImageServer, request: pytest.FixtureRequest
) -> Iterator[tuple[openai.OpenAI, EventClient]]:
    """A client instrumented on its own (on an event client of its own) and through the classes.

    In either order; the client and its event client closed after the test.
    """
    own = EventClient()
    client = library_factory(server.base_url)
    if request.param == "client-first":
        instrument_openai(client, events=own)
        instrument_openai()
    else:
        instrument_openai()
        instrument_openai(client, events=own)
    yield client, own
    client.close()
    own.close(5)


class TestWithOneClient:
    """A client instrumented on its own as well: its settings win, each call reported once."""

    @pytest.mark.parametrize("how", HOWS)
    def test_once_with_its_settings(
        self, server: ImageServer, both: tuple[openai.OpenAI, EventClient], how: str
    ) -> None:
        """Either order: one report per call, on the client's own event client."""
        client, own = both
        with capture_events() as default, capture_events(own) as events:
            request_id = call(client, how)
            other_id = call(library_factory(server.base_url), how)
        check_reported(events, request_id, "127.0.0.1", SPEC_COST)
        check_reported(default, other_id, "127.0.0.1", SPEC_COST)

    @pytest.mark.parametrize("undone", ["client", "classes"])
    @pytest.mark.parametrize("how", HOWS)
    def test_one_undone(
        self, both: tuple[openai.OpenAI, EventClient], how: str, undone: str
    ) -> None:
        """Either undone, the other reports the client's calls, once (wrappers built before too).

        The client undone: the classes report on the default client; the
        classes undone: the client on its own.
        """
        client, own = both
        call(client, how)  # wrappers built while both are instrumented
        uninstrument_openai(client if undone == "client" else None)
        assert is_instrumented(client)
        with capture_events() as default, capture_events(own) as events:
            request_id = call(client, how)
        reported, silent = (default, events) if undone == "client" else (events, default)
        assert silent == []
        check_reported(reported, request_id, "127.0.0.1", SPEC_COST)


class TestThreads:
    """16 threads calling at once: every request reported exactly once, none lost."""

    def test_sixteen_threads(self, server: ImageServer) -> None:
        """Shared and own clients, plain and streamed: one started/completed/usage per request."""
        instrument_openai()
        shared = library_factory(server.base_url)
        barrier = threading.Barrier(16)
        ids: list[str] = []
        failures: list[BaseException] = []

        def worker(index: int) -> None:
            try:
                client = shared if index % 2 else library_factory(server.base_url)
                barrier.wait(30)
                for how in ("plain", "stream", "raw"):
                    ids.append(call(client, how))
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                failures.append(exc)

        with capture_events() as events:
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        shared.close()
        assert failures == []
        assert len(set(ids)) == len(ids) == 48
        counted = Counter((e.request_id, e.event_type) for e in events)
        assert counted == Counter({(i, name): 1 for i in ids for name in SEQUENCE})
        for event in events:
            if isinstance(event, ImageUsageEvent):
                assert event.cost is not None
                assert event.cost.total == SPEC_COST
