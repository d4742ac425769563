"""The usage events the benchmarks feed their sinks, built as the instrumentation builds them."""

from __future__ import annotations

from aievents import ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.pricing import image_cost

MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2")
SIZES = ("1024x1024", "1024x1536", "1536x1024")


def priced_event(
    index: int, *, model: str, size: str, user: int, timestamp_ms: int, quality: str | None = None
) -> ImageUsageEvent:
    """Event ``index`` of a stream: usage, then its exact cost; user ``user`` of 10 projects."""
    text = 20 + index % 50
    usage = ImageUsage(
        input_tokens=text,
        output_tokens=1056,
        total_tokens=text + 1056,
        input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=0),
    )
    return ImageUsageEvent(
        request_id=f"req-{index}",
        timestamp=timestamp_ms,
        provider="openai",
        model=model,
        size=size,
        quality=quality,
        operation="image.generation",
        project_id=f"proj_{user % 10}",
        user_id=f"user_{user}",
        api_key_id=f"key_{user % 5}",
        images=1,
        usage=usage,
        cost=image_cost(model, usage=usage),
    )
