"""responses.parse with the image tool; the provider a dropped stream's price warning names.

The real openai SDK against ImageServer. The image tool asks for gpt-image-1,
1024x1024, low, by the 3-word prompt: 3 text tokens x 5.00/1M = 0.000015,
272 image tokens x 40.00/1M = 0.01088; total 0.010895 (LOW_SQUARE_COST).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import structlog

from aievents.instrument import instrument_openai, uninstrument_openai
from aievents.pricing import PriceBook
from aievents.testing import ImageServer, capture_events
from test_instrument_openai import SEQUENCE, names, one_request, usage_of
from test_instrument_openai_responses import LOW_SQUARE, LOW_SQUARE_COST, PROMPT

ASK: dict[str, Any] = {"model": "gpt-5", "input": PROMPT, "tools": [LOW_SQUARE]}


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(autouse=True, name="undone")
def _undone() -> Iterator[None]:
    yield
    uninstrument_openai()


def parse(server: ImageServer, mode: str, scope: str, how: str) -> str:
    """responses.parse (or its raw-response form) once; the answer's request id."""
    cls = openai.OpenAI if mode == "sync" else openai.AsyncOpenAI
    client = cls(api_key="sk-test", base_url=server.base_url, max_retries=0)
    if scope == "client":
        instrument_openai(client)
    else:
        instrument_openai()
    if mode == "sync":
        with client:
            if how == "raw":
                raw = client.responses.with_raw_response.parse(**ASK)
                raw.parse()
                return str(raw.headers["x-request-id"])
            return str(client.responses.parse(**ASK)._request_id)

    async def go() -> str:
        async with client:
            if how == "raw":
                raw = await client.responses.with_raw_response.parse(**ASK)
                raw.parse()  # the SDK's raw response parses at once
                return str(raw.headers["x-request-id"])
            return str((await client.responses.parse(**ASK))._request_id)

    return asyncio.run(go())


class TestParse:
    """responses.parse with the image tool is reported as create is: once, priced."""

    @pytest.mark.parametrize("how", ["plain", "raw"])
    @pytest.mark.parametrize("scope", ["client", "process"])
    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_reported(self, server: ImageServer, mode: str, scope: str, how: str) -> None:
        """Started, completed, usage under the answer's request id; the image model's cost."""
        with capture_events() as events:
            request_id = parse(server, mode, scope, how)
        assert names(events) == SEQUENCE
        assert one_request(events) == request_id
        usage = usage_of(events)
        assert usage.model == "gpt-image-1"
        assert usage.cost is not None
        assert usage.cost.total == LOW_SQUARE_COST

    def test_text_only_untouched(self, server: ImageServer) -> None:
        """parse without the image tool: nothing reported."""
        instrument_openai()
        with (
            openai.OpenAI(api_key="sk-test", base_url=server.base_url) as client,
            capture_events() as events,
        ):
            client.responses.parse(model="gpt-5", input=PROMPT)
        assert events == []


class TestDroppedStreamWarning:
    """A stream let go of before its usage came is priced per image, warned under its provider."""

    def test_price_unknown_names_the_endpoint(self, server: ImageServer) -> None:
        """gpt-image-1 at size and quality ``auto`` has no per-image price: the warning names
        the provider the events name (the server's host), not the price entry's (openai)."""
        client = instrument_openai(
            openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0),
            prices=PriceBook(),  # its own warnings: once per model and reason
        )
        tool = {"type": "image_generation", "model": "gpt-image-1", "partial_images": 2}
        with client, capture_events() as events, structlog.testing.capture_logs() as logs:
            stream = client.responses.create(model="gpt-5", input=PROMPT, tools=[tool], stream=True)
            for event in stream:
                if event.type == "response.image_generation_call.partial_image":
                    break
            stream.close()
        usage = usage_of(events)
        assert usage.provider == "127.0.0.1"
        assert usage.cost is None
        warned = [line for line in logs if line["event"] == "price_unknown"]
        assert [(line["model"], line["provider"]) for line in warned] == [
            ("gpt-image-1", "127.0.0.1")
        ]
