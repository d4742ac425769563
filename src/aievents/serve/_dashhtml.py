"""The dashboard page as HTML: the filter bar, the report (charts and tables), an error page.

The report is a ``<div id="report">`` of its own, which the page's script
fetches again while the page is open (:func:`report` answers that fetch);
the filter bar is a plain GET form, so a choice is a URL that can be kept.
Every value from the events is escaped (:func:`~aievents.serve._dashsvg.esc`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Final

from aievents.query import DIMENSIONS
from aievents.serve._dashsvg import cost_text, esc, legend, spend_chart, volume_chart
from aievents.serve._dashview import GROUPS, RANGES, TOP, Choice, ModelRow, Tally, View

__all__ = ["MODEL_ROWS", "OPTIONS_SHOWN", "REFRESH_SECONDS", "error_page", "page", "report"]

#: How often the open page fetches its report again, in seconds.
REFRESH_SECONDS: Final = 30

_RANGE_NAMES: Final = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
}
_WIDTH_NAMES: Final = {"1m": "by minute", "1h": "by hour", "1d": "by day"}
_GROUP_NAMES: Final = {
    "model": "model",
    "provider": "provider",
    "project_id": "project",
    "user_id": "user",
    "size": "size",
    "quality": "quality",
}
_FILTER_NAMES: Final = {"models": "Models", "project_ids": "Projects", "user_ids": "Users"}
#: The most values a filter offers (besides those chosen), and rows the models table shows.
OPTIONS_SHOWN: Final = 200
MODEL_ROWS: Final = 50

#: How to price a model, as the page says it (the pricing guide says more).
PRICE_HINT: Final = (
    "Their requests are counted, but their cost is unknown (not $0). "
    "Add a price where the events are recorded: "
    "<code>aievents.pricing.set_price(&quot;{model}&quot;, per_image=&quot;0.04&quot;)</code> "
    "(or <code>tokens={{...}}</code>), or a price file loaded with "
    "<code>aievents.pricing.load_prices(&quot;prices.json&quot;)</code>; "
    "<code>aievents prices --check prices.json</code> checks the file. "
    "A store prices the requests it already holds again with "
    "<code>aievents reprice --store URL</code>. "
    'See "Prices and cost" in the documentation (<code>docs/guides/pricing.md</code>).'
)


def _head(root: str, title: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        f'<link rel="icon" href="{esc(root)}/assets/icon.svg" type="image/svg+xml">'
        f'<link rel="stylesheet" href="{esc(root)}/assets/dashboard.css">'
        f'<script src="{esc(root)}/assets/dashboard.js" defer></script></head>'
    )


def _select(
    name: str,
    label: str,
    options: Sequence[tuple[str, str]],
    chosen: Sequence[str],
    *,
    multiple: bool = False,
    more: int = 0,
) -> str:
    items = "".join(
        f'<option value="{esc(value)}"{" selected" if value in chosen else ""}>{esc(text)}</option>'
        for value, text in options
    )
    if more:
        items += f'<option disabled class="more">{more:,} more (name them in the URL)</option>'
    several = ' multiple size="4"' if multiple else ""
    field = f'<select name="{esc(name)}" id="f-{esc(name)}"{several}>{items}</select>'
    return f"<label>{esc(label)} {field}</label>"


def _offered(values: Sequence[str], chosen: Sequence[str]) -> tuple[list[str], int]:
    """The first :data:`OPTIONS_SHOWN` values and every chosen one; how many are left out."""
    shown = list(values[:OPTIONS_SHOWN])
    shown += sorted(set(chosen) - set(shown))
    return shown, len(set(values) - set(shown))


def _form(root: str, choice: Choice, options: Mapping[str, Sequence[str]]) -> str:
    own = RANGES[choice.range][1]
    widths = [("", f"auto ({_WIDTH_NAMES[own]})"), *_WIDTH_NAMES.items()]
    fields = [
        _select("range", "Range", [(n, _RANGE_NAMES.get(n, n)) for n in RANGES], [choice.range]),
        _select("width", "Buckets", widths, [choice.picked]),
        _select(
            "group",
            "Spend by",
            [(name, _GROUP_NAMES.get(name, name)) for name in GROUPS],
            [choice.group],
        ),
    ]
    for name, label in _FILTER_NAMES.items():
        chosen = choice.filters.get(name, ())
        values, more = _offered(options.get(name, ()), chosen)
        pairs = [(value, value) for value in values]
        fields.append(_select(name, label, pairs, chosen, multiple=True, more=more))
    return (
        f'<form id="filters" class="filters" method="get" action="{esc(root)}/">'
        f'{"".join(fields)}<button type="submit" id="apply">Apply</button>'
        f'<a class="reset" href="{esc(root)}/">Reset</a>'
        '<p class="hint">Models, projects, users: none chosen is all of them '
        "(Ctrl or Shift picks several, then Apply).</p></form>"
    )


def _card(title: str, value: str, name: str, state: str = "") -> str:
    extra = f" {esc(state)}" if state else ""
    return (
        f'<div class="card{extra}" id="card-{esc(name)}"><div class="card-title">{esc(title)}</div>'
        f'<div class="card-value">{esc(value)}</div></div>'
    )


def _cards(total: Tally) -> str:
    state = "" if total.state == "known" else "warn"
    return (
        '<div class="cards">'
        + _card("Spend", cost_text(total), "spend", state)
        + _card("Requests", f"{total.requests:,}", "requests")
        + _card("Images", f"{total.images:,}", "images")
        + _card("Requests without a price", f"{total.unpriced:,}", "unpriced", state)
        + "</div>"
    )


def _name(value: str | None) -> str:
    return '<span class="unset">(not set)</span>' if value is None else esc(value)


def _more(count: int, columns: int, what: str) -> str:
    """A table's last row saying how many rows it leaves out; none when it leaves none out."""
    if count <= 0:
        return ""
    return f'<tr class="more"><td colspan="{columns}">{count:,} more {esc(what)}</td></tr>'


def _numbers(tally: Tally) -> str:
    """A row's data- attributes: its requests, images, known cost (empty: unknown) and state."""
    cost = "" if tally.state == "unknown" else str(tally.cost)
    return (
        f'data-requests="{tally.requests}" data-images="{tally.images}" '
        f'data-cost="{esc(cost)}" data-cost-state="{esc(tally.state)}"'
    )


def _top_table(title: str, rows: Sequence[tuple[str | None, Tally]], name: str) -> str:
    body = "".join(
        f'<tr data-key="{esc("" if key is None else key)}" {_numbers(tally)}><td>{_name(key)}</td>'
        f'<td class="num">{tally.requests:,}</td><td class="num">{tally.images:,}</td>'
        f'<td class="num {esc(tally.state)}">{esc(cost_text(tally))}</td></tr>'
        for key, tally in rows[:TOP]
    )
    body += _more(len(rows) - TOP, 4, "(by spend, below these)")
    if not rows:
        body = '<tr><td colspan="4" class="empty">No usage</td></tr>'
    return (
        f'<section class="top" id="{esc(name)}"><h2>{esc(title)}</h2><table><thead><tr>'
        '<th></th><th class="num">Requests</th><th class="num">Images</th>'
        f'<th class="num">Spend</th></tr></thead><tbody>{body}</tbody></table></section>'
    )


def _lifecycle(row: ModelRow) -> str:
    """Whether the model is priced (the reports' numbers), and its lifecycle (the price table)."""
    parts = []
    if row.tally.state == "unknown":
        parts.append('<span class="flag unpriced">no price</span>')
    elif row.tally.state == "partial":
        parts.append(f'<span class="flag unpriced">{row.tally.unpriced:,} without a price</span>')
    if row.status == "shutdown":
        successor = f"; use {esc(row.successor)}" if row.successor else ""
        parts.append(f'<span class="flag retired">retired {esc(row.shutdown)}</span>{successor}')
    elif row.status == "deprecated":
        ends = f", shuts down {esc(row.shutdown)}" if row.shutdown else ""
        parts.append(f'<span class="flag deprecated">deprecated {esc(row.deprecated)}{ends}</span>')
    elif row.status == "":
        parts.append('<span class="unlisted">not in this server&#x27;s price table</span>')
    elif row.status == "current" and row.shutdown is not None:
        parts.append(f"shuts down {esc(row.shutdown)}")
    else:
        parts.append(esc(row.status))
    return " ".join(parts)


def _models_table(models: Sequence[ModelRow]) -> str:
    """The models used, with their provider when that is a query dimension."""
    providers = "provider" in DIMENSIONS
    body = "".join(
        f'<tr data-model="{esc(row.model or "")}" data-provider="{esc(row.provider or "")}" '
        f'data-status="{esc(row.status or "unlisted")}" {_numbers(row.tally)}>'
        f"<td>{_name(row.model)}</td>"
        + (f"<td>{_name(row.provider)}</td>" if providers else "")
        + f'<td class="num">{row.tally.requests:,}</td><td class="num">{row.tally.images:,}</td>'
        f'<td class="num {esc(row.tally.state)}">{esc(cost_text(row.tally))}</td>'
        f"<td>{_lifecycle(row)}</td></tr>"
        for row in models[:MODEL_ROWS]
    )
    columns = 6 if providers else 5
    body += _more(len(models) - MODEL_ROWS, columns, "models (by spend, below these)")
    if not models:
        body = f'<tr><td colspan="{columns}" class="empty">No usage</td></tr>'
    return (
        '<section id="models"><h2>Models</h2><table><thead><tr><th>Model</th>'
        + ("<th>Provider</th>" if providers else "")
        + '<th class="num">Requests</th><th class="num">Images</th><th class="num">Spend</th>'
        f"<th>Status</th></tr></thead><tbody>{body}</tbody></table></section>"
    )


def _more_item(count: int) -> str:
    return f'<li class="more">{count:,} more</li>' if count > 0 else ""


def _shown(choice: Choice) -> str:
    """The range as drawn: whole buckets, from the one holding the span's start to now's."""

    def at(moment: int) -> str:
        return dt.datetime.fromtimestamp(moment, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")

    count = choice.buckets
    return (
        f'<p class="shown" id="shown-range">{esc(at(choice.start))} to {esc(at(choice.end))} UTC, '
        f"{count:,} {'bucket' if count == 1 else 'buckets'} {esc(_WIDTH_NAMES[choice.width])} "
        f"(the {esc(_RANGE_NAMES[choice.range].lower())} in whole buckets)</p>"
    )


def _unpriced(models: Sequence[ModelRow]) -> str:
    rows = [row for row in models if row.tally.unpriced]
    if not rows:
        return ""
    items = "".join(
        f'<li data-model="{esc(row.model or "")}"><strong>{_name(row.model)}</strong>'
        f"{f' ({esc(row.provider)})' if row.provider else ''}: "
        f"{row.tally.unpriced:,} of {row.tally.requests:,} requests without a price, "
        f"cost {esc(cost_text(row.tally))}</li>"
        for row in rows[:MODEL_ROWS]
    )
    items += _more_item(len(rows) - MODEL_ROWS)
    first = next((row.model for row in rows if row.model), "MODEL")
    return (
        '<section id="unpriced" class="alert"><h2>Usage without a price</h2>'
        f'<ul>{items}</ul><p class="hint" id="price-hint">{PRICE_HINT.format(model=esc(first))}'
        "</p></section>"
    )


def _retired(models: Sequence[ModelRow]) -> str:
    rows = [row for row in models if row.status in ("shutdown", "deprecated")]
    if not rows:
        return ""
    items = "".join(
        f'<li data-model="{esc(row.model or "")}" data-status="{esc(row.status)}">'
        f"<strong>{_name(row.model)}</strong> ({row.tally.requests:,} requests): {_lifecycle(row)}"
        "</li>"
        for row in rows[:MODEL_ROWS]
    )
    items += _more_item(len(rows) - MODEL_ROWS)
    return (
        '<section id="retired" class="warning"><h2>Retired and deprecated models</h2>'
        "<p>Requests to these models are still priced, but the provider has ended them or "
        f"announced their end.</p><ul>{items}</ul></section>"
    )


def report(view: View) -> str:
    """The report: totals, charts and tables (what the open page fetches again)."""
    choice = view.choice
    note = f'<p class="note" id="note">{esc(choice.note)}</p>' if choice.note else ""
    empty = (
        '<p class="empty" id="no-usage">No usage in this range.</p>'
        if not view.total.requests
        else ""
    )
    group = _GROUP_NAMES.get(choice.group, choice.group)
    return (
        f'<div id="report" data-start-time="{choice.start}" data-end-time="{choice.end}">'
        f"{_shown(choice)}{note}{_cards(view.total)}{empty}{_unpriced(view.models)}{_retired(view.models)}"
        f'<section id="spend"><h2>Spend by {esc(group)}</h2>{legend(view.series)}'
        f"{spend_chart(view)}</section>"
        f'<section id="volume"><h2>Images and requests</h2>'
        '<ul class="legend"><li><span class="swatch images"></span>images</li>'
        '<li><span class="swatch requests"></span>requests</li></ul>'
        f"{volume_chart(view)}</section>"
        '<div class="tops">'
        f"{_top_table('Top users', view.top_users, 'top-users')}"
        f"{_top_table('Top projects', view.top_projects, 'top-projects')}</div>"
        f"{_models_table(view.models)}</div>"
    )


def page(view: View, root: str, refresh: int = REFRESH_SECONDS, *, logout: bool = False) -> str:
    """The whole page: the filter bar and the report, fetched again every ``refresh`` seconds.

    ``logout``: a "Log out" button in the header (the page is behind a key).
    """
    out = (
        f'<form id="logout" class="logout" method="post" action="{esc(root)}/logout">'
        '<button type="submit" id="log-out">Log out</button></form>'
        if logout
        else ""
    )
    return (
        _head(root, "aievents: image usage and spend")
        + f'<body data-refresh-seconds="{refresh}"><header><h1>aievents</h1>'
        '<p class="sub">Image usage and spend (UTC)</p>'
        f'<span id="updated" class="updated"></span>{out}</header>'
        f"{_form(root, view.choice, view.options)}{report(view)}</body></html>"
    )


def error_page(root: str, message: str) -> str:
    """A page saying what was wrong with the request (the message escaped)."""
    return (
        _head(root, "aievents: error")
        + '<body><header><h1>aievents</h1></header><main class="alert" id="error">'
        f'<p>{esc(message)}</p><p><a href="{esc(root)}/">Back to the dashboard</a></p>'
        "</main></body></html>"
    )
