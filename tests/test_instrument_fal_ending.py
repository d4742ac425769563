"""instrument_fal: what ends a queued request, what leaves it open (fetch failures, webhooks)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from decimal import Decimal
from typing import Any

import fal_client
import pytest

import fal_calls
from aievents import ImageRequestErrorEvent
from aievents import _unfinished as unfinished
from aievents.instrument import _fal_queue, image_request
from aievents.testing import capture_events
from fal_calls import SEQUENCE, Served, close_async, names, one_request, usage_of

#: The fixtures, from fal_calls.
served, pointed = fal_calls.served_fixture, fal_calls.pointed_fixture

D = Decimal
ERROR = ["image:request:started", "image:request:error"]
ARGUMENTS = {"prompt": "a fox", "image_size": "square_hd"}


def _fetch_fails(
    served: Served, status: int, body: dict[str, Any] | None = None, **headers: str
) -> Any:
    """Submit, then fetch its result once: the status read answers COMPLETED, the result fails.

    The failure is ``status`` with ``body`` (fal's error shape: ``detail``), and ``headers``.
    """
    handle = fal_client.submit("fal-ai/flux/dev", ARGUMENTS)
    served.server.answer_next({})  # the status read: COMPLETED
    served.server.answer_next(body or {"detail": "failure"}, status, headers)
    with pytest.raises(fal_client.FalClientHTTPError):
        handle.get()
    return handle


class TestFetchFailsTemporarily:
    """A fetch answer that says nothing of the request leaves it open: the retry reports it."""

    @pytest.mark.parametrize("status", [401, 403, 404, 408, 409, 429])
    def test_retry_completes(self, served: Served, status: int) -> None:
        """The key, a wrong application, a limit: the request stays open; the next get() ends it."""
        with capture_events() as events:
            handle = _fetch_fails(served, status)
            assert _fal_queue.OPEN.find(handle.request_id) is not None
            result = handle.get()
        assert len(result["images"]) == 1
        assert names(events) == SEQUENCE
        assert one_request(events) == handle.request_id
        # One square_hd image, one megapixel at $0.025; fal billed 1 unit.
        assert usage_of(events).cost.total == D("0.025")  # type: ignore[union-attr]

    @pytest.mark.parametrize("status", [502, 503, 504])
    def test_gateway_without_fals_id(self, served: Served, status: int) -> None:
        """502-504 without fal's request id (a gateway's): still open."""
        with capture_events() as events:
            handle = _fetch_fails(served, status, **{"x-fal-request-id": ""})
            handle.get()
        assert names(events) == SEQUENCE

    def test_gateway_with_fals_id(self, served: Served) -> None:
        """503 with fal's request id is fal's answer for the request: it failed."""
        with capture_events() as events:
            _fetch_fails(served, 503)
        assert names(events) == ERROR
        assert events[-1].status_code == 503  # type: ignore[attr-defined]

    def test_fals_error_type_ends(self, served: Served) -> None:
        """fal's error with an ``error_type`` ends the request, with that type."""
        with capture_events() as events:
            _fetch_fails(served, 400, {"detail": "timed out", "error_type": "request_timeout"})
        assert names(events) == ERROR
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert (error.error_type, error.status_code) == ("request_timeout", 400)

    def test_last_failure_booked_at_exit(self, served: Served) -> None:
        """Never fetched after a 429: booked at exit as that error, not as a completion."""
        with capture_events() as events:
            handle = _fetch_fails(served, 429)
            unfinished.report_all()  # what the exit hook runs
        assert names(events) == ERROR
        assert events[-1].status_code == 429  # type: ignore[attr-defined]
        assert events[-1].request_id == handle.request_id


class TestWebhook:
    """A submission whose result goes to a webhook is booked at once, not held."""

    def test_booked_at_submit(self) -> None:
        """Completed with the images asked for, priced from the table; nothing left open."""
        with capture_events() as events:
            handle = fal_client.submit(
                "fal-ai/flux/dev",
                {**ARGUMENTS, "num_images": 2},
                webhook_url="https://example.test/hook",
            )
            assert _fal_queue.OPEN.find(handle.request_id) is None
            unfinished.report_all()
        assert names(events) == SEQUENCE
        assert one_request(events) == handle.request_id
        usage = usage_of(events)
        assert usage.images == 2
        # Two square_hd images, one megapixel each at $0.025: 0.05.
        assert usage.cost.total == D("0.05")  # type: ignore[union-attr]

    def test_async(self) -> None:
        """submit_async with a webhook: the same."""

        async def go() -> str:
            try:
                handle = await fal_client.submit_async(
                    "fal-ai/flux/dev", ARGUMENTS, webhook_url="https://example.test/hook"
                )
                return handle.request_id
            finally:
                await close_async(fal_client.async_client)

        with capture_events() as events:
            request_id = asyncio.run(go())
        assert names(events) == SEQUENCE
        assert one_request(events) == request_id


class TestArgumentsLetGo:
    """An open request keeps what it needs of the arguments, not the arguments."""

    def test_not_retained(self) -> None:
        """The caller's arguments (inline images: megabytes) are collected, the request open."""

        class Arguments(dict):  # type: ignore[type-arg] - a dict that can be referred to weakly
            pass

        arguments = Arguments(prompt="a fox", image_url="data:image/png;base64," + "A" * 1000)
        gone = weakref.ref(arguments)
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", arguments)
            del arguments
            gc.collect()
            assert gone() is None
            handle.get()
        assert names(events) == SEQUENCE
        started = events[0]
        assert (started.operation, started.image_input_count) == ("image.edit", 1)  # type: ignore[attr-defined]


class TestOuterRequest:
    """A queued request's result fetched inside an ``image_request`` block: reported once."""

    def test_get_inside_block(self) -> None:
        """The block reports the result; the submission is not booked again at exit."""
        with capture_events() as events:
            handle = fal_client.submit("fal-ai/flux/dev", ARGUMENTS)
            with image_request(provider="fal", model="fal-ai/flux/dev") as request:
                request.record(handle.get())
            unfinished.report_all()  # what the exit hook runs
        assert names(events) == ["image:request:started", *SEQUENCE]
        assert [event.images for event in events[2:]] == [1, 1]  # type: ignore[attr-defined]

    def test_async_get_inside_block(self) -> None:
        """The same with the async handle."""

        async def go() -> None:
            try:
                handle = await fal_client.submit_async("fal-ai/flux/dev", ARGUMENTS)
                with image_request(provider="fal", model="fal-ai/flux/dev") as request:
                    request.record(await handle.get())
            finally:
                await close_async(fal_client.async_client)

        with capture_events() as events:
            asyncio.run(go())
            unfinished.report_all()
        assert names(events) == ["image:request:started", *SEQUENCE]
