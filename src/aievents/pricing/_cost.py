"""The cost of one request from one model's price.

Rules (``shared/reference/pricing.md``):

- Token-billed models are priced from the usage alone: uncached text input,
  uncached image input, cached input, image output and text output, each at
  its rate per 1M tokens. Without ``output_tokens_details`` all output tokens
  are image tokens; without ``input_tokens_details`` all input tokens are
  text. Cached tokens (a part of the input) are taken from the text input
  first, then from the image input. The usage already covers every image of
  the request: nothing is multiplied by ``n``.
- Per-image models cost the price for the size and quality times the images
  returned.
- A token-billed model whose response has no usage is priced by the table's
  per-image estimate, if it has one (``basis="estimate"``).
- A request that cannot be priced costs ``None`` (unknown), never 0; the
  reason goes to the ``warn`` callback (the book logs it once per model).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from aievents.money import EXACT, ImageCost
from aievents.pricing._entry import ModelPrice
from aievents.pricing._units import TokenRates
from aievents.usage import ImageUsage, token_split

_MILLION: Final = Decimal(1_000_000)
_ZERO: Final = Decimal(0)

#: Told why a request cannot be priced: (provider, model, reason, **facts).
Warn = Callable[..., None]


def request_cost(
    price: ModelPrice,
    version: str,
    warn: Warn,
    *,
    usage: ImageUsage | None,
    images: int | None,
    size: str | None,
    quality: str | None,
) -> ImageCost | None:
    """The cost of one request by ``price`` (of a table of ``version``), or ``None``."""
    has_tokens = usage is not None and (
        usage.input_tokens is not None or usage.output_tokens is not None
    )
    with decimal.localcontext(EXACT):
        if usage is not None and has_tokens:
            if price.unit == "tokens":
                return _token_cost(price, usage, version)
            # A per-image entry cannot price token usage: the model was probably
            # not the one named (a default that the answer contradicts).
            warn(price.provider, price.model, "token usage for a per-image price")
            return None
        return _image_cost(price, version, warn, images=images, size=size, quality=quality)


def _per_million(tokens: int, rate: Decimal | None) -> Decimal:
    return _ZERO if rate is None or not tokens else tokens * rate / _MILLION


def _token_cost(price: ModelPrice, usage: ImageUsage, version: str) -> ImageCost:
    rates = price.tokens or TokenRates()
    text_in, image_in, cached_text, cached_image, image_out, text_out = token_split(usage)
    counts = {
        "input_text": (text_in - cached_text, rates.input_text),
        "input_image": (image_in - cached_image, rates.input_image),
        "cached_input_text": (cached_text, rates.cached_input_text),
        "cached_input_image": (cached_image, rates.cached_input_image),
        "output_image": (image_out, rates.output_image),
        "output_text": (text_out, rates.output_text),
    }
    unpriced = [name for name, (n, rate) in counts.items() if n and rate is None]
    # Tokens the details leave out (input 50, details: text 10) cannot be priced.
    if usage.input_tokens_details is not None and (usage.input_tokens or 0) > text_in + image_in:
        unpriced.append("input_unattributed")
    details = usage.output_tokens_details
    if details is not None and (usage.output_tokens or 0) > image_out + text_out:
        unpriced.append("output_unattributed")
    parts = {name: _per_million(n, rate) for name, (n, rate) in counts.items()}
    cached_input = parts.pop("cached_input_text") + parts.pop("cached_input_image")
    return ImageCost(
        total=sum(parts.values(), cached_input),
        basis="tokens",
        input_text=parts["input_text"],
        input_image=parts["input_image"],
        cached_input=cached_input,
        output_image=parts["output_image"],
        output_text=parts["output_text"],
        price_version=version,
        priced_model=price.model,
        unpriced=tuple(unpriced),
    )


def _image_cost(
    price: ModelPrice,
    version: str,
    warn: Warn,
    *,
    images: int | None,
    size: str | None,
    quality: str | None,
) -> ImageCost | None:
    """The per-image price (or estimate, for a token-billed model) times the images."""
    estimate = price.unit == "tokens"
    each = price.image_price(size, quality, estimate=estimate)
    if each is None:
        reason = "no per-image price for this size and quality"
        warn(price.provider, price.model, reason, size=size, quality=quality)
        return None
    if images is None:
        return None
    return ImageCost(
        total=each * images,
        basis="estimate" if estimate else "images",
        per_image=each * images,
        price_version=version,
        priced_model=price.model,
    )
