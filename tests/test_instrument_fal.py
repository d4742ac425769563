"""instrument_fal: the real fal_client against ImageServer's fal endpoints over HTTPS."""

from __future__ import annotations

import asyncio
import ssl
from decimal import Decimal
from pathlib import Path
from typing import Any

import fal_client
import httpx
import pytest

import fal_calls
from aievents import (
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
    to_json,
)
from aievents.instrument.fal import instrument_fal
from aievents.testing import capture_events
from aievents.usage import Billed
from fal_calls import (
    KEY,
    SEQUENCE,
    Served,
    close,
    close_async,
    enqueued,
    names,
    one_request,
    usage_of,
)

#: The fixtures, from fal_calls.
served, pointed = fal_calls.served_fixture, fal_calls.pointed_fixture

D = Decimal
#: A result as fal answers it, with one 1024x576 image (landscape_16_9).
WIDE = {
    "images": [
        {"url": "https://v3.fal.media/files/a.png", "width": 1024, "height": 576},
    ],
    "seed": 7,
    "has_nsfw_concepts": [False],
}


class Way:
    """One way of calling: ``run`` or ``subscribe``, of the module or of a client, sync or async."""

    def __init__(self, method: str, mode: str, owner: str) -> None:
        self.method = method
        self.mode = mode
        self.owner = owner

    def __repr__(self) -> str:
        return f"{self.owner}-{self.method}-{self.mode}"

    def call(self, endpoint: str, arguments: dict[str, Any], **kwargs: Any) -> Any:
        """One call, returning the SDK's result."""
        if self.mode == "sync":
            if self.owner == "module":
                return getattr(fal_client, self.method)(endpoint, arguments, **kwargs)
            client = fal_client.SyncClient()
            try:
                return getattr(client, self.method)(endpoint, arguments, **kwargs)
            finally:
                close(client)

        async def go() -> Any:
            if self.owner == "module":
                client, method = fal_client.async_client, f"{self.method}_async"
                target: Any = fal_client
            else:
                client = target = fal_client.AsyncClient()
                method = self.method
            try:
                return await getattr(target, method)(endpoint, arguments, **kwargs)
            finally:
                await close_async(client)

        return asyncio.run(go())


WAYS = [
    Way(method, mode, owner)
    for method in ("run", "subscribe")
    for mode in ("sync", "async")
    for owner in ("module", "client")
]


@pytest.fixture(name="way", params=WAYS, ids=repr)
def _way(request: pytest.FixtureRequest) -> Way:
    return request.param  # type: ignore[no-any-return]


class TestImages:
    """An image call: started, completed and usage, fal's request id, costs by hand."""

    def test_flux_dev(self, way: Way) -> None:
        """flux/dev, two square_hd images: 2 megapixels, billed 2 units, $0.05 both ways."""
        ids, on_enqueue = enqueued()
        extra = {"on_enqueue": on_enqueue} if way.method == "subscribe" else {}
        arguments = {"prompt": "a fox", "image_size": "square_hd", "num_images": 2}
        with capture_events() as events:
            result = way.call("fal-ai/flux/dev", arguments, **extra)
        assert len(result["images"]) == 2
        assert names(events) == SEQUENCE
        request_id = one_request(events)
        assert request_id.startswith("req_local_")  # the server's x-fal-request-id
        if way.method == "subscribe":
            assert ids == [request_id]  # the queue's request_id
        for event in events:
            assert (event.provider, event.model) == ("fal", "fal-ai/flux/dev")
            assert event.size == "1024x1024"  # type: ignore[attr-defined]
            assert event.operation == "image.generation"  # type: ignore[attr-defined]
        started, completed, usage = events
        assert isinstance(started, ImageRequestStartedEvent)
        assert started.number_of_images == 2
        assert started.prompt is None
        assert isinstance(completed, ImageRequestCompletedEvent)
        assert completed.images == 2
        assert completed.timestamp >= started.timestamp
        assert isinstance(usage, ImageUsageEvent)
        # Each 1024x1024 image is 1 fal megapixel at $0.025: 2 x 0.025 = 0.05.
        assert usage.cost is not None
        assert (usage.cost.total, usage.cost.basis) == (D("0.05"), "megapixels")
        # The server bills 2 units; flux/dev bills megapixels at 0.025: 2 x 0.025 = 0.05.
        assert usage.usage.billed == Billed(2, "units")
        assert usage.usage.reported_cost == D("0.05")

    def test_billed_apart_from_ours(self, way: Way, served: Served) -> None:
        """fal's billed units and our price each stand: 3 units reported, one megapixel priced."""
        headers = {"x-fal-request-id": "fal-req-wide", "x-fal-billable-units": "3"}
        if way.method == "subscribe":  # the queue: the result is scripted at submission
            served.server.answer_next(WIDE)
        else:
            served.server.answer_next(WIDE, headers=headers)
        arguments = {"prompt": "a fox", "image_size": "landscape_16_9"}
        with capture_events() as events:
            way.call("fal-ai/flux/dev", arguments)
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert usage.size == "1024x576"
        # 1024x576 is 0.5625 of a fal megapixel, rounded up to 1: 1 x 0.025 = 0.025.
        assert usage.cost is not None
        assert usage.cost.total == D("0.025")
        if way.method == "run":
            assert one_request(events) == "fal-req-wide"
            # 3 units at flux/dev's 0.025 per megapixel: 3 x 0.025 = 0.075.
            assert usage.usage.billed == Billed(3, "units")
            assert usage.usage.reported_cost == D("0.075")
        else:  # the queue's result answer carried no billing header
            assert usage.usage.billed is None
            assert usage.usage.reported_cost is None

    def test_per_image_endpoint(self, way: Way) -> None:
        """nano-banana, no size asked: the result's 1024x768, 1 unit at $0.039 per image."""
        with capture_events() as events:
            way.call("fal-ai/nano-banana", {"prompt": "a fox"})
        _, completed, usage = events
        assert completed.size == usage.size == "1024x768"  # type: ignore[attr-defined]
        assert isinstance(usage, ImageUsageEvent)
        # One image at $0.039; one billed unit at nano-banana's 0.039 per image.
        assert usage.cost is not None
        assert usage.cost.total == D("0.039")
        assert usage.usage.reported_cost == D("0.039")

    def test_no_billed_price(self) -> None:
        """nano-banana-pro has no price of billed units: billed kept, reported cost unknown."""
        with capture_events() as events:
            fal_client.run("fal-ai/nano-banana-pro", {"prompt": "a fox", "resolution": "1K"})
        usage = usage_of(events)
        assert usage.usage.billed == Billed(1, "units")
        assert usage.usage.reported_cost is None
        # One image at 1K (1024x768): $0.15.
        assert usage.cost is not None
        assert usage.cost.total == D("0.15")

    def test_unknown_endpoint(self) -> None:
        """An endpoint the table does not know: on the books, its cost unknown (None, not 0)."""
        with capture_events() as events:
            fal_client.run("acme/painter", {"prompt": "a fox", "image_size": "square"})
        assert names(events) == SEQUENCE
        usage = usage_of(events)
        assert (usage.model, usage.size, usage.images) == ("acme/painter", "512x512", 1)
        assert usage.cost is None
        assert usage.usage.billed == Billed(1, "units")
        assert usage.usage.reported_cost is None

    def test_bad_billing_header(self, served: Served) -> None:
        """A billing header that is no number: the request is still reported, without billing."""
        headers = {"x-fal-request-id": "fal-req-bad", "x-fal-billable-units": "lots"}
        served.server.answer_next(WIDE, headers=headers)
        with capture_events() as events:
            fal_client.run("fal-ai/flux/dev", {"prompt": "a fox"})
        assert names(events) == SEQUENCE
        assert one_request(events) == "fal-req-bad"
        usage = usage_of(events)
        assert usage.usage.billed is None
        assert usage.cost is not None
        assert usage.cost.total == D("0.025")

    def test_custom_size_and_edit(self) -> None:
        """``{width, height}`` is the size; image inputs make it an edit."""
        arguments = {
            "prompt": "make it night",
            "image_size": {"width": 1280, "height": 720},
            "image_urls": ["https://example.test/a.png", "https://example.test/b.png"],
        }
        with capture_events() as events:
            fal_client.run("fal-ai/flux/dev/image-to-image", arguments)
        started = events[0]
        assert isinstance(started, ImageRequestStartedEvent)
        assert (started.size, started.operation) == ("1280x720", "image.edit")
        assert started.image_input_count == 2

    def test_captures(self) -> None:
        """capture_prompts and capture_outputs copy the prompt and the images' URLs."""
        instrument_fal(capture_prompts=True, capture_outputs=True)
        with capture_events() as events:
            result = fal_client.run("fal-ai/flux/schnell", {"prompt": "a fox", "num_images": 2})
        started, completed, _ = events
        assert started.prompt == "a fox"  # type: ignore[attr-defined]
        assert isinstance(completed, ImageRequestCompletedEvent)
        urls = [image["url"] for image in result["images"]]
        assert [output.url for output in completed.outputs or ()] == urls


class TestErrors:
    """fal's HTTP errors of an image call are error events with the status code."""

    @pytest.mark.parametrize("status", [422, 500])
    def test_run_fails(self, status: int, served: Served) -> None:
        """``FalClientHTTPError`` reaches the caller; one error event, fal's request id."""
        served.server.fail_next(status, "the prompt was refused")
        with capture_events() as events, pytest.raises(fal_client.FalClientHTTPError) as raised:
            fal_client.run("fal-ai/flux/dev", {"prompt": "a fox"})
        assert raised.value.status_code == status
        assert names(events) == ["image:request:started", "image:request:error"]
        request_id = one_request(events)
        assert request_id == raised.value.response_headers["x-fal-request-id"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert (error.status_code, error.error_message) == (status, "the prompt was refused")
        assert error.model == "fal-ai/flux/dev"

    def test_subscribe_fails(self, served: Served) -> None:
        """The queue says the request failed, and its result answers 500: one error event."""
        ids, on_enqueue = enqueued()

        def script(_request_id: str) -> None:
            on_enqueue(_request_id)
            served.server.fail_next(500, "the runner crashed")  # taken by the status read

        with capture_events() as events, pytest.raises(fal_client.FalClientHTTPError):
            fal_client.subscribe("fal-ai/flux/dev", {"prompt": "a fox"}, on_enqueue=script)
        assert names(events) == ["image:request:started", "image:request:error"]
        assert one_request(events) == ids[0]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert (error.status_code, error.error_message) == (500, "the runner crashed")

    def test_async_fails(self, served: Served) -> None:
        """The same for ``run_async``."""
        served.server.fail_next(422, "bad size")

        async def go() -> None:
            try:
                await fal_client.run_async("fal-ai/flux/dev", {"prompt": "a fox"})
            finally:
                await close_async(fal_client.async_client)

        with capture_events() as events, pytest.raises(fal_client.FalClientHTTPError):
            asyncio.run(go())
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[-1].status_code == 422  # type: ignore[attr-defined]

    def test_unknown_endpoint_fails(self, served: Served) -> None:
        """A failure of a call not known to make images (no image arguments): no events."""
        served.server.fail_next(500, "down")
        with capture_events() as events, pytest.raises(fal_client.FalClientHTTPError):
            fal_client.run("acme/anything", {"prompt": "hello"})
        assert events == []


class TestNotImages:
    """A result with no image (a text endpoint) emits nothing; the result is untouched."""

    def test_text_endpoint(self, way: Way) -> None:
        """fal-ai/any-llm answers text: no events."""
        with capture_events() as events:
            result = way.call("fal-ai/any-llm", {"prompt": "hello", "model": "some-llm"})
        assert result["output"] == "Hello from a language model."
        assert events == []


class TestSecrets:
    """The fal key is never in an event, nor in a log line."""

    def test_key_stays(self, served: Served, capsys: pytest.CaptureFixture[str]) -> None:
        """Success and failure: the key is in no event's repr or dict and in no output."""
        with capture_events() as events:
            fal_client.run("fal-ai/flux/dev", {"prompt": "a fox"})
            served.server.fail_next(500, "down")
            with pytest.raises(fal_client.FalClientHTTPError):
                fal_client.run("fal-ai/flux/dev", {"prompt": "a fox"})
        assert len(events) == 5
        secret = KEY.split(":")[1]
        for event in events:
            assert secret not in repr(event)
            assert secret not in to_json(event)
        printed = capsys.readouterr()
        assert secret not in printed.out + printed.err
        for _, _, headers in served.server.requests:
            assert secret not in str(headers)


def test_server_answers_unknown_request(served: Served, tmp_path: Path) -> None:
    """A result asked for an id the queue never gave: 404 in fal's shape, nothing reported."""
    with capture_events() as events, pytest.raises(fal_client.FalClientHTTPError) as raised:
        fal_client.result("fal-ai/flux/dev", "no-such-request")
    assert raised.value.status_code == 404
    assert events == []


def test_server_reads_a_put_body(served: Served) -> None:
    """A cancel sent with a body, then another request on the same connection: both answered."""
    url = f"{served.server.url}/fal/queue/fal-ai/flux/requests/no-such-request"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(served.authority))) as http:
        cancelled = http.put(f"{url}/cancel", json={"reason": "changed my mind"})
        fetched = http.get(url)
    assert (cancelled.status_code, fetched.status_code) == (404, 404)
    assert fetched.json() == {"detail": "Request no-such-request not found"}
