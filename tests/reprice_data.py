"""Two price tables and the requests the reprice tests price with them, costs worked by hand.

``OLD`` is the table the requests were first priced with; ``NEW`` changes
the token rates of ``tok-model``, the 1024x1024 price of ``img-model`` and
prices ``new-model``, which ``OLD`` does not know. Neither depends on the
shipped table. Every cost is worked out here from the rates below.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from aievents import ImageUsage, ImageUsageEvent
from aievents.pricing import PriceBook, PriceTable
from aievents.usage import InputTokensDetails, OutputTokensDetails

D = Decimal
T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC
DAY = 86_400


def _data(version: str, tokens: dict[str, str], square: str, extra: list[Any]) -> dict[str, Any]:
    return {
        "format": 1,
        "version": version,
        "currency": "usd",
        "models": [
            {
                "provider": "openai",
                "model": "tok-model",
                "unit": "tokens",
                "per_million_tokens": tokens,
                "source": "test",
                "effective": "2024-01-01",
            },
            {
                "provider": "acme",
                "model": "img-model",
                "unit": "images",
                "per_image": [
                    {"size": "1024x1024", "price": square},
                    {"size": "1536x1024", "price": "0.08"},
                ],
                "source": "test",
                "effective": "2024-01-01",
            },
            *extra,
        ],
    }


#: The first table: tok-model at 5 / 10 / 1.25 / 40 / 10 per 1M tokens
#: (input text, input image, cached text, output image, output text),
#: img-model at $0.04 (1024x1024) and $0.08 (1536x1024); no new-model.
OLD_DATA = _data(
    "old-1",
    {
        "input_text": "5.00",
        "input_image": "10.00",
        "cached_input_text": "1.25",
        "output_image": "40.00",
        "output_text": "10.00",
    },
    "0.04",
    [],
)
OLD = PriceTable.from_dict(OLD_DATA)
#: The second table: tok-model at 6 / 10 / 1.50 / 30 / 10, img-model at
#: $0.05 (1024x1024, the 1536x1024 price unchanged), new-model at $0.02 an image.
NEW_DATA = _data(
    "new-1",
    {
        "input_text": "6.00",
        "input_image": "10.00",
        "cached_input_text": "1.50",
        "output_image": "30.00",
        "output_text": "10.00",
    },
    "0.05",
    [
        {
            "provider": "acme",
            "model": "new-model",
            "unit": "images",
            "per_image": [{"price": "0.02"}],
            "source": "test",
            "effective": "2024-01-01",
        }
    ],
)
NEW = PriceTable.from_dict(NEW_DATA)


def request(
    request_id: str,
    at: float,
    model: str,
    *,
    usage: ImageUsage | None = None,
    images: int | None = 1,
    size: str = "1024x1024",
    user_id: str = "user_1",
    cost_by: PriceBook | None = None,
) -> ImageUsageEvent:
    """A request's usage event; priced by ``cost_by`` when given (as instrumentation does)."""
    event = ImageUsageEvent(
        request_id=request_id,
        timestamp=int(at * 1000),
        provider="acme" if model != "tok-model" else "openai",
        model=model,
        size=size,
        quality="high",
        operation="image.generation",
        project_id="proj_a",
        user_id=user_id,
        api_key_id="key_1",
        images=images,
        usage=usage or ImageUsage(),
    )
    if cost_by is not None:
        return attrs.evolve(event, cost=cost_by.cost_of(event))
    return event


def tokens(
    text: int, output: int, *, image: int = 0, cached: int = 0, out_text: int = 0
) -> ImageUsage:
    """A token usage with input and output details."""
    return ImageUsage(
        input_tokens=text + image,
        output_tokens=output + out_text,
        input_tokens_details=InputTokensDetails(
            text_tokens=text, image_tokens=image, cached_tokens=cached
        ),
        output_tokens_details=OutputTokensDetails(image_tokens=output, text_tokens=out_text),
    )


def requests(book: PriceBook | None = None) -> list[ImageUsageEvent]:
    """The requests, over three days; ``tok-c`` carries a cost priced by ``book`` already.

    Costs (OLD -> NEW), worked by hand:

    - tok-a: 100 text in, 1000 image out: 100*5 + 1000*40 = 40500 / 1M =
      $0.0405 -> 100*6 + 1000*30 = 30600 / 1M = $0.0306.
    - tok-b: 200 text (50 cached) + 300 image in, 2000 image + 10 text out:
      150*5 + 300*10 + 50*1.25 + 2000*40 + 10*10 = 83912.5 / 1M =
      $0.0839125 -> 150*6 + 3000 + 50*1.5 + 2000*30 + 100 = 64075 / 1M = $0.064075.
    - tok-c: 1000 text in, 4000 image out: 5000 + 160000 = $0.165 ->
      6000 + 120000 = $0.126.
    - img-a: 2 images 1024x1024: $0.08 -> $0.10.
    - img-b: 1 image 1536x1024: $0.08 -> $0.08 (unchanged).
    - new-a: 3 images of new-model: unpriced -> 3 * 0.02 = $0.06.
    """
    return [
        request("tok-a", T0 + 60, "tok-model", usage=tokens(100, 1000)),
        request("img-a", T0 + 120, "img-model", images=2),
        request(
            "tok-b",
            T0 + DAY + 60,
            "tok-model",
            usage=tokens(200, 2000, image=300, cached=50, out_text=10),
        ),
        request("img-b", T0 + DAY + 120, "img-model", size="1536x1024", user_id="user_2"),
        request("new-a", T0 + DAY + 180, "new-model", images=3),
        request("tok-c", T0 + 2 * DAY + 60, "tok-model", usage=tokens(1000, 4000), cost_by=book),
    ]
