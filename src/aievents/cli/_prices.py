"""``aievents prices``: the price table in force, as a table or JSON, and ``--check FILE``.

- The entries shown are those of the table the command prices with: the
  book given to :func:`aievents.cli.main`, else the default book (the
  shipped table with every runtime change).
- ``--prices FILE`` adds the file's entries to that table (overriding the
  same models), as :meth:`~aievents.pricing.PriceBook.load_prices` does: a
  user sees the table their own prices make.
- ``--provider NAME`` keeps the entries of that provider (any case);
  ``--model TEXT`` those whose model name or one of its aliases contains
  ``TEXT`` (any case), or, when ``TEXT`` holds ``*``, ``?`` or ``[``,
  matches it whole as a shell pattern (``gpt-image-*``). The entry ``TEXT``
  is priced as (an alias, a pattern such as ``openrouter/*``, a snapshot
  date) is shown too, with the name and how it was reached.
- Each entry's lifecycle status is taken on the run's date (UTC):
  ``current``, ``deprecated``, ``shutdown`` or ``upcoming``, with the
  dates and the successor.
- JSON holds each entry in the price file's form (amounts as exact
  strings) with its ``status``, and the table's aliases and patterns.
- ``--check FILE`` lists every problem of a price file by path and value
  (:func:`aievents.pricing.check_prices`), in the words of the error that
  would refuse it; the exit status is 1 when there is one, 0 when the file
  is good.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TextIO

from aievents._extras import require_extra
from aievents._redact import scrub_text
from aievents.cli._terminal import console, literal, say
from aievents.exceptions import PriceTableError, message

if TYPE_CHECKING:
    from aievents.pricing import ImagePrice, ModelPrice, PriceBook, PriceTable, Resolved

__all__ = ["check", "loaded_book", "show"]

#: Per-image rows a table's cell lists one by one (more: their range).
_LISTED: Final = 6
_GLOB: Final = frozenset("*?[")
#: The table's columns, and the share of the width each long one gets.
_COLUMNS: Final = (
    ("provider", None),
    ("model", 3),
    ("unit", None),
    ("status", 3),
    ("prices", 6),
    ("effective", None),
)
_RATE_LABELS: Final = {
    "input_text": "input text",
    "input_image": "input image",
    "cached_input_text": "cached text",
    "cached_input_image": "cached image",
    "output_image": "output image",
    "output_text": "output text",
}


def show(
    args: argparse.Namespace, out: TextIO, errors: TextIO, now: float, *, prices: PriceBook | None
) -> int:
    """Write the entries ``args`` selects, with their status on ``now``'s UTC date."""
    if args.format == "table":
        require_extra("aievents prices --format table", "cli", ("rich",))
    table = loaded_book(prices, args.prices).table
    on = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date()
    chosen = select(table.models.values(), args.provider, args.model)
    reached = _reached(table, args.provider, args.model)
    if reached is not None and reached.price not in chosen:
        chosen.insert(0, reached.price)
    if args.format == "json":
        _write_json(table, chosen, on, out, reached)
    else:
        _write_table(table, chosen, on, out, reached)
    if not chosen:
        say(errors, "no model matches" + _filters(args))
    return 0


def loaded_book(prices: PriceBook | None, path: str | None) -> PriceBook:
    """A book of ``prices``' table (the default book's without) with the file at ``path`` added.

    The caller's book is left as it is.

    Raises:
        PriceTableError: the file cannot be loaded; the error names it.
    """
    from aievents.pricing import PriceBook, book_for

    book = PriceBook(book_for(prices).table)
    if path is not None:
        try:
            book.load_prices(path)
        except PriceTableError as error:
            if str(path) in message(error):
                raise
            owner = f"price file {path!r}"  # the error names the file
            raise PriceTableError(error.field, error.value, error.reason, owner=owner) from None
    return book


def _reached(table: PriceTable, provider: str | None, model: str | None) -> Resolved | None:
    """The entry the name ``model`` is priced as, when it is another name of it."""
    if model is None or _GLOB.intersection(model):
        return None
    found = table.resolve(model, provider)
    if found is None or found.via == "exact":
        return None
    if provider is not None and found.price.provider.casefold() != provider.casefold():
        return None
    return found


def _asked(reached: Resolved) -> str:
    """The name that was asked for, which led to the entry."""
    return reached.names[0] if reached.names else reached.priced_as


def select(
    entries: Iterable[ModelPrice], provider: str | None, model: str | None
) -> list[ModelPrice]:
    """The entries of ``provider`` (any case) whose name or an alias matches ``model``.

    ``model`` is a part of the name (any case), or with ``*``, ``?`` or
    ``[`` a shell pattern the whole name matches (any case); ``None``
    keeps every entry.
    """
    wanted = None if provider is None else provider.casefold()
    chosen = []
    for price in entries:
        if wanted is not None and price.provider.casefold() != wanted:
            continue
        if model is not None and not any(
            _matches(name, model) for name in (price.model, *price.aliases)
        ):
            continue
        chosen.append(price)
    return chosen


def _matches(name: str, asked: str) -> bool:
    name, asked = name.casefold(), asked.casefold()
    if _GLOB.intersection(asked):
        return fnmatch.fnmatchcase(name, asked)
    return asked in name


def _filters(args: argparse.Namespace) -> str:
    named = (("--provider", args.provider), ("--model", args.model))
    said = [f"{option} {value!r}" for option, value in named if value]
    return f" ({' '.join(said)})" if said else ""


# --------------------------------------------------------------------------- status


def status_text(price: ModelPrice, on: datetime.date) -> str:
    """The entry's lifecycle on ``on`` in words: ``shutdown 2026-05-12, successor gpt-image-2``."""
    status = price.status(on)
    parts: list[str] = [status]
    if status == "upcoming" and price.released is not None:
        parts = [f"upcoming {price.released.isoformat()}"]
    elif status == "deprecated" and price.deprecated is not None:
        parts = [f"deprecated {price.deprecated.isoformat()}"]
        if price.shutdown is not None:
            parts.append(f"shutdown {price.shutdown.isoformat()}")
    elif status == "shutdown" and price.shutdown is not None:
        parts = [f"shutdown {price.shutdown.isoformat()}"]
    if price.successor is not None:
        parts.append(f"successor {price.successor}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- JSON


def entry_dict(price: ModelPrice) -> dict[str, Any]:
    """The entry in the price file's form (only the fields it has; amounts as strings)."""
    data: dict[str, Any] = {"provider": price.provider, "model": price.model, "unit": price.unit}
    if price.aliases:
        data["aliases"] = list(price.aliases)
    for name in ("released", "deprecated", "shutdown"):
        when = getattr(price, name)
        if when is not None:
            data[name] = when.isoformat()
    if price.successor is not None:
        data["successor"] = price.successor
    if price.tokens is not None:
        rates = {name: getattr(price.tokens, name) for name in _RATE_LABELS}
        data["per_million_tokens"] = {k: str(v) for k, v in rates.items() if v is not None}
    if price.per_image:
        data["per_image"] = [_row_dict(row) for row in price.per_image]
    if price.estimates:
        data["per_image_estimate"] = [_row_dict(row) for row in price.estimates]
    if price.typical_tokens:
        data["typical_tokens"] = dict(price.typical_tokens)
    if price.per_megapixel is not None:
        mp = price.per_megapixel
        data["per_megapixel"] = {"price": str(mp.price), "pixels": mp.pixels, "round": mp.round}
    if price.per_request is not None:
        data["per_request"] = str(price.per_request)
    if price.per_billed_unit:
        data["per_billed_unit"] = {unit: str(rate) for unit, rate in price.per_billed_unit}
    data["source"] = price.source
    data["effective"] = price.effective
    if price.note:
        data["note"] = price.note
    return data


def _row_dict(row: ImagePrice) -> dict[str, str]:
    fields = {"size": row.size, "quality": row.quality, "tier": row.tier}
    return {**{k: v for k, v in fields.items() if v is not None}, "price": str(row.price)}


def _write_json(
    table: PriceTable,
    chosen: list[ModelPrice],
    on: datetime.date,
    out: TextIO,
    reached: Resolved | None = None,
) -> None:
    models = [{**entry_dict(price), "status": price.status(on)} for price in chosen]
    if reached is not None:  # the name asked for, and how it reached its entry
        models[chosen.index(reached.price)]["reached"] = {
            "name": _asked(reached),
            "via": reached.via,
        }
    answer = {
        "version": table.version,
        "currency": "usd",
        "date": on.isoformat(),
        "models": models,
        "aliases": dict(table.aliases),
        "patterns": [{"match": p.match, "model": p.model} for p in table.patterns],
    }
    out.write(json.dumps(answer, indent=2) + "\n")


# --------------------------------------------------------------------------- the table


def prices_text(price: ModelPrice) -> str:
    """The entry's main prices in a few words, by its unit."""
    parts = []
    if price.tokens is not None:
        rates = [
            f"{label} {rate}"
            for name, label in _RATE_LABELS.items()
            if (rate := getattr(price.tokens, name)) is not None
        ]
        parts.append("per 1M tokens: " + ", ".join(rates))
    if price.per_image:
        parts.append("per image: " + _rows_text(price.per_image))
    if price.estimates:
        parts.append("estimate per image: " + _rows_text(price.estimates))
    if price.typical_tokens:
        typical = ", ".join(f"{count} {name}" for name, count in price.typical_tokens)
        parts.append(f"typical tokens per image: {typical}")
    if price.per_megapixel is not None:
        mp = price.per_megapixel
        rounding = "rounded up" if mp.round == "up" else "exact"
        parts.append(f"per megapixel ({mp.pixels:,} pixels, {rounding}): {mp.price}")
    if price.per_request is not None:
        parts.append(f"per request: {price.per_request}")
    if price.per_billed_unit:
        billed = ", ".join(f"{unit} {rate}" for unit, rate in price.per_billed_unit)
        parts.append(f"as billed, per unit: {billed}")
    return "; ".join(parts)


def _rows_text(rows: tuple[ImagePrice, ...]) -> str:
    if len(rows) > _LISTED:
        amounts: list[Decimal] = [row.price for row in rows]
        return f"{min(amounts)} to {max(amounts)} ({len(rows)} sizes and qualities)"
    shown = []
    for row in rows:
        label = " ".join(part for part in (row.tier, row.size, row.quality) if part)
        if not label and len(rows) > 1:
            label = "other"  # a row for any size after rows for some
        shown.append(f"{label} {row.price}" if label else str(row.price))
    return ", ".join(shown)


def _write_table(
    table: PriceTable,
    chosen: list[ModelPrice],
    on: datetime.date,
    out: TextIO,
    reached: Resolved | None = None,
) -> None:
    from rich.table import Table
    from rich.text import Text

    title = f"prices {table.version} on {on.isoformat()} (UTC): {len(chosen)} models"
    grid = Table(title=Text(literal(title)), title_justify="left", show_lines=True, expand=True)
    # The short columns as wide as their text; the rest of the width shared out.
    for name, ratio in _COLUMNS:
        grid.add_column(name, overflow="fold", ratio=ratio, no_wrap=ratio is None)
    for price in chosen:
        model = price.model
        if reached is not None and price is reached.price:
            model = f"{model} (as {_asked(reached)}, by {reached.via})"
        if price.aliases:
            model += " (also " + ", ".join(price.aliases) + ")"
        cells = (price.provider, model, price.unit, status_text(price, on), prices_text(price))
        grid.add_row(*(Text(literal(cell)) for cell in (*cells, price.effective)))
    captions = []  # an empty answer is said once, on stderr
    if table.patterns:
        names = ", ".join(f"{p.match} -> {p.model}" for p in table.patterns)
        captions.append(f"other names, looked up as: {names}")
    if captions:
        grid.caption = Text(literal("; ".join(captions)))
    console(out, 160).print(grid)


# --------------------------------------------------------------------------- --check


def check(path: str, form: str, out: TextIO, errors: TextIO) -> int:
    """List every problem of the price file at ``path``; 1 when there is one, else 0."""
    from aievents.pricing import check_prices

    problems = check_prices(path)
    shown = scrub_text(path)  # a key pasted into a file name stays in the process
    if form == "json":
        # The message shows the value as errors do (one under a secret-looking name is not).
        # Path and reason scrubbed as the message is: a key may be a secret pasted in.
        found = [
            {"path": scrub_text(p.path), "reason": scrub_text(p.reason), "message": str(p)}
            for p in problems
        ]
        answer = {"file": shown, "good": not problems, "problems": found}
        out.write(json.dumps(answer, indent=2) + "\n")
    else:
        for problem in problems:
            print(literal(f"{shown}: {problem}", reversible=False), file=out)
        if not problems:
            print(literal(f"{shown}: no problem found", reversible=False), file=out)
    if problems:
        count = len(problems)
        say(errors, f"{shown}: {count} problem{'s' if count > 1 else ''}: the file is refused")
        return 1
    return 0
