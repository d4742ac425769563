"""The price table: what each image model costs, with the source and date of each price.

A table is immutable; :meth:`PriceTable.with_prices` returns a new one. The
shipped table is ``prices.json`` beside this module; users load their own
file with :meth:`PriceTable.from_file` or override single models at runtime
with :func:`aievents.pricing.set_price`.

File format (JSON; amounts are strings so that they stay exact)::

    {
      "format": 1,
      "version": "2026-07-22",
      "currency": "usd",
      "models": [
        {"provider": "openai", "model": "gpt-image-1", "unit": "tokens",
         "per_million_tokens": {"input_text": "5.00", "output_image": "40.00", ...},
         "per_image_estimate": [{"quality": "low", "size": "1024x1024", "price": "0.011"}],
         "source": "...", "effective": "2026-07-22"},
        {"provider": "openai", "model": "dall-e-3", "unit": "images",
         "per_image": [{"quality": "hd", "size": "1024x1792", "price": "0.120"}],
         "source": "...", "effective": "2026-07-22"}
      ]
    }
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from aievents.exceptions import PriceTableError

#: The token rate names, per 1M tokens.
TOKEN_RATE_NAMES: Final = (
    "input_text",
    "input_image",
    "cached_input_text",
    "cached_input_image",
    "output_image",
    "output_text",
)
_FORMAT: Final = 1
_SNAPSHOT: Final = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


def _amount(value: Any, where: str) -> Decimal:
    """An exact, finite, non-negative amount from a string, int or Decimal."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise PriceTableError(where, value, "must be an amount as a string such as '0.040'")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise PriceTableError(where, value, "must be a decimal amount such as '0.040'") from None
    if not amount.is_finite() or amount < 0:
        raise PriceTableError(where, value, "must be a finite, non-negative amount")
    return amount


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
        """Build from a mapping of rate name to amount."""
        if not isinstance(data, Mapping):
            raise PriceTableError(where, data, "must be an object of rates per 1M tokens")
        unknown = set(data) - set(TOKEN_RATE_NAMES)
        if unknown:
            name = sorted(unknown)[0]
            raise PriceTableError(
                f"{where}.{name}", data[name], f"is not a rate ({', '.join(TOKEN_RATE_NAMES)})"
            )
        return cls(**{name: _amount(v, f"{where}.{name}") for name, v in data.items()})

    def merged(self, other: TokenRates) -> TokenRates:
        """These rates with ``other``'s given rates replacing them."""
        return attrs.evolve(
            self, **{n: v for n in TOKEN_RATE_NAMES if (v := getattr(other, n)) is not None}
        )


@attrs.frozen(kw_only=True, slots=True)
class ImagePrice:
    """USD per image for a size and quality; ``None`` matches any."""

    price: Decimal
    size: str | None = None
    quality: str | None = None

    def matches(self, size: str | None, quality: str | None) -> bool:
        """Whether this price applies to an image of ``size`` and ``quality``."""
        return (self.size is None or self.size == size) and (
            self.quality is None or self.quality == quality
        )

    @classmethod
    def parse(cls, data: Any, where: str) -> ImagePrice:
        """Build from ``{"price", "size"?, "quality"?}``."""
        if not isinstance(data, Mapping):
            raise PriceTableError(where, data, "must be an object with a price")
        for key in ("size", "quality"):
            if key in data and not isinstance(data[key], str):
                raise PriceTableError(f"{where}.{key}", data[key], "must be a string")
        if "price" not in data:
            raise PriceTableError(f"{where}.price", None, "is required")
        return cls(
            price=_amount(data["price"], f"{where}.price"),
            size=data.get("size"),
            quality=data.get("quality"),
        )


Unit = Literal["tokens", "images"]


@attrs.frozen(kw_only=True, slots=True)
class ModelPrice:
    """What one model costs.

    Attributes:
        model: The model name, such as ``gpt-image-1``.
        provider: The provider, such as ``openai``.
        unit: ``tokens`` (billed by usage) or ``images`` (billed per image).
        tokens: Rates per 1M tokens (``unit="tokens"``).
        per_image: Prices per image by size and quality (``unit="images"``).
        estimates: Per-image estimates for a token-billed model, used only
            when a response reports no usage.
        source: Where the price comes from.
        effective: The date the price was checked or takes effect.
    """

    model: str
    provider: str
    unit: Unit
    tokens: TokenRates | None = None
    per_image: tuple[ImagePrice, ...] = ()
    estimates: tuple[ImagePrice, ...] = ()
    source: str = ""
    effective: str = ""

    def image_price(
        self, size: str | None, quality: str | None, *, estimate: bool = False
    ) -> Decimal | None:
        """The per-image price (or estimate) for ``size`` and ``quality``, if the table has one."""
        for row in self.estimates if estimate else self.per_image:
            if row.matches(size, quality):
                return row.price
        return None

    @classmethod
    def parse(cls, data: Any, where: str) -> ModelPrice:
        """Build one entry of the file format."""
        if not isinstance(data, Mapping):
            raise PriceTableError(where, data, "must be an object")
        for key in ("model", "provider"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise PriceTableError(f"{where}.{key}", data.get(key), "must be a non-empty string")
        where = f"{where}({data['model']})"
        unit = data.get("unit")
        if unit not in ("tokens", "images"):
            raise PriceTableError(f"{where}.unit", unit, "must be 'tokens' or 'images'")
        for key in ("source", "effective"):
            if not isinstance(data.get(key, ""), str):
                raise PriceTableError(f"{where}.{key}", data[key], "must be a string")
        tokens = None
        if unit == "tokens":
            tokens = TokenRates.parse(data.get("per_million_tokens"), f"{where}.per_million_tokens")
        per_image = _rows(data.get("per_image", []), f"{where}.per_image")
        if unit == "images" and not per_image:
            raise PriceTableError(f"{where}.per_image", None, "must list at least one price")
        return cls(
            model=data["model"],
            provider=data["provider"],
            unit=unit,
            tokens=tokens,
            per_image=per_image,
            estimates=_rows(data.get("per_image_estimate", []), f"{where}.per_image_estimate"),
            source=data.get("source", ""),
            effective=data.get("effective", ""),
        )


def _rows(data: Any, where: str) -> tuple[ImagePrice, ...]:
    if not isinstance(data, list):
        raise PriceTableError(where, data, "must be a list of {price, size?, quality?}")
    return tuple(ImagePrice.parse(row, f"{where}[{i}]") for i, row in enumerate(data))


def _as_models(models: Mapping[tuple[str, str], ModelPrice]) -> dict[tuple[str, str], ModelPrice]:
    return dict(models)


@attrs.frozen(slots=True)
class PriceTable:
    """An immutable set of model prices with a version.

    Attributes:
        version: Identifies the prices; a table changed at runtime gets
            ``"<version>+local.<n>"``.
        models: The entries, keyed by ``(provider, model)``.
    """

    version: str
    models: Mapping[tuple[str, str], ModelPrice] = attrs.field(converter=_as_models)
    _by_model: dict[str, ModelPrice] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        by_model: dict[str, ModelPrice] = {}
        for price in self.models.values():  # a later entry of a model name wins
            by_model[price.model] = price
        object.__setattr__(self, "_by_model", by_model)

    def lookup(self, model: str, provider: str | None = None) -> ModelPrice | None:
        """The price of ``model``, or ``None`` when the table does not know it.

        The provider's own entry wins; otherwise any provider's entry of that
        model name; a dated snapshot (``gpt-image-1-2025-04-15``) falls back to
        its base model.
        """
        for name in (model, _SNAPSHOT.sub("", model)):
            if provider is not None:
                found = self.models.get((provider, name))
                if found is not None:
                    return found
            found = self._by_model.get(name)
            if found is not None:
                return found
        return None

    def with_prices(
        self, prices: Iterable[ModelPrice], *, version: str | None = None
    ) -> PriceTable:
        """A new table with ``prices`` added or replacing the same (provider, model)."""
        models = dict(self.models)
        for price in prices:
            models[(price.provider, price.model)] = price
        return PriceTable(version or _next_local(self.version), models)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "price table") -> PriceTable:
        """Build a table from the file format (see the module docstring).

        Raises:
            PriceTableError: the data is malformed; the error names the field.
        """
        if not isinstance(data, Mapping):
            raise PriceTableError(source, data, "must be an object with 'version' and 'models'")
        if data.get("format", _FORMAT) != _FORMAT:
            raise PriceTableError("format", data.get("format"), f"must be {_FORMAT}")
        if data.get("currency", "usd") != "usd":
            raise PriceTableError("currency", data.get("currency"), "must be 'usd'")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise PriceTableError("version", version, "must be a non-empty string")
        models = data.get("models")
        if not isinstance(models, list):
            raise PriceTableError("models", models, "must be a list of model prices")
        entries = [ModelPrice.parse(entry, f"models[{i}]") for i, entry in enumerate(models)]
        return cls(version, {(p.provider, p.model): p for p in entries})

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> PriceTable:
        """Load a table from a JSON file in the file format.

        Raises:
            PriceTableError: the file is missing, not JSON, or malformed.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceTableError("path", str(path), f"cannot be read ({exc.strerror})") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PriceTableError("path", str(path), f"is not valid JSON ({exc})") from None
        return cls.from_dict(data, source=str(path))


def _next_local(version: str) -> str:
    base, _, local = version.partition("+local.")
    return f"{base}+local.{int(local) + 1 if local.isdigit() else 1}"


def shipped_table() -> PriceTable:
    """The price table shipped with aievents (``prices.json``), freshly loaded."""
    text = resources.files("aievents.pricing").joinpath("prices.json").read_text("utf-8")
    return PriceTable.from_dict(json.loads(text), source="aievents/pricing/prices.json")
