"""instrument_openai(openai): the SDK's module-level client, every kind of call.

``openai.images`` is the SDK's lazy proxy of the module client's resource;
the client behind it is the one instrumented, so that plain, raw and
streamed calls through the module are all reported. The real openai SDK,
its module client pointed at the local image server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from aievents import BaseEvent, ImageUsageEvent
from aievents.instrument import instrument_openai, is_instrumented, uninstrument_openai
from aievents.testing import ImageServer, capture_events

SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]
ARGUMENTS: dict[str, Any] = {"model": "gpt-image-1", "prompt": "x"}
#: The ways to call through the module, each reading its answer in full.
CALLS = ["plain", "raw", "streaming", "stream", "raw-stream", "streaming-stream"]


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="module")
def _module(server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The openai module, its client made afresh from settings for the local server."""
    monkeypatch.setattr(openai, "api_key", "sk-test")
    monkeypatch.setattr(openai, "base_url", server.base_url)
    monkeypatch.setattr(openai, "max_retries", 0)
    monkeypatch.setattr(openai, "_client", None)  # made again from the settings above
    yield openai
    uninstrument_openai(openai)


def call(module: Any, how: str) -> str:
    """One call through ``module.images``, its answer read in full; the answer's request id."""
    images = module.images
    streamed = {**ARGUMENTS, "stream": True}
    if how == "plain":
        return str(images.generate(**ARGUMENTS)._request_id)
    if how == "stream":
        stream = images.generate(**streamed)
        list(stream)
        return str(stream.response.headers["x-request-id"])
    if how in ("raw", "raw-stream"):
        raw = images.with_raw_response.generate(**(streamed if how == "raw-stream" else ARGUMENTS))
        parsed = raw.parse()
        if how == "raw-stream":
            list(parsed)
        return str(raw.headers["x-request-id"])
    with images.with_streaming_response.generate(
        **(streamed if how == "streaming-stream" else ARGUMENTS)
    ) as response:
        parsed = response.parse()
        if how == "streaming-stream":
            list(parsed)
        return str(response.headers["x-request-id"])


def names(events: list[BaseEvent]) -> list[str]:
    """The event names, in order."""
    return [e.event_type for e in events]


class TestModuleClient:
    """Every call through the instrumented openai module is reported, with its request id."""

    @pytest.mark.parametrize("how", CALLS)
    def test_reported(self, module: Any, how: str) -> None:
        """Started, completed and usage with the answer's request id and its cost."""
        assert instrument_openai(module) is module
        assert is_instrumented(module)
        with capture_events() as events:
            request_id = call(module, how)
        assert names(events) == SEQUENCE
        assert {e.request_id for e in events} == {request_id}
        usage = events[2]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.usage.total_tokens is not None
        assert usage.cost is not None

    def test_wrappers_used_before(self, module: Any) -> None:
        """Raw and streamed-response wrappers the SDK built before instrumenting report too."""
        with capture_events() as events:
            call(module, "raw")
            call(module, "streaming")
        assert events == []
        instrument_openai(module)
        with capture_events() as events:
            call(module, "raw")
            call(module, "streaming")
        assert names(events) == SEQUENCE * 2

    def test_undone(self, module: Any) -> None:
        """uninstrument_openai(openai) stops the reports, of every kind of call."""
        instrument_openai(module)
        uninstrument_openai(module)
        assert not is_instrumented(module)
        with capture_events() as events:
            for how in CALLS:
                call(module, how)
        assert events == []

    def test_client_not_made(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A module client the SDK refuses to make: not instrumented, and said so when asked."""
        monkeypatch.setattr(openai, "_client", None)
        monkeypatch.setattr(openai, "api_type", None)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "0" * 32)  # which one: the SDK cannot tell
        assert not is_instrumented(openai)
        assert uninstrument_openai(openai) is openai
        with pytest.raises(openai.OpenAIError, match="Ambiguous"):
            instrument_openai(openai)
