"""Usage and cost reports shaped like OpenAI's organization usage API.

Run: python examples/aggregate_report.py
Extras: none (the core package alone)
"""

from __future__ import annotations

import json

from aievents import AggregateSink, ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.pricing import image_cost

DAY = 1_730_419_200  # 2024-11-01 00:00 UTC


def main() -> None:
    """Three priced requests by two users; usage by user, then costs by line item."""
    sink = AggregateSink(clock=lambda: DAY + 86_400)
    for index, user in enumerate(["alice", "bob", "alice"]):
        usage = ImageUsage(
            input_tokens=50,
            output_tokens=1056,
            input_tokens_details=InputTokensDetails(text_tokens=50, image_tokens=0),
        )
        sink.handle(
            ImageUsageEvent(
                request_id=f"req-{index}",
                timestamp=(DAY + 3600 * index) * 1000,
                model="gpt-image-2",
                user_id=user,
                images=1,
                usage=usage,
                cost=image_cost("gpt-image-2", usage=usage),
            )
        )
    print(json.dumps(sink.usage(DAY, group_by=["user_id"]).to_dict(), indent=2))
    print(json.dumps(sink.costs(DAY, group_by=["line_item"]).to_dict(), indent=2))


if __name__ == "__main__":
    main()
