"""instrument_google_genai: a call's config in every spelling, its prompt, its network failure."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from aievents.instrument import instrument_google_genai
from aievents.testing import ImageServer, capture_events
from google_calls import SEQUENCE, WAYS, Gemini, make_client, names, usage_of

D = Decimal

#: One config (gemini-3-pro-image, image only, 4K) as the SDK takes it: typed, or a dict
#: in the SDK's snake_case or the REST API's camelCase.
CONFIGS: dict[str, Any] = {
    "typed": types.GenerateContentConfig(
        response_modalities=["IMAGE"], image_config=types.ImageConfig(image_size="4K")
    ),
    "snake": {"response_modalities": ["IMAGE"], "image_config": {"image_size": "4K"}},
    "camel": {"responseModalities": ["IMAGE"], "imageConfig": {"imageSize": "4K"}},
}


@pytest.fixture(name="client")
def _client(server: ImageServer) -> genai.Client:
    """A client of ``server``, instrumented on its own."""
    return instrument_google_genai(make_client(server))


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="spelling", params=sorted(CONFIGS))
def _spelling(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


class TestConfigSpellings:
    """A config read as the SDK reads it: typed, snake_case or camelCase dict alike."""

    def test_tier(self, spelling: str, client: genai.Client) -> None:
        """The 4K tier is the events' size."""
        with capture_events() as events:
            client.models.generate_content(
                model="gemini-3-pro-image", contents="a fox", config=CONFIGS[spelling]
            )
        assert names(events) == SEQUENCE
        assert {event.size for event in events} == {"4K"}  # type: ignore[attr-defined]

    def test_cut_short_priced_at_the_tier(
        self, spelling: str, client: genai.Client, server: ImageServer
    ) -> None:
        """A stream broken off after its image: priced per image at the tier asked for."""
        server.answer_next({"cut_after": 1})  # the image chunk; not the last (its usage)
        with capture_events() as events, pytest.raises(Exception, match="incomplete chunked"):
            list(
                client.models.generate_content_stream(
                    model="gemini-3-pro-image", contents="a fox", config=CONFIGS[spelling]
                )
            )
        usage = usage_of(events)
        assert usage.size == "4K"
        # gemini-3-pro-image's published price of one 4K image (0.134 at 1K)
        assert usage.cost is not None
        assert (usage.cost.total, usage.cost.basis) == (D("0.24"), "estimate")

    def test_error_of_a_model_the_table_lacks(
        self, spelling: str, client: genai.Client, server: ImageServer
    ) -> None:
        """An HTTP error of a call asking for images (only its config says so) is reported."""
        server.fail_next(429, "Resource has been exhausted")
        with capture_events() as events, pytest.raises(errors.ClientError):
            client.models.generate_content(
                model="my-tuned-image-model", contents="a fox", config=CONFIGS[spelling]
            )
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[1].status_code == 429  # type: ignore[attr-defined]


#: What the SDK's transport says, sync or async: httpx's ``ConnectError``, or aiohttp's
#: ``ClientConnectorError`` (the async client uses aiohttp when it is installed).
REFUSED = "Connection refused|All connection attempts failed|Connect call failed"
REFUSED_TYPES = {"ConnectError", "ClientConnectorError"}


def dead_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(name="dead")
def _dead() -> genai.Client:
    """An instrumented client of a dead port, that tries once."""
    options = types.HttpOptions(
        base_url=dead_url(), retry_options=types.HttpRetryOptions(attempts=1)
    )
    return instrument_google_genai(genai.Client(api_key="test", http_options=options))


@pytest.fixture(name="way", params=WAYS, ids=repr)
def _way(request: pytest.FixtureRequest) -> Gemini:
    return request.param  # type: ignore[no-any-return]


class TestNetworkFailure:
    """A call that asks for images and never reaches Gemini: started, then error without status."""

    def test_connection_refused(self, way: Gemini, dead: genai.Client) -> None:
        """Plain and streamed, sync and async: the SDK's exception reaches the caller unchanged."""
        with capture_events() as events, pytest.raises(Exception, match=REFUSED) as raised:
            way.call(dead, model="gemini-3.1-flash-image", contents="a fox")
        assert type(raised.value).__name__ in REFUSED_TYPES
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[1]
        assert error.status_code is None  # type: ignore[attr-defined]
        assert error.error_type == type(raised.value).__name__  # type: ignore[attr-defined]
        assert error.model == "gemini-3.1-flash-image"
        assert len({event.request_id for event in events}) == 1

    def test_text_call_not_reported(self, dead: genai.Client) -> None:
        """A failed call that does not ask for images is not an image request."""
        with capture_events() as events, pytest.raises(Exception, match=REFUSED):
            dead.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert events == []


class TestPrompt:
    """``capture_prompts``: the prompt's text parts joined, whatever holds them."""

    @pytest.mark.parametrize(
        ("contents", "prompt"),
        [
            ("a fox", "a fox"),
            (["a fox", "in snow"], "a fox\nin snow"),
            (
                types.Content(role="user", parts=[types.Part(text="a fox"), types.Part(text="b")]),
                "a fox\nb",
            ),
            ([types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png"), "edit it"], "edit it"),
            ([types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")], None),
        ],
        ids=["text", "texts", "content", "part-and-text", "image-only"],
    )
    def test_prompt(self, contents: Any, prompt: str | None, server: ImageServer) -> None:
        """The started event's prompt."""
        client = instrument_google_genai(make_client(server), capture_prompts=True)
        with capture_events() as events:
            client.models.generate_content(model="gemini-2.5-flash-image", contents=contents)
        assert events[0].prompt == prompt  # type: ignore[attr-defined]
