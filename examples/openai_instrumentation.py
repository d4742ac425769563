"""Instrument the openai SDK (every client of the process) and sum its usage and cost.

The SDK talks to aievents' local OpenAI-compatible image server on 127.0.0.1,
so this runs offline. Point ``base_url`` at OpenAI (or drop it) for real calls.

Run: python examples/openai_instrumentation.py
Extras: openai (pip install '.[openai]')
"""

from __future__ import annotations

import time

import openai

import aievents
from aievents import AggregateSink, EventClient
from aievents.instrument import instrument_openai
from aievents.testing import ImageServer


def main() -> None:
    """Two generations through the instrumented SDK; then the day's cost by model."""
    sink = AggregateSink()
    with ImageServer() as server, EventClient() as events:
        events.add_sink(sink)
        instrument_openai(events=events)  # every client, made before or after this line
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-example", max_retries=0)
        with aievents.context(user_id="user-42"):
            client.images.generate(model="gpt-image-2", prompt="a lighthouse", size="1024x1024")
            client.images.generate(
                model="gpt-image-2.5-flare", prompt="a fox", size="1024x1024", quality="low"
            )
    today = int(time.time()) // 86_400 * 86_400
    for bucket in sink.usage(today, group_by=["model"]).data:
        for result in bucket.results:
            print(result.model, result.num_model_requests, "requests", f"${result.cost}")


if __name__ == "__main__":
    main()
