"""What a request will cost, before it is sent."""

from __future__ import annotations

from decimal import Decimal

import attrs

from aievents.pricing._cost import Charge, Method


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
    """

    total: Decimal
    per_image: Decimal | None
    images: int
    method: Method
    priced_as: str
    price_version: str


def estimate_from(charge: Charge, images: int, *, priced_as: str, version: str) -> Estimate:
    """The :class:`Estimate` of ``images`` images at ``charge``."""
    total = charge.times(images)
    return Estimate(
        total=total,
        per_image=None if charge.per_request else charge.amount,
        images=images,
        method=charge.method,
        priced_as=priced_as,
        price_version=version,
    )


def check_images(n: object) -> int:
    """``n`` if it is a whole number of images, 1 or more.

    Raises:
        ValueError: it is not.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number of images, 1 or more, got {n!r}")
    return n
