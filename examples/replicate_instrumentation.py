"""Report the images Replicate predictions make, and what Replicate billed.

Every ``replicate.Client`` is instrumented at once, ``replicate.run`` included.
The client here talks to a local stand-in for Replicate's API on 127.0.0.1
(aievents' ImageServer), so this runs offline; give the client your API
token and no ``base_url`` for real calls.

Run: python examples/replicate_instrumentation.py
Extras: replicate (pip install '.[replicate]')
"""

from __future__ import annotations

import contextlib

import replicate

from aievents import EventClient, ImageRequestErrorEvent, ImageUsageEvent
from aievents.instrument import instrument_replicate, uninstrument_replicate
from aievents.testing import ImageServer


def show(event: ImageUsageEvent) -> None:
    """One line per prediction: model, images, seconds billed and cost."""
    billed = event.usage.billed
    seconds = billed.quantity if billed is not None else "unknown"
    cost = event.cost.total if event.cost is not None else "unknown"
    print(f"{event.model}: {event.images} image(s), {seconds} s billed, cost {cost}")


def failed(event: ImageRequestErrorEvent) -> None:
    """One line per failed prediction."""
    print(f"{event.model} failed: {event.error_message}")


def main() -> None:
    """A run, a prediction created then waited on, a failed one, and a text model's run."""
    events = EventClient()
    events.on(ImageUsageEvent, show)
    events.on(ImageRequestErrorEvent, failed)
    instrument_replicate(events=events)
    try:
        with ImageServer() as server:
            client = replicate.Client(api_token="r8_example", base_url=server.url)
            client.poll_interval = 0.01  # REPLICATE_POLL_INTERVAL: 0.5 s by default
            client.run(
                "black-forest-labs/flux-schnell", input={"prompt": "a fox", "num_outputs": 2}
            )
            prediction = client.predictions.create(
                model="stability-ai/sdxl", input={"prompt": "a lighthouse"}
            )
            prediction.wait()
            server.answer_next({"status": "failed", "error": "NSFW content detected"})
            with contextlib.suppress(replicate.exceptions.ModelError):
                client.run("black-forest-labs/flux-dev", input={"prompt": "a fox"})
            words = client.run("meta/meta-llama-3-8b-instruct", input={"prompt": "hello there"})
            print(" ".join(words), "(a text model: no event)")
    finally:
        uninstrument_replicate()
        events.close()


if __name__ == "__main__":
    main()
