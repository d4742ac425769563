"""Exact image cost from a price table, and the process-wide table.

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
- A model the table does not know costs ``None`` (unknown), never 0, and is
  logged once per model.
"""

from __future__ import annotations

import datetime
import decimal
import threading
from collections.abc import Iterable, Mapping
from decimal import Decimal
from os import PathLike
from typing import Any, Final

from aievents._diag import log
from aievents.events import BaseEvent
from aievents.exceptions import PriceTableError
from aievents.money import EXACT, ImageCost
from aievents.pricing._table import (
    ImagePrice,
    ModelPrice,
    PriceTable,
    TokenRates,
    shipped_table,
)
from aievents.usage import ImageUsage, token_split

__all__ = [
    "cost_of",
    "default_table",
    "image_cost",
    "load_prices",
    "set_default_table",
    "set_price",
]

_MILLION: Final = Decimal(1_000_000)
_ZERO: Final = Decimal(0)

_lock = threading.RLock()
_table: PriceTable | None = None
#: Models (and the reasons) already warned about; bounded.
_warned: set[tuple[str, str]] = set()
_MAX_WARNED: Final = 10_000


def default_table() -> PriceTable:
    """The price table cost is computed with unless another is passed.

    The shipped table, loaded on first use, with every runtime change applied.
    """
    table = _table
    if table is None:
        with _lock:
            table = _current()
    return table


def _current() -> PriceTable:
    """The process-wide table; called with the lock held."""
    global _table  # noqa: PLW0603 - the process-wide table
    if _table is None:
        _table = shipped_table()
    return _table


def set_default_table(table: PriceTable) -> PriceTable:
    """Replace the process-wide table; returns the previous one."""
    global _table  # noqa: PLW0603 - the process-wide table
    if not isinstance(table, PriceTable):
        raise TypeError(f"table must be a PriceTable, got {table!r}")
    with _lock:
        previous = _current()
        _table = table
    return previous


def load_prices(path: str | PathLike[str], *, replace: bool = False) -> PriceTable:
    """Load a price file into the process-wide table.

    Args:
        path: A JSON file in the price table format.
        replace: Use the file's table alone instead of adding its entries to
            (and overriding the same models of) the current table.

    Returns:
        The table now in use.

    Raises:
        PriceTableError: the file is missing or malformed; the table in use
            is unchanged.
    """
    global _table  # noqa: PLW0603 - the process-wide table
    loaded = PriceTable.from_file(path)
    with _lock:
        _table = loaded if replace else _current().with_prices(loaded.models.values())
        return _table


def _rows(value: Any, where: str) -> tuple[ImagePrice, ...]:
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        return (ImagePrice.parse({"price": value}, where),)
    if isinstance(value, Mapping):
        return tuple(
            ImagePrice.parse({"price": price, "size": size}, f"{where}[{size!r}]")
            for size, price in value.items()
        )
    if isinstance(value, Iterable):
        return tuple(
            row if isinstance(row, ImagePrice) else ImagePrice.parse(row, f"{where}[{i}]")
            for i, row in enumerate(value)
        )
    raise PriceTableError(where, value, "must be a price, {size: price} or a list of prices")


def set_price(
    model: str,
    *,
    provider: str | None = None,
    tokens: Mapping[str, Any] | None = None,
    per_image: Any = None,
    estimates: Any = None,
    source: str = "set at runtime",
    effective: str | None = None,
) -> ModelPrice:
    """Set or override one model's price in the process-wide table.

    Use it for a negotiated rate or a model the table does not know yet::

        set_price("gpt-image-1", tokens={"output_image": "32.00"})   # other rates kept
        set_price("acme-image-v2", provider="acme", per_image="0.05")
        set_price("dall-e-3", per_image=[{"quality": "hd", "size": "1024x1024", "price": "0.07"}])

    Args:
        model: The model name.
        provider: The provider the price applies to; by default the provider
            of the model's current entry, or ``openai`` for a new model.
        tokens: Rates per 1M tokens by name (``input_text``, ``input_image``,
            ``cached_input_text``, ``cached_input_image``, ``output_image``,
            ``output_text``); for a model already priced by tokens, the rates
            given replace those rates only.
        per_image: A per-image price for every size and quality, a mapping of
            size to price, or a list of ``{"price", "size"?, "quality"?}``.
        estimates: Per-image estimates for a token-billed model, same forms.
        source: Where the price comes from.
        effective: Date the price applies from (default today).

    Returns:
        The entry now in the table.

    Raises:
        PriceTableError: a rate or price is malformed; nothing is changed.
    """
    global _table  # noqa: PLW0603 - the process-wide table
    if not isinstance(model, str) or not model:
        raise PriceTableError("model", model, "must be a non-empty string")
    if tokens is None and per_image is None and estimates is None:
        raise PriceTableError("tokens", None, "or per_image or estimates must be given")
    where = f"set_price({model})"
    rates = None if tokens is None else TokenRates.parse(tokens, f"{where}.tokens")
    rows = _rows(per_image, f"{where}.per_image") if per_image is not None else None
    guesses = _rows(estimates, f"{where}.estimates") if estimates is not None else None
    with _lock:  # read, merge and write as one step: concurrent overrides are all kept
        table = _current()
        current = table.lookup(model, provider)
        if current is not None and current.model != model:
            current = None  # a snapshot's base entry: the snapshot gets its own
        if provider is None:
            provider = current.provider if current is not None else "openai"
        elif current is not None and current.provider != provider:
            current = None
        if rates is not None and current is not None and current.tokens is not None:
            rates = current.tokens.merged(rates)
        unit = "tokens" if rates is not None else "images"
        if rates is None and rows is None and current is not None:
            unit, rates = current.unit, current.tokens
        if rows is None:
            rows = current.per_image if current is not None and unit == "images" else ()
        price = ModelPrice(
            model=model,
            provider=provider,
            unit=unit,  # type: ignore[arg-type]
            tokens=rates,
            per_image=rows,
            estimates=guesses if guesses is not None else (current.estimates if current else ()),
            source=source,
            effective=effective or datetime.date.today().isoformat(),
        )
        if price.unit == "images" and not price.per_image:
            raise PriceTableError(f"{where}.per_image", None, "is required for a per-image model")
        _table = table.with_prices([price])
    return price


def _warn_unpriced(provider: str | None, model: str, reason: str, **facts: Any) -> None:
    key = (model, reason)
    with _lock:
        if key in _warned or len(_warned) >= _MAX_WARNED:
            return
        _warned.add(key)
    log(
        "pricing",
        "warning",
        "price_unknown",
        model=model,
        provider=provider,
        reason=reason,
        **facts,
    )


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


def image_cost(
    model: str,
    *,
    provider: str | None = None,
    usage: ImageUsage | None = None,
    images: int | None = None,
    size: str | None = None,
    quality: str | None = None,
    table: PriceTable | None = None,
) -> ImageCost | None:
    """The cost of one image request, or ``None`` when it cannot be known.

    Args:
        model: The model the request used.
        provider: The provider, to prefer its own entry.
        usage: The request's token usage, when the response reported it.
        images: Images returned (for per-image prices and estimates).
        size: Size of the images produced.
        quality: Quality of the images produced.
        table: The price table; the process-wide one by default.

    Returns:
        The cost with its breakdown, or ``None`` for a model the table does
        not know, or when the facts it needs (usage, or images with a priced
        size and quality) are missing. Never a made-up 0.
    """
    table = table if table is not None else default_table()
    price = table.lookup(model, provider)
    if price is None:
        _warn_unpriced(provider, model, "model not in the price table")
        return None
    has_tokens = usage is not None and (
        usage.input_tokens is not None or usage.output_tokens is not None
    )
    with decimal.localcontext(EXACT):
        return _cost(
            price,
            table.version,
            usage if has_tokens else None,
            images=images,
            size=size,
            quality=quality,
        )


def _cost(
    price: ModelPrice,
    version: str,
    usage: ImageUsage | None,
    *,
    images: int | None,
    size: str | None,
    quality: str | None,
) -> ImageCost | None:
    """The cost by the entry's unit, inside the exact decimal context."""
    provider, model = price.provider, price.model
    if usage is not None:
        if price.unit == "tokens":
            return _token_cost(price, usage, version)
        # A per-image entry cannot price token usage: the model was probably
        # not the one named (a default that the answer contradicts).
        _warn_unpriced(provider, model, "token usage for a per-image price")
        return None
    estimate = price.unit == "tokens"
    each = price.image_price(size, quality, estimate=estimate)
    if each is None or images is None:
        if each is None:
            _warn_unpriced(
                provider,
                model,
                "no per-image price for this size and quality",
                size=size,
                quality=quality,
            )
        return None
    return ImageCost(
        total=each * images,
        basis="estimate" if estimate else "images",
        per_image=each * images,
        price_version=version,
        priced_model=price.model,
    )


def cost_of(event: BaseEvent, *, table: PriceTable | None = None) -> ImageCost | None:
    """The cost of the request an image event describes (see :func:`image_cost`)."""
    model = event.model
    if model is None:
        return None
    return image_cost(
        model,
        provider=event.provider,
        usage=getattr(event, "usage", None),
        images=getattr(event, "images", None),
        size=getattr(event, "size", None),
        quality=getattr(event, "quality", None),
        table=table,
    )
