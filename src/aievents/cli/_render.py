"""How the command writes a query's pages: a table, OpenAI's JSON page, or CSV.

- JSON is one OpenAI page holding every bucket of the pages, written as
  the pages come (JSON escapes every character that is not ASCII); an
  amount's ``value`` is the exact number, in plain notation.
- CSV is a header, known before the first row, then one row per bucket and
  group, written as the pages come; times are ISO 8601 UTC. Values are
  exact (amounts in plain notation, ``0.00005`` rather than ``5e-05``),
  quoted as RFC 4180 says (a tab, a newline or a quote inside a value is
  kept), for the programs that read CSV; when stdout is a
  terminal, text is shown as :func:`~aievents.cli._terminal.literal`
  shows it (escapes, backslashes doubled), as ``ls`` does with file names.
- The table is for reading: its values are always shown literally, and it
  holds at most :data:`TABLE_ROWS` rows; past them, a caption says how
  many there are and points to ``--format csv``.

A cost that is not known is never printed as a dollar figure: the table
says ``unknown`` (or the priced part ``+ unknown``), JSON and CSV leave it
null or empty, and :func:`note_unpriced` names the models without a price
(or, summing the reported cost, the models whose requests reported none).

Each names the cost it sums (``--cost``): the table in its title and cost
column, JSON in the page's and each result's ``cost_source``, CSV in each
row's ``cost_source``.
"""

from __future__ import annotations

import csv
import itertools
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Final, TextIO

from aievents.cli._terminal import console, literal, say
from aievents.cli._times import iso8601, minute
from aievents.query import DIMENSIONS, CostsResult, ImagesResult, Page, Source, usage

__all__ = ["TABLE_ROWS", "note_unpriced", "write_pages"]

#: Rows a table shows at most (CSV and JSON hold every one).
TABLE_ROWS: Final = 1000
#: Models named, at most, in the line about models without a price.
_NAMED: Final = 5
#: The fields a table may show as groups: every dimension (the costs' extensions too).
_GROUPS: Final = (*DIMENSIONS, "line_item")
#: Longest text a table's cell shows (then "..."): CSV and JSON hold all of it.
_LONGEST: Final = 200
_LABELS: Final = {
    "num_model_requests": "requests",
    "unpriced_requests": "unpriced",
    "unreported_requests": "not reported",
    "reported_requests": "reported",
}


def write_pages(
    pages: Page | Iterable[Page], form: str, out: TextIO, *, kind: str, title: str = ""
) -> Page:
    """Write every bucket of ``pages`` to ``out`` as ``form`` (table, json, csv); the last page.

    ``kind`` is ``usage`` or ``costs``; ``title`` heads a table. A query
    that fails on its first page fails before anything is written.
    """
    every = iter([pages] if isinstance(pages, Page) else pages)
    first = next(every)
    answers = itertools.chain([first], every)
    if form == "json":
        return _write_json(answers, out)
    if form == "csv":
        return _write_csv(answers, kind, out)
    return _table(answers, kind, title, out)


# --------------------------------------------------------------------------- JSON


def _write_json(pages: Iterator[Page], out: TextIO) -> Page:
    """One OpenAI page holding every bucket of ``pages``, written as they come."""
    out.write('{\n  "object": "page",\n  "data": [')
    count = 0
    last = None
    for last in pages:
        for bucket in last.data:
            data = bucket.to_dict()
            data["results"] = [_exact_dict(result) for result in bucket.results]
            text = _json(data).replace("\n", "\n    ")
            out.write(f"{',' if count else ''}\n    {text}")
            count += 1
    assert last is not None, "a query answers one page at least"
    out.write("\n  ]" if count else "]")
    more = json.dumps(last.next_page)
    out.write(f',\n  "has_more": {json.dumps(last.has_more)},\n  "next_page": {more}')
    out.write(f',\n  "cost_source": {json.dumps(last.cost_source)}\n}}\n')
    return last


def _json(data: Any) -> str:
    """``data`` as indented JSON, each ``Decimal`` as the exact number in plain notation."""
    nonce = secrets.token_hex(8)  # no text of the data can look like a mark
    marks: dict[str, str] = {}

    def mark(value: Any) -> str:
        if not isinstance(value, Decimal):
            raise TypeError(f"{type(value).__name__} is not JSON")
        token = f"\x00{nonce}:{len(marks)}"
        marks[json.dumps(token)] = _plain(value)
        return token

    text = json.dumps(data, indent=2, default=mark)
    for token, number in marks.items():
        text = text.replace(token, number, 1)
    return text


def _plain(amount: Decimal) -> str:
    """An exact amount in plain notation: ``0.00005``, never ``5e-05`` or ``5E-5``."""
    text = format(amount, "f")  # exact, whatever the context's precision
    return text.rstrip("0").rstrip(".") if "." in text else text


def _exact_dict(result: ImagesResult | CostsResult) -> dict[str, Any]:
    """A result's JSON fields, its amount's ``value`` the exact ``Decimal``.

    ``to_dict`` gives OpenAI's number as a float, which is not exact.
    """
    row = result.to_dict()
    if isinstance(result, ImagesResult):
        name, exact = "cost", result.cost
    else:
        name, exact = "amount", result.amount
    if exact is not None:
        row[name] = {**row[name], "value": exact}
    return row


# --------------------------------------------------------------------------- CSV


def _csv_fields(kind: str) -> list[str]:
    """The CSV header: the bucket's times, then every field of a result."""
    empty = (
        ImagesResult(images=0, num_model_requests=0)
        if kind == "usage"
        else CostsResult(amount=Decimal(0))
    )
    return ["start_time", "end_time", *(name for name in empty.to_dict() if name != "object")]


def _csv_value(value: Any, exact: bool) -> Any:
    """One value of a result as CSV writes it: numbers plain, text exact or literal."""
    if isinstance(value, dict) and "value" in value:  # an amount
        return _plain(value["value"])
    if isinstance(value, str) and not exact:
        return literal(value)
    return value


def _write_csv(pages: Iterator[Page], kind: str, out: TextIO) -> Page:
    """A header, then a row per bucket and group as the pages come; times in ISO 8601 UTC."""
    exact = not _terminal(out)
    writer = csv.DictWriter(out, _csv_fields(kind), lineterminator="\n")
    writer.writeheader()
    last = None
    for last in pages:
        for bucket in last.data:
            times = {"start_time": iso8601(bucket.start_time), "end_time": iso8601(bucket.end_time)}
            for result in bucket.results:
                row = _exact_dict(result)
                del row["object"]
                writer.writerow(times | {k: _csv_value(v, exact) for k, v in row.items()})
    assert last is not None, "a query answers one page at least"
    return last


def _terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):  # not a file, or closed
        return False


# --------------------------------------------------------------------------- the table


def _cell(value: Any) -> str:
    """One value of a result as the table shows it, literally."""
    if isinstance(value, dict) and "value" in value:  # an amount
        return f"${value['value']:,.6f}"
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return literal(value, _LONGEST)


def _sum_cell(name: str, result: Mapping[str, Any]) -> str:
    """A sum of a result as the table shows it: a cost never as a made-up figure.

    A cost not known is ``unknown``; a cost of which a part is not known is
    the priced part ``+ unknown``; no unpriced request is an empty cell.
    """
    value = result.get(name)
    if name in ("amount", "cost"):
        if not isinstance(value, dict):
            return "unknown"
        figure = _cell(value)
        return f"{figure} + unknown" if _partial(result) else figure
    if name in ("unpriced_requests", "unreported_requests") and not value:
        return ""
    return _cell(value)


def _partial(result: Mapping[str, Any]) -> bool:
    """Whether some request's cost is missing from a result's cost (see ImagesResult.partial)."""
    if result.get("cost_source") == "reported" and "reported_requests" in result:
        return bool(result["reported_requests"] < result["num_model_requests"])
    return bool(result.get("unpriced_requests"))


def _table(pages: Iterator[Page], kind: str, title: str, out: TextIO) -> Page:
    """A rich table of the pages (at most TABLE_ROWS rows): the groups, then the sums."""
    from rich.table import Table
    from rich.text import Text

    rows: list[tuple[int, dict[str, Any]]] = []
    more = 0
    last = None
    for last in pages:
        for bucket in last.data:
            for answer in bucket.results:
                if len(rows) < TABLE_ROWS:
                    rows.append((bucket.start_time, answer.to_dict()))
                else:
                    more += 1
    assert last is not None, "a query answers one page at least"
    results = [result for _, result in rows]
    shown = [g for g in _GROUPS if any(r.get(g) is not None for r in results)]
    sums = (
        ["num_model_requests", "images", "input_tokens", "output_tokens", "cost"]
        if kind == "usage"
        else ["amount", "quantity"]
    )
    if last.cost_source != "reported":
        if any(r.get("unpriced_requests") for r in results):
            sums.append("unpriced_requests")
    elif kind == "usage":
        sums.append("reported_requests")
    elif any(r.get("unreported_requests") for r in results):
        sums.append("unreported_requests")
    table = Table(title=Text(literal(title)), title_justify="left")
    table.add_column("bucket (UTC)")
    for name in shown:
        table.add_column(name, overflow="fold")  # all of a name: two never look alike
    for name in sums:
        label = _LABELS.get(name, name)
        if name in ("amount", "cost"):
            label = f"{label} ({last.cost_source})"
        table.add_column(label, justify="right")
    for start, result in rows:
        cells = [minute(start), *(_cell(result.get(name)) for name in shown)]
        cells += [_sum_cell(name, result) for name in sums]
        table.add_row(*(Text(cell) for cell in cells))  # Text: never read as markup
    captions = []
    if not results:
        captions.append("no usage in this window")
    if more:
        captions.append(
            f"the first {TABLE_ROWS:,} of {TABLE_ROWS + more:,} rows: --format csv or json "
            "for all of them"
        )
    if last.has_more:
        captions.append(f"more: --page {last.next_page}")
    if captions:
        table.caption = Text("; ".join(captions))
    console(out, max(100, 20 * (len(shown) + len(sums)))).print(table)
    return last


# --------------------------------------------------------------------------- unpriced


def note_unpriced(
    source: Source,
    window: tuple[int, int | None],
    filters: Mapping[str, Any],
    errors: TextIO,
    *,
    now: float,
) -> None:
    """One line on ``errors`` naming the models whose cost is not known in the window, if any.

    ``window`` is (start, end or None for ``now``) in Unix seconds; ``filters``
    are usage filters (``models=[...]``, ...) and ``cost``: computed (the
    default), the models without a price; reported, the models whose
    requests reported no cost.
    """
    counts: dict[str, int] = {}
    cursor = None
    start, end = window
    reported = filters.get("cost") == "reported"
    while True:
        page = usage(
            source,
            start_time=start,
            end_time=end,
            group_by=["model"],
            limit=31,
            page=cursor,
            now=now,
            **filters,
        )
        for bucket in page.data:
            for result in bucket.results:
                if not isinstance(result, ImagesResult):
                    continue
                missing = (
                    result.num_model_requests - result.reported_requests
                    if reported
                    else result.unpriced_requests
                )
                if missing:
                    model = result.model or "(no model)"
                    counts[model] = counts.get(model, 0) + missing
        cursor = page.next_page
        if cursor is None:
            break
    if not counts:
        return
    named = sorted(counts, key=lambda m: (-counts[m], m))
    listed = ", ".join(
        f"{m!r} ({counts[m]} request{'s' if counts[m] > 1 else ''})" for m in named[:_NAMED]
    )
    more = f" and {len(named) - _NAMED} more" if len(named) > _NAMED else ""
    if reported:
        text = (
            f"no reported cost for {listed}{more}: not in the reported sums (not $0); "
            "--cost computed sums the cost from the prices"
        )
    else:
        text = (
            f"no price for {listed}{more}: cost unknown (not $0). Add one where the events "
            f"are recorded: aievents.pricing.set_price({named[0]!r}, per_image=... or "
            "tokens={...}) or aievents.pricing.load_prices(FILE)"
        )
    say(errors, text)
