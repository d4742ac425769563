"""Test your code's telemetry with ``capture_events``.

Run: python examples/testing_capture.py (or with pytest: it is a test too)
Extras: none (the core package alone)
"""

from __future__ import annotations

import aievents
from aievents import ImageUsage, ImageUsageEvent
from aievents.testing import capture_events


def make_thumbnail(user: str) -> None:
    """Code under test: it reports one image request on the default client."""
    with aievents.context(user_id=user):
        aievents.emit(
            ImageUsageEvent(request_id="thumb-1", model="gpt-image-2", images=1, usage=ImageUsage())
        )


def test_thumbnail_is_reported() -> None:
    """The code emits one usage event, attributed to the user."""
    with capture_events() as captured:
        make_thumbnail("user-42")
    (event,) = [e for e in captured if isinstance(e, ImageUsageEvent)]
    assert (event.model, event.user_id, event.images) == ("gpt-image-2", "user-42", 1)


if __name__ == "__main__":
    test_thumbnail_is_reported()
    print("test_thumbnail_is_reported passed")
