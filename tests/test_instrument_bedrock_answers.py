"""instrument_bedrock: what an answer holds, read once; answers and bodies out of the usual."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from aievents import ImageRequestCompletedEvent
from aievents.instrument import instrument_bedrock, uninstrument_bedrock
from aievents.testing import ImageServer, capture_events
from aievents.testing._answers import B64
from bedrock_calls import SEQUENCE, amazon_body, invoke, make_client, names, usage_of

NOVA = "amazon.nova-canvas-v1:0"
SDXL = "stability.stable-diffusion-xl-v1"


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="capturing")
def _capturing(server: ImageServer) -> Iterator[Any]:
    """A client whose images are copied into the completed events."""
    client = instrument_bedrock(make_client(server.url), capture_outputs=True)
    yield client
    uninstrument_bedrock(client)


def outputs_of(events: list[Any]) -> list[str | None] | None:
    (completed,) = (e for e in events if isinstance(e, ImageRequestCompletedEvent))
    return None if completed.outputs is None else [o.b64_json for o in completed.outputs]


def sdxl_body(samples: int) -> str:
    return json.dumps({"text_prompts": [{"text": "a fox"}], "samples": samples})


class TestOutputs:
    """capture_outputs copies exactly the images counted: one reading of the answer."""

    def test_sdxl(self, capturing: Any) -> None:
        """SDXL's ``artifacts[].base64``: two samples, two images, both copied."""
        with capture_events() as events:
            _, answer = invoke(capturing, SDXL, sdxl_body(2))
        assert len(answer["artifacts"]) == 2
        assert names(events) == SEQUENCE
        assert usage_of(events).images == 2
        assert outputs_of(events) == [B64, B64]

    def test_sdxl_filtered(self, capturing: Any, server: ImageServer) -> None:
        """SDXL's ``CONTENT_FILTERED`` artifacts: none counted, none copied."""
        server.answer_next({"filtered": True})
        with capture_events() as events:
            invoke(capturing, SDXL, sdxl_body(2))
        assert usage_of(events).images == 0
        assert outputs_of(events) is None

    def test_held_back_beside(self, capturing: Any, server: ImageServer) -> None:
        """Stability's image held back but still listed: neither counted nor copied."""
        reasons = [None, "Filter reason: output image"]
        server.answer_next({"seeds": [1, 2], "finish_reasons": reasons, "images": [B64, "Zm94"]})
        with capture_events() as events:
            invoke(capturing, "stability.sd3-5-large-v1:0", json.dumps({"prompt": "a fox"}))
        assert usage_of(events).images == 1
        assert outputs_of(events) == [B64]


class TestModelIds:
    """The server and the instrumentation read model ids with one piece of code."""

    def test_prefix_known_to_both(self, capturing: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """A cross-region prefix added to the one list: the server answers an image, reported."""
        import aievents._bedrock_models as models

        monkeypatch.setattr(models, "REGION_PREFIXES", models.REGION_PREFIXES | {"mars"})
        with capture_events() as events:
            _, answer = invoke(capturing, f"mars.{NOVA}", amazon_body(numberOfImages=2))
        assert answer["images"] == [B64, B64]
        usage = usage_of(events)
        assert (usage.model, usage.images) == (f"mars.{NOVA}", 2)
        assert usage.cost is not None  # priced as Nova Canvas


class TestNotSent:
    """A body botocore refuses before sending: no request, no event, the prompt nowhere."""

    def test_dict_body(self, capturing: Any, caplog: pytest.LogCaptureFixture) -> None:
        """botocore's ParamValidationError reaches the caller; nothing is reported."""
        caplog.set_level(logging.DEBUG, logger="aievents")
        body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a secret plan"}}
        with capture_events() as events, pytest.raises(botocore.exceptions.ParamValidationError):
            capturing.invoke_model(modelId=NOVA, body=body)
        assert events == []
        assert "a secret plan" not in caplog.text


class TestOtherBodies:
    """An answer body that is not a StreamingBody (a stub's): passed on, the request completed."""

    def test_stubbed_bytes(self, capturing: Any, caplog: pytest.LogCaptureFixture) -> None:
        """botocore's Stubber gives bytes: the caller gets them; images unknown; logged."""
        answer = json.dumps({"images": [B64], "error": None}).encode()
        with Stubber(capturing) as stub, capture_events() as events:
            stub.add_response("invoke_model", {"body": answer, "contentType": "application/json"})
            response = capturing.invoke_model(modelId=NOVA, body=amazon_body())
        assert response["body"] == answer
        assert names(events) == SEQUENCE
        assert usage_of(events).images is None
        assert "instrumentation_failed" in caplog.text
        assert "bedrock answer body is bytes" in caplog.text


class TestReplayedBody:
    """The body the caller gets behaves as botocore's own."""

    def test_socket_timeout(self, capturing: Any) -> None:
        """``set_socket_timeout`` is accepted (nothing left to time), the bytes read the same."""
        with capture_events():
            response = capturing.invoke_model(modelId=NOVA, body=amazon_body())
        body = response["body"]
        assert isinstance(body, StreamingBody)
        body.set_socket_timeout(5.0)
        assert json.loads(body.read())["images"] == [B64]
