"""Pricing one event against building it: what a price adds to each image:usage event.

The instrumentation builds each request's usage and event, and prices it
once (``PriceBook.image_cost``; a sink prices an event that came without a
cost with ``cost_of``). The rows, timed in interleaved rounds:

- building the event: its usage (tokens by modality) and the event itself;
- pricing it from its facts (``image_cost``), for a token-billed model, a
  dated snapshot name (``gpt-image-1-2025-04-15``, resolved to its model
  by the snapshot rule: no alias names it) and a per-image model;
- pricing the event itself (``cost_of``).

The ratios of pricing to building are information (no bar is set for them);
the performance guide quotes them.

Run with the project's venv: ``make bench``.
"""

from __future__ import annotations

from typing import Any

from _events import priced_event
from _timing import interleaved, ratio, rounds, table
from aievents import ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.pricing import PriceBook

BUILD = (
    "ImageUsageEvent(request_id='req-1', provider='openai', model='gpt-image-2', "
    "operation='image.generation', size='1024x1024', quality='medium', images=1, "
    "user_id='user-42', project_id='proj_abc', usage=ImageUsage(input_tokens=20, "
    "output_tokens=1056, total_tokens=1076, "
    "input_tokens_details=InputTokensDetails(text_tokens=20, image_tokens=0)))"
)


def run(number: int, repeat: int) -> dict[str, list[float]]:
    """Measure every row; nanoseconds per operation by row name, one per round."""
    book = PriceBook()
    # The event as the instrumentation builds it: 20 text tokens in, 1056 image tokens out.
    event = priced_event(
        0, model="gpt-image-2", size="1024x1024", user=42, timestamp_ms=1_796_000_000_000
    )
    usage = event.usage
    for name in ("gpt-image-2", "gpt-image-2-2026-04-21", "sd3.5-large"):  # priced, or no bench
        if book.table.lookup(name) is None:
            raise SystemExit(f"bench_pricing: the price table does not price {name}")
    ns: dict[str, Any] = {
        "ImageUsageEvent": ImageUsageEvent,
        "ImageUsage": ImageUsage,
        "InputTokensDetails": InputTokensDetails,
        "image_cost": book.image_cost,
        "cost_of": book.cost_of,
        "usage": usage,
        "event": event,
    }
    rows: dict[str, tuple[str, int]] = {
        "build usage + ImageUsageEvent": (BUILD, number),
        "image_cost, tokens (gpt-image-2)": (
            "image_cost('gpt-image-2', provider='openai', usage=usage, images=1, "
            "size='1024x1024', quality='medium')",
            number,
        ),
        "image_cost, snapshot name (gpt-image-1-2025-04-15)": (
            "image_cost('gpt-image-1-2025-04-15', provider='openai', usage=usage, images=1)",
            number,
        ),
        "image_cost, per image (sd3.5-large)": (
            "image_cost('sd3.5-large', provider='stability', images=1, size='1024x1024')",
            number,
        ),
        "cost_of(event)": ("cost_of(event)", number),
    }
    return interleaved(rows, ns, repeat)


#: (label, top row, bottom row)
RATIOS: list[tuple[str, str, str]] = [
    ("image_cost / building the event", "image_cost, tokens (gpt-image-2)",
     "build usage + ImageUsageEvent"),
    ("cost_of(event) / building the event", "cost_of(event)", "build usage + ImageUsageEvent"),
    ("snapshot name / exact name", "image_cost, snapshot name (gpt-image-1-2025-04-15)",
     "image_cost, tokens (gpt-image-2)"),
    ("per image / tokens", "image_cost, per image (sd3.5-large)",
     "image_cost, tokens (gpt-image-2)"),
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table and ratios."""
    number, repeat = rounds(__doc__, argv, number=2_000, repeat=25)
    samples = run(number, repeat)
    table(samples)
    print()
    print(f"{'ratio (median of per-round ratios)':<40} {'measured':>9}")
    for label, top, bottom in RATIOS:
        print(f"{label:<40} {ratio(samples, top, bottom):>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
