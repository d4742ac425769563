"""instrument_fal and fal's queue: submit now, the result later, in another thread, or never."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import fal_client
import pytest

import fal_calls
from aievents import ImageRequestCompletedEvent, ImageRequestErrorEvent, ImageUsageEvent
from aievents import _unfinished as unfinished
from aievents.instrument import _fal_queue
from aievents.testing import capture_events
from aievents.usage import Billed
from fal_calls import SEQUENCE, Served, close_async, names, one_request, usage_of

#: The fixtures, from fal_calls.
served, pointed = fal_calls.served_fixture, fal_calls.pointed_fixture

D = Decimal
STARTED = ["image:request:started"]
ENDED = ["image:request:completed", "image:usage"]


class TestSubmitThenResult:
    """Started when fal queues the request (its request_id), ended when the result is fetched."""

    def test_handle_get(self) -> None:
        """submit announces; handle.get() completes with the images and what fal billed."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/schnell", {"prompt": "a fox", "num_images": 3})
            assert names(events) == STARTED
            assert events[0].request_id == handle.request_id
            result = handle.get()
        assert len(result["images"]) == 3
        assert names(events) == SEQUENCE
        assert one_request(events) == handle.request_id
        usage = usage_of(events)
        assert usage.images == 3
        # flux/schnell: 3 images at $0.003 = 0.009; 3 units (1024x768 is one megapixel each)
        # at its 0.003 per image = 0.009.
        assert usage.cost is not None
        assert usage.cost.total == D("0.009")
        assert usage.usage.billed == Billed(3, "units")
        assert usage.usage.reported_cost == D("0.009")

    def test_result_by_id(self) -> None:
        """``fal_client.result(endpoint, request_id)`` ends the request too, once."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/nano-banana", {"prompt": "a fox"})
            fal_client.result("fal-ai/nano-banana", handle.request_id)
            fal_client.result("fal-ai/nano-banana", handle.request_id)  # fetched again
        assert names(events) == SEQUENCE
        assert one_request(events) == handle.request_id

    def test_result_in_another_thread(self) -> None:
        """Submitted in one thread, fetched in another: one request, its id."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            worker = threading.Thread(target=handle.get)
            worker.start()
            worker.join()
        assert names(events) == SEQUENCE
        assert one_request(events) == handle.request_id
        # One 1024x768 image: one fal megapixel at $0.025.
        assert usage_of(events).cost.total == D("0.025")  # type: ignore[union-attr]

    def test_async(self) -> None:
        """submit_async, then the handle's async get(), then result_async of another."""

        async def go() -> tuple[str, str]:
            try:
                first = await fal_client.submit_async("fal-ai/flux/dev", {"prompt": "a fox"})
                second = await fal_client.submit_async("fal-ai/flux/dev", {"prompt": "a cat"})
                await first.get()
                await fal_client.result_async("fal-ai/flux/dev", second.request_id)
                return first.request_id, second.request_id
            finally:
                await close_async(fal_client.async_client)

        with capture_events() as events:
            first, second = asyncio.run(go())
        assert names(events) == STARTED * 2 + ENDED * 2
        assert [event.request_id for event in events] == [first, second, first, first] + [
            second
        ] * 2

    def test_status_says_failed(self, served: Served) -> None:
        """fal's status ``COMPLETED`` with an error ends the request as an error, once."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            served.server.fail_next(422, "the prompt was refused")  # taken by the status read
            status = handle.status()
            assert isinstance(status, fal_client.Completed)
            assert status.error
            with pytest.raises(fal_client.FalClientHTTPError):
                handle.get()  # the result answers the failure: already reported
        assert names(events) == ["image:request:started", "image:request:error"]
        assert one_request(events) == handle.request_id
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.error_message == "the prompt was refused"
        assert error.error_type == "validation_error"  # fal's own
        assert error.status_code is None  # the status answer itself was a 200

    def test_result_fails(self, served: Served) -> None:
        """The result answers 500: an error event with the status code."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            served.server.fail_next(500, "the runner crashed")
            with pytest.raises(fal_client.FalClientHTTPError) as raised:
                handle.get()
        assert raised.value.status_code == 500
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[-1].status_code == 500  # type: ignore[attr-defined]

    def test_submit_fails(self, served: Served) -> None:
        """fal refuses the submission: an error event with the status code."""
        served.server.fail_next(422, "bad arguments")
        with capture_events() as events, pytest.raises(fal_client.FalClientHTTPError):
            fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[-1].status_code == 422  # type: ignore[attr-defined]


class TestNoImage:
    """A queued request whose result has no image."""

    def test_text_endpoint(self) -> None:
        """An endpoint not known to make images is not announced; its text result: nothing."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/any-llm", {"prompt": "hello"})
            handle.get()
        assert events == []

    def test_image_endpoint_without_image(self, served: Served) -> None:
        """An image endpoint announced at submission, answering no image: completed, 0 images."""
        served.server.answer_next({"images": [], "seed": 1, "has_nsfw_concepts": []})
        with capture_events() as events:
            arguments = {"prompt": "a fox", "image_size": "square_hd"}
            fal_client.submit("fal-ai/flux/dev", arguments).get()
        assert names(events) == SEQUENCE
        completed = events[1]
        assert isinstance(completed, ImageRequestCompletedEvent)
        assert completed.images == 0
        usage = usage_of(events)
        # No image: 0 x one megapixel at $0.025 = 0.
        assert usage.cost is not None
        assert usage.cost.total == D("0")


class TestNeverFetched:
    """A submission whose result is never fetched is booked when the process ends."""

    def test_booked_at_exit(self) -> None:
        """Completed with the images asked for, priced from the table, no billed units."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox", "num_images": 2})
            unfinished.report_all()  # what the exit hook runs
        assert names(events) == SEQUENCE
        assert one_request(events) == handle.request_id
        usage = usage_of(events)
        assert isinstance(usage, ImageUsageEvent)
        assert usage.images == 2
        assert usage.usage.billed is None
        # No size asked and no result: flux/dev's price per megapixel needs a size.
        assert usage.cost is None
        with capture_events() as later:
            handle.get()  # fetched after all: already booked
        assert later == []

    def test_oldest_booked_beyond_the_cap(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """More open submissions than the cap: the oldest is booked, memory stays bounded."""
        monkeypatch.setattr(_fal_queue, "MAX_OPEN", 2)
        arguments = {"prompt": "a fox", "image_size": "square_hd"}
        with capture_events() as events:
            handles = [fal_client.submit("fal-ai/flux/dev", arguments) for _ in range(3)]
        assert names(events) == STARTED * 3 + ENDED
        assert events[-1].request_id == handles[0].request_id
        # One square_hd image (1 megapixel) asked, at $0.025.
        assert usage_of(events).cost.total == D("0.025")  # type: ignore[union-attr]
        with capture_events() as rest:
            for handle in handles:
                handle.get()
        assert names(rest) == ENDED * 2
        assert {event.request_id for event in rest} == {h.request_id for h in handles[1:]}


class TestCancelled:
    """A queued request the caller cancels ends as an error, with nothing billed."""

    def test_cancel(self) -> None:
        """handle.cancel(): error ``cancelled``; a later get() raises, nothing more is reported."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            handle.cancel()
            with pytest.raises(fal_client.FalClientHTTPError):
                handle.get()
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert (error.error_type, error.status_code) == ("cancelled", None)
        assert error.request_id == handle.request_id

    def test_cancel_refused(self, served: Served) -> None:
        """fal refuses the cancellation (the request completed): its result still reports it."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            served.server.fail_next(400, "already completed")
            with pytest.raises(fal_client.FalClientHTTPError):
                fal_client.cancel("fal-ai/flux/dev", handle.request_id)
            handle.get()
        assert names(events) == SEQUENCE
