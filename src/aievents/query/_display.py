"""A page shown for people and notebooks: a pandas DataFrame, and an HTML table.

Both keep the rule of every report: a cost that is not known is never
shown as $0. The DataFrame holds ``None`` there (the exact amounts are
:class:`~decimal.Decimal` objects), the HTML table ``unknown``, or the
known part ``+ unknown`` when the cost is a lower bound.
"""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from aievents._extras import import_extra
from aievents.query._scan import DIMENSIONS

if TYPE_CHECKING:
    from aievents.query._pages import CostsResult, ImagesResult, Page

__all__ = ["HTML_ROWS", "columns", "frame", "html_table", "plain"]

#: Rows an HTML table shows at most (the DataFrame holds every one).
HTML_ROWS: Final = 500
_LABELS: Final = {
    "num_model_requests": "requests",
    "unpriced_requests": "unpriced",
    "unreported_requests": "not reported",
    "reported_requests": "reported",
}


def plain(amount: Decimal) -> str:
    """An exact amount in plain notation: ``0.00005``, never ``5e-05``."""
    text = format(amount, "f")  # exact, whatever the context's precision
    return text.rstrip("0").rstrip(".") if "." in text else text


def columns(template: ImagesResult | CostsResult | None) -> list[str]:
    """The DataFrame's columns: the bucket's times, the fields of ``template``, ``partial``."""
    if template is None:
        return ["start_time", "end_time"]
    fields = [n for n in template.to_dict() if n != "object"]
    return ["start_time", "end_time", *fields, "partial"]


def frame(page: Page, template: ImagesResult | CostsResult | None) -> Any:
    """A pandas DataFrame of ``page``: one row per result (see :meth:`Page.to_pandas`).

    ``template`` is an empty result of the page's kind (``None``: no result
    to show); its integer fields make the ``int64`` columns.
    """
    pandas = import_extra("pandas", "Page.to_pandas()", "pandas")
    names = columns(template)
    results = [(bucket, result) for bucket in page.data for result in bucket.results]
    data: dict[str, Any] = {}
    for name in ("start_time", "end_time"):
        seconds = pandas.Series([getattr(bucket, name) for bucket, _ in results], dtype="int64")
        data[name] = pandas.to_datetime(seconds, unit="s", utc=True)
    for name in names[2:-1]:
        values = [getattr(result, name) for _, result in results]
        # Counts are int64; text (None where not grouped by) and the amounts,
        # exact Decimals (None where unknown), are Python objects.
        counts = isinstance(getattr(template, name), int)
        data[name] = pandas.Series(values, dtype="int64" if counts else object)
    if template is not None:  # whether the row's amount is unknown or a lower bound
        data["partial"] = pandas.Series([result.partial for _, result in results], dtype=bool)
    return pandas.DataFrame(data, columns=names)


def _moment(seconds: int) -> str:
    return f"{dt.datetime.fromtimestamp(seconds, dt.timezone.utc):%Y-%m-%d %H:%M}"


def _cell(result: ImagesResult | CostsResult, name: str) -> str:
    """One value as the table shows it: amounts never as a made-up figure."""
    value = getattr(result, name, None)
    if name in ("cost", "amount"):
        if value is None:
            return "unknown"
        figure = f"${plain(value)}"
        return f"{figure} + unknown" if result.partial else figure
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def html_table(page: Page, kind: str | None) -> str:
    """An HTML table of ``page``: the bucket, the grouped fields, then the sums (escaped).

    ``kind`` is ``usage`` or ``costs`` (``None`` when the page has no result).
    """
    rows = [(b.start_time, r) for b in page.data for r in b.results]
    results = [result for _, result in rows]
    groups = [name for name in (*DIMENSIONS, "line_item") if name in page.group_by]
    if kind == "costs":
        sums = ["amount", "quantity", "quantity_unit"]
    else:
        sums = ["num_model_requests", "images", "input_tokens", "output_tokens", "cost"]
    if page.cost_source == "reported":
        unknown = "reported_requests" if kind == "usage" else "unreported_requests"
    else:
        unknown = "unpriced_requests"
    if unknown == "reported_requests" or any(getattr(r, unknown, 0) for r in results):
        sums.append(unknown)
    head = ["bucket (UTC)", *groups]
    for name in sums:
        label = _LABELS.get(name, name)
        head.append(f"{label} ({page.cost_source})" if name in ("cost", "amount") else label)
    out = [f"<table class='aievents-page'><caption>{html.escape(_caption(page, kind))}</caption>"]
    titles = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    out.append(f"<thead><tr>{titles}</tr></thead>")
    out.append("<tbody>")
    for start, result in rows[:HTML_ROWS]:
        cells = [_moment(start), *(_cell(result, name) for name in groups)]
        cells += [_cell(result, name) for name in sums]
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    notes = []
    if not rows:
        notes.append("no usage in these buckets")
    if len(rows) > HTML_ROWS:
        notes.append(f"the first {HTML_ROWS:,} of {len(rows):,} rows: to_pandas() holds all")
    if page.has_more:
        notes.append(f"more: page={page.next_page}")
    if notes:
        out.append(f"<p>{html.escape('; '.join(notes))}</p>")
    return "".join(out)


def _caption(page: Page, kind: str | None) -> str:
    if not page.data:
        return f"{kind or 'aievents'} page: no buckets"
    span = f"{_moment(page.data[0].start_time)} to {_moment(page.data[-1].end_time)} UTC"
    return f"{kind or 'aievents'} from {span}, {page.cost_source} cost"
