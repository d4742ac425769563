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
from fal_calls import close as fal_fixtures_close

#: The fixtures, from fal_calls.
served, pointed = fal_calls.served_fixture, fal_calls.pointed_fixture

D = Decimal
STARTED = ["image:request:started"]
ENDED = ["image:request:completed", "image:usage"]
#: One image of a result, as fal gives it.
IMAGE = {"url": "https://v3.fal.media/files/a.png", "width": 1024, "height": 768}


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
        """fal's status ``COMPLETED`` with an error, then the result: one error, its status code."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            served.server.fail_next(422, "the prompt was refused")  # taken by the status read
            status = handle.status()
            assert isinstance(status, fal_client.Completed)
            assert status.error
            assert names(events) == STARTED  # the result tells more
            with pytest.raises(fal_client.FalClientHTTPError):
                handle.get()
            unfinished.report_all()  # nothing left to book
        assert names(events) == ["image:request:started", "image:request:error"]
        assert one_request(events) == handle.request_id
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.error_message == "the prompt was refused"
        assert error.error_type == "validation_error"  # fal's own, from the status
        assert error.status_code == 422  # the result's answer

    def test_status_says_failed_never_fetched(self, served: Served) -> None:
        """A status ``COMPLETED`` with an error, the result never fetched: that error at exit."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            served.server.fail_next(500, "the runner crashed")
            handle.status()
            unfinished.report_all()  # what the exit hook runs
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert (error.error_type, error.status_code) == ("runner_error", None)
        assert error.request_id == handle.request_id

    @pytest.mark.parametrize("watched", [False, True])
    def test_subscribe_fails_alike(self, served: Served, watched: bool) -> None:
        """subscribe of a failing request: the same error with or without ``on_queue_update``."""
        fails = lambda _request_id: served.server.fail_next(500, "the runner crashed")  # noqa: E731
        updates = {"on_queue_update": lambda _status: None} if watched else {}
        with capture_events() as events, pytest.raises(fal_client.FalClientHTTPError):
            fal_client.subscribe(
                "fal-ai/flux/dev", {"prompt": "a fox"}, on_enqueue=fails, **updates
            )
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[-1].status_code == 500  # type: ignore[attr-defined]

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
        assert usage.size == "1024x768"  # flux/dev's default, landscape_4_3
        assert usage.usage.billed is None
        # No size asked: fal makes flux/dev's default 1024x768, one fal megapixel (1024 x 1024
        # pixels, rounded up) each at $0.025: 2 x 0.025 = 0.05.
        assert usage.cost is not None
        assert usage.cost.total == D("0.05")
        with capture_events() as later:
            handle.get()  # fetched after all: already booked
        assert later == []

    def test_oldest_booked_beyond_the_cap(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """More open submissions than the cap: the oldest is booked, memory stays bounded."""
        monkeypatch.setattr(_fal_queue.OPEN, "cap", 2)
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
    """A cancelled request: fal only signals it to stop; what comes after tells how it ended."""

    def test_cancel(self) -> None:
        """handle.cancel(), then get() raises fal's error: error ``cancelled``, its status code."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            handle.cancel()
            assert names(events) == STARTED  # still open: the runner may finish
            with pytest.raises(fal_client.FalClientHTTPError):
                handle.get()
            unfinished.report_all()
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert (error.error_type, error.status_code) == ("cancelled", 400)
        assert error.request_id == handle.request_id

    def test_finished_after_cancel(self, served: Served) -> None:
        """The runner finished despite the cancellation: its result reports what fal billed."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox", "num_images": 2})
            handle.cancel()
            served.server.answer_next({})  # the status read: COMPLETED, no error
            served.server.answer_next({"images": [IMAGE, IMAGE], "has_nsfw_concepts": [False] * 2})
            result = handle.get()
            unfinished.report_all()
        assert len(result["images"]) == 2
        assert names(events) == SEQUENCE
        assert one_request(events) == handle.request_id
        assert usage_of(events).images == 2

    def test_subscribe_past_its_timeout(self, served: Served) -> None:
        """subscribe's ``client_timeout`` (over 1 s: fal's least) cancels; its executor fetches."""
        client = fal_client.SyncClient()
        holds: list[threading.Event] = []
        slow = lambda _request_id: holds.append(served.server.delay_next(30))  # noqa: E731
        try:
            with capture_events() as events:
                with pytest.raises(fal_client.FalClientTimeoutError) as raised:
                    client.subscribe(
                        "fal-ai/flux/dev", {"prompt": "a fox"}, on_enqueue=slow, client_timeout=1.01
                    )
                # Cancelled; the status read in flight answers COMPLETED, and the runner finished.
                served.server.answer_next({"images": [IMAGE], "has_nsfw_concepts": [False]})
                holds[0].set()
                client._executor.shutdown(wait=True)  # the executor's get() ends
                unfinished.report_all()
        finally:
            fal_fixtures_close(client)
        assert names(events) == SEQUENCE
        assert one_request(events) == raised.value.request_id

    def test_cancelled_never_fetched(self) -> None:
        """Cancelled and never fetched: error ``cancelled`` when the process ends."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            fal_client.cancel("fal-ai/flux/dev", handle.request_id)
            unfinished.report_all()
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert (error.error_type, error.status_code) == ("cancelled", None)

    def test_cancel_refused(self, served: Served) -> None:
        """fal refuses the cancellation (the request completed): its result still reports it."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            served.server.fail_next(400, "already completed")
            with pytest.raises(fal_client.FalClientHTTPError):
                fal_client.cancel("fal-ai/flux/dev", handle.request_id)
            handle.get()
        assert names(events) == SEQUENCE
