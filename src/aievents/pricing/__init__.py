"""Exact image cost: the price table, price books and the cost of a request.

The shipped table (``prices.json``, every price with its source and date)
prices models in the units providers bill in: tokens by modality, images by
size, quality and resolution tier, megapixels and requests, with what a
provider says it billed (``usage.billed``) where the table prices that unit.
Entries carry their lifecycle (released, deprecated, shut down, successor)
and other names (aliases, patterns, dated snapshots). Amounts are
``Decimal``; sums never drift. :func:`estimate` says what a request will
cost before it is sent; :func:`check_prices` lists what is wrong in a
price file.

A :class:`PriceBook` holds the table in use (with the overrides made at
runtime) and the warnings it gave about unpriced models. The module
functions act on the process default book (:func:`default_book`), which is
what instrumentation and sinks use unless given ``prices=`` a book of their
own:

>>> from aievents.pricing import image_cost
>>> from aievents import ImageUsage, InputTokensDetails
>>> usage = ImageUsage(input_tokens=50, output_tokens=50,
...                    input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40))
>>> image_cost("gpt-image-1", usage=usage).total
Decimal('0.00245')
>>> contract = PriceBook()
>>> _ = contract.set_price("gpt-image-1", tokens={"output_image": "32.00"})
>>> contract.image_cost("gpt-image-1", usage=usage).total
Decimal('0.00205')
"""

from aievents.pricing._book import (
    PriceBook,
    book_for,
    cost_of,
    default_book,
    default_table,
    estimate,
    image_cost,
    load_prices,
    set_default_table,
    set_price,
)
from aievents.pricing._entry import UNITS, ModelPrice
from aievents.pricing._estimate import Estimate
from aievents.pricing._names import Pattern, Resolved
from aievents.pricing._reader import PriceProblem
from aievents.pricing._table import PriceTable, check_prices, shipped_table
from aievents.pricing._units import (
    TIERS,
    TOKEN_RATE_NAMES,
    ImagePrice,
    MegapixelPrice,
    TokenRates,
    pixels,
    resolution_tier,
)

__all__ = [
    "TIERS",
    "TOKEN_RATE_NAMES",
    "UNITS",
    "Estimate",
    "ImagePrice",
    "MegapixelPrice",
    "ModelPrice",
    "Pattern",
    "PriceBook",
    "PriceProblem",
    "PriceTable",
    "Resolved",
    "TokenRates",
    "book_for",
    "check_prices",
    "cost_of",
    "default_book",
    "default_table",
    "estimate",
    "image_cost",
    "load_prices",
    "pixels",
    "resolution_tier",
    "set_default_table",
    "set_price",
    "shipped_table",
]
