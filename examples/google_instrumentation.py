"""Instrument google-genai and sum the cost of the images it makes.

The SDK talks to aievents' local server on 127.0.0.1, which answers as
Gemini's ``generateContent`` does, so this runs offline. Drop ``base_url``
(and give your API key) for real calls.

Run: python examples/google_instrumentation.py
Extras: google (pip install '.[google]')
"""

from __future__ import annotations

import time

from google import genai
from google.genai import types

import aievents
from aievents import AggregateSink, EventClient
from aievents.instrument import instrument_google_genai, uninstrument_google_genai
from aievents.testing import ImageServer


def main() -> None:
    """An image and a streamed image through every google-genai client; then the cost by model."""
    sink = AggregateSink()
    with ImageServer() as server, EventClient() as events:
        events.add_sink(sink)
        instrument_google_genai(events=events)  # every client, made before or after
        client = genai.Client(
            api_key="example-key", http_options=types.HttpOptions(base_url=server.url)
        )
        with aievents.context(user_id="user-42"):
            client.models.generate_content(
                model="gemini-3.1-flash-image",
                contents="a lighthouse",
                config=types.GenerateContentConfig(
                    response_modalities=["IMAGE"],
                    image_config=types.ImageConfig(image_size="2K"),
                ),
            )
            for _chunk in client.models.generate_content_stream(
                model="gemini-3-pro-image",
                contents="a fox",
                config=types.GenerateContentConfig(
                    response_modalities=["IMAGE"],
                    image_config=types.ImageConfig(image_size="4K"),
                ),
            ):
                pass
        uninstrument_google_genai()
    today = int(time.time()) // 86_400 * 86_400
    for bucket in sink.usage(today, group_by=["model"]).data:
        for result in bucket.results:
            print(result.model, result.num_model_requests, "requests", f"${result.cost}")


if __name__ == "__main__":
    main()
