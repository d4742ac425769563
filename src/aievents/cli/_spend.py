"""``aievents spend``: what a user, project, key or model spent since a time (an extension).

The amount is :func:`aievents.query.spend`'s, summed from the usage of a
store or of a JSONL file of events, as ``usage`` reads them; a cost not
known is never printed as $0 (``at least`` or ``unknown``), and the models
without a price are named on stderr, as ``usage`` names them.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, TextIO

from aievents._extras import require_extra
from aievents.cli._commands import file_totals
from aievents.cli._eventfile import EventFileError
from aievents.cli._render import note_unpriced
from aievents.cli._terminal import literal
from aievents.query import spend as spent

if TYPE_CHECKING:
    from aievents.pricing import PriceBook

__all__ = ["spend"]

#: The usage filter of each of spend's (one value each).
_FILTERS = {
    "user_id": "user_ids",
    "project_id": "project_ids",
    "api_key_id": "api_key_ids",
    "model": "models",
    "provider": "providers",
}


def spend(
    args: argparse.Namespace,
    out: TextIO,
    errors: TextIO,
    now: float,
    *,
    prices: PriceBook | None = None,
) -> int:
    """``spend``: one line (or JSON) on ``out``; the exit status.

    Events of ``--events`` that carry no cost are priced by ``prices``.
    """
    asked = args.query
    source: Any
    problems: list[EventFileError] = []
    if args.store:
        require_extra("aievents spend --store", "store", ("sqlalchemy",))
        from aievents.sinks.store import StoreSink

        source = StoreSink(args.store, create=False)  # a query creates no store
    else:
        found = spent(_Empty(), now=now, **asked)  # the window, as the query reads it
        window = argparse.Namespace(
            events=args.events,
            start=int(found.since.timestamp()),
            end=args.until,
            bucket_width="1d",
        )
        source = file_totals(window, errors, now, problems, prices)
    try:
        result = spent(source, now=now, **asked)
        if args.format == "json":
            out.write(json.dumps(result.to_dict(), indent=2) + "\n")
        else:
            print(literal(str(result)), file=out)
        filters: dict[str, Any] = {
            _FILTERS[name]: [asked[name]] for name in _FILTERS if asked.get(name) is not None
        }
        filters["cost"] = args.cost
        span = (int(result.since.timestamp()), int(result.until.timestamp()))
        note_unpriced(source, span, filters, errors, now=now)
    finally:
        source.close(30)
    for problem in problems:
        raise problem
    return 0


class _Empty:
    """A source without usage."""

    def scan(self, scan: object) -> list[Any]:
        return []
