"""adapters.google.read_response: a Gemini GenerateContentResponse, however it is given."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types

from aievents.adapters.answers import read_answer
from aievents.adapters.google import from_gemini, read_response
from aievents.exceptions import EventValidationError
from aievents.testing._gemini import gemini_answer

BODY = {"contents": [{"parts": [{"text": "a fox in snow"}]}]}
#: The REST answer of gemini-3-pro-image at 4K, text and image.
REST = gemini_answer(
    "gemini-3-pro-image",
    {
        **BODY,
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"imageSize": "4K"},
        },
    },
    b64="aGVsbG8=",
    response_id="resp-1",
)


def snake(value: Any) -> Any:
    """``value`` with its keys in snake_case, as the SDK's ``model_dump()`` gives them."""
    if isinstance(value, dict):
        return {
            "".join(f"_{c.lower()}" if c.isupper() else c for c in key): snake(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [snake(item) for item in value]
    return value


class TestReadResponse:
    """Images, usage by modality, model version and response id, in every spelling."""

    @pytest.mark.parametrize(
        "payload",
        [REST, snake(REST), types.GenerateContentResponse.model_validate(REST)],
        ids=["rest", "snake", "sdk"],
    )
    def test_spellings(self, payload: Any) -> None:
        """The same answer read from REST JSON, snake_case JSON and the SDK's object."""
        answer = read_response(payload)
        assert answer is not None
        assert (answer.images, answer.filtered) == (1, 0)
        assert (answer.model, answer.request_id) == ("gemini-3-pro-image", "resp-1")
        assert answer.usage is not None
        assert answer.usage.input_tokens == 4
        assert answer.usage.output_text_tokens == 4
        assert answer.usage.output_image_tokens == 2000
        assert read_answer(payload) == answer

    def test_filtered(self) -> None:
        """A candidate stopped by a filter, with no image part, is one filtered image."""
        payload = {"candidates": [{"finishReason": "IMAGE_SAFETY"}], "responseId": "r"}
        answer = read_response(payload)
        assert answer is not None
        assert (answer.images, answer.filtered, answer.usage) == (0, 1, None)

    def test_blocked_prompt(self) -> None:
        """A prompt blocked outright (no candidates) is one filtered image."""
        answer = read_response({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
        assert answer is not None
        assert (answer.images, answer.filtered) == (0, 1)

    def test_text_answer(self) -> None:
        """Text parts and non-image inline data are no images."""
        parts = [{"text": "hi"}, {"inlineData": {"mimeType": "audio/wav", "data": "AA=="}}]
        answer = read_response({"candidates": [{"content": {"parts": parts}}]})
        assert answer is not None
        assert (answer.images, answer.filtered) == (0, 0)

    @pytest.mark.parametrize(
        "payload",
        [
            None,
            "text",
            [REST],
            {"data": []},
            {"output": []},
            # LangChain's AIMessage: a usage_metadata of its own, not Gemini's
            {"content": "hi", "usage_metadata": {"input_tokens": 5, "output_tokens": 1290}},
        ],
    )
    def test_other_shapes(self, payload: Any) -> None:
        """Not Gemini's: None, for another reader to try."""
        assert read_response(payload) is None

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"candidates": "x"}, "candidates"),
            ({"candidates": [1]}, "candidates[0]"),
            ({"candidates": [{"content": {"parts": "x"}}]}, "candidates[0].content.parts"),
            ({"usageMetadata": {"promptTokenCount": -1}}, "promptTokenCount"),
            ({"candidates": [], "usageMetadata": {"input_tokens": 5}}, "promptTokenCount"),
        ],
    )
    def test_malformed(self, payload: Any, field: str) -> None:
        """Gemini's shape with a bad field: the error names it."""
        with pytest.raises(EventValidationError) as raised:
            read_response(payload)
        assert raised.value.field == field


class TestFromGemini:
    """from_gemini refuses a usage that has none of Gemini's counts."""

    def test_not_gemini_usage(self) -> None:
        """The error names the count Gemini always gives."""
        with pytest.raises(EventValidationError) as raised:
            from_gemini({"input_tokens": 5, "output_tokens": 1290})
        assert raised.value.field == "promptTokenCount"
