"""What the dashboard shows, read from ``reports.usage()``: the viewer's choice and its numbers.

Every number on the page comes from usage pages of the query module: the
chart's series from one query grouped by the dimension the viewer picked,
the top users and projects from queries grouped by them, the models from
one grouped by model (and provider, when that is a dimension). They are
only added up here, bucket by bucket and result by result, as the pages
give them: a request without a price adds to the requests, the images and
the unpriced requests, never to the cost.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Protocol

import attrs

from aievents.exceptions import QueryError
from aievents.money import EXACT
from aievents.pricing import PriceBook
from aievents.query import DIMENSIONS, LIMITS, ImagesResult, Page

__all__ = [
    "FILTERS",
    "GROUPS",
    "PARAMETERS",
    "RANGES",
    "Choice",
    "ModelRow",
    "Reports",
    "Series",
    "Tally",
    "View",
    "choose",
    "view",
]

#: The time ranges offered: name -> (seconds, default bucket width).
RANGES: Final[Mapping[str, tuple[int, str]]] = {
    "1h": (3600, "1m"),
    "24h": (86400, "1h"),
    "7d": (7 * 86400, "1d"),
    "30d": (30 * 86400, "1d"),
    "90d": (90 * 86400, "1d"),
}
_WIDTHS: Final[Mapping[str, int]] = {"1m": 60, "1h": 3600, "1d": 86400}
#: The groupings of the spend chart, in this order, those that are query dimensions.
GROUPS: Final = tuple(
    name for name in ("model", "provider", "project_id", "user_id") if name in DIMENSIONS
)
#: The filters of the filter bar: query parameter (as the usage query names it).
FILTERS: Final = ("models", "project_ids", "user_ids")
#: The most buckets a chart draws; a finer width is widened to fit.
MAX_BUCKETS: Final = 1440
#: Series drawn apart in the chart; the rest are drawn together as "other".
MAX_SERIES: Final = 8
#: Rows in the top users and top projects tables.
TOP: Final = 10


class Reports(Protocol):
    """What the dashboard reads: ``usage()`` as the sinks that answer queries have it."""

    def usage(
        self,
        start_time: int | dt.datetime,
        end_time: int | dt.datetime | None = None,
        bucket_width: Any = "1d",
        group_by: Sequence[str] | None = None,
        **filters: Any,
    ) -> Page:
        """Images usage like OpenAI's endpoint (:func:`aievents.query.usage`)."""


@attrs.frozen(kw_only=True)
class Choice:
    """What the viewer asked for: a range, a bucket width, a grouping and filters.

    ``width`` is the width drawn; ``picked`` the one the viewer asked for
    (``""``: none, the range's own). The range shown runs from ``start``
    to ``end``: whole buckets that hold the last ``range`` up to now.
    """

    range: str = "7d"
    width: str = "1d"
    picked: str = ""
    group: str = "model"
    filters: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    start: int = 0
    end: int = 0
    note: str = ""

    @property
    def buckets(self) -> int:
        """How many buckets the range holds."""
        return (self.end - self.start) // _WIDTHS[self.width]


def _error(field: str, value: Any, reason: str) -> QueryError:
    return QueryError(field, value, reason, owner="dashboard")


#: The parameters of the page's URL; ``name[]`` is taken for ``name`` (as OpenAI's API does).
PARAMETERS: Final = ("range", "width", "group", *FILTERS)


def _params(query: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The query string's values by parameter, checked: no unknown name, no NUL."""
    found: dict[str, list[str]] = {name: [] for name in PARAMETERS}
    for raw, value in query:
        name = raw[:-2] if raw.endswith("[]") and raw[:-2] in FILTERS else raw
        if name not in found:
            raise _error(
                raw, value, f"is not a parameter of the dashboard ({', '.join(PARAMETERS)})"
            )
        if "\x00" in value:
            raise _error(name, value, "must not hold a NUL character")
        found[name].append(value)
    return found


def choose(query: Iterable[tuple[str, str]], now: float) -> Choice:
    """The viewer's choice from the query string (its ``(name, value)`` pairs), checked.

    The range covers the whole span its name says: from the bucket that
    holds ``now`` minus the span to the bucket that holds ``now``, both
    drawn whole (one bucket more than the span holds, unless ``now`` is on
    a bucket's edge). No width (or an empty one) is the range's own. A
    width wider than the range gives way to the range's own, and one that
    would draw more than :data:`MAX_BUCKETS` buckets is widened; ``note``
    says so.

    Raises:
        QueryError: a parameter is unknown or wrong; it is named, with its value.
    """
    params = _params(query)

    def one(name: str, default: str, allowed: Iterable[str]) -> str:
        values = [value for value in params[name] if value]
        if len(values) > 1:
            raise _error(name, values, "must be given once")
        value = values[0] if values else default
        if value not in allowed:
            raise _error(name, value, f"must be one of {', '.join(allowed)}")
        return value

    span_name = one("range", "7d", RANGES)
    span, default_width = RANGES[span_name]
    picked = one("width", "", ("", *_WIDTHS))
    width = picked or default_width
    note = ""
    if _WIDTHS[width] > span:
        note = f"{width} buckets are wider than {span_name}: shown in {default_width} buckets"
        width = default_width
    while span // _WIDTHS[width] > MAX_BUCKETS:
        wider = "1h" if width == "1m" else "1d"
        note = f"{span_name} in {width} buckets would be {span // _WIDTHS[width]} buckets: "
        note += f"shown in {wider} buckets"
        width = wider
    group = one("group", GROUPS[0], GROUPS)
    filters = {name: tuple(dict.fromkeys(v for v in params[name] if v)) for name in FILTERS}
    step = _WIDTHS[width]
    start = (math.floor(now) - span) // step * step
    end = -(-math.ceil(now) // step) * step
    return Choice(
        range=span_name,
        width=width,
        picked=picked,
        group=group,
        filters={name: values for name, values in filters.items() if values},
        start=start,
        end=end,
        note=note,
    )


@attrs.define
class Tally:
    """Requests, images and cost added up from usage results.

    ``cost`` is the priced part; ``unpriced`` counts the requests without a
    price, whose cost is unknown (so ``cost`` is then a lower bound).
    """

    requests: int = 0
    images: int = 0
    cost: Decimal = Decimal(0)
    unpriced: int = 0

    def add(self, other: Tally | ImagesResult) -> None:
        """Add a result (or another tally) to this one."""
        if isinstance(other, Tally):
            self.requests += other.requests
            self.images += other.images
            self.cost = EXACT.add(self.cost, other.cost)
            self.unpriced += other.unpriced
            return
        self.requests += other.num_model_requests
        self.images += other.images
        if other.cost is not None:  # exact, whatever context the application set
            self.cost = EXACT.add(self.cost, other.cost)
        self.unpriced += other.unpriced_requests

    @property
    def state(self) -> str:
        """``known`` (every request priced), ``partial`` (a lower bound) or ``unknown``.

        ``unknown`` when no request is priced at all; a request whose tokens
        are priced in part is unpriced, yet its priced part is a lower bound.
        """
        if self.unpriced == 0:
            return "known"
        return "unknown" if self.unpriced >= self.requests and not self.cost else "partial"

    def rank(self) -> tuple[Decimal, int, int]:
        """Larger first: by the priced cost, then requests, then images."""
        return (-self.cost, -self.requests, -self.images)


@attrs.frozen(kw_only=True)
class Series:
    """One stacked series of the chart: a group's tally per bucket."""

    key: str | None  # the group's value (None: not set); "" for the other groups together
    label: str
    index: int  # its colour
    buckets: tuple[Tally, ...]
    total: Tally
    flag: str = ""  # "retired" or "deprecated" for a model


@attrs.frozen(kw_only=True)
class ModelRow:
    """A model used in the range: its usage and where its price and lifecycle stand."""

    model: str | None
    provider: str | None
    tally: Tally
    # The lifecycle in the server's price table: "current", "deprecated", "shutdown",
    # "upcoming", or "" (not in the table). Whether it is priced is the tally's own.
    status: str
    deprecated: dt.date | None = None
    shutdown: dt.date | None = None
    successor: str | None = None


@attrs.frozen(kw_only=True)
class View:
    """Everything the page draws."""

    choice: Choice
    starts: tuple[int, ...]
    series: tuple[Series, ...]
    per_bucket: tuple[Tally, ...]
    total: Tally
    top_users: tuple[tuple[str | None, Tally], ...]  # every user, the largest first
    top_projects: tuple[tuple[str | None, Tally], ...]  # every project, the largest first
    models: tuple[ModelRow, ...]  # every model, the largest first
    options: Mapping[str, tuple[str, ...]]  # every value (none for the report alone)
    today: dt.date


def _buckets(
    reports: Reports, choice: Choice, group_by: Sequence[str], *, filtered: bool = True
) -> list[tuple[int, tuple[ImagesResult, ...]]]:
    """Every bucket of the range, page after page: (start, results)."""
    found: list[tuple[int, tuple[ImagesResult, ...]]] = []
    filters = dict(choice.filters) if filtered else {}
    cursor: str | None = None
    while True:
        page = reports.usage(
            choice.start,
            choice.end,
            choice.width,
            list(group_by),
            limit=LIMITS[choice.width][1],
            page=cursor,
            **filters,
        )
        for bucket in page.data:
            results = tuple(r for r in bucket.results if isinstance(r, ImagesResult))
            found.append((bucket.start_time, results))
        cursor = page.next_page
        if not page.has_more or cursor is None:
            return found


def _by_group(reports: Reports, choice: Choice, name: str) -> dict[str | None, Tally]:
    """Each value of dimension ``name``, its tally over the range (filtered)."""
    tallies: dict[str | None, Tally] = {}
    for _, results in _buckets(reports, choice, [name]):
        for result in results:
            tallies.setdefault(getattr(result, name), Tally()).add(result)
    return tallies


def _top(tallies: Mapping[str | None, Tally]) -> tuple[tuple[str | None, Tally], ...]:
    """Every value, the largest first (the page shows the first :data:`TOP`)."""
    return tuple(sorted(tallies.items(), key=lambda item: (item[1].rank(), item[0] or "")))


def _label(value: str | None) -> str:
    return "(not set)" if value is None else value


def _series(
    found: list[tuple[int, tuple[ImagesResult, ...]]], group: str, flags: Mapping[str, str]
) -> tuple[tuple[Series, ...], tuple[Tally, ...], Tally]:
    """The chart's series (the largest apart, the rest as "other"), bucket tallies, total."""
    count = len(found)
    per_group: dict[str | None, list[Tally]] = {}
    per_bucket = [Tally() for _ in range(count)]
    total = Tally()
    for at, (_, results) in enumerate(found):
        for result in results:
            key = getattr(result, group)
            per_group.setdefault(key, [Tally() for _ in range(count)])[at].add(result)
            per_bucket[at].add(result)
            total.add(result)
    totals: dict[str | None, Tally] = {}
    for key, tallies in per_group.items():
        totals[key] = Tally()
        for tally in tallies:
            totals[key].add(tally)
    order = sorted(per_group, key=lambda key: (totals[key].rank(), key is None, key or ""))
    apart = order if len(order) <= MAX_SERIES + 1 else order[:MAX_SERIES]
    series = [
        Series(
            key=key,
            label=_label(key),
            index=index,
            buckets=tuple(per_group[key]),
            total=totals[key],
            flag=flags.get(key, "") if key is not None else "",
        )
        for index, key in enumerate(apart)
    ]
    rest = order[len(apart) :]
    if rest:
        merged = [Tally() for _ in range(count)]
        merged_total = Tally()
        for key in rest:
            for at, tally in enumerate(per_group[key]):
                merged[at].add(tally)
            merged_total.add(totals[key])
        series.append(
            Series(
                key="",
                label=f"other ({len(rest)})",
                index=MAX_SERIES,
                buckets=tuple(merged),
                total=merged_total,
            )
        )
    return tuple(series), tuple(per_bucket), total


def _models(
    reports: Reports, choice: Choice, prices: PriceBook, today: dt.date
) -> tuple[ModelRow, ...]:
    """The models used in the range (filtered), with their price's lifecycle."""
    names = ["model", "provider"] if "provider" in DIMENSIONS else ["model"]
    tallies: dict[tuple[str | None, str | None], Tally] = {}
    for _, results in _buckets(reports, choice, names):
        for result in results:
            key = (result.model, getattr(result, "provider", None))
            tallies.setdefault(key, Tally()).add(result)
    rows = []
    for (model, provider), tally in tallies.items():
        price = None if model is None else prices.lookup(model, provider)
        rows.append(
            ModelRow(
                model=model,
                provider=provider,
                tally=tally,
                status="" if price is None else price.status(today),
                deprecated=None if price is None else price.deprecated,
                shutdown=None if price is None else price.shutdown,
                successor=None if price is None else price.successor,
            )
        )
    rows.sort(key=lambda row: (row.tally.rank(), row.model or "", row.provider or ""))
    return tuple(rows)


def _options(reports: Reports, choice: Choice) -> dict[str, tuple[str, ...]]:
    """The values each filter offers: those used in the range, whatever the filters."""
    seen: dict[str, set[str]] = {name: set() for name in FILTERS}
    dims = {"models": "model", "project_ids": "project_id", "user_ids": "user_id"}
    for _, results in _buckets(reports, choice, list(dims.values()), filtered=False):
        for result in results:
            for name, dim in dims.items():
                value = getattr(result, dim)
                if value is not None:
                    seen[name].add(value)
    for name, chosen in choice.filters.items():
        seen[name].update(chosen)  # a chosen value stays offered when it has no usage
    return {name: tuple(sorted(values)) for name, values in seen.items()}


def view(
    reports: Reports, choice: Choice, prices: PriceBook, now: float, *, options: bool = True
) -> View:
    """What the page draws for ``choice``, read from ``reports``.

    ``options=False`` leaves the filter bar's values out (the report alone
    does not show them), saving their query.

    Raises:
        QueryError: the reports refused the query.
    """
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    models = _models(reports, choice, prices, today)
    flags: dict[str, str] = {}
    if choice.group == "model":
        for row in models:
            if row.model is not None and row.status in ("shutdown", "deprecated"):
                flags[row.model] = "retired" if row.status == "shutdown" else "deprecated"
    found = _buckets(reports, choice, [choice.group])
    series, per_bucket, total = _series(found, choice.group, flags)
    return View(
        choice=choice,
        starts=tuple(start for start, _ in found),
        series=series,
        per_bucket=per_bucket,
        total=total,
        top_users=_top(_by_group(reports, choice, "user_id")),
        top_projects=_top(_by_group(reports, choice, "project_id")),
        models=models,
        options=_options(reports, choice) if options else {},
        today=today,
    )
