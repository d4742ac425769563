"""The dashboard's charts as inline SVG, drawn on the server: no chart library, no script.

Every value written into the markup is escaped (:func:`esc`): model names,
user and project ids come from events, and events come from anywhere.
Colours are classes (``s0`` ... ``s8``) the stylesheet fills, so the markup
carries no inline style (the page's Content-Security-Policy allows none).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from aievents.serve._dashview import Series, Tally, View

__all__ = ["cost_text", "esc", "legend", "money", "spend_chart", "volume_chart", "when"]

_WIDTH: Final = 960
_LEFT: Final = 76
_RIGHT: Final = 16
_TOP: Final = 18
_BOTTOM: Final = 36
_LABELS: Final = 8  # x axis labels, at most


def esc(value: object) -> str:
    """``value`` as text safe in HTML and SVG, in an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def money(value: Decimal) -> str:
    """A dollar amount for reading: cents from $1, else up to four decimals."""
    if value < 0:
        positive = money(-value)
        return "> -$0.0001" if positive.startswith("<") else f"-{positive}"
    if value == 0:
        return "$0.00"
    if value >= 1:
        return f"${value:,.2f}"
    shown = value.quantize(Decimal("0.0001"))
    if not shown:
        return "< $0.0001"
    whole, _, part = f"{shown:.4f}".rstrip("0").partition(".")
    return f"${whole}.{part.ljust(2, '0')}"


def cost_text(tally: Tally) -> str:
    """A tally's cost as the page says it: the amount, ``at least`` it, or ``unknown``."""
    state = tally.state
    if state == "unknown":
        return "unknown"
    if state == "partial":
        return f"at least {money(tally.cost)}"
    return money(tally.cost)


def when(start: int, width: str) -> str:
    """A bucket's start as its axis label (UTC)."""
    moment = dt.datetime.fromtimestamp(start, dt.timezone.utc)
    if width == "1d":
        return moment.strftime("%b %d")
    return moment.strftime("%H:%M" if width == "1m" else "%d %H:00")


def _nice(top: float) -> tuple[float, float]:
    """An axis maximum at or above ``top`` and its tick step (1, 2 or 5 times a power of 10)."""
    if top <= 0:
        return 1.0, 0.25
    step = 10.0 ** (len(str(int(top))) - 1) if top >= 1 else 1.0
    while step > top / 2:
        step /= 10
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 5:
            step *= factor
            break
    ticks = -(-top // step)
    return ticks * step, step


def _tick(value: float, step: float) -> str:
    """A dollar tick with as many decimals as its step needs (at least cents)."""
    places = 2
    while places < 8 and round(step, places) != round(step, places + 4):
        places += 1
    return f"${value:,.{places}f}"


def _axis(height: int, top: float, step: float, label: str, unit: str) -> list[str]:
    plot = height - _TOP - _BOTTOM
    parts = [f'<text class="axis-title" x="4" y="12">{esc(label)}</text>']
    value = 0.0
    while value <= top + step / 1000:
        y = _TOP + plot - plot * value / top
        text = _tick(value, step) if unit == "$" else f"{value:,.0f}"
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{esc(text)}</text>"
        )
        value += step
    return parts


def _xlabels(starts: Sequence[int], width: str, height: int) -> list[str]:
    if not starts:
        return []
    slot = (_WIDTH - _LEFT - _RIGHT) / len(starts)
    every = max(1, -(-len(starts) // _LABELS))
    return [
        f'<text class="tick" x="{_LEFT + slot * (at + 0.5):.1f}" y="{height - _BOTTOM + 16}" '
        f'text-anchor="middle">{esc(when(start, width))}</text>'
        for at, start in enumerate(starts)
        if at % every == 0
    ]


def _bucket_title(start: int, width: str, name: str, tally: Tally) -> str:
    return (
        f"{when(start, width)} UTC, {name}: {cost_text(tally)}, "
        f"{tally.requests} requests, {tally.images} images"
    )


def spend_chart(view: View, height: int = 300) -> str:
    """Spend per bucket, stacked by the chosen group; the totals in ``data-`` attributes.

    A bucket with requests without a price gets a ``?`` mark above its bar:
    its bar is the priced part only.
    """
    choice, total = view.choice, view.total
    top, step = _nice(float(max((t.cost for t in view.per_bucket), default=Decimal(0))))
    plot = height - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT - _RIGHT) / max(1, len(view.starts))
    bar = max(1.0, slot * 0.8)
    parts = _axis(height, top, step, "spend (USD)", "$")
    for at, start in enumerate(view.starts):
        x = _LEFT + slot * at + (slot - bar) / 2
        base = float(_TOP + plot)
        for series in view.series:
            tally = series.buckets[at]
            if tally.cost <= 0:
                continue
            tall = plot * float(tally.cost) / top
            base -= tall
            parts.append(
                f'<rect class="bar s{series.index}" x="{x:.2f}" y="{base:.2f}" '
                f'width="{bar:.2f}" height="{tall:.2f}" data-series="{series.index}">'
                f"<title>{esc(_bucket_title(start, choice.width, series.label, tally))}</title>"
                "</rect>"
            )
        unpriced = view.per_bucket[at].unpriced
        if unpriced:
            parts.append(
                f'<text class="unpriced-mark" x="{x + bar / 2:.2f}" y="{base - 4:.2f}" '
                f'text-anchor="middle">?<title>{unpriced} requests without a price: '
                f"{esc(cost_text(view.per_bucket[at]))}</title></text>"
            )
    parts += _xlabels(view.starts, choice.width, height)
    attributes = {
        "data-total-cost": "" if total.state == "unknown" else str(total.cost),
        "data-cost-state": total.state,
        "data-total-requests": str(total.requests),
        "data-total-images": str(total.images),
        "data-unpriced-requests": str(total.unpriced),
        "data-start-time": str(choice.start),
        "data-end-time": str(choice.end),
        "data-bucket-width": choice.width,
        "data-group-by": choice.group,
        "data-buckets": str(len(view.starts)),
    }
    attrs_text = " ".join(f'{name}="{esc(value)}"' for name, value in attributes.items())
    label = f"Spend per bucket by {choice.group}, {cost_text(total)} in all"
    return (
        f'<svg id="spend-chart" class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-label="{esc(label)}" {attrs_text}>{"".join(parts)}</svg>'
    )


def volume_chart(view: View, height: int = 220) -> str:
    """Images and requests per bucket, side by side; the totals in ``data-`` attributes."""
    choice = view.choice
    most = max((max(t.images, t.requests) for t in view.per_bucket), default=0)
    top, step = _nice(float(most))
    step = max(step, 1.0)
    plot = height - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT - _RIGHT) / max(1, len(view.starts))
    bar = max(0.5, slot * 0.4)
    parts = _axis(height, top, step, "images and requests", "")
    for at, start in enumerate(view.starts):
        tally = view.per_bucket[at]
        x = _LEFT + slot * at + slot * 0.1
        for offset, (kind, count) in enumerate(
            (("images", tally.images), ("requests", tally.requests))
        ):
            if not count:
                continue
            tall = plot * count / top
            parts.append(
                f'<rect class="bar {kind}" x="{x + offset * bar:.2f}" y="{_TOP + plot - tall:.2f}" '
                f'width="{bar:.2f}" height="{tall:.2f}"><title>{esc(when(start, choice.width))} '
                f"UTC: {count} {kind}</title></rect>"
            )
    parts += _xlabels(view.starts, choice.width, height)
    return (
        f'<svg id="volume-chart" class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-label="Images and requests per bucket" '
        f'data-total-images="{view.total.images}" data-total-requests="{view.total.requests}">'
        f"{''.join(parts)}</svg>"
    )


def legend(series: Sequence[Series]) -> str:
    """The series' names, colours and totals, as a list."""
    items = []
    for one in series:
        cost = "" if one.total.state == "unknown" else str(one.total.cost)
        flag = f' <span class="flag {esc(one.flag)}">{esc(one.flag)}</span>' if one.flag else ""
        items.append(
            f'<li data-series-name="{esc(one.label)}" data-series-cost="{esc(cost)}" '
            f'data-series-state="{esc(one.total.state)}">'
            f'<span class="swatch s{one.index}"></span>{esc(one.label)}{flag} '
            f'<span class="amount">{esc(cost_text(one.total))}</span></li>'
        )
    return f'<ul class="legend" id="legend">{"".join(items)}</ul>'
