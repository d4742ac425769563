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
from typing import Any, Final

from aievents._extras import import_extra
from aievents.query._pages import CostsResult, ImagesResult, Page
from aievents.query._scan import DIMENSIONS
from aievents.query._spend import plain

__all__ = ["HTML_ROWS", "columns", "frame", "html_table"]

#: Rows an HTML table shows at most (the DataFrame holds every one).
HTML_ROWS: Final = 500
_EMPTY: Final[dict[str, ImagesResult | CostsResult]] = {
    "usage": ImagesResult(images=0, num_model_requests=0),
    "costs": CostsResult(amount=Decimal(0)),
}
_LABELS: Final = {
    "num_model_requests": "requests",
    "unpriced_requests": "unpriced",
    "unreported_requests": "not reported",
    "reported_requests": "reported",
}


def _kind(page: Page) -> str | None:
    """``usage`` or ``costs``: as the page says, or as its first result is."""
    if page.kind in _EMPTY:
        return page.kind
    for bucket in page.data:
        for result in bucket.results:
            return "usage" if isinstance(result, ImagesResult) else "costs"
    return None


def columns(page: Page) -> list[str]:
    """The DataFrame's columns: the bucket's times, then the result's fields."""
    kind = _kind(page)
    fields = [] if kind is None else [n for n in _EMPTY[kind].to_dict() if n != "object"]
    return ["start_time", "end_time", *fields]


def frame(page: Page) -> Any:
    """A pandas DataFrame of ``page``: one row per result (see :meth:`Page.to_pandas`)."""
    pandas = import_extra("pandas", "Page.to_pandas()", "pandas")
    names = columns(page)
    results = [(bucket, result) for bucket in page.data for result in bucket.results]
    data: dict[str, Any] = {}
    for name in ("start_time", "end_time"):
        seconds = pandas.Series([getattr(bucket, name) for bucket, _ in results], dtype="int64")
        data[name] = pandas.to_datetime(seconds, unit="s", utc=True)
    kind = _kind(page)
    for name in names[2:]:
        values = [getattr(result, name) for _, result in results]
        # Counts are int64; text (None where not grouped by) and the amounts,
        # exact Decimals (None where unknown), are Python objects.
        counts = kind is not None and isinstance(getattr(_EMPTY[kind], name), int)
        data[name] = pandas.Series(values, dtype="int64" if counts else object)
    return pandas.DataFrame(data, columns=names)


def _moment(seconds: int) -> str:
    return f"{dt.datetime.fromtimestamp(seconds, dt.timezone.utc):%Y-%m-%d %H:%M}"


def _partial(result: ImagesResult | CostsResult) -> bool:
    if isinstance(result, ImagesResult):
        return result.partial
    return bool(result.unpriced_requests or result.unreported_requests)


def _cell(result: ImagesResult | CostsResult, name: str) -> str:
    """One value as the table shows it: amounts never as a made-up figure."""
    value = getattr(result, name, None)
    if name in ("cost", "amount"):
        if value is None:
            return "unknown"
        figure = f"${plain(value)}"
        return f"{figure} + unknown" if _partial(result) else figure
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def html_table(page: Page) -> str:
    """An HTML table of ``page``: the bucket, the grouped fields, then the sums (escaped)."""
    kind = _kind(page)
    rows = [(b.start_time, r) for b in page.data for r in b.results]
    results = [result for _, result in rows]
    groups = [
        name
        for name in (*DIMENSIONS, "line_item")
        if any(getattr(r, name, None) is not None for r in results)
    ]
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
