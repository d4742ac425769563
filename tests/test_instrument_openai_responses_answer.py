"""adapters.responses.read_response: a Responses API answer's image facts, and ImageServer's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai._models import BaseModel as SDKModel
from openai.types.responses import Response

from aievents.adapters import from_openai
from aievents.adapters.answers import Answer, read_answer
from aievents.adapters.responses import read_response
from aievents.exceptions import EventValidationError
from aievents.testing import ImageServer

TOOL = {"type": "image_generation", "model": "gpt-image-2", "size": "1536x1024", "quality": "low"}


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def answer_of(server: ImageServer, calls: tuple[str, ...], **tool: Any) -> Any:
    """The server's answer (the SDK's Response) with image calls of these statuses."""
    server.responses.plan_next(calls)
    with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client:
        return client.responses.create(model="gpt-5", input="a fox", tools=[{**TOOL, **tool}])


class OlderResponse(SDKModel):
    """A Response as older SDKs declare it: no tool_usage field (it lands in the extras)."""

    id: str
    object: str
    output: list[Any]
    tools: list[Any]


class TestReadResponse:
    """Images are completed calls, filtered the failed ones, usage is tool_usage.image_gen."""

    def test_sdk_object(self, server: ImageServer) -> None:
        """Two made, one blocked; 2 x 172 low 1536x1024 gpt-image-2 tokens out, 2 text in."""
        response = answer_of(server, ("completed", "failed", "completed"))
        answer = read_response(response)
        assert answer == Answer(
            images=2,
            filtered=1,
            usage=from_openai(
                {
                    "input_tokens": 2,
                    "output_tokens": 344,
                    "total_tokens": 346,
                    "input_tokens_details": {"text_tokens": 2, "image_tokens": 0},
                    "output_tokens_details": {"text_tokens": 0, "image_tokens": 344},
                }
            ),
            model="gpt-image-2",
            request_id=response._request_id,
            size="1536x1024",
            quality="low",
        )
        assert response.usage.input_tokens == 42  # the main model's: not read

    def test_json(self, server: ImageServer) -> None:
        """The same answer as JSON: the same facts, the response's id as the request id."""
        response = answer_of(server, ("completed",))
        answer = read_response(response.model_dump(mode="json"))
        assert answer is not None
        assert answer.request_id == response.id
        assert (answer.images, answer.filtered) == (1, 0)
        assert answer.usage == read_response(response).usage  # type: ignore[union-attr]

    def test_older_sdk_extra_fields(self, server: ImageServer) -> None:
        """tool_usage kept among the model's extra fields (SDKs that do not declare it)."""
        data = answer_of(server, ("completed",)).model_dump(mode="json")
        older = OlderResponse.construct(**data)
        assert "tool_usage" in (older.model_extra or {})
        answer = read_response(older)
        assert answer is not None
        assert answer.usage is not None
        assert answer.usage.output_tokens == 172

    def test_unused_tool(self, server: ImageServer) -> None:
        """No image call: zero images, zero filtered (the caller decides it is no image request)."""
        answer = read_response(answer_of(server, ()))
        assert answer is not None
        assert (answer.images, answer.filtered) == (0, 0)

    def test_default_model_not_guessed(self) -> None:
        """A tool that names no model: the answer names none."""
        payload = {
            "object": "response",
            "id": "resp_1",
            "output": [],
            "tools": [{"type": "image_generation"}],
        }
        assert read_response(payload) == Answer(images=0, filtered=0, request_id="resp_1")

    @pytest.mark.parametrize(
        "payload",
        [
            {"created": 1, "data": [{"b64_json": "x"}]},
            {"object": "chat.completion", "output": []},
            {"object": "response"},
            "response",
            None,
            Response,
        ],
    )
    def test_other_shapes(self, payload: Any) -> None:
        assert read_response(payload) is None

    def test_cached_tokens(self) -> None:
        """image_gen's cached_tokens are the input's cached tokens."""
        image_gen = {
            "input_tokens": 50,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
            "output_tokens": 272,
            "total_tokens": 322,
            "cached_tokens": 8,
        }
        payload = {"object": "response", "output": [], "tool_usage": {"image_gen": image_gen}}
        answer = read_response(payload)
        assert answer is not None
        assert answer.usage is not None
        assert answer.usage.input_tokens_details is not None
        assert answer.usage.input_tokens_details.cached_tokens == 8

    def test_malformed_usage(self) -> None:
        """A bad count is refused, naming the field."""
        payload = {
            "object": "response",
            "output": [],
            "tool_usage": {"image_gen": {"input_tokens": -1}},
        }
        with pytest.raises(EventValidationError) as info:
            read_response(payload)
        assert info.value.field == "input_tokens"
        assert "responses tool_usage.image_gen" in str(info.value)

    def test_read_answer(self, server: ImageServer) -> None:
        """read_answer knows the shape."""
        response = answer_of(server, ("completed",))
        assert read_answer(response) == read_response(response)


class TestServer:
    """ImageServer's /v1/responses: scripted plans, text answers without the tool."""

    def test_bad_plan(self, server: ImageServer) -> None:
        with pytest.raises(ValueError, match="'blocked'"):
            server.responses.plan_next(("blocked",))

    def test_text_only(self, server: ImageServer) -> None:
        with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client:
            response = client.responses.create(model="gpt-5", input="hello")
        assert response.output_text == "Here you are."
        assert response.tool_usage is None
        assert response.usage is not None
        assert response.usage.input_tokens == 41

    def test_sequence_numbers(self, server: ImageServer) -> None:
        """A stream's events are numbered from 0, in order, and end with response.completed."""
        with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client:
            events = list(
                client.responses.create(model="gpt-5", input="a fox", tools=[TOOL], stream=True)
            )
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert events[-1].type == "response.completed"
