"""One writer host of the many-writers test: its events into a store, its counters on stdout.

Run as ``python tests/store_writer.py URL WRITER WRITERS EVENTS``. Writer
``WRITER`` of ``WRITERS`` hands ``EVENTS`` events to a StoreSink, as a
program does (``handle``, batches written on the sink's thread), then
closes it and prints its ``stats()`` as JSON. Every fifth event is one of
the shared requests, each of which ``SHARERS`` writers send, with the same
content whoever sends it (the same request seen by several hosts); the
others are the writer's own. The writers go through the shared requests
in the same order, so that they meet on the same request ids at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Final

from aievents import ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.pricing import image_cost
from aievents.sinks import StoreSink

T0: Final = 1_730_419_200  # 2024-11-01 00:00:00 UTC
#: One event in this many is a shared request.
SHARED_EVERY: Final = 5
#: How many writers send each shared request.
SHARERS: Final = 4
MODELS: Final = ("gpt-image-1", "gpt-image-2")
SIZES: Final = ("1024x1024", "1536x1024", "1024x1536")


def request(request_id: str, number: int, at: int) -> ImageUsageEvent:
    """Request ``number`` (its series, tokens and cost follow from it) at ``at`` seconds."""
    text = 10 + number % 40
    usage = ImageUsage(
        input_tokens=text,
        output_tokens=1056,
        input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=0),
    )
    model = MODELS[number % len(MODELS)]
    return ImageUsageEvent(
        request_id=request_id,
        timestamp=at * 1000,
        provider="openai",
        model=model,
        size=SIZES[number // 2 % len(SIZES)],
        operation="image.generation",
        project_id=f"proj_{number % 3}",
        user_id=f"user_{number % 7}",
        api_key_id="key_1",
        images=1,
        usage=usage,
        cost=image_cost(model, usage=usage),
    )


def shared_ids(writer: int, writers: int) -> Iterator[int]:
    """The shared requests ``writer`` sends, in order: each is sent by SHARERS writers."""
    number = 0
    while True:
        if (number - writer) % writers < SHARERS:
            yield number
        number += 1


def events(writer: int, writers: int, count: int) -> Iterator[ImageUsageEvent]:
    """The writer's ``count`` events: its own requests, and every fifth a shared one."""
    shared = shared_ids(writer, writers)
    for index in range(count):
        if index % SHARED_EVERY == SHARED_EVERY - 1:
            number = next(shared)
            yield request(f"shared-{number}", number, T0 + number * 25)
        else:
            own = writer * count + index
            yield request(f"w{writer}-{index}", own, T0 + own * 3 // 2)


def expected(writers: int, count: int) -> tuple[int, int]:
    """The distinct requests of the run, and how many events repeat one."""
    shared_each = count // SHARED_EVERY
    distinct_shared = shared_each * writers // SHARERS
    distinct = (count - shared_each) * writers + distinct_shared
    return distinct, count * writers - distinct


def main(argv: list[str]) -> int:
    """Write the events, close the sink, print its stats."""
    url, writer, writers, count = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    sink = StoreSink(url, max_queue=count)
    for event in events(writer, writers, count):
        sink.handle(event)
    closed = sink.close(600)
    print(json.dumps({**sink.stats(), "closed": closed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
