"""Instrument any provider's image call with ``image_request`` and ``record``.

Run: python examples/custom_provider.py
Extras: none (the core package alone)
"""

from __future__ import annotations

import base64
from typing import Any

from aievents import EventClient
from aievents.instrument import image_request
from aievents.testing import CapturingSink


def stability_generate(prompt: str, count: int) -> dict[str, Any]:
    """Stands for Stability AI's v1 text-to-image call: its JSON answer."""
    image = base64.b64encode(prompt.encode()).decode()
    artifact = {"base64": image, "seed": 1, "finishReason": "SUCCESS"}
    return {"artifacts": [artifact] * count}


def main() -> None:
    """One call reported as started, completed and usage events."""
    sink = CapturingSink()
    with EventClient() as events:
        events.add_sink(sink)
        with image_request(
            provider="stability", model="sd3.5-large", size="1024x1024", client=events
        ) as request:
            answer = request.record(stability_generate("a paper boat", 2))
        events.flush(5)
    print(len(answer["artifacts"]), "images")
    for event in sink.events:
        print(event.event_type, event.model, getattr(event, "images", None))


if __name__ == "__main__":
    main()
