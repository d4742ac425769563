"""image_request: any provider, as a context manager or a decorator, sync and async."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
import structlog

import aievents
from aievents import (
    BaseEvent,
    EventClient,
    EventValidationError,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsage,
    ImageUsageEvent,
)
from aievents.instrument import current_request, image_request
from aievents.sinks import AggregateSink
from aievents.testing import capture_events

SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]

GEMINI_METADATA = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 1290,
    "totalTokenCount": 1302,
    "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
}


def names(events: list[BaseEvent]) -> list[str]:
    """The event names, in order."""
    return [e.event_type for e in events]


class TestContextManager:
    """with image_request(...) reports started, then completed and usage, or error."""

    def test_per_image_provider(self, client: EventClient) -> None:
        """Stability per image: images recorded, cost = price x images."""
        with (
            capture_events(client) as events,
            image_request(
                provider="stability", model="sd3.5-large", size="1024x1024", client=client
            ) as request,
        ):
            assert names(events) == ["image:request:started"]
            request.record_images(2)
        assert names(events) == SEQUENCE
        assert len({e.request_id for e in events}) == 1
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.images == 2
        assert usage.cost is not None
        assert usage.cost.total == Decimal("0.130")
        assert usage.provider == "stability"

    def test_usage_from_provider_payload(self, client: EventClient) -> None:
        """record_usage reads a provider's payload (Gemini usageMetadata here)."""
        with (
            capture_events(client) as events,
            image_request(provider="google", model="gemini-2.5-flash-image", client=client) as req,
        ):
            read = req.record_usage(GEMINI_METADATA)
            req.record_images(1)
        assert read is not None
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.usage.output_image_tokens == 1290
        assert usage.cost is not None
        assert usage.cost.output_image == Decimal("0.0387")

    def test_usage_added_up(self, client: EventClient) -> None:
        """Usage recorded twice (two results of one request) is summed."""
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client) as req,
        ):
            req.record_usage({"input_tokens": 10, "output_tokens": 100})
            req.record_usage(ImageUsage(input_tokens=5, output_tokens=50))
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.usage.input_tokens == 15
        assert usage.usage.output_tokens == 150
        assert usage.usage.total_tokens == 165

    def test_unreadable_usage_is_logged(self, client: EventClient) -> None:
        """A usage payload that cannot be read is logged and the call goes on."""
        with (
            structlog.testing.capture_logs() as logs,
            capture_events(client) as events,
            image_request(provider="acme", model="acme-1", client=client) as req,
        ):
            assert req.record_usage({"input_tokens": -4}) is None
        assert names(events) == SEQUENCE  # counted, its usage and cost unknown
        assert events[-1].usage == ImageUsage()  # type: ignore[attr-defined]
        (log,) = [entry for entry in logs if entry["event"] == "usage_unreadable"]
        assert log["field"] == "input_tokens"

    def test_error(self, client: EventClient) -> None:
        """An exception in the block gives an error event and goes on unchanged."""
        failure = ConnectionError("provider down")
        with (
            capture_events(client) as events,
            pytest.raises(ConnectionError) as info,
            image_request(provider="fal", model="flux-pro-1.1", client=client),
        ):
            raise failure
        assert info.value is failure
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[-1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.error_type == "ConnectionError"
        assert error.error_message == "provider down"
        assert error.duration is not None

    def test_no_usage_no_price(self, client: EventClient) -> None:
        """Without usage and without a known price, the request is still on the books.

        ``image:usage`` goes out with the images produced and ``cost=None``:
        a sink counts the request as unpriced, never as $0.
        """
        sink = AggregateSink()
        client.add_sink(sink)
        with (
            structlog.testing.capture_logs(),
            capture_events(client) as events,
            image_request(provider="acme", model="acme-paint", client=client) as req,
        ):
            req.record_images(3)
        assert names(events) == SEQUENCE
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert (usage.images, usage.cost, usage.usage) == (3, None, ImageUsage())
        page = sink.usage(int(time.time()) - 86_400)
        (result,) = [r for bucket in page.data for r in bucket.results]
        assert (result.num_model_requests, result.images) == (1, 3)  # type: ignore[union-attr]
        assert result.unpriced_requests == 1  # type: ignore[union-attr]
        assert result.cost is None  # type: ignore[union-attr]

    def test_priced_as(self, client: EventClient) -> None:
        """priced_as: the events keep the caller's name, the cost is the named model's."""
        usage = {
            "input_tokens": 5,
            "output_tokens": 1756,
            "input_tokens_details": {"text_tokens": 5, "image_tokens": 0},
        }
        with (
            capture_events(client) as events,
            image_request(
                provider="openai", model="edge-route", priced_as="gpt-image-2", client=client
            ) as request,
        ):
            request.record_usage(usage)
        assert {e.model for e in events} == {"edge-route"}
        cost = events[-1].cost  # type: ignore[attr-defined]
        # gpt-image-2: 5 x 5.00/1M + 1756 x 30.00/1M = 0.000025 + 0.05268
        assert (cost.priced_model, cost.total) == ("gpt-image-2", Decimal("0.052705"))

    def test_priced_as_learned_late(self, client: EventClient) -> None:
        """update(priced_as=...) in a decorated call: the answer named the model behind a route."""

        @image_request(provider="stability", model="my-route", client=client)
        def draw() -> None:
            current_request().update(priced_as="sd3.5-large")
            current_request().record_images(1)

        with capture_events(client) as events:
            draw()
        cost = events[-1].cost  # type: ignore[attr-defined]
        assert events[-1].model == "my-route"  # sd3.5-large: 0.065 per image
        assert (cost.priced_model, cost.total) == ("sd3.5-large", Decimal("0.065"))

    def test_update_and_fields(self, client: EventClient) -> None:
        """update() sets facts learned from the answer; extra fields go on every event."""
        with (
            aievents.context(user_id="user-1"),
            capture_events(client) as events,
            image_request(
                provider="openai", model="dall-e-3", client=client, thread_id="t-1"
            ) as req,
        ):
            req.update(size="1024x1792", quality="hd", project_id="proj_1")
            req.record_images(1)
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.cost is not None
        assert usage.cost.total == Decimal("0.120")
        assert usage.project_id == "proj_1"
        assert all(e.thread_id == "t-1" for e in events)
        assert all(e.user_id == "user-1" for e in events)  # type: ignore[attr-defined]

    def test_prompt_only_when_given(self, client: EventClient) -> None:
        """The prompt reaches the started event only when passed explicitly."""
        with capture_events(client) as events:
            with image_request(provider="acme", model="m", client=client, prompt="a cat"):
                pass
            with image_request(provider="acme", model="m", client=client):
                pass
        started = [e for e in events if isinstance(e, ImageRequestStartedEvent)]
        assert [s.prompt for s in started] == ["a cat", None]

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"provider": "", "model": "m"}, "provider"),
            ({"provider": "p", "model": 3}, "model"),
            ({"provider": "p", "model": "m", "operation": "image.upscale"}, "operation"),
            ({"provider": "p", "model": "m", "priced_as": ""}, "priced_as"),
            ({"provider": "p", "model": "m", "priced_as": 5}, "priced_as"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, object], field: str) -> None:
        """Bad arguments are refused at once, naming the field."""
        with pytest.raises(EventValidationError) as info:
            image_request(**kwargs)  # type: ignore[arg-type]
        assert info.value.field == field


class TestDecorator:
    """@image_request makes each call one request; current_request() reaches it."""

    def test_sync(self, client: EventClient) -> None:
        """Each call of a decorated function is its own request."""

        @image_request(provider="stability", model="stable-image-core", client=client)
        def draw(count: int) -> str:
            current_request().record_images(count)
            return "done"

        with capture_events(client) as events:
            assert draw(1) == "done"
            assert draw(3) == "done"
        assert names(events) == SEQUENCE * 2
        assert len({e.request_id for e in events}) == 2
        costs = [e.cost.total for e in events if isinstance(e, ImageUsageEvent) and e.cost]
        assert costs == [Decimal("0.03"), Decimal("0.09")]
        assert draw.__name__ == "draw"

    def test_async(self, client: EventClient) -> None:
        """Async functions are awaited inside the request; concurrent calls stay apart."""

        @image_request(provider="stability", model="stable-image-ultra", client=client)
        async def draw(count: int) -> int:
            await asyncio.sleep(0.01)
            current_request().record_images(count)
            return count

        async def main() -> list[int]:
            return list(await asyncio.gather(draw(1), draw(2)))

        with capture_events(client) as events:
            assert asyncio.run(main()) == [1, 2]
        usage = [e for e in events if isinstance(e, ImageUsageEvent)]
        assert sorted(e.images or 0 for e in usage) == [1, 2]
        assert len({e.request_id for e in events}) == 2

    def test_async_context_manager(self, client: EventClient) -> None:
        """async with works like with."""

        async def main() -> None:
            async with image_request(provider="bfl", model="flux-pro-1.1", client=client) as r:
                r.record_images(1)

        with capture_events(client) as events:
            asyncio.run(main())
        assert names(events) == SEQUENCE

    def test_threads(self, client: EventClient) -> None:
        """One decorated function called from many threads keeps each request apart."""

        @image_request(provider="bfl", model="flux-pro-1.1", client=client)
        def draw(count: int) -> None:
            current_request().record_images(count)

        with capture_events(client) as events:
            threads = [threading.Thread(target=draw, args=(n,)) for n in range(1, 9)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        usage = [e for e in events if isinstance(e, ImageUsageEvent)]
        assert sorted(e.images or 0 for e in usage) == list(range(1, 9))
        assert len({e.request_id for e in events}) == 8

    def test_error_in_decorated(self, client: EventClient) -> None:
        """A raising decorated function reports an error and re-raises."""

        @image_request(provider="acme", model="m", client=client)
        def draw() -> None:
            raise ValueError("bad prompt")

        with capture_events(client) as events, pytest.raises(ValueError, match="bad prompt"):
            draw()
        assert names(events) == ["image:request:started", "image:request:error"]

    def test_outside(self) -> None:
        """current_request() outside any image_request is a LookupError."""
        with pytest.raises(LookupError):
            current_request()


class TestRobustness:
    """Bad fields are refused up front; provider costs are kept; one request, one id."""

    def test_bad_fields_refused_at_once(self) -> None:
        """A field of the wrong type or an unknown field is refused when the request is made."""
        with pytest.raises(EventValidationError) as info:
            image_request(provider="acme", model="m", user_id=42)  # type: ignore[arg-type]
        assert info.value.field == "user_id"
        with pytest.raises(EventValidationError) as unknown:
            image_request(provider="acme", model="m", colour="blue")
        assert unknown.value.field == "fields"

    def test_strict_client_keeps_the_callers_exception(self) -> None:
        """With a strict client, a handler error never replaces the block's own exception."""
        strict = EventClient(strict=True)
        strict.on("image:request:error", lambda e: 1 / 0)
        with (
            pytest.raises(ValueError, match="the caller's"),
            image_request(provider="acme", model="m", client=strict),
        ):
            raise ValueError("the caller's")

    def test_provider_cost_kept(self, client: EventClient) -> None:
        """A cost the provider reported is the usage's cost, even when the table knows the model."""
        with (
            capture_events(client) as events,
            image_request(provider="openai", model="gpt-image-1", client=client) as req,
        ):
            req.record_usage({"input_tokens": 10, "output_tokens": 100, "cost": 0.055})
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.usage.cost == Decimal("0.055")
        assert usage.cost is not None  # the table's own figure, with its breakdown
        assert usage.cost.total == 10 * Decimal(5) / 10**6 + 100 * Decimal(40) / 10**6

    def test_request_id_learned_late(self, client: EventClient) -> None:
        """An id learned after start is kept as the correlation id; the request keeps one id."""
        with (
            capture_events(client) as events,
            image_request(provider="bfl", model="flux-pro-1.1", client=client) as req,
        ):
            req.update(request_id="bfl-task-123")
            req.record_images(1)
        assert len({e.request_id for e in events}) == 1
        assert [e.correlation_id for e in events[1:]] == ["bfl-task-123", "bfl-task-123"]


class TestBilledPrice:
    """An instrumented request is priced as cost_of prices its event: what was billed counts."""

    def test_billed_megapixels(self, client: EventClient) -> None:
        """fal-ai/flux/dev billed 3 megapixels: 3 x $0.025 = $0.075, not one 1024x1024 image."""
        from aievents.pricing import cost_of
        from aievents.usage import Billed

        fal: dict[str, Any] = {"provider": "fal", "model": "fal-ai/flux/dev", "size": "1024x1024"}
        with capture_events(client) as events, image_request(**fal, client=client) as request:
            request.record_usage(ImageUsage(billed=Billed(Decimal(3), "megapixels")))
            request.record_images(1)
        (usage,) = [event for event in events if isinstance(event, ImageUsageEvent)]
        assert usage.cost is not None
        # pricing.md: fal-ai/flux/dev $0.025 per billed megapixel; 3 x 0.025 = 0.075
        assert (usage.cost.basis, usage.cost.total) == ("billed", Decimal("0.075"))
        assert cost_of(usage) == usage.cost
