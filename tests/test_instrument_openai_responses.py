"""The Responses API's image_generation tool: the real openai SDK against ImageServer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from aievents import ImageRequestErrorEvent, ImageUsageEvent
from aievents.instrument import instrument_openai
from aievents.testing import ImageServer, capture_events
from test_instrument_openai import SEQUENCE, names, one_request, usage_of

D = Decimal
PROMPT = "draw a fox"  # 3 words: 3 text tokens in for the image model (ImageServer)
LOW_SQUARE = {
    "type": "image_generation",
    "model": "gpt-image-1",
    "size": "1024x1024",
    "quality": "low",
}
#: gpt-image-1, 1024x1024, low: 3 text tokens in at $5/M = 0.000015,
#: 272 image tokens out at $40/M = 0.01088; total $0.010895.
LOW_SQUARE_COST = D("0.010895")


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


class Api:
    """Calls responses.create through a sync or an async client, instrumented or not."""

    def __init__(self, mode: str, base_url: str, *, instrumented: bool = True) -> None:
        self.mode = mode
        self.base_url = base_url
        self.instrumented = instrumented
        #: OpenAI's x-request-id of the last answer.
        self.request_id: str | None = None

    def client(self) -> Any:
        cls = openai.OpenAI if self.mode == "sync" else openai.AsyncOpenAI
        client = cls(api_key="sk-test-secret", base_url=self.base_url, max_retries=0)
        return instrument_openai(client) if self.instrumented else client

    def create(self, **kwargs: Any) -> Any:
        """One call; a stream is read to its end and its events returned as a list."""
        kwargs.setdefault("model", "gpt-5")
        kwargs.setdefault("input", PROMPT)
        if self.mode == "sync":
            with self.client() as client:
                result = client.responses.create(**kwargs)
                return self.read(result, list(result) if kwargs.get("stream") else result)

        async def go() -> Any:
            async with self.client() as client:
                result = await client.responses.create(**kwargs)
                if kwargs.get("stream"):
                    return self.read(result, [event async for event in result])
                return self.read(result, result)

        return asyncio.run(go())

    def read(self, result: Any, value: Any) -> Any:
        """Note the answer's request id (a stream's is its HTTP response's); return ``value``."""
        http = getattr(result, "response", None)
        found = http.headers.get("x-request-id") if http is not None else result._request_id
        self.request_id = found
        return value


@pytest.fixture(name="api", params=["sync", "async"])
def _api(request: pytest.FixtureRequest, server: ImageServer) -> Api:
    return Api(request.param, server.base_url)


@pytest.fixture(name="stream", params=[False, True], ids=["plain", "stream"])
def _stream(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


class TestOneImage:
    """One image call: started, completed and usage with OpenAI's request id, costed by hand."""

    def test_gpt_image_1(self, api: Api, server: ImageServer, stream: bool) -> None:
        """gpt-image-1, 1024x1024, low: $0.010895 from tool_usage.image_gen."""
        with capture_events() as events:
            api.create(tools=[LOW_SQUARE], stream=stream)
        assert names(events) == SEQUENCE
        assert one_request(events) == api.request_id
        facts = {(e.provider, e.model, e.operation, e.size, e.quality, e.streaming) for e in events}  # type: ignore[attr-defined]
        assert facts == {
            ("127.0.0.1", "gpt-image-1", "image.generation", "1024x1024", "low", stream)
        }
        started, completed, usage = events
        assert started.timestamp <= completed.timestamp
        assert completed.images == 1  # type: ignore[attr-defined]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.images == 1
        assert usage.usage.input_tokens == 3
        assert usage.usage.input_text_tokens == 3
        assert usage.usage.output_tokens == 272
        assert usage.cost is not None
        assert usage.cost.total == LOW_SQUARE_COST
        assert usage.priced_as == "gpt-image-1"

    def test_gpt_image_2_defaults(self, api: Api, server: ImageServer, stream: bool) -> None:
        """gpt-image-2 with size and quality auto: 1024x1024 high, $0.210735.

        3 text tokens in at $5/M = 0.000015; 7024 image tokens out at $30/M
        = 0.21072; total $0.210735.
        """
        tool = {"type": "image_generation", "model": "gpt-image-2"}
        with capture_events() as events:
            api.create(tools=[tool], stream=stream)
        assert names(events) == SEQUENCE
        _, completed, usage = events
        assert one_request(events) == api.request_id
        assert completed.size == "1024x1024"  # type: ignore[attr-defined]
        assert completed.quality == "high"  # type: ignore[attr-defined]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.usage.output_tokens == 7024
        assert usage.cost is not None
        assert usage.cost.total == D("0.210735")

    def test_main_model_usage_is_not_counted(self, api: Api) -> None:
        """response.usage (the main model's 43 tokens in, 5 out) is not image usage."""
        with capture_events() as events:
            result = api.create(tools=[LOW_SQUARE])
        assert result.usage.input_tokens == 43
        usage = usage_of(events)
        assert usage.usage.input_tokens == 3
        assert usage.usage.output_tokens == 272
        assert usage.usage.total_tokens == 275

    def test_default_model(self, api: Api) -> None:
        """No model in the tool: the one the response echoes (the SDK's documented default)."""
        with capture_events() as events:
            api.create(tools=[{"type": "image_generation"}])
        assert {e.model for e in events} == {"gpt-image-2.6-sunburst"}
        usage = usage_of(events)
        assert usage.usage.output_tokens == 7024
        assert usage.cost is None  # not in the price table: unknown, never 0

    def test_edit(self, api: Api, stream: bool) -> None:
        """action edit: image.edit; 1024x1536 medium with the input image's tokens, $0.066605.

        3 text tokens at $5/M = 0.000015, 323 image tokens in at $10/M =
        0.00323, 1584 image tokens out at $40/M = 0.06336; total $0.066605.
        """
        tool = {
            "type": "image_generation",
            "model": "gpt-image-1",
            "action": "edit",
            "size": "1024x1536",
            "quality": "medium",
        }
        with capture_events() as events:
            api.create(tools=[tool], stream=stream)
        assert names(events) == SEQUENCE
        assert {e.operation for e in events} == {"image.edit"}  # type: ignore[attr-defined]
        usage = usage_of(events)
        assert usage.usage.input_image_tokens == 323
        assert usage.cost is not None
        assert usage.cost.total == D("0.066605")

    def test_edit_chosen_by_the_model(self, api: Api) -> None:
        """action auto with an input image: the calls say edit, so the request is an edit."""
        tool = {**LOW_SQUARE, "action": "auto"}
        message = {
            "role": "user",
            "content": [
                {"type": "input_text", "text": PROMPT},
                {"type": "input_image", "image_url": "data:image/png;base64,aGVsbG8="},
            ],
        }
        with capture_events() as events:
            api.create(tools=[tool], input=[message])
        assert names(events) == SEQUENCE
        assert {e.operation for e in events} == {"image.edit"}  # type: ignore[attr-defined]

    def test_among_other_tools(self, api: Api) -> None:
        """The image tool among others (and given as a tuple) is found."""
        function = {"type": "function", "name": "f", "parameters": {"type": "object"}}
        with capture_events() as events:
            api.create(tools=(function, LOW_SQUARE))
        assert names(events) == SEQUENCE


class TestSeveralCalls:
    """Calls of one response are one image request: images add up, usage is the response's."""

    def test_twice(self, api: Api, server: ImageServer, stream: bool) -> None:
        """Two images: 3 text tokens at $5/M = 0.000015, 544 out at $40/M = 0.02176; $0.021775."""
        server.responses.plan_next(("completed", "completed"))
        with capture_events() as events:
            api.create(tools=[LOW_SQUARE], stream=stream)
        assert names(events) == SEQUENCE
        assert one_request(events) == api.request_id
        usage = usage_of(events)
        assert events[1].images == 2  # type: ignore[attr-defined]
        assert usage.images == 2
        assert usage.usage.output_tokens == 544
        assert usage.cost is not None
        assert usage.cost.total == D("0.021775")

    def test_filtered(self, api: Api, server: ImageServer, stream: bool) -> None:
        """One image made, one blocked: one image, the made one's usage ($0.010895)."""
        server.responses.plan_next(("failed", "completed"))
        with capture_events() as events:
            api.create(tools=[LOW_SQUARE], stream=stream)
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.images == 1
        assert usage.cost is not None
        assert usage.cost.total == LOW_SQUARE_COST

    def test_all_filtered(self, api: Api, server: ImageServer, stream: bool) -> None:
        """The only call blocked: an image request of no image, its zero usage priced at $0."""
        server.responses.plan_next(("failed",))
        with capture_events() as events:
            api.create(tools=[LOW_SQUARE], stream=stream)
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.images == 0
        assert usage.usage.total_tokens == 0
        assert usage.cost is not None
        assert usage.cost.total == 0


class TestNotImageRequests:
    """Calls without the tool, and answers that did not use it, emit nothing."""

    def test_text_only(self, api: Api, stream: bool) -> None:
        """No tools at all: nothing."""
        with capture_events() as events:
            api.create(stream=stream)
        assert events == []

    def test_other_tools(self, api: Api) -> None:
        """A function tool only: nothing."""
        function = {"type": "function", "name": "f", "parameters": {"type": "object"}}
        with capture_events() as events:
            api.create(tools=[function])
        assert events == []

    def test_tool_unused(self, api: Api, server: ImageServer, stream: bool) -> None:
        """The tool offered, no image call in the answer: nothing."""
        server.responses.plan_next(())
        with capture_events() as events:
            result = api.create(tools=[LOW_SQUARE], stream=stream)
        assert events == []
        final = result[-1].response if stream else result
        assert [item.type for item in final.output] == ["message"]


#: The SDK's exception for each HTTP status.
ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
}


class TestErrors:
    """HTTP errors of a call with the tool: an error event with the status, the SDK's exception."""

    @pytest.mark.parametrize("status", sorted(ERRORS))
    def test_http_errors(self, api: Api, server: ImageServer, stream: bool, status: int) -> None:
        """400, 429, 500: started then error, with OpenAI's request id and the status."""
        server.fail_next(status, f"failure {status}")
        exception = ERRORS[status]
        with capture_events() as events, pytest.raises(exception) as info:
            api.create(tools=[LOW_SQUARE], stream=stream)
        started, error = events
        assert (started.event_type, type(info.value)) == ("image:request:started", exception)
        assert isinstance(error, ImageRequestErrorEvent)
        assert (error.status_code, error.error_type) == (status, exception.__name__)
        assert (error.error_message or "").endswith(f"failure {status}")
        assert one_request(events) == info.value.request_id  # type: ignore[attr-defined]
        assert error.model == "gpt-image-1"

    def test_text_only_errors_are_not_reported(self, api: Api, server: ImageServer) -> None:
        """A call without the tool that fails: nothing (it asked for no image)."""
        server.fail_next(500)
        with capture_events() as events, pytest.raises(openai.InternalServerError):
            api.create()
        assert events == []


def dumped(result: Any) -> Any:
    """A response, or a stream's events, as plain data (ids are the server's: equal counters)."""
    if isinstance(result, list):
        return [event.model_dump() for event in result]
    return result.model_dump()


class TestUntouched:
    """What the SDK returns is what an uninstrumented client returns."""

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_same_values(self, mode: str, stream: bool) -> None:
        """The same answers from two fresh servers, through a bare and an instrumented client."""
        results = []
        for instrumented in (False, True):
            with ImageServer() as server:
                api = Api(mode, server.base_url, instrumented=instrumented)
                server.responses.plan_next(("completed", "failed"))
                with_tool = api.create(tools=[LOW_SQUARE], stream=stream)
                text = api.create(stream=stream)
            results.append((dumped(with_tool), dumped(text)))
        assert results[0] == results[1]

    def test_same_types(self, server: ImageServer) -> None:
        """A plain call gives the SDK's Response, a stream the SDK's Stream."""
        api = Api("sync", server.base_url)
        with api.client() as client:
            response = client.responses.create(model="gpt-5", input=PROMPT, tools=[LOW_SQUARE])
            stream = client.responses.create(
                model="gpt-5", input=PROMPT, tools=[LOW_SQUARE], stream=True
            )
            assert type(response) is openai.types.responses.Response
            assert type(stream) is openai.Stream
            stream.close()
