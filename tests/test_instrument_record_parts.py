"""ImageRequest.record: the parts of one answer, the model it names, and the shapes it takes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest
from google import genai
from google.genai import types

from aievents import EventClient
from aievents.adapters.answers import to_answer
from aievents.instrument import image_request, instrument_google_genai
from aievents.instrument._request import ImageRequest
from aievents.testing import ImageServer, capture_events
from test_instrument_record import REPLICATE_PRICES, cost, ended, recorded

D = Decimal


@pytest.fixture(name="gemini")
def _gemini(server: ImageServer) -> genai.Client:
    """A google-genai client of ``server``, not instrumented."""
    return genai.Client(api_key="test", http_options=types.HttpOptions(base_url=server.url))


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def gemini_answer(response_id: str, version: str) -> dict[str, Any]:
    """A Gemini REST answer with one image: 2 prompt tokens, 1120 image tokens."""
    return {
        "candidates": [
            {
                "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "aGk="}}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 2,
            "candidatesTokenCount": 1120,
            "totalTokenCount": 1122,
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
        },
        "modelVersion": version,
        "responseId": response_id,
    }


class TestStreamChunks:
    """The chunks of one Gemini stream, recorded one by one: the last usage is the answer's."""

    def test_chunks_of_one_stream(
        self, client: EventClient, server: ImageServer, gemini: genai.Client
    ) -> None:
        """Each chunk carries the usage so far: replaced, not added up; images over all chunks."""
        config = types.GenerateContentConfig(response_modalities=["IMAGE"])
        with (
            capture_events(client) as events,
            image_request(provider="google", model="gemini-3.1-flash-image", client=client) as req,
        ):
            chunks = [
                req.record(chunk)
                for chunk in gemini.models.generate_content_stream(
                    model="gemini-3.1-flash-image", contents="a fox", config=config
                )
            ]
        assert len(chunks) >= 2  # the image chunk (prompt tokens so far), the last one
        assert len({chunk.response_id for chunk in chunks}) == 1
        _, usage = ended(events)
        assert usage.images == 1
        assert usage.usage.input_tokens == 2
        assert usage.usage.output_image_tokens == 1120
        # 2 text tokens in x $0.50/M + 1120 image tokens out x $60/M = 0.000001 + 0.0672
        assert cost(usage) == D("0.067201")

    def test_two_answers_add_up(self, client: EventClient) -> None:
        """Two answers (two ids) are two answers: their usage adds up."""
        usage = recorded(
            client,
            gemini_answer("resp-a", "gemini-3.1-flash-image"),
            gemini_answer("resp-b", "gemini-3.1-flash-image"),
            provider="google",
            model="gemini-3.1-flash-image",
        )
        assert usage.images == 2
        assert usage.usage.input_tokens == 4
        # 2 x (0.000001 + 0.0672)
        assert cost(usage) == D("0.134402")

    def test_part_then_other_answer_then_part(self, client: EventClient) -> None:
        """A later part of the first answer replaces only that answer's usage."""
        first = gemini_answer("resp-a", "gemini-3.1-flash-image")
        first_part = {**first, "usageMetadata": {"promptTokenCount": 2, "totalTokenCount": 2}}
        first_part["candidates"] = []
        usage = recorded(
            client,
            first_part,
            gemini_answer("resp-b", "gemini-3.1-flash-image"),
            first,
            provider="google",
            model="gemini-3.1-flash-image",
        )
        assert usage.images == 2
        assert usage.usage.input_tokens == 4
        assert usage.usage.output_image_tokens == 2240


class TestLearnModel:
    """ImageRequest.learn_model: the answer's model reported, priced as asked when unknown."""

    def test_unknown_version_priced_as_asked(self) -> None:
        """A version the table lacks: priced as the model asked for."""
        request = ImageRequest(provider="google", model="gemini-3.1-flash-image")
        request.learn_model("gemini-3.1-flash-image-exp-0999")
        assert request.model == "gemini-3.1-flash-image-exp-0999"
        assert request.priced_as == "gemini-3.1-flash-image"

    def test_known_model_priced_as_itself(self) -> None:
        """A model the table knows is priced as itself."""
        request = ImageRequest(provider="google", model="gemini-3.1-flash-image")
        request.learn_model("gemini-3-pro-image")
        assert (request.model, request.priced_as) == ("gemini-3-pro-image", None)

    def test_priced_as_already_set(self, client: EventClient) -> None:
        """A request already priced as another model keeps it, whatever version the answer names."""
        with (
            capture_events(client) as events,
            image_request(
                provider="google",
                model="my-image-deployment",
                priced_as="gemini-3.1-flash-image",
                client=client,
            ) as req,
        ):
            req.record(gemini_answer("resp-1", "gemini-3-pro-image-exp-0999"))
        _, usage = ended(events)
        assert usage.model == "gemini-3-pro-image-exp-0999"
        assert usage.cost is not None
        assert usage.cost.priced_model == "gemini-3.1-flash-image"
        assert usage.cost.total == D("0.067201")  # as in TestStreamChunks

    def test_instrumented_gemini_uses_it(self, server: ImageServer) -> None:
        """The google-genai instrumentation learns the answer's model through the same rule."""
        gemini = instrument_google_genai(
            genai.Client(api_key="test", http_options=types.HttpOptions(base_url=server.url))
        )
        server.answer_next(gemini_answer("resp-v", "gemini-3.1-flash-image-exp-0999"))
        with capture_events() as events:
            gemini.models.generate_content(model="gemini-3.1-flash-image", contents="a fox")
        usage = events[-1]
        assert usage.model == "gemini-3.1-flash-image-exp-0999"
        assert usage.cost.priced_model == "gemini-3.1-flash-image"  # type: ignore[attr-defined]


class TestOtherShapes:
    """Answers that are not Gemini's, and answers wrapped by their SDK."""

    def test_message_with_usage_metadata(self, client: EventClient) -> None:
        """A LangChain AIMessage-like dict: its usage read as record_usage reads it."""
        message = {
            "content": "hi",
            "usage_metadata": {"input_tokens": 5, "output_tokens": 1290, "total_tokens": 1295},
        }
        options = {"provider": "google", "model": "gemini-2.5-flash-image"}
        usage = recorded(client, message, **options)
        with capture_events(client) as events, image_request(client=client, **options) as req:
            req.record_usage(message)
        _, by_usage = ended(events)
        assert usage.usage.input_tokens == 5
        assert usage.usage.output_tokens == 1290
        assert usage.usage == by_usage.usage
        assert usage.cost is not None
        assert by_usage.cost is not None
        assert usage.cost.total == by_usage.cost.total

    def test_bedrock_all_held_back(self) -> None:
        """Stability on Bedrock, the only image held back and left out: one filtered."""
        body = {"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": []}
        answer = to_answer(body)
        assert (answer.images, answer.filtered) == (0, 1)

    def test_replicate_one_url(self, client: EventClient) -> None:
        """``replicate.run(..., use_file_output=False)`` giving one URL: one image."""
        usage = recorded(
            client,
            "https://replicate.delivery/a.webp",
            provider="replicate",
            model="black-forest-labs/flux-dev",
            prices=REPLICATE_PRICES,
        )
        assert usage.images == 1
        assert cost(usage) == D("0.025")  # 1 x $0.025

    def test_openai_raw_response(self, client: EventClient, server: ImageServer) -> None:
        """``with_raw_response``: read through its ``parse()``, the raw object returned."""
        sdk = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client) as req,
        ):
            raw = sdk.images.with_raw_response.generate(model="gpt-image-1", prompt="a fox", n=2)
            assert req.record(raw) is raw
        completed, usage = ended(events)
        assert completed.images == usage.images == 2
        # 10 text x $5/M + 40 image x $10/M + 100 output x $40/M = 0.00445
        assert cost(usage) == D("0.00445")
        assert usage.correlation_id == raw.headers["x-request-id"]
        assert raw.parse().data is not None  # the caller still parses it
