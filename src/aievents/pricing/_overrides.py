"""A price set at runtime (:meth:`aievents.pricing.PriceBook.set_price`), checked then merged."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

from aievents.exceptions import PriceTableError
from aievents.pricing._entry import ModelPrice, Unit
from aievents.pricing._reader import Reader
from aievents.pricing._units import (
    ImagePrice,
    MegapixelPrice,
    TokenRates,
    read_megapixels,
    read_rates,
    read_row,
)


def _rows(reader: Reader, value: Any, where: str) -> tuple[ImagePrice, ...]:
    """Per-image prices from the forms ``set_price`` takes."""
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        rows = [read_row(reader, {"price": value}, where)]
    elif isinstance(value, Mapping):
        rows = [
            read_row(reader, {"price": price, "size": size}, f"{where}[{size!r}]")
            for size, price in value.items()
        ]
    elif isinstance(value, Iterable):
        rows = [
            row if isinstance(row, ImagePrice) else read_row(reader, row, f"{where}[{i}]")
            for i, row in enumerate(value)
        ]
    else:
        reader.problem(where, value, "must be a price, {size: price} or a list of prices")
        return ()
    return tuple(row for row in rows if row is not None)


def _megapixels(reader: Reader, value: Any, where: str) -> MegapixelPrice | None:
    """A price per megapixel (rounded up), or ``{price, pixels?, round?}``."""
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        value = {"price": value}
    return read_megapixels(reader, value, where)


def _amount(reader: Reader, value: Any, where: str) -> Decimal | None:
    return reader.amount(value, where)


#: How each price argument of ``set_price`` is read.
_READERS: Final[dict[str, Callable[[Reader, Any, str], Any]]] = {
    "tokens": read_rates,
    "per_image": _rows,
    "estimates": _rows,
    "per_megapixel": _megapixels,
    "per_request": _amount,
}


@attrs.frozen(kw_only=True, slots=True)
class Override:
    """The prices given to one ``set_price`` call, checked; ``None`` where not given."""

    model: str
    tokens: TokenRates | None = None
    per_image: tuple[ImagePrice, ...] | None = None
    estimates: tuple[ImagePrice, ...] | None = None
    per_megapixel: MegapixelPrice | None = None
    per_request: Decimal | None = None

    @classmethod
    def parse(cls, model: Any, **given: Any) -> Override:
        """Check the arguments of ``set_price`` (each ``None`` when not given).

        Raises:
            PriceTableError: a price is malformed, none is given, or prices in
                two units are given; the error names the argument.
        """
        if not isinstance(model, str) or not model:
            raise PriceTableError("model", model, "must be a non-empty string")
        where = f"set_price({model})"
        units = [
            name
            for name in ("tokens", "per_image", "per_megapixel", "per_request")
            if given[name] is not None
        ]
        if not units and given["estimates"] is None:
            raise PriceTableError(
                "tokens",
                None,
                "or per_image, per_megapixel, per_request or estimates must be given",
            )
        if len(units) > 1:
            raise PriceTableError(
                f"{where}.{units[1]}", given[units[1]], f"cannot be given with {units[0]}"
            )
        reader = Reader()
        found = cls(
            model=model,
            **{
                name: None if value is None else _READERS[name](reader, value, f"{where}.{name}")
                for name, value in given.items()
            },
        )
        reader.raise_first("set_price")
        if found.per_image == ():
            raise PriceTableError(
                f"{where}.per_image", given["per_image"], "must list at least one price"
            )
        return found

    def unit(self) -> Unit | None:
        """The unit the prices given are in, if one is given."""
        if self.tokens is not None:
            return "tokens"
        if self.per_image is not None:
            return "images"
        if self.per_megapixel is not None:
            return "megapixels"
        if self.per_request is not None:
            return "requests"
        return None

    def apply(
        self, current: ModelPrice | None, provider: str, source: str, effective: str | None
    ) -> ModelPrice:
        """The entry these prices make of ``current`` (the same model's entry, or ``None``).

        What is not given is kept from ``current``: the other token rates, the
        estimates, the lifecycle and the names; prices of another unit are
        dropped when the unit changes.

        Raises:
            PriceTableError: nothing gives the model a price in its unit.
        """
        unit = self.unit() or (current.unit if current is not None else None)
        if unit is None:
            raise PriceTableError(
                f"set_price({self.model}).per_image", None, "is required for a new model"
            )
        base = (
            current
            if current is not None
            else ModelPrice(model=self.model, provider=provider, unit=unit)
        )
        same = base.unit == unit
        tokens = self.tokens
        if tokens is not None and same and base.tokens is not None:
            tokens = base.tokens.merged(tokens)
        return attrs.evolve(
            base,
            unit=unit,
            tokens=tokens if tokens is not None else (base.tokens if same else None),
            per_image=self.per_image
            if self.per_image is not None
            else (base.per_image if same else ()),
            estimates=self.estimates if self.estimates is not None else base.estimates,
            per_megapixel=self.per_megapixel or (base.per_megapixel if same else None),
            per_request=self.per_request
            if self.per_request is not None
            else (base.per_request if same else None),
            source=source,
            effective=effective or datetime.date.today().isoformat(),
        )
