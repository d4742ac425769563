"""The events of tests/fixtures/store_v1.sql, and the script that wrote it with schema version 1.

The dump was written by the release that wrote schema version 1 (before
``unpriced_requests``), from these batches, each written in a transaction
of its own::

    PYTHONPATH=<that release>/src:tests python tests/store_v1.py tests/fixtures/store_v1.sql

It holds what version 1 got wrong: requests without a price stored with a
cost of 0 (one with tokens, one without), and a daily roll-up whose
``input_tokens`` turned into a float when two batches of one series and day
each brought a count of 2**63 - 1. Beside them: priced requests over two
days, and a cost finer than the store's units (kept as exact text).
"""

from __future__ import annotations

import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import attrs

from aievents import ImageUsage, ImageUsageEvent

from helpers import priced_cost, usage_at

T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC
DAY = 86_400
BIG = 2**63 - 1


def unpriced(event: ImageUsageEvent, model: str) -> ImageUsageEvent:
    """The event for a model without a price, and without a cost."""
    return attrs.evolve(event, model=model, cost=None)


def batches() -> list[list[ImageUsageEvent]]:
    """The batches written, in order."""
    return [
        [
            usage_at("v1-a", T0 + 60),
            usage_at("v1-b", T0 + 3600, user_id="user_2"),
            usage_at("v1-c", T0 + DAY + 120, size="1024x1536"),
            unpriced(usage_at("v1-d", T0 + 7200), "acme-image-x"),
            unpriced(usage_at("v1-e", T0 + 7260, usage=ImageUsage(), images=2), "fal-ai/flux/dev"),
            usage_at("v1-f", T0 + 9000, price=priced_cost(per_image=Decimal("1E-19"))),
        ],
        [usage_at("v1-g", T0 + 10_000, user_id="user_big", text=BIG)],
        [usage_at("v1-h", T0 + 10_060, user_id="user_big", text=BIG)],
    ]


def main(out: str) -> int:
    """Write the batches into a fresh SQLite store, then its dump to ``out``."""
    import sqlite3

    from aievents.sinks import StoreSink

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "v1.db"
        store = StoreSink(f"sqlite:///{path}")
        for batch in batches():
            store.write(batch)
        store.close(10)
        store.dispose()
        with sqlite3.connect(path) as db:
            version = db.execute("SELECT value FROM aievents_meta").fetchone()[0]
            assert version == "1", version
            lines = list(db.iterdump())
        db.close()
    Path(out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
