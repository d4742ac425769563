"""The ``reprice`` command: a store's requests priced again, and what changed, as a table.

``--prices FILE`` adds the file's entries to the prices in use (the
shipped table, or the book ``main`` was given), overriding the same
models, as :meth:`~aievents.pricing.PriceBook.load_prices` does; a file
that cannot be loaded is an error naming it, before the store is opened.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from aievents._extras import require_extra
from aievents.cli._commands import progress_bar
from aievents.cli._prices import loaded_book
from aievents.cli._render import _plain
from aievents.cli._terminal import literal

if TYPE_CHECKING:
    from decimal import Decimal

    from aievents.pricing import PriceBook
    from aievents.sinks.store import Repricing

__all__ = ["reprice", "write_result"]


def reprice(
    args: argparse.Namespace, out: TextIO, errors: TextIO, *, prices: PriceBook | None = None
) -> int:
    """Price the store's requests again (from ``--since``); print what changed; the exit status."""
    require_extra("aievents reprice", "store", ("sqlalchemy",))
    book = loaded_book(prices, args.prices)  # the caller's book is left as it is
    progress = not args.no_progress and errors.isatty()
    if progress:
        require_extra("aievents reprice's progress bar", "cli", ("rich",))
    from aievents.sinks.store import StoreSink

    # Repricing creates no store; a dry run upgrades none either.
    store = StoreSink(args.store, create=False, upgrade=not args.dry_run, prices=book)
    bar = progress_bar(errors, "repricing", "requests") if progress else None
    try:
        result = store.reprice(since=args.since, dry_run=args.dry_run, progress=bar)
    finally:
        if bar is not None:
            bar(None)
        store.close(30)
    write_result(result, literal(store.url), out)
    return 0


def write_result(result: Repricing, url: str, out: TextIO) -> None:
    """What a reprice changed: a line, a table per model, and the counts."""
    done = "would change (dry run: nothing changed)" if result.dry_run else "changed"
    print(f"Repricing {url} with prices {literal(result.price_version)}: {done}", file=out)
    rows = [("model", "requests", "changed", "old total", "new total")]
    rows += [
        (
            literal(m.model, 80),
            f"{m.requests:,}",
            f"{m.changed:,}",
            _cost(m.old, m.old_unpriced),
            _cost(m.new, m.new_unpriced),
        )
        for m in result.models
    ]
    rows.append(
        (
            "total",
            f"{result.requests:,}",
            f"{result.changed:,}",
            _cost(result.old_total, result.old_unpriced),
            _cost(result.new_total, result.unpriced),
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        rest = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in rest]
        print("  ".join(cells).rstrip(), file=out)
    print(
        f"{result.requests:,} requests examined, {result.changed:,} changed, "
        f"{result.unpriced:,} still unpriced, {result.kept:,} kept as given "
        "(their cost came with the event as an amount), "
        f"{result.not_in_prices:,} not in these prices: kept",
        file=out,
    )


def _cost(total: Decimal | None, unpriced: int) -> str:
    """A total whose requests may be unpriced: ``unknown``, ``0.5 + unknown`` or ``0.5``."""
    if total is None:
        return "unknown"
    return f"{_plain(total)} + unknown" if unpriced else _plain(total)
