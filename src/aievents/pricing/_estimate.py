"""What a request will cost, before it is sent."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Final

import attrs

from aievents.pricing._cost import Charge, Method, charge
from aievents.pricing._entry import ModelPrice
from aievents.pricing._units import ImagePrice, resolution_tier

#: What a provider documents as the size and quality of a request that names
#: none, by the entry's model name (a prefix): Gemini's ``image_size`` is
#: ``1K``; Titan's image is 1024x1024, ``standard``; fal's FLUX endpoints make
#: ``landscape_4_3``, 1024x768 (fal.ai/models/fal-ai/flux-1/dev/llms.txt);
#: DALL-E's are 1024x1024 (and ``standard`` for dall-e-3).
DEFAULTS: Final[tuple[tuple[str, Mapping[str, str]], ...]] = (
    ("gemini-", {"size": "1K"}),
    ("amazon.titan-image-generator", {"size": "1024x1024", "quality": "standard"}),
    ("fal-ai/flux/", {"size": "1024x768"}),
    ("dall-e-3", {"size": "1024x1024", "quality": "standard"}),
    ("dall-e-2", {"size": "1024x1024"}),
)
#: A size or quality that leaves the choice to the provider, as none does.
_UNSET: Final = frozenset({"auto", ""})


@attrs.frozen(kw_only=True, slots=True)
class Estimate:
    """The expected cost of an image request, worked out before it is sent.

    Attributes:
        total: USD for the whole request (``n`` images).
        per_image: USD for each image; ``None`` when the model is priced per
            request (``method="requests"``).
        images: The images asked for (``n``).
        method: How it was worked out: ``per_image`` (the table's price per
            image for the size, quality and tier), ``per_image_estimate`` (a
            token-billed model's published estimate per image),
            ``typical_tokens`` (the tokens of a typical image at the model's
            token rates), ``megapixels`` (the price per megapixel of the
            size) or ``requests`` (the price of one request).
        priced_as: The table entry that priced it (an alias or snapshot
            name is priced as its model).
        price_version: The version of the price table used.
        assumed: The size and quality the estimate assumed where the request
            named none (or ``auto``): ``{"size": "1K"}``. Empty when it
            assumed nothing.
        ceiling: Whether what was assumed is the entry's dearest price for
            what the request did name (a budget's upper bound), because the
            provider documents no default; ``False`` when it is the
            provider's documented default (or nothing was assumed).

    A request that names no size or quality (the SDKs' default, or
    ``auto``) is estimated at the provider's documented default where there
    is one (:data:`DEFAULTS`: Gemini ``1K``; Titan 1024x1024 ``standard``;
    fal FLUX 1024x768), else at the dearest of the entry's prices that fit
    what it did name: ``estimate("gpt-image-2")`` is 1024x1024 ``high``,
    0.211, ``ceiling=True``.
    """

    total: Decimal
    per_image: Decimal | None
    images: int
    method: Method
    priced_as: str
    price_version: str
    assumed: Mapping[str, str] = attrs.field(factory=dict)
    ceiling: bool = False


def estimate_for(
    price: ModelPrice,
    size: str | None,
    quality: str | None,
    images: int,
    *,
    priced_as: str,
    version: str,
) -> Estimate | str:
    """The :class:`Estimate` of ``images`` images of ``size`` and ``quality`` by ``price``.

    Returns:
        The estimate, or why there is none (no price for the size and quality
        named, or none to assume).
    """
    asked = {"size": _given(size), "quality": _given(quality)}
    missing = [name for name, value in asked.items() if value is None]
    found = charge(price, asked["size"], asked["quality"])
    assumed: dict[str, str] = {}
    ceiling = False
    if isinstance(found, str) and missing:
        assumed = {k: v for k, v in _default(price.model).items() if k in missing}
        if assumed:
            found = charge(price, **{**asked, **assumed})
        if isinstance(found, str):
            found, assumed = _ceiling(price, asked, missing, found)
            ceiling = not isinstance(found, str)
    if isinstance(found, str):
        return found
    return Estimate(
        total=found.times(images),
        per_image=None if found.per_request else found.amount,
        images=images,
        method=found.method,
        priced_as=priced_as,
        price_version=version,
        assumed=assumed,
        ceiling=ceiling,
    )


def _given(value: str | None) -> str | None:
    """``value``, or ``None`` when it leaves the choice to the provider (``auto``)."""
    return None if value is None or value.strip().lower() in _UNSET else value


def _default(model: str) -> Mapping[str, str]:
    """The size and quality the provider of ``model`` documents as its default."""
    return next((found for prefix, found in DEFAULTS if model.startswith(prefix)), {})


def _ceiling(
    price: ModelPrice, asked: Mapping[str, str | None], missing: list[str], reason: str
) -> tuple[Charge | str, dict[str, str]]:
    """The dearest row that fits what was named, and what it assumes for the rest."""
    rows, method = _rows(price)
    size, quality = asked["size"], asked["quality"]
    fitting = [
        row
        for row in rows
        if (
            size is None or (row.size in (None, size) and row.tier in (None, resolution_tier(size)))
        )
        and (quality is None or row.quality in (None, quality))
    ]
    if not fitting:
        return reason, {}
    dearest = max(fitting, key=lambda row: row.price)
    said = {"size": dearest.size or dearest.tier, "quality": dearest.quality}
    assumed = {name: value for name in missing if (value := said[name]) is not None}
    return Charge(dearest.price, method), assumed


def _rows(price: ModelPrice) -> tuple[tuple[ImagePrice, ...], Method]:
    """The entry's per-image rows, and the method a price from them is."""
    if price.unit == "tokens":
        return price.estimates, "per_image_estimate"
    return price.per_image, "per_image"


def check_images(n: object) -> int:
    """``n`` if it is a whole number of images, 1 or more.

    Raises:
        ValueError: it is not.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number of images, 1 or more, got {n!r}")
    return n
