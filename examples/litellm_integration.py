"""Report the images made through LiteLLM, with LiteLLM's cost beside ours.

LiteLLM talks here to a local stand-in for OpenAI on 127.0.0.1 (aievents'
ImageServer), so this runs offline; give it your API key and no
``api_base`` for real calls. LiteLLM logs a call after it returns, on a
thread of its own: the handler below says when each report is in.

Run: python examples/litellm_integration.py
Extras: litellm (pip install '.[litellm]')
"""

from __future__ import annotations

import os
import threading

# LiteLLM reads its own price list from the copy it ships with, not the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from aievents import EventClient, ImageUsageEvent
from aievents.integrations.litellm import instrument_litellm, uninstrument_litellm
from aievents.testing import ImageServer

reported = threading.Semaphore(0)


def show(event: ImageUsageEvent) -> None:
    """One line per image request: provider, model, images, our cost and LiteLLM's."""
    ours = event.cost.total if event.cost is not None else "unknown"
    theirs = event.usage.reported_cost
    print(
        f"{event.provider}/{event.model}: {event.images} image(s),"
        f" ours ${ours}, LiteLLM's {'$' + str(theirs) if theirs is not None else 'none'}"
    )
    reported.release()


def main() -> None:
    """Two calls through LiteLLM; each prints its costs once LiteLLM has logged it."""
    events = EventClient()
    events.on(ImageUsageEvent, show)
    instrument_litellm(events=events)
    try:
        with ImageServer() as server:
            for model, options in (
                ("openai/gpt-image-1", {"size": "1024x1024", "quality": "high", "n": 2}),
                ("openai/dall-e-3", {"size": "1024x1024"}),
            ):
                litellm.image_generation(
                    model=model,
                    prompt="a lighthouse at dawn",
                    api_base=server.base_url,
                    api_key="sk-test",
                    **options,
                )
                reported.acquire(timeout=30)
    finally:
        uninstrument_litellm()
        events.close()


if __name__ == "__main__":
    main()
