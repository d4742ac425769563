"""One entry of the price table: what one model costs, in its unit, and its lifecycle."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from aievents.pricing._reader import Reader
from aievents.pricing._units import (
    TOKEN_RATE_NAMES,
    ImagePrice,
    MegapixelPrice,
    TokenRates,
    read_megapixels,
    read_named,
    read_rates,
    read_rows,
)
from aievents.usage import BILLED_UNITS

Unit = Literal["tokens", "images", "megapixels", "requests"]
Status = Literal["current", "deprecated", "shutdown", "upcoming"]

#: What an entry's price is given in.
UNITS: Final = ("tokens", "images", "megapixels", "requests")
#: The field that holds the price of each unit, required in an entry of that unit.
_PRICE_FIELD: Final = {
    "tokens": "per_million_tokens",
    "images": "per_image",
    "megapixels": "per_megapixel",
    "requests": "per_request",
}
#: Fields an entry of only these units may have.
_UNIT_FIELDS: Final = {
    "per_million_tokens": ("tokens",),
    "per_image_estimate": ("tokens",),
    "typical_tokens": ("tokens",),
    "per_image": ("images",),
    "per_megapixel": ("megapixels",),
    "per_request": ("requests",),
}
_COMMON: Final = frozenset(
    {"provider", "model", "unit", "source", "effective", "note", "per_billed_unit"}
    | {"released", "deprecated", "shutdown", "successor", "aliases"}
)
_LIFECYCLE: Final = ("released", "deprecated", "shutdown")


@attrs.frozen(kw_only=True, slots=True)
class ModelPrice:
    """What one model costs, and when it was offered.

    Attributes:
        model: The model name, such as ``gpt-image-2``.
        provider: The provider, such as ``openai``.
        unit: What the price is given in: ``tokens`` (billed by usage),
            ``images`` (per image by size, quality and resolution tier),
            ``megapixels`` (per megapixel of each image) or ``requests``.
        tokens: Rates per 1M tokens (``unit="tokens"``).
        per_image: Prices per image by size, quality and tier (``unit="images"``).
        estimates: Per-image estimates of a token-billed model, used when a
            response reports no usage and for :func:`~aievents.pricing.estimate`.
        typical_tokens: Tokens of one image by rate name (``output_image``:
            1120), for estimates of a token-billed model that has no per-image
            estimate for the size asked.
        per_megapixel: The price per megapixel (``unit="megapixels"``).
        per_request: The price of one request (``unit="requests"``).
        per_billed_unit: Prices of what the provider says it billed
            (``usage.billed``), by billed unit (``seconds``, ``images``, ...).
        source: Where the price comes from.
        effective: The date the price was checked or takes effect (ISO).
        note: Where sources disagree, and anything else worth knowing.
        released: When the model was released.
        deprecated: When the provider announced its end.
        shutdown: When calls to it stop being served.
        successor: The model the provider names in its place.
        aliases: Other names of this very entry (deployment names, ids of
            gateways).
    """

    model: str
    provider: str
    unit: Unit
    tokens: TokenRates | None = None
    per_image: tuple[ImagePrice, ...] = ()
    estimates: tuple[ImagePrice, ...] = ()
    typical_tokens: tuple[tuple[str, int], ...] = ()
    per_megapixel: MegapixelPrice | None = None
    per_request: Decimal | None = None
    per_billed_unit: tuple[tuple[str, Decimal], ...] = ()
    source: str = ""
    effective: str = ""
    note: str = ""
    released: datetime.date | None = None
    deprecated: datetime.date | None = None
    shutdown: datetime.date | None = None
    successor: str | None = None
    aliases: tuple[str, ...] = ()

    def image_price(
        self, size: str | None, quality: str | None, *, estimate: bool = False
    ) -> Decimal | None:
        """The per-image price (or estimate) for ``size`` and ``quality``: the first row to fit."""
        for row in self.estimates if estimate else self.per_image:
            if row.matches(size, quality):
                return row.price
        return None

    def billed_rate(self, unit: str) -> Decimal | None:
        """The price of one billed ``unit`` (``usage.billed``), if the entry has one."""
        return dict(self.per_billed_unit).get(unit)

    def status(self, on: datetime.date) -> Status:
        """Where the model stands on the day ``on``.

        ``upcoming`` before its release, ``shutdown`` from its shutdown date,
        ``deprecated`` from its deprecation date, else ``current``.
        """
        if isinstance(on, datetime.datetime):
            on = on.date()
        if self.released is not None and on < self.released:
            return "upcoming"
        if self.shutdown is not None and on >= self.shutdown:
            return "shutdown"
        if self.deprecated is not None and on >= self.deprecated:
            return "deprecated"
        return "current"

    @classmethod
    def parse(cls, data: Any, where: str, *, format: int = 2) -> ModelPrice:
        """Build one entry of the file format.

        Raises:
            PriceTableError: the entry is malformed; the error names the field.
        """
        reader = Reader()
        price = read_entry(reader, data, where, format=format)
        reader.raise_first("price")
        assert price is not None
        return price


def read_entry(reader: Reader, data: Any, path: str, *, format: int) -> ModelPrice | None:
    """One entry of a price file of ``format``, or ``None`` (problems noted).

    Format 2 requires ``source`` and an ISO ``effective`` date and refuses
    fields it does not know; format 1 (tokens and images only) did neither.
    """
    found = reader.mapping(data, path, "an object")
    if found is None:
        return None
    before = len(reader.problems)
    model = reader.text(found.get("model"), f"{path}.model", required=True)
    if model is not None:
        path = f"{path}({model})"
    provider = reader.text(found.get("provider"), f"{path}.provider", required=True)
    unit = reader.choice(found.get("unit"), f"{path}.unit", UNITS)
    strict = format >= 2
    if strict:
        reader.text(found.get("source"), f"{path}.source", required=True)
        reader.date(found.get("effective"), f"{path}.effective", required=True)
        _read_fields(reader, found, path, unit)
    else:
        for key in ("source", "effective"):
            if not isinstance(found.get(key, ""), str):
                reader.problem(f"{path}.{key}", found[key], "must be a string")

    def part(key: str, default: Any = None) -> tuple[Any, str]:
        """The value of ``key`` (``default`` when absent) and its path."""
        return found.get(key, default), f"{path}.{key}"

    dates = {key: reader.date(*part(key)) for key in _LIFECYCLE}
    _check_order(reader, path, dates)
    successor = reader.text(*part("successor"))
    aliases = _read_aliases(reader, *part("aliases", []))
    rates = read_rates(reader, *part("per_million_tokens")) if unit == "tokens" else None
    per_image = read_rows(reader, *part("per_image", []))
    if unit == "images" and found.get("per_image") == []:  # the rows as written: none
        reader.problem(f"{path}.per_image", found["per_image"], "must list at least one price")
    megapixels = read_megapixels(reader, *part("per_megapixel")) if unit == "megapixels" else None
    per_request = reader.amount(*part("per_request")) if unit == "requests" else None
    if unit is not None and _PRICE_FIELD[unit] not in found:
        reader.problem(f"{path}.{_PRICE_FIELD[unit]}", None, f"is required for unit {unit!r}")
    estimates = read_rows(reader, *part("per_image_estimate", []))
    typical = read_named(reader, *part("typical_tokens", {}), TOKEN_RATE_NAMES, reader.count)
    billed = read_named(reader, *part("per_billed_unit", {}), BILLED_UNITS, reader.amount)
    if len(reader.problems) > before or model is None or provider is None or unit is None:
        return None
    return ModelPrice(
        model=model,
        provider=provider,
        unit=unit,  # type: ignore[arg-type]
        tokens=rates,
        per_image=per_image,
        estimates=estimates,
        typical_tokens=tuple(typical.items()),
        per_megapixel=megapixels,
        per_request=per_request,
        per_billed_unit=tuple(billed.items()),
        source=found.get("source", ""),
        effective=found.get("effective", ""),
        note=found.get("note", "") if isinstance(found.get("note", ""), str) else "",
        successor=successor,
        aliases=aliases,
        **dates,
    )


def _check_order(reader: Reader, path: str, dates: Mapping[str, Any]) -> None:
    """Note a lifecycle date that comes after a later stage's (released, deprecated, shutdown)."""
    for index, key in enumerate(_LIFECYCLE):
        day = dates[key]
        later = [(name, dates[name]) for name in _LIFECYCLE[index + 1 :] if dates[name]]
        for name, other in later:
            if day is not None and day > other:
                reader.problem(f"{path}.{key}", day.isoformat(), f"is after {name} ({other})")
                break


def _read_fields(reader: Reader, found: Mapping[str, Any], path: str, unit: str | None) -> None:
    """Fields a format 2 entry does not know, or that belong to another unit."""
    for key, value in found.items():
        units = _UNIT_FIELDS.get(key)
        if units is not None:
            if unit is not None and unit not in units:
                reader.problem(f"{path}.{key}", value, f"is not a field of unit {unit!r}")
        elif key not in _COMMON:
            reader.problem(f"{path}.{key}", value, "is not a field of a price entry")
    if not isinstance(found.get("note", ""), str):
        reader.problem(f"{path}.note", found["note"], "must be a string")


def _read_aliases(reader: Reader, data: Any, path: str) -> tuple[str, ...]:
    if not isinstance(data, list):
        reader.problem(path, data, "must be a list of model names")
        return ()
    names = (reader.text(name, f"{path}[{i}]", required=True) for i, name in enumerate(data))
    return tuple(name for name in names if name is not None)
