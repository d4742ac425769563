"""The units a price is given in: token rates, per-image rows, megapixels; resolution tiers.

Sizes are what the request or the answer says: ``WxH`` (``1024x1536``) or a
resolution tier (Gemini's ``image_size``: ``512``, ``1K``, ``2K``, ``4K``).
A ``WxH`` size is in the tier its pixel count falls in (:func:`resolution_tier`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal
from typing import Any, Final, TypeVar

import attrs

from aievents.money import EXACT
from aievents.pricing._reader import Reader

#: The token rate names, per 1M tokens.
TOKEN_RATE_NAMES: Final = (
    "input_text",
    "input_image",
    "cached_input_text",
    "cached_input_image",
    "output_image",
    "output_text",
)
#: The resolution tiers a per-image price can be given for, smallest first.
TIERS: Final = ("512", "1K", "2K", "4K")
#: The most pixels of an image of each tier but the last (0.52, 2.1 and 6 MP): 2K
#: sizes are about 4.2 MP (2048x2048), 4K ones 8.3 MP (3840x2160) and more.
_TIER_PIXELS: Final = ((520_000, "512"), (2_100_000, "1K"), (6_000_000, "2K"))
_WXH: Final = re.compile(r"(\d{1,6})\s*[xX]\s*(\d{1,6})")
_ROUNDING: Final = ("up", "exact")
T = TypeVar("T")


def pixels(size: str | None) -> int | None:
    """The pixels of a ``WxH`` size (``1024x1536`` is 1572864), else ``None``."""
    found = _WXH.fullmatch(size.strip()) if isinstance(size, str) else None
    if found is None:
        return None
    return int(found[1]) * int(found[2])


def resolution_tier(size: str | None) -> str | None:
    """The resolution tier of ``size``: ``512``, ``1K``, ``2K``, ``4K`` or ``None``.

    A tier (``"2K"``, ``"1k"``, ``"512"``) is itself; a ``WxH`` size is in
    the tier of its pixel count: up to 0.52 MP ``512``, up to 2.1 MP ``1K``,
    up to 6 MP ``2K``, beyond ``4K``. Anything else (``auto``) has none.
    """
    if not isinstance(size, str):
        return None
    tier = size.strip().upper()
    if tier in TIERS:
        return tier
    count = pixels(size)
    if count is None:
        return None
    return next((name for most, name in _TIER_PIXELS if count <= most), "4K")


@attrs.frozen(kw_only=True, slots=True)
class TokenRates:
    """USD per 1M tokens of each kind; ``None`` where the table has no rate."""

    input_text: Decimal | None = None
    input_image: Decimal | None = None
    cached_input_text: Decimal | None = None
    cached_input_image: Decimal | None = None
    output_image: Decimal | None = None
    output_text: Decimal | None = None

    @classmethod
    def parse(cls, data: Any, where: str) -> TokenRates:
        """Build from a mapping of rate name to amount.

        Raises:
            PriceTableError: a rate is unknown or malformed.
        """
        reader = Reader()
        rates = read_rates(reader, data, where)
        reader.raise_first("price")
        return rates

    def merged(self, other: TokenRates) -> TokenRates:
        """These rates with ``other``'s given rates replacing them."""
        return attrs.evolve(
            self, **{n: v for n in TOKEN_RATE_NAMES if (v := getattr(other, n)) is not None}
        )


def read_rates(reader: Reader, data: Any, path: str) -> TokenRates:
    """Token rates from ``{rate name: amount per 1M tokens}`` (problems noted)."""
    return TokenRates(**read_named(reader, data, path, TOKEN_RATE_NAMES, reader.amount))


@attrs.frozen(kw_only=True, slots=True)
class ImagePrice:
    """USD per image for a size, quality and resolution tier; ``None`` matches any.

    Attributes:
        price: USD per image.
        size: The ``WxH`` size it is for (the size named exactly).
        quality: The quality it is for.
        tier: The resolution tier it is for (``512``, ``1K``, ``2K``, ``4K``):
            a size in that tier (:func:`resolution_tier`) matches.
    """

    price: Decimal
    size: str | None = None
    quality: str | None = None
    tier: str | None = None

    def matches(self, size: str | None, quality: str | None) -> bool:
        """Whether this price applies to an image of ``size`` and ``quality``."""
        return (
            (self.size is None or self.size == size)
            and (self.quality is None or self.quality == quality)
            and (self.tier is None or self.tier == resolution_tier(size))
        )

    @classmethod
    def parse(cls, data: Any, where: str) -> ImagePrice:
        """Build from ``{"price", "size"?, "quality"?, "tier"?}``.

        Raises:
            PriceTableError: the row is malformed.
        """
        reader = Reader()
        row = read_row(reader, data, where)
        reader.raise_first("price")
        assert row is not None
        return row


_ROW_KEYS: Final = frozenset({"price", "size", "quality", "tier"})


def read_row(reader: Reader, data: Any, path: str) -> ImagePrice | None:
    """One per-image row, or ``None`` (problems noted)."""
    found = reader.record(data, path, "an object with a price", _ROW_KEYS)
    if found is None:
        return None
    size = reader.text(found.get("size"), f"{path}.size")
    quality = reader.text(found.get("quality"), f"{path}.quality")
    tier = found.get("tier")
    if tier is not None:
        tier = reader.choice(str(tier) if isinstance(tier, int) else tier, f"{path}.tier", TIERS)
    price = reader.amount(found.get("price"), f"{path}.price")
    if price is None:
        return None
    return ImagePrice(price=price, size=size, quality=quality, tier=tier)


def read_rows(reader: Reader, data: Any, path: str) -> tuple[ImagePrice, ...]:
    """A list of per-image rows (problems noted)."""
    if not isinstance(data, list):
        reader.problem(path, data, "must be a list of {price, size?, quality?, tier?}")
        return ()
    rows = (read_row(reader, row, f"{path}[{i}]") for i, row in enumerate(data))
    return tuple(row for row in rows if row is not None)


@attrs.frozen(kw_only=True, slots=True)
class MegapixelPrice:
    """USD per megapixel of each image.

    Attributes:
        price: USD per ``pixels`` pixels.
        pixels: The pixels of one billed megapixel (1000000).
        round: ``up``: each image is billed whole megapixels, rounded up
            (a 1024x1024 image is 2); ``exact``: its pixels / ``pixels``.
    """

    price: Decimal
    pixels: int = 1_000_000
    round: str = "up"

    def per_image(self, size: str | None) -> Decimal | None:
        """The price of one image of ``size`` (``WxH``), or ``None`` without a pixel count."""
        count = pixels(size)
        if count is None:
            return None
        units = EXACT.divide(Decimal(count), Decimal(self.pixels))
        if self.round == "up":
            units = units.to_integral_value(rounding=ROUND_CEILING)
        return EXACT.multiply(self.price, units)


_MEGAPIXEL_KEYS: Final = frozenset({"price", "pixels", "round"})


def read_megapixels(reader: Reader, data: Any, path: str) -> MegapixelPrice | None:
    """``{price, pixels?, round?}``, or ``None`` (problems noted)."""
    found = reader.record(data, path, "an object {price, pixels?, round?}", _MEGAPIXEL_KEYS)
    if found is None:
        return None
    price = reader.amount(found.get("price"), f"{path}.price")
    count = reader.count(found.get("pixels", 1_000_000), f"{path}.pixels")
    rounding = reader.choice(found.get("round", "up"), f"{path}.round", _ROUNDING)
    if price is None or count is None or rounding is None:
        return None
    return MegapixelPrice(price=price, pixels=count, round=rounding)


def read_named(
    reader: Reader,
    data: Any,
    path: str,
    names: tuple[str, ...],
    read: Callable[[Any, str], T | None],
) -> dict[str, T]:
    """``{name: value}``, each name one of ``names``, each value by ``read`` (problems noted).

    ``read`` is a :class:`Reader` method (``reader.amount``, ``reader.count``):
    a value it refuses is left out.
    """
    found = reader.mapping(data, path, f"an object with names among {', '.join(names)}")
    values: dict[str, T] = {}
    for name, value in (found or {}).items():
        if name not in names:
            reader.problem(f"{path}.{name}", value, f"is not one of {', '.join(names)}")
        elif (read_value := read(value, f"{path}.{name}")) is not None:
            values[name] = read_value
    return values
