"""responses.parse with the image tool, and what is documented as not recorded.

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

from aievents.instrument import instrument_openai, uninstrument_openai
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
