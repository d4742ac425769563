"""Event builders shared by the tests."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from aievents import (
    AieventsError,
    BaseEvent,
    EventValidationError,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsage,
    ImageUsageEvent,
)


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
    """Assert that ``err`` names ``field`` and ``value`` in its attributes and its message."""
    assert isinstance(err, ValueError)
    assert isinstance(err, AieventsError)
    assert err.field == field
    assert err.value is value
    message = str(err)
    assert repr(field) in message
    assert repr(value)[:60] in message
    return err
