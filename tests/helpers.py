"""Event builders and small helpers shared by the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import attrs

from aievents import (
    AieventsError,
    BaseEvent,
    Billed,
    CostDetails,
    EventValidationError,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsage,
    ImageUsageEvent,
    InputTokensDetails,
)
from aievents._redact import scrub_text
from aievents.exceptions import is_private
from aievents.money import ImageCost


def usage_event(request_id: str = "req-1", **fields: Any) -> ImageUsageEvent:
    """An ``image:usage`` event with small token counts."""
    fields.setdefault("model", "gpt-image-1")
    fields.setdefault("usage", ImageUsage(input_tokens=50, output_tokens=50, total_tokens=100))
    return ImageUsageEvent(request_id=request_id, **fields)


def started_event(request_id: str = "req-1", **fields: Any) -> ImageRequestStartedEvent:
    """An ``image:request:started`` event."""
    fields.setdefault("provider", "openai")
    fields.setdefault("model", "gpt-image-1")
    return ImageRequestStartedEvent(request_id=request_id, **fields)


def completed_event(request_id: str = "req-1", **fields: Any) -> ImageRequestCompletedEvent:
    """An ``image:request:completed`` event."""
    fields.setdefault("provider", "openai")
    fields.setdefault("model", "gpt-image-1")
    fields.setdefault("duration", 1200.0)
    return ImageRequestCompletedEvent(request_id=request_id, **fields)


def error_event(request_id: str = "req-1", **fields: Any) -> ImageRequestErrorEvent:
    """An ``image:request:error`` event."""
    fields.setdefault("provider", "openai")
    fields.setdefault("model", "gpt-image-1")
    fields.setdefault("error_type", "RateLimitError")
    return ImageRequestErrorEvent(request_id=request_id, **fields)


@attrs.frozen(kw_only=True, slots=True)
class TextUsageEvent(BaseEvent):
    """A non-image event family, to check that image patterns do not match it."""

    event_type: ClassVar[str] = "text:usage"

    tokens: int = 0


@attrs.frozen(kw_only=True, slots=True)
class ImageUsageLookalike(BaseEvent):
    """A name close to an image event's, to check exact matching."""

    event_type: ClassVar[str] = "image:usage:extra"


def check_names(err: EventValidationError, field: str, value: Any) -> EventValidationError:
    """Assert that ``err`` names ``field`` and ``value`` in its attributes and its message.

    The message shows the value scrubbed of secrets, or, for a private field
    (prompts, options, images...), only its type.
    """
    assert isinstance(err, ValueError)
    assert isinstance(err, AieventsError)
    assert err.field == field
    assert err.value is value
    message = str(err)
    assert repr(field) in message
    if is_private(field):
        assert f"value of type {type(value).__name__} (not shown" in message
        shown = repr(value)[:20]
        if not isinstance(value, (bool, int, float, type(None))) and shown not in field:
            assert shown not in message
    else:
        assert scrub_text(repr(value))[:60] in message
    return err


def priced_cost(**parts: Any) -> ImageCost:
    """A token-billed cost with the given parts (USD) and their exact total."""
    total = sum((Decimal(v) for v in parts.values()), Decimal(0))
    return ImageCost(
        total=total, basis="tokens", price_version="t", priced_model="gpt-image-1", **parts
    )


def gateway_usage() -> ImageUsage:
    """A gpt-image-1 request's usage with what a gateway reported beside the tokens.

    50 text tokens in, 1056 image tokens out; the gateway charged $0.0431,
    the provider behind it $0.04249, for one billed image.
    """
    return ImageUsage(
        input_tokens=50,
        output_tokens=1056,
        input_tokens_details=InputTokensDetails(text_tokens=50, image_tokens=0),
        cost="0.0431",
        billed=Billed(1, "images"),
        cost_details=CostDetails(upstream_cost="0.04249"),
    )


def gateway_priced() -> ImageCost:
    """What aievents computes for :func:`gateway_usage`'s tokens.

    50 text tokens in at $5/M, 1056 image tokens out at $40/M:
    0.00025 + 0.04224 = 0.04249.
    """
    return priced_cost(input_text=Decimal("0.00025"), output_image=Decimal("0.04224"))


def usage_at(
    request_id: str,
    at: float,
    *,
    user_id: str | None = "user_1",
    model: str = "gpt-image-1",
    size: str = "1024x1024",
    text: int = 10,
    output: int = 100,
    images: int | None = 1,
    usage: ImageUsage | None = None,
    price: ImageCost | None = None,
) -> ImageUsageEvent:
    """An ``image:usage`` event at ``at`` seconds, priced ($0.00405 unless ``price``)."""
    if usage is None:
        usage = ImageUsage(
            input_tokens=text,
            output_tokens=output,
            input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=0),
        )
    return ImageUsageEvent(
        request_id=request_id,
        timestamp=int(at * 1000),
        provider="openai",
        model=model,
        size=size,
        operation="image.generation",
        project_id="proj_a",
        user_id=user_id,
        api_key_id="key_1",
        images=images,
        usage=usage,
        cost=price
        if price is not None
        else priced_cost(input_text="0.00005", output_image="0.004"),
    )


def event_fields(built: BaseEvent) -> dict[str, Any]:
    """The constructor arguments that rebuild ``built``."""
    return {f.name: getattr(built, f.name) for f in attrs.fields(type(built)) if f.init}


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.01)
    return True


def until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail at the deadline."""
    assert wait_until(condition, timeout), "condition not met in time"


@contextmanager
def locked_store(path: Path) -> Iterator[str]:
    """A SQLite store whose writers wait: its tables made, then its write lock held.

    Yields the store's URL; the lock is let go when the block ends.
    """
    import sqlite3

    from aievents.sinks import StoreSink

    url = f"sqlite:///{path}"
    StoreSink(url).close(5.0)
    holder = sqlite3.connect(path, timeout=30)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield url
    finally:
        holder.rollback()
        holder.close()
