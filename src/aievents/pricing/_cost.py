"""The cost of one request from one model's price.

Rules (``shared/reference/pricing.md``), in order:

1. A token-billed entry prices the token usage the response reported, when
   it reported output tokens (usage without them is as no usage):
   uncached text input, uncached image input, cached input, image output (at
   the image output rate) and text output, each at its rate per 1M tokens.
   Without ``output_tokens_details`` all output tokens are image tokens;
   without ``input_tokens_details`` all input tokens are text. Cached tokens
   (a part of the input) are taken from the text input first, then from the
   image input. The usage already covers every image of the request:
   nothing is multiplied by ``n``.
2. Else, when the provider says what it billed (``usage.billed``: a quantity
   in a unit) and the entry prices that unit (``per_billed_unit``), the
   quantity at that price (``basis="billed"``).
3. Else by the entry's own unit: the per-image price for the size, quality
   and resolution tier times the images returned (``images``); the price
   per megapixel of each image's size times the images (``megapixels``);
   the price of the request (``requests``). Token usage on such an entry
   (Gemini reports tokens for a model priced per image) does not stop it;
   when the entry has no price for the request either, the reason given is
   the token usage (the model was probably not the one named: a default
   that the answer contradicts).
4. Else, for a token-billed entry whose response reported no usage, its
   per-image estimate for the size and quality, or its typical tokens of an
   image at its rates, times the images (``basis="estimate"``).

Every charge that is not by token goes into the ``per_image`` component. A
request that cannot be priced costs ``None`` (unknown), never 0; the reason
goes to the ``warn`` callback (the book logs it once per model).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

import attrs

from aievents.money import EXACT, ImageCost
from aievents.pricing._entry import ModelPrice
from aievents.pricing._units import TokenRates
from aievents.usage import ImageUsage, token_split

_MILLION: Final = Decimal(1_000_000)
_ZERO: Final = Decimal(0)

#: Told why a request cannot be priced: (provider, model, reason, **facts).
Warn = Callable[..., None]
Method = Literal["per_image", "per_image_estimate", "typical_tokens", "megapixels", "requests"]
#: The basis of a cost (:data:`aievents.money.COST_BASES`) charged by each method.
_BASIS: Final = {
    "per_image": "images",
    "per_image_estimate": "estimate",
    "typical_tokens": "estimate",
    "megapixels": "megapixels",
    "requests": "requests",
}


@attrs.frozen(slots=True)
class Charge:
    """What an entry charges without token usage: ``amount`` per image, or per request.

    Attributes:
        amount: USD for one image (or for the request, when ``per_request``).
        method: How it was found (the :attr:`~aievents.pricing.Estimate.method` names).
        per_request: Whether ``amount`` is the price of the whole request.
    """

    amount: Decimal
    method: Method
    per_request: bool = False

    def times(self, images: int) -> Decimal:
        """The charge for a request that returned ``images`` images."""
        return self.amount if self.per_request else EXACT.multiply(self.amount, Decimal(images))


def charge(price: ModelPrice, size: str | None, quality: str | None) -> Charge | str:
    """What ``price`` charges for an image of ``size`` and ``quality``, or why it cannot say."""
    with decimal.localcontext(EXACT):
        if price.unit == "images":
            each = price.image_price(size, quality)
            return (
                Charge(each, "per_image")
                if each is not None
                else "no per-image price for this size and quality"
            )
        if price.unit == "megapixels":
            assert price.per_megapixel is not None
            each = price.per_megapixel.per_image(size)
            return Charge(each, "megapixels") if each is not None else "no WxH size to count"
        if price.unit == "requests":
            assert price.per_request is not None
            return Charge(price.per_request, "requests", per_request=True)
        each = price.image_price(size, quality, estimate=True)
        if each is not None:
            return Charge(each, "per_image_estimate")
        typical = _typical(price)
        if typical is not None:
            return Charge(typical, "typical_tokens")
        return "no per-image price for this size and quality"


def _typical(price: ModelPrice) -> Decimal | None:
    """One image's typical tokens at the entry's rates, if it has both."""
    if not price.typical_tokens or price.tokens is None:
        return None
    total = _ZERO
    for name, tokens in price.typical_tokens:
        rate = getattr(price.tokens, name)
        if rate is None:
            return None
        total += tokens * rate / _MILLION
    return total


def request_cost(
    price: ModelPrice,
    version: str,
    warn: Warn,
    *,
    usage: ImageUsage | None,
    images: int | None,
    size: str | None,
    quality: str | None,
    billed: Any = None,
) -> ImageCost | None:
    """The cost of one request by ``price`` (of a table of ``version``), or ``None``.

    ``billed`` is what the provider says it billed: anything with a
    ``quantity`` and a ``unit`` (:class:`aievents.usage.Billed`).
    """
    # Output tokens are what an image costs: usage without them (input only,
    # or nothing) is priced as a request that reported no usage.
    has_tokens = usage is not None and usage.output_tokens is not None
    with decimal.localcontext(EXACT):
        if usage is not None and has_tokens and price.unit == "tokens":
            return _token_cost(price, usage, version)
        if billed is not None:
            cost = _billed_cost(price, version, warn, billed)
            if cost is not None:
                return cost
        found = charge(price, size, quality)
        if isinstance(found, str):
            if has_tokens and price.unit != "tokens":
                # Likely not the model named (a default the answer contradicts).
                found = "token usage for a per-image price"
            warn(price.provider, price.model, found, size=size, quality=quality)
            return None
        if images is None and not found.per_request:
            return None
        amount = found.times(images or 0)
        return ImageCost(
            total=amount,
            basis=_BASIS[found.method],
            per_image=amount,
            price_version=version,
            priced_model=price.model,
        )


def _billed_cost(price: ModelPrice, version: str, warn: Warn, billed: Any) -> ImageCost | None:
    """The billed quantity at the entry's price of its unit, if it has one."""
    unit = getattr(billed, "unit", None)
    rate = price.billed_rate(unit) if isinstance(unit, str) else None
    if rate is None:
        return None
    quantity: Any = getattr(billed, "quantity", None)
    try:
        amount = Decimal(str(quantity) if isinstance(quantity, float) else quantity)
    except (InvalidOperation, TypeError, ValueError):
        amount = Decimal("NaN")
    if isinstance(quantity, bool) or not amount.is_finite() or amount < 0:
        warn(price.provider, price.model, "billed quantity is not a number", quantity=quantity)
        return None
    total = amount * rate
    return ImageCost(
        total=total,
        basis="billed",
        per_image=total,
        price_version=version,
        priced_model=price.model,
    )


def _per_million(tokens: int, rate: Decimal | None) -> Decimal:
    return _ZERO if rate is None or not tokens else tokens * rate / _MILLION


#: Token costs worked out, by the entry's identity, the table version and the
#: usage's counts: the entry (kept in the value, so that its id is not reused
#: while it is here) and the cost. An entry is immutable (a price change makes
#: a new one), and so is the cost: a hit is the cost ``_work_token_cost``
#: would build again.
_TOKEN_COSTS: dict[tuple[Any, ...], tuple[ModelPrice, ImageCost]] = {}
#: Past this many costs, the memo starts over.
_TOKEN_COSTS_MAX: Final = 1024


def _token_cost(price: ModelPrice, usage: ImageUsage, version: str) -> ImageCost:
    """The cost of ``usage`` at the entry's token rates (worked out once per entry and counts)."""
    key = (
        id(price),
        version,
        token_split(usage),
        usage.input_tokens,
        usage.output_tokens,
        usage.input_tokens_details is None,
        usage.output_tokens_details is None,
    )
    known = _TOKEN_COSTS.get(key)
    if known is not None and known[0] is price:
        return known[1]
    cost = _work_token_cost(price, usage, version)
    if len(_TOKEN_COSTS) >= _TOKEN_COSTS_MAX:
        _TOKEN_COSTS.clear()
    _TOKEN_COSTS[key] = (price, cost)
    return cost


def _work_token_cost(price: ModelPrice, usage: ImageUsage, version: str) -> ImageCost:
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
