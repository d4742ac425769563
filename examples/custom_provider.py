"""Instrument any provider's image call with ``image_request``.

Run: python examples/custom_provider.py
Extras: none (the core package alone)
"""

from __future__ import annotations

from aievents import EventClient
from aievents.instrument import image_request
from aievents.testing import CapturingSink


def fake_generate(prompt: str, count: int) -> list[bytes]:
    """Stands for a provider's SDK call."""
    return [prompt.encode()] * count


def main() -> None:
    """One call reported as started, completed and usage events."""
    sink = CapturingSink()
    with EventClient() as events:
        events.add_sink(sink)
        with image_request(
            provider="stability", model="sd3.5-large", size="1024x1024", client=events
        ) as request:
            images = fake_generate("a paper boat", 2)
            request.record_images(len(images))
        events.flush(5)
    for event in sink.events:
        print(event.event_type, event.model, getattr(event, "images", None))


if __name__ == "__main__":
    main()
