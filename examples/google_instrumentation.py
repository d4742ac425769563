"""Report the images google-genai makes, and what each one cost.

Every ``genai.Client`` is instrumented at once, the ones a library makes for
you included. The client here talks to a local stand-in for Gemini on
127.0.0.1 (aievents' ImageServer), so this runs offline; give the client
your API key and no ``base_url`` for real calls.

Run: python examples/google_instrumentation.py
Extras: google (pip install '.[google]')
"""

from __future__ import annotations

from google import genai
from google.genai import types

from aievents import EventClient, ImageUsageEvent
from aievents.instrument import instrument_google_genai, uninstrument_google_genai
from aievents.testing import ImageServer


def image_config(tier: str) -> types.GenerateContentConfig:
    """Ask for an image (no text) at a resolution tier: 1K, 2K or 4K."""
    return types.GenerateContentConfig(
        response_modalities=["IMAGE"], image_config=types.ImageConfig(image_size=tier)
    )


def show(event: ImageUsageEvent) -> None:
    """One line per image request: model, tier, images and cost."""
    cost = event.cost.total if event.cost is not None else "unknown"
    print(f"{event.model} at {event.size}: {event.images} image(s), ${cost}")


def main() -> None:
    """A plain call and a streamed one; each prints its cost as it ends."""
    events = EventClient()
    events.on(ImageUsageEvent, show)
    instrument_google_genai(events=events)
    try:
        with ImageServer() as gemini:
            client = genai.Client(
                api_key="example-key", http_options=types.HttpOptions(base_url=gemini.url)
            )
            client.models.generate_content(
                model="gemini-3.1-flash-image", contents="a lighthouse", config=image_config("2K")
            )
            stream = client.models.generate_content_stream(
                model="gemini-3-pro-image", contents="a fox", config=image_config("4K")
            )
            print(sum(1 for _chunk in stream), "chunks streamed")
    finally:
        uninstrument_google_genai()
        events.close()


if __name__ == "__main__":
    main()
