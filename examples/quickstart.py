"""Quickstart: emit an image usage event and hear it in a handler.

Run: python examples/quickstart.py
Extras: none (the core package alone)
"""

from __future__ import annotations

import aievents
from aievents import EventClient, ImageUsageEvent


def main() -> None:
    """Subscribe a handler, attribute events to a user, and emit one."""
    with EventClient() as client:

        def show(event: ImageUsageEvent) -> None:
            print(event.event_type, event.model, event.user_id, event.usage.total_tokens)

        client.on("image:usage", show)
        with aievents.context(user_id="user-42", project_id="proj_abc"):
            client.emit(
                ImageUsageEvent(
                    request_id="req-1",
                    model="gpt-image-2",
                    images=1,
                    usage=aievents.to_image_usage(
                        {"input_tokens": 50, "output_tokens": 1056, "total_tokens": 1106}
                    ),
                )
            )


if __name__ == "__main__":
    main()
