"""LiteLLM's image functions report their calls themselves, in the caller's thread or task."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import litellm
import pytest

from aievents import EventClient
from aievents.events import ImageRequestErrorEvent, ImageUsageEvent
from aievents.instrument import is_instrumented
from aievents.integrations.litellm import AieventsLogger, instrument_litellm, uninstrument_litellm
from aievents.testing import ImageServer
from litellm_calls import SECRET, Received, agenerate, forget, generate, types

SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="clean", autouse=True)
def _clean() -> Iterator[None]:
    yield
    uninstrument_litellm()


class TestAsyncRun:
    """An async call is reported before ``asyncio.run`` returns, its loop gone right after."""

    def test_reported(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)
        asyncio.run(agenerate(server))
        assert types(received.events) == SEQUENCE


class TestCancelled:
    """A cancelled call gives started, then error."""

    # LiteLLM leaves its inner coroutine unawaited when cancelled that early: its warning, not ours.
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    def test_cancel(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)

        async def main() -> None:
            task = asyncio.ensure_future(agenerate(server))
            await asyncio.sleep(0)  # the call has begun: cancelled inside it
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert types(received.events) == ["image:request:started", "image:request:error"]
        assert received.events[-1].error_type == "CancelledError"


class TestOnlySuccessCallback:
    """A logger only in ``success_callback`` has the call reported, its error too."""

    def test_success_list(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        logger = AieventsLogger(events=client)
        litellm.success_callback.append(logger)
        try:
            server.fail_next(500, "boom")
            with pytest.raises(litellm.InternalServerError):
                generate(server)
            events = received.events
        finally:
            forget(logger)
        assert types(events) == ["image:request:started", "image:request:error"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.status_code == 500


class TestNoLog:
    """``no_log=True`` keeps LiteLLM's callbacks quiet; the call is reported all the same."""

    def test_no_log(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)
        generate(server, no_log=True)
        assert types(received.events) == SEQUENCE


class TestReportedCost:
    """LiteLLM's float cost is kept without its float noise."""

    def test_gpt_image_2(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)
        generate(server, model="openai/gpt-image-2", quality="high", size="1024x1024")
        usage = received.events[-1]
        assert isinstance(usage, ImageUsageEvent)
        # LiteLLM's per-image price of gpt-image-2 high 1024x1024: 0.21073 (its sum gave
        # 0.21073000000000003).
        assert usage.usage.reported_cost == Decimal("0.21073")


class TestBeforeRouting:
    """A call refused before LiteLLM routed it is booked to its model's prefix, n as asked."""

    def test_unknown_provider(self, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)
        with pytest.raises(Exception):  # noqa: B017,PT011 - LiteLLM's own error for it
            litellm.image_generation(
                prompt="a fox", model="nosuch/model-x", n=3, api_key=SECRET, max_retries=0
            )
        started, error = received.events
        assert (started.provider, started.model) == ("nosuch", "model-x")
        assert started.number_of_images == 3
        assert isinstance(error, ImageRequestErrorEvent)


class TestIsInstrumented:
    """``aievents.instrument.is_instrumented(litellm)`` tells whether a logger is registered."""

    def test_module(self) -> None:
        assert not is_instrumented(litellm)
        instrument_litellm()
        assert is_instrumented(litellm)


class TestRegisteredByHand:
    """``instrument_litellm`` reuses and updates a logger registered by hand; loggers stay apart."""

    def test_reused(self, server: ImageServer, client: EventClient) -> None:
        mine = AieventsLogger()
        litellm.callbacks.append(mine)
        try:
            assert instrument_litellm(events=client) is mine
            assert mine.settings.events is client
            received = Received(client)
            generate(server)
            assert types(received.events) == SEQUENCE
        finally:
            forget(mine)

    def test_distinct(self) -> None:
        assert AieventsLogger().logger_id != AieventsLogger().logger_id
