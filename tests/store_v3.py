"""A seeded stream of requests over providers and qualities, and the script that wrote
tests/fixtures/store_v3.sql with schema version 3.

The dump was written by the release that wrote schema version 3 (before the
roll-up kept provider and quality), from :func:`stream` in batches of 50,
each written in a transaction of its own::

    PYTHONPATH=<that release>/src:tests python tests/store_v3.py tests/fixtures/store_v3.sql

Its rows keep each request's provider and quality; its daily roll-up sums
them together (a series there is OpenAI's six dimensions).
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import attrs

from aievents import ImageUsage, ImageUsageEvent
from aievents.usage import InputTokensDetails

from helpers import priced_cost

T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC
DAY = 86_400
#: The requests of the dump: stream(SEED, COUNT).
SEED = 3
COUNT = 400
PROVIDERS = ("openai", "azure", "openrouter", None)
QUALITIES = ("low", "medium", "high", "hd", None)


def stream(seed: int, count: int, days: int = 3) -> list[ImageUsageEvent]:
    """``count`` requests over ``days`` days from ``T0``, some of them sent twice.

    Each varies in every dimension (provider and quality among them, ``None``
    too), some without a price, some with a cost finer than the store's units.
    """
    rng = random.Random(seed)
    events: list[ImageUsageEvent] = []
    for index in range(count):
        if events and rng.random() < 0.1:
            events.append(rng.choice(events))  # a duplicate: counted once
            continue
        text, output = rng.randint(0, 200), rng.randint(0, 5000)
        usage = ImageUsage(
            input_tokens=text,
            output_tokens=output,
            input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=0),
        )
        part = rng.choice(["0.04", "0.0000125", "1E-19", "0.011"])
        built = ImageUsageEvent(
            request_id=f"s{seed}-{index}",
            timestamp=(T0 + rng.randrange(days * DAY)) * 1000 + rng.randrange(1000),
            provider=rng.choice(PROVIDERS),
            quality=rng.choice(QUALITIES),
            model=rng.choice(["gpt-image-1", "gpt-image-1-mini", "dall-e-3"]),
            size=rng.choice(["1024x1024", "1536x1024", None]),
            operation=rng.choice(["image.generation", "image.edit"]),
            project_id=rng.choice(["proj_a", "proj_b"]),
            user_id=rng.choice(["u1", "u2", "u3", None]),
            api_key_id=rng.choice(["key_1", "key_2"]),
            images=rng.randint(1, 3),
            usage=usage,
            cost=priced_cost(input_text="0.00005", output_image=part),
        )
        kind = rng.random()
        if kind < 0.1:
            built = attrs.evolve(built, model="acme-image-x", cost=None)  # no price
        elif kind < 0.15 and built.cost is not None:
            built = attrs.evolve(built, cost=attrs.evolve(built.cost, unpriced=("output_text",)))
        events.append(built)
    return events


def total_images(events: list[ImageUsageEvent]) -> int:
    """The images of the distinct requests."""
    return sum(e.images or 0 for e in {e.request_id: e for e in events}.values())


def main(out: str) -> int:
    """Write the stream into a fresh SQLite store, then its dump to ``out``."""
    import sqlite3

    from aievents.pricing import PriceTable
    from aievents.sinks import StoreSink

    events = stream(SEED, COUNT)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "v3.db"
        store = StoreSink(f"sqlite:///{path}", prices=PriceTable("store v3", {}))
        for first in range(0, len(events), 50):
            store.write(events[first : first + 50])
        store.close(10)
        store.dispose()
        with sqlite3.connect(path) as db:
            version = db.execute("SELECT value FROM aievents_meta").fetchone()[0]
            assert version == "3", version
            lines = list(db.iterdump())
        db.close()
    Path(out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
