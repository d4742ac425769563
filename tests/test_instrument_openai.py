"""instrument_openai: the real openai SDK against a local OpenAI-shaped server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
import structlog

import aievents
from aievents import (
    BaseEvent,
    EventClient,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
)
from aievents.instrument import instrument_openai, is_instrumented, uninstrument_openai
from aievents.sinks import AggregateSink, StoreSink
from aievents.testing import ImageServer, capture_events

D = Decimal
SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


class Api:
    """Calls the images API through a sync or an async instrumented client."""

    def __init__(self, mode: str, base_url: str, **options: Any) -> None:
        self.mode = mode
        self.base_url = base_url
        self.options = options

    def client(self) -> Any:
        cls = openai.OpenAI if self.mode == "sync" else openai.AsyncOpenAI
        return instrument_openai(
            cls(api_key="sk-test-secret", base_url=self.base_url, max_retries=0), **self.options
        )

    def call(self, method: str, **kwargs: Any) -> Any:
        """One call; a stream is read to its end and its events returned as a list."""
        if self.mode == "sync":
            with self.client() as client:
                result = getattr(client.images, method)(**kwargs)
                return list(result) if kwargs.get("stream") else result

        async def go() -> Any:
            async with self.client() as client:
                result = await getattr(client.images, method)(**kwargs)
                if kwargs.get("stream"):
                    return [event async for event in result]
                return result

        return asyncio.run(go())


@pytest.fixture(name="api", params=["sync", "async"])
def _api(request: pytest.FixtureRequest, server: ImageServer) -> Api:
    return Api(request.param, server.base_url)


def names(events: list[BaseEvent]) -> list[str]:
    """The event names, in order."""
    return [e.event_type for e in events]


def one_request(events: list[BaseEvent]) -> str:
    """Assert every event has the same request id and return it."""
    ids = {e.request_id for e in events}
    assert len(ids) == 1, ids
    (request_id,) = ids
    assert request_id
    return request_id


def usage_of(events: list[BaseEvent]) -> ImageUsageEvent:
    """The single image:usage event."""
    (usage,) = (e for e in events if isinstance(e, ImageUsageEvent))
    return usage


class TestGenerate:
    """images.generate reports started, completed and usage with OpenAI's request id."""

    def test_spec_example(self, api: Api) -> None:
        """The spec's example body: usage 10 text + 40 image in, 50 out, costs $0.00245."""
        with capture_events() as events:
            response = api.call("generate", model="gpt-image-1", prompt="a fox", size="auto")
        assert isinstance(response, openai.types.ImagesResponse)
        assert response.usage is not None
        assert response.usage.total_tokens == 100
        assert names(events) == SEQUENCE
        assert one_request(events) == response._request_id
        for event in events:
            assert event.provider == "127.0.0.1"  # the host of the local server
            assert event.model == "gpt-image-1"
            assert event.operation == "image.generation"  # type: ignore[attr-defined]
            assert event.size == "1024x1536"  # type: ignore[attr-defined]
            assert event.quality == "high"  # type: ignore[attr-defined]
        started, completed, usage = events
        assert isinstance(started, ImageRequestStartedEvent)
        assert started.number_of_images == 1
        assert started.timestamp <= completed.timestamp
        assert completed.images == 1  # type: ignore[attr-defined]
        assert completed.duration > 0  # type: ignore[attr-defined]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.usage.input_tokens == 50
        assert usage.usage.output_tokens == 50
        assert usage.usage.input_text_tokens == 10
        assert usage.usage.input_image_tokens == 40
        assert usage.usage.cost is None  # what the provider reported: nothing
        assert usage.cost is not None
        assert usage.cost.total == D("0.00245")
        assert usage.priced_as == "gpt-image-1"
        assert usage.cost.price_version == "2026-12-01"

    def test_n_four_not_double_counted(self, api: Api) -> None:
        """n=4: the usage covers all four images and is priced once."""
        with capture_events() as events:
            response = api.call("generate", model="gpt-image-1", prompt="x", n=4, size="1024x1024")
        assert len(response.data) == 4
        usage = usage_of(events)
        assert usage.images == 4
        assert usage.usage.output_tokens == 200
        assert usage.cost is not None
        assert usage.cost.total == 10 * D(5) / 10**6 + 40 * D(10) / 10**6 + 200 * D(40) / 10**6
        assert usage.cost.per_image == 0

    def test_dall_e_3_per_image(self, api: Api) -> None:
        """DALL-E 3 has no usage: the cost is the per-image price for size and quality."""
        with capture_events() as events:
            response = api.call(
                "generate", model="dall-e-3", prompt="x", size="1792x1024", quality="hd"
            )
        assert response.usage is None
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.usage.input_tokens is None
        assert usage.cost is not None
        assert usage.cost.basis == "images"
        assert usage.cost.total == D("0.120")
        assert usage.usage.cost is None  # the computed cost is the event's, not the usage's

    def test_default_model(self, api: Api) -> None:
        """Without a model the SDK's documented default is reported: dall-e-2, 1024x1024."""
        with capture_events() as events:
            api.call("generate", prompt="x")
        assert {e.model for e in events} == {"dall-e-2"}
        assert usage_of(events).size == "1024x1024"
        assert usage_of(events).cost.total == D("0.020")  # type: ignore[union-attr]

    def test_unknown_model(self, api: Api, server: ImageServer) -> None:
        """A model without a price: completed is reported, and usage with cost None."""
        with capture_events() as events:
            api.call("generate", model="gpt-image-9-experimental", prompt="x")
        assert names(events) == SEQUENCE
        assert usage_of(events).cost is None
        assert usage_of(events).usage.cost is None


class TestStreaming:
    """stream=True: the SDK's stream, events untouched, completion reported at its end."""

    @pytest.mark.parametrize("method", ["generate", "edit"])
    def test_stream(self, api: Api, server: ImageServer, method: str) -> None:
        """Partial and completed events pass through; usage comes from the completed one."""
        kwargs: dict[str, Any] = {"model": "gpt-image-1", "prompt": "x", "stream": True}
        kwargs["partial_images"] = 2
        if method == "edit":
            kwargs["image"] = b"\x89PNG fake"
        plain = Api(api.mode, server.base_url).call
        with capture_events() as events:
            streamed = api.call(method, **kwargs)
        prefix = "image_generation" if method == "generate" else "image_edit"
        assert [e.type for e in streamed] == [
            f"{prefix}.partial_image",
            f"{prefix}.partial_image",
            f"{prefix}.completed",
        ]
        with aievents.get_client().muted():
            uninstrumented = plain(method, **kwargs)
        assert [e.model_dump() for e in streamed] == [e.model_dump() for e in uninstrumented]
        assert names(events) == SEQUENCE
        assert one_request(events).startswith("req_local_")
        usage = usage_of(events)
        assert usage.streaming is True
        assert usage.size == "1024x1024"
        assert usage.quality == "medium"
        assert usage.images == 1
        assert usage.operation == ("image.generation" if method == "generate" else "image.edit")
        assert usage.cost is not None
        assert usage.cost.total > 0

    def test_started_before_reading(self, server: ImageServer) -> None:
        """started is emitted when the stream arrives; the rest when it has been read."""
        client = Api("sync", server.base_url).client()
        with capture_events() as events:
            stream = client.images.generate(model="gpt-image-1", prompt="x", stream=True)
            assert isinstance(stream, openai.Stream)
            assert names(events) == ["image:request:started"]
            with stream:
                for _ in stream:
                    pass
        assert names(events) == SEQUENCE
        client.close()

    def test_closed_early(self, server: ImageServer) -> None:
        """A stream closed before its completed event counts the images asked for, once."""
        client = Api("sync", server.base_url).client()
        with capture_events() as events:
            stream = client.images.generate(
                model="gpt-image-1", prompt="x", stream=True, partial_images=2, n=2
            )
            request_id = stream.response.headers["x-request-id"]
            next(iter(stream))
            stream.close()
            assert names(events) == SEQUENCE  # at once: closing is a normal path
            stream.close()
        assert names(events) == SEQUENCE
        assert one_request(events) == request_id
        assert usage_of(events).images == 2
        client.close()

    @pytest.mark.parametrize("how", ["close", "drop"])
    def test_never_read(self, server: ImageServer, how: str) -> None:
        """A stream closed or dropped before it was read counts the images asked for."""
        import gc

        client = Api("sync", server.base_url).client()
        with capture_events() as events:
            stream = client.images.generate(model="gpt-image-1", prompt="x", stream=True, n=1)
            request_id = stream.response.headers["x-request-id"]
            if how == "close":
                stream.close()
            del stream
            gc.collect()
        assert names(events) == SEQUENCE
        assert one_request(events) == request_id
        assert usage_of(events).images == 1
        assert usage_of(events).cost is None  # token-billed, and no tokens seen
        client.close()


class TestEditAndVariation:
    """images.edit and images.create_variation are reported like generate."""

    def test_edit(self, api: Api) -> None:
        """An edit of two images: operation, input count and image input tokens priced."""
        with capture_events() as events:
            api.call("edit", model="gpt-image-1", image=[b"a", b"bc"], prompt="x", size="1024x1024")
        assert names(events) == SEQUENCE
        started = events[0]
        assert isinstance(started, ImageRequestStartedEvent)
        assert started.image_input_count == 2
        assert started.operation == "image.edit"
        usage = usage_of(events)
        assert usage.usage.input_image_tokens == 323
        assert usage.cost is not None
        assert usage.cost.input_image == 323 * D(10) / 10**6

    @pytest.mark.parametrize(
        ("image", "count"),
        [
            (("photo.png", b"png", "image/png"), 1),  # (filename, content, mime): one file
            (("photo.png", b"png"), 1),
            ([("a.png", b"a", "image/png"), ("b.png", b"b", "image/png")], 2),
            (b"png", 1),
        ],
    )
    def test_edit_input_count(self, api: Api, image: Any, count: int) -> None:
        """An edit counts the files it uploads: a (filename, bytes, mime) tuple is one."""
        with capture_events() as events:
            api.call("edit", model="gpt-image-2", image=image, prompt="x", size="1024x1024")
        started = events[0]
        assert isinstance(started, ImageRequestStartedEvent)
        assert started.image_input_count == count

    def test_variation(self, api: Api) -> None:
        """A variation is dall-e-2, priced per image returned."""
        with capture_events() as events, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # retired endpoint in new SDKs
            response = api.call("create_variation", image=b"png", n=2, size="512x512")
        assert len(response.data) == 2
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.model == "dall-e-2"
        assert usage.operation == "image.variation"
        assert usage.images == 2
        assert usage.cost is not None
        assert usage.cost.total == D("0.036")


class TestErrors:
    """Failures give an error event and the SDK's own exception."""

    @pytest.mark.parametrize(
        ("status", "exception"),
        [
            (400, openai.BadRequestError),
            (429, openai.RateLimitError),
            (500, openai.InternalServerError),
        ],
    )
    def test_http_errors(
        self, api: Api, server: ImageServer, status: int, exception: type[Exception]
    ) -> None:
        """HTTP 400, 429 and 500: started then error, with status, type and OpenAI's id."""
        server.fail_next(status, f"failure {status}")
        with capture_events() as events, pytest.raises(exception) as info:
            api.call("generate", model="gpt-image-1", prompt="x")
        assert type(info.value) is exception
        assert info.value.status_code == status  # type: ignore[attr-defined]
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.status_code == status
        assert error.error_type == exception.__name__
        assert f"failure {status}" in (error.error_message or "")
        assert one_request(events) == info.value.request_id  # type: ignore[attr-defined]

    def test_connection_error(self, api: Api) -> None:
        """No server at all: APIConnectionError reaches the caller; the id is generated."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        dead = Api(api.mode, f"http://127.0.0.1:{port}/v1")
        with capture_events() as events, pytest.raises(openai.APIConnectionError):
            dead.call("generate", model="gpt-image-1", prompt="x")
        assert names(events) == ["image:request:started", "image:request:error"]
        assert one_request(events).startswith("req_")
        assert events[-1].status_code is None  # type: ignore[attr-defined]

    def test_raising_handler_does_not_break_the_call(self, server: ImageServer) -> None:
        """A handler that raises on every event leaves the SDK's result intact."""
        client = EventClient()
        client.on("*", lambda e: 1 / 0)
        api = Api("sync", server.base_url, events=client)
        with structlog.testing.capture_logs():
            response = api.call("generate", model="gpt-image-1", prompt="x")
        assert response.usage.total_tokens == 100
        assert client.handler_errors == 3


class TestAttributionAndPrivacy:
    """Bound attribution is stamped; prompts and images only on request."""

    def test_bound_context(self, api: Api) -> None:
        """Events carry the attribution bound around the call."""
        with (
            aievents.context(user_id="user-7", project_id="proj_x", api_key_id="key_1"),
            capture_events() as events,
        ):
            api.call("generate", model="gpt-image-1", prompt="x")
        for event in events:
            assert event.user_id == "user-7"  # type: ignore[attr-defined]
            assert event.project_id == "proj_x"  # type: ignore[attr-defined]
            assert event.api_key_id == "key_1"  # type: ignore[attr-defined]

    def test_no_prompts_or_images_by_default(self, api: Api, server: ImageServer) -> None:
        """The prompt and image data are not in any event unless asked for."""
        with capture_events() as events:
            api.call("generate", model="gpt-image-1", prompt="a secret prompt")
        assert server.requests[-1][1]["prompt"] == "a secret prompt"
        for event in events:
            text = aievents.to_json(event)
            assert "secret prompt" not in text
            assert "aGVsbG8=" not in text
            assert "sk-test-secret" not in text

    def test_opt_in(self, server: ImageServer) -> None:
        """capture_prompts and capture_outputs copy the prompt and the images."""
        api = Api("sync", server.base_url, capture_prompts=True, capture_outputs=True)
        with capture_events() as events:
            api.call("generate", model="dall-e-3", prompt="a fox", n=1)
        started, completed, _ = events
        assert started.prompt == "a fox"  # type: ignore[attr-defined]
        outputs = completed.outputs  # type: ignore[attr-defined]
        assert [o.url for o in outputs] == ["http://127.0.0.1/images/0.png"]
        assert outputs[0].revised_prompt == "a revised prompt"


class TestInstrumentation:
    """Instrumenting is idempotent and can be undone."""

    @pytest.mark.parametrize("cls", [openai.OpenAI, openai.AsyncOpenAI])
    def test_twice_then_undo(self, server: ImageServer, cls: type[Any]) -> None:
        """Twice equals once; uninstrument restores the SDK's own methods."""
        client = cls(api_key="sk-test", base_url=server.base_url, max_retries=0)
        original = type(client.images).generate
        assert instrument_openai(client) is client
        instrument_openai(client)
        assert is_instrumented(client)
        assert client.images.generate.__wrapped__.__func__ is original
        uninstrument_openai(client)
        uninstrument_openai(client)
        assert not is_instrumented(client)
        assert client.images.generate.__func__ is original

    def test_twice_emits_once(self, server: ImageServer) -> None:
        """A client instrumented twice reports each call once."""
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        instrument_openai(instrument_openai(client))
        with capture_events() as events:
            client.images.generate(model="gpt-image-1", prompt="x")
        assert names(events) == SEQUENCE
        uninstrument_openai(client)
        with capture_events() as after:
            client.images.generate(model="gpt-image-1", prompt="x")
        assert after == []
        client.close()

    def test_racing_calls_install_once(self, server: ImageServer) -> None:
        """Threads instrumenting one client at once wrap it once: one undo leaves nothing."""
        for _ in range(20):
            client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
            barrier = threading.Barrier(4)

            def instrument(_: int, client: Any = client, barrier: Any = barrier) -> Any:
                barrier.wait()
                return instrument_openai(client)

            with ThreadPoolExecutor(4) as pool:
                assert list(pool.map(instrument, range(4))) == [client] * 4
            uninstrument_openai(client)
            assert not is_instrumented(client)
            assert "generate" not in vars(client.images)
            with capture_events() as events:
                client.images.generate(model="dall-e-2", prompt="x")
            assert events == []
            client.close()

    def test_not_a_client(self) -> None:
        """Anything without an images resource is refused."""
        with pytest.raises(TypeError, match="openai client"):
            instrument_openai(object())


def own_events(client: Any) -> EventClient:
    """The event client ``client``'s own instrumentation emits on."""
    events = vars(client.images)["_aievents_instrumentation"].own.events
    assert isinstance(events, EventClient)
    return events


class TestDerivedClients:
    """Each derived client is instrumented on its own: undoing one leaves the others reporting."""

    def make(self, server: ImageServer) -> openai.OpenAI:
        return instrument_openai(
            openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        )

    def reports(self, client: openai.OpenAI) -> bool:
        """Whether a call of ``client`` is on the books."""
        with capture_events() as events:
            client.images.generate(model="dall-e-2", prompt="x")
        assert names(events) in ([], SEQUENCE)
        return bool(events)

    @pytest.mark.parametrize("derive", ["with_options", "copy"])
    def test_undo_the_derived(self, server: ImageServer, derive: str) -> None:
        """uninstrument_openai(derived): the parent still reports, and says so."""
        parent = self.make(server)
        derived = getattr(parent, derive)(timeout=5)
        assert is_instrumented(derived)
        uninstrument_openai(derived)
        assert not is_instrumented(derived)
        assert not self.reports(derived)
        assert is_instrumented(parent)
        assert self.reports(parent)
        assert self.reports(parent.with_options(timeout=6))  # derived again since: reports
        parent.close()

    def test_undo_the_parent(self, server: ImageServer) -> None:
        """uninstrument_openai(parent): those following it stop too; one with its own goes on."""
        parent = self.make(server)
        derived = parent.with_options(timeout=5)
        grandchild = derived.copy()
        own = instrument_openai(parent.with_options(timeout=7), events=EventClient())
        uninstrument_openai(parent)
        assert not is_instrumented(parent)
        assert not self.reports(parent)
        assert not self.reports(parent.with_options(timeout=6))
        for client in (derived, grandchild):
            assert not is_instrumented(client)
            assert not self.reports(client)
            assert "generate" not in vars(client.images)  # no wrapper left behind
        assert is_instrumented(own)
        with capture_events(own_events(own)) as seen:
            own.images.generate(model="dall-e-2", prompt="x")
        assert names(seen) == SEQUENCE
        parent.close()

    def test_undo_races_a_derive(self, server: ImageServer) -> None:
        """Deriving while the parent is undone: the derived client never outlives the undo."""
        for _ in range(20):
            parent = self.make(server)
            barrier = threading.Barrier(2)
            made: list[Any] = []

            def derive(
                parent: Any = parent, barrier: threading.Barrier = barrier, made: list[Any] = made
            ) -> None:
                barrier.wait()
                made.append(parent.with_options(timeout=5))

            thread = threading.Thread(target=derive)
            thread.start()
            barrier.wait()
            uninstrument_openai(parent)
            thread.join()
            assert not self.reports(made[0])

    def test_settings_follow_the_parent(self, server: ImageServer) -> None:
        """A derived client uses its parent's settings as they are at each call, until its own."""
        parent = self.make(server)
        derived = parent.with_options(timeout=5)
        first, second, own = EventClient(), EventClient(), EventClient()
        instrument_openai(parent, events=first)
        with capture_events(first) as seen:
            derived.images.generate(model="dall-e-2", prompt="x")
        assert names(seen) == SEQUENCE
        instrument_openai(parent, events=second)
        with capture_events(second) as seen:
            derived.images.generate(model="dall-e-2", prompt="x")
        assert names(seen) == SEQUENCE
        instrument_openai(derived, events=own)  # its own now: the parent keeps its own
        with capture_events(own) as mine, capture_events(second) as parents:
            derived.images.generate(model="dall-e-2", prompt="x")
            parent.images.generate(model="dall-e-2", prompt="x")
        assert names(mine) == SEQUENCE
        assert names(parents) == SEQUENCE
        assert {e.request_id for e in mine}.isdisjoint(e.request_id for e in parents)
        parent.close()


class TestSdkVariants:
    """Raw responses, derived clients, abandoned streams, cancellation, other wrappers."""

    def test_raw_response(self, server: ImageServer) -> None:
        """with_raw_response: OpenAI's request id, images and cost; the body still the caller's.

        (Every raw and streamed way is in test_instrument_openai_raw.py.)
        """
        client = Api("sync", server.base_url).client()
        with capture_events() as events:
            raw = client.images.with_raw_response.generate(model="dall-e-3", prompt="x")
        assert names(events) == SEQUENCE
        assert one_request(events) == raw.headers["x-request-id"]
        assert usage_of(events).images == 1
        assert usage_of(events).cost.total == D("0.040")  # type: ignore[union-attr]
        assert len(raw.parse().data) == 1
        client.close()

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_derived_clients(self, server: ImageServer, mode: str) -> None:
        """Clients made with with_options() or copy() report their calls too."""
        client = Api(mode, server.base_url).client()

        async def both() -> None:
            await client.with_options(timeout=30).images.generate(model="dall-e-2", prompt="x")
            await client.copy(max_retries=1).images.generate(model="dall-e-2", prompt="x")

        with capture_events() as events:
            if mode == "sync":
                client.with_options(timeout=30).images.generate(model="dall-e-2", prompt="x")
                client.copy(max_retries=1).images.generate(model="dall-e-2", prompt="x")
            else:
                asyncio.run(both())
        assert names(events) == SEQUENCE * 2

    @pytest.mark.filterwarnings("ignore::ResourceWarning")
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    def test_stream_abandoned_after_completed(self, server: ImageServer) -> None:
        """A stream left after its completed event still reports completion and cost.

        (Abandoning a stream leaves the SDK's socket to the garbage collector,
        which warns; that is the caller's doing, not ours.)
        """
        import gc

        client = Api("sync", server.base_url).client()
        with capture_events() as events:
            stream = client.images.generate(model="gpt-image-1", prompt="x", stream=True)
            for event in stream:
                if event.type.endswith(".completed"):
                    break
            del stream, event
            gc.collect()
        assert names(events) == SEQUENCE
        assert usage_of(events).cost is not None
        client.close()

    @pytest.mark.filterwarnings("ignore::ResourceWarning")
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    def test_cancelled_call(self, server: ImageServer) -> None:
        """A call cancelled in flight gives an error event and the cancellation goes on."""
        release = server.delay_next(5.0)

        async def main() -> None:
            async with Api("async", server.base_url).client() as client:
                await asyncio.wait_for(
                    client.images.generate(model="gpt-image-1", prompt="x"), timeout=0.2
                )

        with capture_events() as events, pytest.raises(asyncio.TimeoutError):
            asyncio.run(main())
        release.set()
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[-1].error_type == "CancelledError"  # type: ignore[attr-defined]

    def test_failing_telemetry_in_streams(self, server: ImageServer) -> None:
        """A handler raising on every event leaves the stream's events and end intact."""
        client_events = EventClient()
        client_events.on("*", lambda e: 1 / 0)
        api = Api("sync", server.base_url, events=client_events)
        with structlog.testing.capture_logs():
            streamed = api.call("generate", model="gpt-image-1", prompt="x", stream=True)
        assert [e.type for e in streamed][-1] == "image_generation.completed"
        assert client_events.handler_errors == 3

    def test_uninstrument_keeps_other_wrappers(self, server: ImageServer) -> None:
        """A wrapper another library put over ours survives uninstrument; ours goes quiet."""
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        instrument_openai(client)
        seen: list[str] = []
        ours = client.images.generate

        def other(*args: Any, **kwargs: Any) -> Any:
            seen.append("other")
            return ours(*args, **kwargs)

        client.images.generate = other  # type: ignore[method-assign]
        uninstrument_openai(client)
        with capture_events() as events:
            client.images.generate(model="dall-e-2", prompt="x")
        assert seen == ["other"]
        assert events == []
        client.close()

    def test_default_model_contradicted_by_usage(self, server: ImageServer) -> None:
        """A defaulted dall-e-2 whose answer carries token usage gets cost None, not a price."""
        api = Api("sync", server.base_url)
        with structlog.testing.capture_logs() as logs, capture_events() as events:
            api.call("generate", prompt="x", quality="xhigh")
        assert {e.model for e in events} == {"gpt-image-1"}  # xhigh is a GPT image quality
        with structlog.testing.capture_logs() as logs, capture_events() as events:
            api.call("generate", prompt="x", extra_body={"model": "gpt-image-1"})
        usage = usage_of(events)
        assert usage.model == "dall-e-2"
        assert usage.cost is None
        assert any(log.get("reason") == "token usage for a per-image price" for log in logs)

    def test_error_message_scrubbed(self, api: Api, server: ImageServer) -> None:
        """A key echoed in the provider's error message does not reach the event."""
        server.fail_next(401, "Incorrect API key provided: sk-live-0123456789abcdef")
        with capture_events() as events, pytest.raises(openai.AuthenticationError):
            api.call("generate", model="gpt-image-1", prompt="x")
        message = events[-1].error_message  # type: ignore[attr-defined]
        assert "sk-live" not in message
        assert "[redacted]" in message


SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "openai_usage_response.schema.json").read_text()
)


class TestUnpriced:
    """A model without a price: every call is counted, and its cost is unknown in every report."""

    @pytest.mark.parametrize(
        ("model", "tokens"),
        [("fal-ai/flux/dev", None), ("gpt-image-9-experimental", 100)],
        ids=["no-tokens", "tokens"],
    )
    def test_on_the_books(
        self, api: Api, server: ImageServer, tmp_path: Path, model: str, tokens: int | None
    ) -> None:
        """image:usage with cost None; AggregateSink and StoreSink count it, cost unknown."""
        events = EventClient()
        memory = AggregateSink()
        store = StoreSink(f"sqlite:///{tmp_path / 'usage.db'}")
        events.add_sink(memory)
        events.add_sink(store)
        started = int(time.time()) - 60
        with capture_events(events) as seen, structlog.testing.capture_logs():
            Api(api.mode, server.base_url, events=events).call(
                "generate", model=model, prompt="x", n=2
            )
        assert names(seen) == SEQUENCE
        usage = usage_of(seen)
        assert (usage.cost, usage.usage.cost, usage.images) == (None, None, 2)
        assert usage.usage.output_tokens == tokens
        assert events.flush(10)
        for sink in (memory, store):
            page = sink.usage(started, group_by=["model"]).to_dict()
            jsonschema.validate(page, SCHEMA)
            (result,) = [r for bucket in page["data"] for r in bucket["results"]]
            assert (result["model"], result["num_model_requests"], result["images"]) == (
                model,
                1,
                2,
            )
            assert result["output_tokens"] == (tokens or 0)
            assert (result["unpriced_requests"], result["cost"]) == (1, None)
            costs = sink.costs(started, group_by=["line_item"]).to_dict()
            jsonschema.validate(costs, SCHEMA)
            (line,) = [r for bucket in costs["data"] for r in bucket["results"]]
            assert line["line_item"] == f"{model}, unpriced"
            assert "amount" not in line
        events.close(10)
        store.dispose()
