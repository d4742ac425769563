"""instrument_google_genai: the real google-genai SDK against ImageServer's Gemini endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from google import genai
from google.genai import errors

from aievents import ImageRequestCompletedEvent, ImageRequestErrorEvent, ImageRequestStartedEvent
from aievents.instrument import instrument_google_genai
from aievents.testing import ImageServer, capture_events
from aievents.testing._gemini import gemini_answer
from google_calls import (
    SEQUENCE,
    TEXT_AND_IMAGE,
    WAYS,
    Gemini,
    config,
    make_client,
    names,
    one_request,
    usage_of,
)

D = Decimal
#: A text model's answer: no image part.
TEXT_ANSWER: dict[str, Any] = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": "Hello there."}]},
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 2, "totalTokenCount": 4},
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp-text-1",
}


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="client")
def _client(server: ImageServer) -> genai.Client:
    return instrument_google_genai(make_client(server))


@pytest.fixture(name="way", params=WAYS, ids=repr)
def _way(request: pytest.FixtureRequest) -> Gemini:
    return request.param  # type: ignore[no-any-return]


class TestImages:
    """An image call: started, completed and usage, Gemini's response id, the cost by hand."""

    def test_flash_image(self, way: Gemini, client: genai.Client) -> None:
        """gemini-2.5-flash-image, no config: 1290 image tokens, tier 1K."""
        with capture_events() as events:
            result = way.call(client, model="gemini-2.5-flash-image", contents="a fox")
        assert names(events) == SEQUENCE
        assert {one_request(events)} == way.response_ids(result)
        for event in events:
            assert event.provider == "google"
            assert event.model == "gemini-2.5-flash-image"
            assert event.size == "1K"  # type: ignore[attr-defined]
            assert event.streaming is (way.kind == "stream")
        started, completed, usage = events
        assert isinstance(started, ImageRequestStartedEvent)
        assert started.number_of_images == 1
        assert started.prompt is None  # not captured unless asked
        assert isinstance(completed, ImageRequestCompletedEvent)
        assert completed.images == 1
        assert started.timestamp <= completed.timestamp
        assert usage.usage.input_tokens == 2  # type: ignore[attr-defined]
        assert usage.usage.output_image_tokens == 1290  # type: ignore[attr-defined]
        # 2 input tokens x 0.30/M + 1290 image tokens x 30.00/M = 0.0000006 + 0.0387
        assert usage.cost.total == D("0.0387006")  # type: ignore[attr-defined]
        assert usage.cost.basis == "tokens"  # type: ignore[attr-defined]

    def test_gemini_3_pro_at_4k(self, way: Gemini, client: genai.Client) -> None:
        """gemini-3-pro-image, text and image at 4K: each modality at its rate."""
        with capture_events() as events:
            result = way.call(
                client,
                model="gemini-3-pro-image",
                contents="a fox in snow",
                config=config("4K", TEXT_AND_IMAGE),
            )
        assert names(events) == SEQUENCE
        assert {one_request(events)} == way.response_ids(result)
        usage = usage_of(events)
        assert usage.size == "4K"
        assert usage.images == 1
        assert usage.usage.input_tokens == 4
        assert usage.usage.output_text_tokens == 4
        assert usage.usage.output_image_tokens == 2000
        # 4 input x 2.00/M + 4 text out x 12.00/M + 2000 image out x 120.00/M
        # = 0.000008 + 0.000048 + 0.24
        assert usage.cost is not None
        assert usage.cost.total == D("0.240056")
        assert usage.cost.output_image == D("0.24")

    def test_gemini_3_1_flash_at_2k(self, way: Gemini, client: genai.Client) -> None:
        """gemini-3.1-flash-image at 2K, image only: 1680 image tokens."""
        with capture_events() as events:
            way.call(
                client,
                model="gemini-3.1-flash-image",
                contents="a fox",
                config=config("2K", ["IMAGE"]),
            )
        usage = usage_of(events)
        assert names(events) == SEQUENCE
        assert usage.size == "2K"
        # 2 input x 0.50/M + 1680 image out x 60.00/M = 0.000001 + 0.1008
        assert usage.cost.total == D("0.100801")  # type: ignore[union-attr]

    def test_models_prefix_and_captures(self, server: ImageServer) -> None:
        """``models/`` names the model as the price table does; prompts and images on request."""
        client = instrument_google_genai(
            make_client(server), capture_prompts=True, capture_outputs=True
        )
        with capture_events() as events:
            client.models.generate_content(model="models/gemini-2.5-flash-image", contents="a fox")
        started, completed, usage = events
        assert started.model == "gemini-2.5-flash-image"
        assert started.prompt == "a fox"  # type: ignore[attr-defined]
        assert completed.outputs[0].b64_json == "aGVsbG8="  # type: ignore[attr-defined]
        assert usage.cost is not None  # type: ignore[attr-defined]


class TestModelVersion:
    """The answer's model_version is the model; priced as the call's model when only it is known."""

    def test_version(self, client: genai.Client, server: ImageServer) -> None:
        """A version the price table lacks: the events name it, the call's model prices it."""
        answer = gemini_answer("gemini-2.5-flash-image", {}, b64="aGVsbG8=", response_id="r-9")
        server.answer_next({**answer, "modelVersion": "gemini-2.5-flash-image-exp-9"})
        with capture_events() as events:
            client.models.generate_content(model="gemini-2.5-flash-image", contents="x")
        assert {e.model for e in events} == {"gemini-2.5-flash-image-exp-9"}
        assert one_request(events) == "r-9"
        usage = usage_of(events)
        assert usage.priced_as == "gemini-2.5-flash-image"
        # 1 input token x 0.30/M + 1290 image tokens x 30.00/M
        assert usage.cost.total == D("0.0387003")  # type: ignore[union-attr]


class TestNoImage:
    """A call that makes no image is no image request: no events at all."""

    def test_text_answer(self, way: Gemini, client: genai.Client, server: ImageServer) -> None:
        """A text model's answer (no image part) emits nothing."""
        server.answer_next(TEXT_ANSWER)
        with capture_events() as events:
            result = way.call(client, model="gemini-2.5-flash", contents="hello")
        assert events == []
        chunks = result if isinstance(result, list) else [result]
        assert chunks[-1].text == "Hello there."

    def test_text_call_error(self, way: Gemini, client: genai.Client, server: ImageServer) -> None:
        """A text call that fails is not reported: it asked for no image."""
        server.fail_next(429, "slow down")
        with capture_events() as events, pytest.raises(errors.ClientError):
            way.call(client, model="gemini-2.5-flash", contents="hello")
        assert events == []


class TestErrors:
    """An image call's HTTP error: started, then error with the status; the SDK's error raised."""

    @pytest.mark.parametrize(
        ("status", "kind"),
        [(400, errors.ClientError), (429, errors.ClientError), (500, errors.ServerError)],
    )
    def test_status(
        self,
        way: Gemini,
        client: genai.Client,
        server: ImageServer,
        status: int,
        kind: type[errors.APIError],
    ) -> None:
        """400, 429, 500: ``image:request:error`` with the code; the exception is untouched."""
        server.fail_next(status, "the fox ran away")
        with capture_events() as events, pytest.raises(kind) as raised:
            way.call(client, model="gemini-2.5-flash-image", contents="a fox")
        assert raised.value.code == status
        assert raised.value.message == "the fox ran away"
        assert names(events) == ["image:request:started", "image:request:error"]
        one_request(events)
        error = events[1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.status_code == status
        assert error.error_type == kind.__name__
        assert error.error_message is not None
        assert "the fox ran away" in error.error_message

    def test_asked_by_modality(self, client: genai.Client, server: ImageServer) -> None:
        """A model the price table does not know, asked for IMAGE, is an image request."""
        server.fail_next(500)
        with capture_events() as events, pytest.raises(errors.ServerError):
            client.models.generate_content(
                model="gemini-9-image-next", contents="x", config=config(None, ["IMAGE"])
            )
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[1].model == "gemini-9-image-next"


class TestFiltered:
    """Images a filter held back: completed with no image, the prompt billed, no image."""

    @pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "PROHIBITED_CONTENT"])
    def test_filtered(
        self, way: Gemini, client: genai.Client, server: ImageServer, reason: str
    ) -> None:
        """The finish reason says so and no image part came."""
        server.answer_next({"finish_reason": reason})
        with capture_events() as events:
            result = way.call(client, model="gemini-2.5-flash-image", contents="a fox")
        chunks = result if isinstance(result, list) else [result]
        assert chunks[-1].candidates[0].finish_reason == reason
        assert names(events) == SEQUENCE
        assert {one_request(events)} == way.response_ids(result)
        usage = usage_of(events)
        assert usage.images == 0
        assert usage.usage.output_tokens == 0
        # 2 input tokens x 0.30/M; no image billed
        assert usage.cost is not None
        assert usage.cost.total == D("0.0000006")
        assert usage.cost.output_image == 0


def cut_short(mode: str, client: genai.Client, server: ImageServer, *, after: int) -> None:
    """A gemini-3-pro-image stream (text and image, 4K) broken off after ``after`` chunks."""
    server.answer_next({"cut_after": after})
    # httpx's words, or aiohttp's (the SDK's async client uses aiohttp when it is installed)
    with pytest.raises(Exception, match=r"incomplete chunked|payload is not completed"):
        Gemini(mode, "stream").call(
            client,
            model="gemini-3-pro-image",
            contents="a fox in snow",
            config=config("4K", TEXT_AND_IMAGE),
        )


class TestCutShort:
    """A stream cut short: what came is booked, as the openai instrumentation books its streams."""

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_after_the_image(self, mode: str, client: genai.Client, server: ImageServer) -> None:
        """Broken off after the image: completed, priced per image for the tier (no usage came)."""
        with capture_events() as events:
            cut_short(mode, client, server, after=2)  # the text, the image; not the last chunk
        assert names(events) == SEQUENCE
        assert one_request(events).startswith("req_local_")
        usage = usage_of(events)
        assert usage.images == 1
        assert usage.usage.output_tokens is None
        # gemini-3-pro-image's published price of a 4K image
        assert usage.cost is not None
        assert (usage.cost.total, usage.cost.basis) == (D("0.24"), "estimate")

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_before_any_image(self, mode: str, client: genai.Client, server: ImageServer) -> None:
        """Broken off before any image: the request failed (no status: not an HTTP answer)."""
        with capture_events() as events:
            cut_short(mode, client, server, after=1)  # the text only
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[1].status_code is None  # type: ignore[attr-defined]
        # httpx's error, or aiohttp's (the async client's transport when aiohttp is installed)
        assert events[1].error_type in {"RemoteProtocolError", "ClientPayloadError"}  # type: ignore[attr-defined]

    def test_let_go(self, client: genai.Client) -> None:
        """The caller stops reading after the first chunk: one image booked, at the tier's price."""
        with capture_events() as events:
            stream = client.models.generate_content_stream(
                model="gemini-3.1-flash-image", contents="x", config=config("2K", TEXT_AND_IMAGE)
            )
            for _chunk in stream:
                break
            stream.close()
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.images == 1
        # gemini-3.1-flash-image's published price of a 2K image
        assert usage.cost.total == D("0.101")  # type: ignore[union-attr]

    def test_never_read(self, client: genai.Client, server: ImageServer) -> None:
        """A stream never read sends no request and books nothing."""
        sent = len(server.requests)
        with capture_events() as events:
            stream = client.models.generate_content_stream(
                model="gemini-3.1-flash-image", contents="x"
            )
            del stream
        assert events == []
        assert len(server.requests) == sent
