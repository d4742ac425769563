"""instrument_bedrock: the real boto3 against ImageServer's Bedrock endpoints, one client."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse

from aievents import (
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
)
from aievents.instrument import instrument_bedrock, uninstrument_bedrock
from aievents.testing import ImageServer, capture_events
from aievents.testing._answers import B64
from aievents.testing._bedrock import BLOCKED
from bedrock_calls import SEQUENCE, amazon_body, invoke, make_client, names, one_request, usage_of

D = Decimal
TITAN = "amazon.titan-image-generator-v1"
NOVA = "amazon.nova-canvas-v1:0"


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="client")
def _client(server: ImageServer) -> Iterator[Any]:
    client = instrument_bedrock(make_client(server.url))
    yield client
    uninstrument_bedrock(client)


def started_of(events: list[Any]) -> ImageRequestStartedEvent:
    (started,) = (e for e in events if isinstance(e, ImageRequestStartedEvent))
    return started


def cost_of(events: list[Any]) -> Decimal | None:
    cost = usage_of(events).cost
    return None if cost is None else cost.total


class TestImages:
    """An image call: started, completed and usage, Bedrock's request id, the cost by hand."""

    def test_titan(self, client: Any) -> None:
        """Titan v1, 3 premium images at 512x512: all three events, the answer's count."""
        body = amazon_body(numberOfImages=3, quality="premium", width=512, height=512)
        with capture_events() as events:
            response, answer = invoke(client, TITAN, body)
        assert names(events) == SEQUENCE
        assert one_request(events) == response["ResponseMetadata"]["RequestId"]
        assert len(answer["images"]) == 3
        started, completed, _ = events
        assert isinstance(started, ImageRequestStartedEvent)
        assert isinstance(completed, ImageRequestCompletedEvent)
        assert started.number_of_images == 3
        assert started.prompt is None  # not captured unless asked
        assert started.timestamp <= completed.timestamp
        for event in events:
            assert event.provider == "bedrock"
            assert event.model == TITAN
            assert event.operation == "image.generation"
            assert (event.size, event.quality) == ("512x512", "premium")  # type: ignore[attr-defined]
            assert event.streaming is False  # type: ignore[attr-defined]
        assert completed.images == 3
        # 3 images x 0.01 (premium, 512x512)
        assert cost_of(events) == D("0.03")

    @pytest.mark.parametrize(
        "case",
        [
            # no imageGenerationConfig: 1 standard image at 1024x1024: 1 x 0.01
            (TITAN, amazon_body(), "1024x1024", "standard", 1, D("0.01")),
            # 2 standard at 1024x1024: 2 x 0.01
            (
                "amazon.titan-image-generator-v2:0",
                amazon_body(numberOfImages=2, width=1024, height=1024),
                "1024x1024",
                "standard",
                2,
                D("0.02"),
            ),
            # v1:0 is v1's alias; premium at 1024x1024: 1 x 0.012
            (
                "amazon.titan-image-generator-v1:0",
                amazon_body(quality="premium"),
                "1024x1024",
                "premium",
                1,
                D("0.012"),
            ),
            # Nova Canvas, flat 0.06 an image whatever the size: 2 x 0.06
            (
                NOVA,
                amazon_body(numberOfImages=2, quality="premium", width=2048, height=2048),
                "2048x2048",
                "premium",
                2,
                D("0.12"),
            ),
            # a size the table does not price (only 512x512 and 1024x1024 classes): unknown
            (TITAN, amazon_body(width=768, height=768), "768x768", "standard", 1, None),
        ],
    )
    def test_amazon_costs(self, client: Any, case: tuple[Any, ...]) -> None:
        """Size from width x height, quality, count, price per image."""
        model, body, size, quality, images, cost = case
        with capture_events() as events:
            invoke(client, model, body)
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert (usage.size, usage.quality, usage.images) == (size, quality, images)
        assert cost_of(events) == cost

    @pytest.mark.parametrize(
        ("model", "reported", "cost"),
        [
            ("stability.sd3-5-large-v1:0", "stability.sd3-5-large-v1:0", D("0.08")),
            ("stability.stable-image-ultra-v1:0", "stability.stable-image-ultra-v1:0", D("0.14")),
            # a cross-region profile is priced as its model: 1 x 0.04
            (
                "us.stability.stable-image-core-v1:1",
                "us.stability.stable-image-core-v1:1",
                D("0.04"),
            ),
            # an ARN naming the model: the model; Nova Canvas 1 x 0.06 (Titan-shaped body)
            (
                f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA}",
                NOVA,
                D("0.06"),
            ),
        ],
    )
    def test_stability_and_ids(self, client: Any, model: str, reported: str, cost: Decimal) -> None:
        """Stability's models per image; a region prefix or an ARN priced as the model."""
        body = amazon_body() if NOVA in model else json.dumps({"prompt": "a fox"})
        with capture_events() as events:
            invoke(client, model, body)
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.model == reported
        assert usage.images == 1
        assert cost_of(events) == cost

    def test_stability_aspect_ratio(self, client: Any) -> None:
        """Stability's aspect ratio is the size; 1:1 when not given."""
        body = {"prompt": "a fox", "aspect_ratio": "16:9", "output_format": "png"}
        with capture_events() as events:
            invoke(client, "stability.sd3-5-large-v1:0", json.dumps(body))
        assert usage_of(events).size == "16:9"
        with capture_events() as events:
            invoke(client, "stability.sd3-5-large-v1:0", json.dumps({"prompt": "a fox"}))
        assert usage_of(events).size == "1:1"

    def test_unknown_image_model(self, client: Any) -> None:
        """An image model the table does not price is reported, its cost unknown (None)."""
        body = {"prompt": "a fox", "image": B64}
        with capture_events() as events:
            invoke(client, "us.stability.stable-image-inpaint-v1:0", json.dumps(body))
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.operation == "image.edit"
        assert usage.images == 1
        assert usage.cost is None

    def test_capture(self, server: ImageServer) -> None:
        """capture_prompts and capture_outputs copy the prompt and the images."""
        client = instrument_bedrock(
            make_client(server.url), capture_prompts=True, capture_outputs=True
        )
        try:
            with capture_events() as events:
                invoke(client, NOVA, amazon_body(params={"text": "a red fox"}, numberOfImages=2))
            with capture_events() as more:
                invoke(client, "stability.sd3-5-large-v1:0", json.dumps({"prompt": "a blue fox"}))
        finally:
            uninstrument_bedrock(client)
        assert started_of(events).prompt == "a red fox"
        assert started_of(more).prompt == "a blue fox"
        completed = events[1]
        assert isinstance(completed, ImageRequestCompletedEvent)
        assert [output.b64_json for output in completed.outputs or ()] == [B64, B64]


class TestTasks:
    """The task type is the operation; its parameters give the input images."""

    @pytest.mark.parametrize(
        ("task", "params", "operation", "inputs"),
        [
            ("INPAINTING", {"text": "a hat", "image": B64, "maskPrompt": "head"}, "image.edit", 1),
            ("OUTPAINTING", {"text": "a beach", "image": B64, "maskImage": B64}, "image.edit", 1),
            ("IMAGE_VARIATION", {"text": "a fox", "images": [B64, B64]}, "image.variation", 2),
            (
                "COLOR_GUIDED_GENERATION",
                {"text": "a fox", "colors": ["#ff0000"]},
                "image.generation",
                None,
            ),
        ],
    )
    def test_task(
        self, client: Any, task: str, params: dict[str, Any], operation: str, inputs: int | None
    ) -> None:
        """Each task type's operation and input image count; Nova 2 x 0.06."""
        with capture_events() as events:
            invoke(client, NOVA, amazon_body(task, params, numberOfImages=2))
        assert names(events) == SEQUENCE
        started = started_of(events)
        assert started.operation == operation
        assert started.image_input_count == inputs
        assert usage_of(events).images == 2
        assert cost_of(events) == D("0.12")

    def test_background_removal(self, client: Any) -> None:
        """Background removal is an edit with no size or quality of its own: 1 x 0.06."""
        body = json.dumps(
            {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": B64}}
        )
        with capture_events() as events:
            invoke(client, NOVA, body)
        usage = usage_of(events)
        assert (usage.operation, usage.size, usage.quality) == ("image.edit", None, None)
        assert cost_of(events) == D("0.06")

    def test_stability_image_to_image(self, client: Any) -> None:
        """Stability's image-to-image mode is an edit of one input image: 1 x 0.08."""
        body = {"prompt": "a fox", "mode": "image-to-image", "image": B64, "strength": 0.5}
        with capture_events() as events:
            invoke(client, "stability.sd3-5-large-v1:0", json.dumps(body))
        started = started_of(events)
        assert (started.operation, started.image_input_count, started.size) == (
            "image.edit",
            1,
            None,
        )
        assert cost_of(events) == D("0.08")


class TestHeldBack:
    """A filtered answer: completed with the images that came (none), nothing billed."""

    @pytest.mark.parametrize(
        ("model", "body"),
        [(TITAN, amazon_body(numberOfImages=2)), ("stability.sd3-5-large-v1:0", '{"prompt": "x"}')],
    )
    def test_filtered(self, client: Any, server: ImageServer, model: str, body: str) -> None:
        """Titan's ``error``, Stability's filter finish reason: no image, cost 0 x price = 0."""
        server.answer_next({"filtered": True})
        with capture_events() as events:
            response, answer = invoke(client, model, body)
        assert answer["images"] == []
        assert answer.get("error") in (None, BLOCKED)
        assert names(events) == SEQUENCE
        assert one_request(events) == response["ResponseMetadata"]["RequestId"]
        assert usage_of(events).images == 0
        assert cost_of(events) == D("0")


class TestErrors:
    """A ClientError: image:request:error with its code, HTTP status and Bedrock's request id."""

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (400, "ValidationException"),
            (429, "ThrottlingException"),
            (424, "ModelErrorException"),
            (500, "InternalServerException"),
        ],
    )
    def test_client_error(self, client: Any, server: ImageServer, status: int, code: str) -> None:
        """The exception reaches the caller unchanged; one error event."""
        server.fail_next(status, "it went wrong")
        with capture_events() as events, pytest.raises(botocore.exceptions.ClientError) as caught:
            client.invoke_model(modelId=TITAN, body=amazon_body(numberOfImages=2))
        assert caught.value.response["Error"]["Code"] == code
        assert names(events) == ["image:request:started", "image:request:error"]
        assert one_request(events) == caught.value.response["ResponseMetadata"]["RequestId"]
        error = events[1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.status_code == status
        assert error.error_type == code
        assert error.error_message == "it went wrong"
        assert started_of(events).number_of_images == 2

    def test_named_error(self, client: Any, server: ImageServer) -> None:
        """The error Bedrock names wins over the status's usual one."""
        server.fail_next(400, "no access", {"x-amzn-ErrorType": "AccessDeniedException"})
        with capture_events() as events, pytest.raises(botocore.exceptions.ClientError):
            client.invoke_model(modelId=NOVA, body=amazon_body())
        assert events[1].error_type == "AccessDeniedException"  # type: ignore[attr-defined]

    def test_no_connection(self) -> None:
        """The network failing: an error with no status."""
        with ImageServer() as gone:
            url = gone.url
        client = instrument_bedrock(make_client(url))
        with capture_events() as events, pytest.raises(botocore.exceptions.EndpointConnectionError):
            client.invoke_model(modelId=NOVA, body=amazon_body())
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[1].status_code is None  # type: ignore[attr-defined]
        assert events[1].error_type == "EndpointConnectionError"  # type: ignore[attr-defined]

    def test_stream_refused(self, client: Any) -> None:
        """invoke_model_with_response_stream of an image model: Bedrock's 400, reported."""
        with capture_events() as events, pytest.raises(botocore.exceptions.ClientError) as caught:
            client.invoke_model_with_response_stream(modelId=NOVA, body=amazon_body())
        assert names(events) == ["image:request:started", "image:request:error"]
        assert one_request(events) == caught.value.response["ResponseMetadata"]["RequestId"]
        error = events[1]
        assert (error.status_code, error.error_type) == (400, "ValidationException")  # type: ignore[attr-defined]
        assert error.streaming is True  # type: ignore[attr-defined]


class _Short(io.BytesIO):
    """A response body that ends before the length its headers promise."""

    def stream(self, amt: int = 1024, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


class TestBrokenBody:
    """An answer whose body breaks off: the request's error; the caller's read raises the same."""

    def test_short_body(self, client: Any) -> None:
        """botocore's IncompleteReadError, once for the events and again for the caller."""

        def answer(request: Any, **kwargs: Any) -> AWSResponse:
            headers = {"content-length": "1000", "x-amzn-requestid": "req-short"}
            return AWSResponse(request.url, 200, headers, _Short(b'{"images": ['))

        client.meta.events.register("before-send.bedrock-runtime.InvokeModel", answer)
        with capture_events() as events:
            response = client.invoke_model(modelId=NOVA, body=amazon_body())
        assert names(events) == ["image:request:started", "image:request:error"]
        assert one_request(events) == "req-short"
        assert events[1].error_type == "IncompleteReadError"  # type: ignore[attr-defined]
        response["body"].set_socket_timeout(5.0)  # as botocore's own body takes it
        with pytest.raises(botocore.exceptions.IncompleteReadError) as first:
            response["body"].read()
        with pytest.raises(botocore.exceptions.IncompleteReadError) as again:
            list(response["body"].iter_chunks())
        assert again.value is not first.value  # each read raises its own, as botocore's does
        assert (again.value.kwargs, str(again.value)) == (first.value.kwargs, str(first.value))


class TestStreamAnswered:
    """A stream that came (no image model streams on Bedrock): passed on, completed, unknown."""

    def test_stream(self, client: Any) -> None:
        """The SDK's own event stream; the request completed, its images and cost unknown."""

        def answer(request: Any, **kwargs: Any) -> AWSResponse:
            headers = {
                "content-type": "application/vnd.amazon.eventstream",
                "x-amzn-requestid": "req-stream",
            }
            return AWSResponse(request.url, 200, headers, _Short(b""))

        client.meta.events.register(
            "before-send.bedrock-runtime.InvokeModelWithResponseStream", answer
        )
        with capture_events() as events:
            response = client.invoke_model_with_response_stream(modelId=NOVA, body=amazon_body())
        assert type(response["body"]).__name__ == "EventStream"
        assert list(response["body"]) == []
        assert names(events) == SEQUENCE
        assert one_request(events) == "req-stream"
        usage = usage_of(events)
        assert (usage.streaming, usage.images, usage.cost) == (True, None, None)


class TestUntouched:
    """What the caller gets is what Bedrock sent; a text model's call is not looked at."""

    def test_same_body(self, client: Any, server: ImageServer) -> None:
        """The body reads the same bytes, whole, in parts or in chunks."""
        body = amazon_body(numberOfImages=2)
        bare = make_client(server.url).invoke_model(modelId=TITAN, body=body)["body"].read()
        with capture_events():
            whole = client.invoke_model(modelId=TITAN, body=body)["body"].read()
            response = client.invoke_model(modelId=TITAN, body=body)
            parts = response["body"].read(10) + response["body"].read()
            chunks = b"".join(client.invoke_model(modelId=TITAN, body=body)["body"].iter_chunks(7))
        assert whole == parts == chunks == bare
        assert response["contentType"] == "application/json"

    def test_file_body_is_sent_whole(self, client: Any, server: ImageServer) -> None:
        """A file-like request body is read and put back: the SDK sends all of it."""
        stream = io.BytesIO(amazon_body(numberOfImages=2).encode())
        with capture_events() as events:
            invoke(client, NOVA, stream)
        assert server.requests[-1][1]["imageGenerationConfig"] == {"numberOfImages": 2}
        assert usage_of(events).images == 2

    @pytest.mark.parametrize(
        "model",
        [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.nova-lite-v1:0",
            "us.meta.llama3-2-11b-instruct-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1",
        ],
    )
    def test_text_model(
        self,
        client: Any,
        model: str,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """No event, the body never read (reading it would be logged as a failure here)."""
        from aievents.instrument import _bedrock_call

        def refuse(body: Any) -> Any:
            raise AssertionError("a text model's body was read")

        monkeypatch.setattr(_bedrock_call, "read_body", refuse)
        body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
        with capture_events() as events:
            _, answer = invoke(client, model, body)
        assert events == []
        assert answer["content"][0]["text"] == "Hello there."
        assert "instrumentation_failed" not in caplog.text

    def test_hidden_model_by_body(self, client: Any) -> None:
        """A provisioned model's ARN: an image body is reported (cost unknown), a text one not."""
        arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123"
        with capture_events() as events:
            invoke(client, arn, json.dumps({"messages": [], "max_tokens": 5}))
        assert events == []
        with capture_events() as events:
            invoke(client, arn, amazon_body(numberOfImages=2))
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert (usage.model, usage.images, usage.cost) == (arn, 2, None)
