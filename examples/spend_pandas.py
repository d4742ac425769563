"""What each user spent this month, and a costs page by user as a pandas DataFrame.

Run: python examples/spend_pandas.py
Extras: pandas
"""

from __future__ import annotations

from aievents import AggregateSink, ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.pricing import image_cost

DAY = 1_730_419_200  # 2024-11-01 00:00 UTC


def main() -> None:
    """Three priced requests and one without a price; spend by user, then a DataFrame."""
    sink = AggregateSink(clock=lambda: DAY + 86_400)
    for index, (user, model) in enumerate(
        [
            ("alice", "gpt-image-2"),
            ("bob", "gpt-image-2"),
            ("alice", "gpt-image-2"),
            ("bob", "in-house-diffusion"),
        ]
    ):
        usage = ImageUsage(
            input_tokens=50,
            output_tokens=1056,
            input_tokens_details=InputTokensDetails(text_tokens=50, image_tokens=0),
        )
        priced = model == "gpt-image-2"
        sink.handle(
            ImageUsageEvent(
                request_id=f"req-{index}",
                timestamp=(DAY + 3600 * index) * 1000,
                model=model,
                user_id=user,
                images=1,
                usage=usage,
                cost=image_cost(model, usage=usage) if priced else None,
            )
        )
    for user in ("alice", "bob"):
        print(user, sink.spend(user_id=user, since="month"))
    frame = sink.costs(DAY, group_by=["user_id"]).to_pandas()  # an extension of OpenAI's
    for row in frame.itertuples():
        print(f"{row.start_time:%Y-%m-%d} {row.user_id} {row.amount} {row.unpriced_requests}")


if __name__ == "__main__":
    main()
