"""OpenAI's usage and costs semantics, implemented once for every store.

:func:`usage` answers like ``GET /v1/organization/usage/images`` and
:func:`costs` like ``GET /v1/organization/costs``: UTC-aligned buckets of
``1m``, ``1h`` or ``1d``; ``start_time`` inclusive and ``end_time``
exclusive; ``group_by`` with the fields not grouped by left ``null``; the
filters; ``limit`` defaults and maxima per width; opaque ``page`` cursors; and
empty buckets with ``results: []``, as OpenAI returns them.

Usage is counted at minute resolution: a minute belongs to a query's range
when its first second does (``start_time`` and ``end_time`` that are not
whole minutes act as if rounded up to one). Bucket edges are whole minutes,
so an event exactly on an edge lands in the later bucket.

Where the numbers come from is a :class:`Source`: it sums the usage of the
events in a time range into ``(bucket start, group, totals)`` rows. The
:class:`~aievents.sinks.AggregateSink` sums in memory; a SQL store sums in
SQL. Both answer through this module, so they answer alike.

Besides OpenAI's fields, image results carry token sums and the cost; cost
results name the model and kind of each line item.

Usage also groups and filters by ``provider`` and ``quality``, an extension:
OpenAI's images usage groups only by model, size, source, project, user and
API key. Its results carry ``provider`` and ``quality`` (``null`` when not
grouped by them) beside OpenAI's fields.

Costs also group and filter by :data:`COST_EXTENSIONS` (``model``,
``user_id``, ``provider``), an extension: OpenAI's group only by project,
line item and key. :func:`spend` (an extension too) sums usage's pages.

A request whose cost is unknown (a model without a price) or incomplete
(tokens without a rate) is still counted, and counted again in
``unpriced_requests``. Its cost is never shown as 0: an image result's
``cost`` is ``None`` (JSON ``null``) when nothing of it is priced, and a
lower bound when ``unpriced_requests`` is above 0; on a costs page the
unpriced requests are a result of their own with no ``amount`` at all.

The cost summed is the one aievents computed from its prices (``cost=
"computed"``, the default), or the one providers and gateways reported
(``cost="reported"``, OpenRouter's ``cost``, TanStack's ``usage.cost``):
never the two added up. Every page and result says which
(``cost_source``). Reported, a result's ``cost`` is ``None`` when no
request of it reported a cost, and a lower bound when
``reported_requests`` is below ``num_model_requests``; on a costs page the
requests without a reported cost are a result of their own, counted in
``unreported_requests`` (its line item ``<model>, not reported``).
``unpriced_requests`` always means "no price".
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from aievents.events import OPERATIONS
from aievents.exceptions import QueryError
from aievents.money import EXACT
from aievents.query._display import HTML_ROWS
from aievents.query._pages import (
    COST_SOURCES,
    Bucket,
    CostsResult,
    ImagesResult,
    Page,
)
from aievents.query._params import (
    COSTS_LIMITS,
    LIMITS,
    WIDTHS,
    error,
    filter_sets,
    instant,
    minute_up,
    names,
    page_size,
    paged,
    query_hash,
    window,
)
from aievents.query._results import Sums, group_results, images_results, line_results
from aievents.query._scan import COST_GROUPS, DIMENSIONS, USAGE_GROUPS, Row, Scan, Source
from aievents.query._spend import SINCE_NAMES, Spend, summed
from aievents.totals import FIELDS, add_into, new_totals

#: The dimensions costs group and filter by beyond OpenAI's (which groups
#: costs by project_id, line_item and api_key_id only): an extension.
COST_EXTENSIONS: Final = frozenset({"model", "user_id", "provider"}) & frozenset(DIMENSIONS)
#: The filter of each dimension a query takes (``models=[...]``).
_PLURALS: Final = {"model": "models", "user_id": "user_ids", "provider": "providers"}

__all__ = [
    "COSTS_LIMITS",
    "COST_EXTENSIONS",
    "COST_GROUPS",
    "COST_SOURCES",
    "DIMENSIONS",
    "FIELDS",
    "HTML_ROWS",
    "LIMITS",
    "SINCE_NAMES",
    "USAGE_GROUPS",
    "Bucket",
    "CostsResult",
    "ImagesResult",
    "Page",
    "QueryError",
    "Reports",
    "Row",
    "Scan",
    "Source",
    "Spend",
    "costs",
    "instant",
    "minute_up",
    "new_totals",
    "spend",
    "usage",
]


def _sum_rows(rows: Iterable[Row]) -> dict[int, Sums]:
    """The rows added up by bucket and group."""
    buckets: dict[int, Sums] = {}
    with decimal.localcontext(EXACT):  # whatever context the application set
        for bucket, key, totals in rows:
            groups = buckets.setdefault(bucket, {})
            total = groups.get(key)
            if total is None:
                groups[key] = list(totals)
            else:
                add_into(total, totals)
    return buckets


def _answer(
    source: Source,
    kind: str,
    *,
    times: tuple[Any, Any, float | None],
    width: int,
    count: int,
    page: Any,
    grouping: tuple[Sequence[str], Sequence[str], Mapping[str, frozenset[str]]],
    render: Callable[[Sums, str], tuple[ImagesResult | CostsResult, ...]],
    cost: str,
) -> Page:
    """A page: window, cursor, one scan of the source, then each bucket's sums rendered.

    ``times`` is (start_time, end_time, now); ``grouping`` is (the query's
    group_by, the dimensions to scan by, the filters); ``render`` makes a
    bucket's results of its sums by group and the cost summed (``cost``).
    """
    start_time, end_time, now = times
    groups, scan_groups, filters = grouping
    first, start, end = window(start_time, end_time, width, now)
    digest = query_hash(
        kind, [start, end if end_time is not None else None, width, sorted(groups), filters]
    )
    begin, stop, next_page = paged(digest, (first, end), width, count, page)
    scan = Scan(
        start=minute_up(max(begin, start)),
        end=minute_up(stop),
        window=(minute_up(start), minute_up(end)),
        open_end=end_time is None,
        width=width,
        group_by=tuple(name for name in DIMENSIONS if name in scan_groups),
        filters=filters,
    )
    sums = _sum_rows(source.scan(scan))
    data = tuple(
        Bucket(start_time=start, end_time=start + width, results=render(sums.get(start, {}), cost))
        for start in range(begin, stop, width)
    )
    return Page(
        data=data,
        has_more=next_page is not None,
        next_page=next_page,
        cost_source=cost,
        kind=kind,
        group_by=tuple(groups),
    )


def _cost_source(cost: Any) -> str:
    """The cost a report sums, checked: ``computed`` or ``reported``."""
    if not isinstance(cost, str) or cost not in COST_SOURCES:
        raise error("cost", cost, "must be 'computed' or 'reported'")
    return cost


def usage(
    source: Source,
    *,
    start_time: int | dt.datetime,
    end_time: int | dt.datetime | None = None,
    bucket_width: Literal["1m", "1h", "1d"] = "1d",
    group_by: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    sizes: Sequence[str] | None = None,
    project_ids: Sequence[str] | None = None,
    user_ids: Sequence[str] | None = None,
    api_key_ids: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    providers: Sequence[str] | None = None,
    qualities: Sequence[str] | None = None,
    limit: int | None = None,
    page: str | None = None,
    now: float | None = None,
    cost: Literal["computed", "reported"] = "computed",
) -> Page:
    """Images usage, as OpenAI's ``GET /v1/organization/usage/images`` answers it.

    Args:
        source: Where the usage is summed.
        start_time: Unix seconds or an aware datetime, inclusive.
        end_time: Unix seconds or an aware datetime, exclusive; now when
            omitted.
        bucket_width: ``1m``, ``1h`` or ``1d``; buckets are aligned to UTC.
        group_by: Any of ``model``, ``size``, ``source``, ``project_id``,
            ``user_id``, ``api_key_id``, and, an extension not in OpenAI's
            API, ``provider`` and ``quality``.
        sources: Only these operations (``image.generation``, ``image.edit``,
            ``image.variation``).
        sizes: Only these sizes.
        project_ids: Only these projects.
        user_ids: Only these users.
        api_key_ids: Only these API keys.
        models: Only these models.
        providers: Only these providers (``openai``, ``google``...); an
            extension, not in OpenAI's API.
        qualities: Only these quality tiers (``low``, ``high``, ``hd``...);
            an extension, not in OpenAI's API.
        limit: Buckets per page (1d: default 7, at most 31; 1h: 24, 168;
            1m: 60, 1440).
        page: The ``next_page`` cursor of the previous page.
        now: The current time in seconds, for an omitted ``end_time``.
        cost: The cost each result's ``cost`` sums: ``computed`` (from the
            prices, the default) or ``reported`` (by the providers).

    Raises:
        QueryError: a parameter is wrong; it is named.
    """
    source_of_cost = _cost_source(cost)
    if bucket_width not in WIDTHS:
        raise error("bucket_width", bucket_width, "must be '1m', '1h' or '1d'")
    width = WIDTHS[bucket_width]
    groups = names("group_by", group_by, USAGE_GROUPS)
    filters = filter_sets(
        source=names("sources", sources, frozenset(OPERATIONS)),
        size=names("sizes", sizes),
        project_id=names("project_ids", project_ids),
        user_id=names("user_ids", user_ids),
        api_key_id=names("api_key_ids", api_key_ids),
        model=names("models", models),
        provider=names("providers", providers),
        quality=names("qualities", qualities),
    )
    default, maximum = LIMITS[bucket_width]
    count = page_size(limit, default, maximum, bucket_width)
    return _answer(
        source,
        "usage",
        times=(start_time, end_time, now),
        width=width,
        count=count,
        page=page,
        grouping=(groups, groups, filters),
        render=images_results,
        cost=source_of_cost,
    )


def costs(
    source: Source,
    *,
    start_time: int | dt.datetime,
    end_time: int | dt.datetime | None = None,
    bucket_width: Literal["1d"] = "1d",
    group_by: Sequence[str] | None = None,
    project_ids: Sequence[str] | None = None,
    api_key_ids: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    user_ids: Sequence[str] | None = None,
    providers: Sequence[str] | None = None,
    limit: int | None = None,
    page: str | None = None,
    now: float | None = None,
    cost: Literal["computed", "reported"] = "computed",
) -> Page:
    """Costs, as OpenAI's ``GET /v1/organization/costs`` answers them.

    ``start_time``, ``end_time``, ``page``, ``now`` and ``cost`` are as for
    :func:`usage`. Reported, a line item is a model's reported amount
    (``gpt-image-2, reported``, its quantity the requests that reported it).

    Args:
        source: Where the usage is summed.
        bucket_width: Only ``1d``.
        group_by: Any of ``project_id``, ``line_item``, ``api_key_id``. By
            line item, each result names a model and a kind (``gpt-image-1,
            output image tokens``) with its ``quantity`` and ``quantity_unit``.
            Extensions (:data:`COST_EXTENSIONS`): ``model``, ``user_id`` and
            ``provider`` (where it is a dimension); each result names its
            value in the field of that name. With ``line_item`` they split
            each model's line items further (by ``model``: the same items,
            the model also named in ``model``).
        project_ids: Only these projects.
        api_key_ids: Only these API keys.
        models: Only these models (an extension).
        user_ids: Only these users (an extension).
        providers: Only these providers (an extension, where ``provider``
            is a dimension).
        limit: Buckets per page, 1 to 180 (default 7).

    Raises:
        QueryError: a parameter is wrong; it is named.
    """
    if bucket_width != "1d":
        raise error("bucket_width", bucket_width, "must be '1d' for costs")
    source_of_cost = _cost_source(cost)
    width = WIDTHS["1d"]
    groups = names("group_by", group_by, COST_GROUPS | COST_EXTENSIONS)
    given = {"models": models, "user_ids": user_ids, "providers": providers}
    filters = filter_sets(
        project_id=names("project_ids", project_ids),
        api_key_id=names("api_key_ids", api_key_ids),
        **{name: names(_PLURALS[name], given[_PLURALS[name]]) for name in COST_EXTENSIONS},
    )
    count = page_size(limit, *COSTS_LIMITS, "1d")
    by_line = "line_item" in groups
    named = tuple(name for name in DIMENSIONS if name in groups)  # the fields results name
    scan_groups = set(named) | ({"model"} if by_line else set())
    render = line_results if by_line else group_results
    return _answer(
        source,
        "costs",
        times=(start_time, end_time, now),
        width=width,
        count=count,
        page=page,
        grouping=(groups, tuple(scan_groups), filters),
        render=lambda found, how: render(found, how, named),
        cost=source_of_cost,
    )


def spend(
    source: Source,
    *,
    user_id: str | None = None,
    project_id: str | None = None,
    api_key_id: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    since: int | dt.datetime | dt.date | Literal["today", "week", "month"] = "month",
    until: int | dt.datetime | dt.date | None = None,
    cost: Literal["computed", "reported"] = "computed",
    now: float | None = None,
) -> Spend:
    """What was spent since a time, by a user, project, key or model (an extension).

    "What has this user spent this month": ``spend(sink, user_id="u1")``.
    The sum of :func:`usage`'s pages for the filters given (every page,
    following ``next_page``), so it counts as usage and costs do: every
    request, priced or not; an amount that is a lower bound when some
    request has no price (:attr:`Spend.partial`), ``None`` when none has.
    Counted by whole minutes: ``since`` and ``until`` are rounded up to a
    minute, and the :class:`Spend` gives the minutes actually counted.

    Args:
        source: Where the usage is summed.
        user_id: Only this user's requests.
        project_id: Only this project's.
        api_key_id: Only this API key's.
        model: Only this model's.
        provider: Only this provider's (where ``provider`` is a dimension).
        since: The first instant counted: ``"today"``, ``"week"`` or
            ``"month"`` (the start of the current UTC day, ISO week from
            Monday, or month: "current" as of ``now``), Unix seconds, an
            aware datetime, or a date (its 00:00 UTC). Default ``"month"``.
        until: The first instant not counted (the same kinds, no names);
            now when omitted.
        cost: ``computed`` (from the prices, the default) or ``reported``.
        now: The current time in seconds (the clock by default).

    Raises:
        QueryError: a parameter is wrong; it is named.
    """
    _cost_source(cost)
    filters = {"user_id": user_id, "project_id": project_id, "api_key_id": api_key_id}
    filters |= {"model": model, "provider": provider}
    return summed(usage, source, filters=filters, span=(since, until), cost=cost, now=now)


class Reports:
    """``usage()``, ``costs()`` and ``spend()`` for a :class:`Source` with a ``_clock``.

    Mixed into the sinks that answer queries, so that they answer alike.
    """

    _clock: Callable[[], float]

    def scan(self, scan: Scan) -> Iterable[Row]:
        """Sum the usage for a query (see :class:`Source`)."""
        raise NotImplementedError

    def usage(
        self,
        start_time: int | dt.datetime,
        end_time: int | dt.datetime | None = None,
        bucket_width: Literal["1m", "1h", "1d"] = "1d",
        group_by: Sequence[str] | None = None,
        **filters: Any,
    ) -> Page:
        """Images usage like OpenAI's endpoint; see :func:`aievents.query.usage`.

        ``filters`` are :func:`~aievents.query.usage`'s (``models``,
        ``sources``... and the extensions ``providers`` and ``qualities``).
        """
        return usage(self, **self._asked(start_time, end_time, bucket_width, group_by, filters))

    def costs(
        self,
        start_time: int | dt.datetime,
        end_time: int | dt.datetime | None = None,
        bucket_width: Literal["1d"] = "1d",
        group_by: Sequence[str] | None = None,
        **filters: Any,
    ) -> Page:
        """Costs like OpenAI's endpoint; see :func:`aievents.query.costs`."""
        return costs(self, **self._asked(start_time, end_time, bucket_width, group_by, filters))

    def spend(
        self,
        *,
        user_id: str | None = None,
        project_id: str | None = None,
        api_key_id: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        since: int | dt.datetime | dt.date | Literal["today", "week", "month"] = "month",
        until: int | dt.datetime | dt.date | None = None,
        cost: Literal["computed", "reported"] = "computed",
        now: float | None = None,
    ) -> Spend:
        """What was spent since a time (an extension); see :func:`aievents.query.spend`.

        ``now`` is this source's clock unless given.
        """
        return spend(
            self,
            user_id=user_id,
            project_id=project_id,
            api_key_id=api_key_id,
            model=model,
            provider=provider,
            since=since,
            until=until,
            cost=cost,
            now=self._clock() if now is None else now,
        )

    def _asked(
        self, start: Any, end: Any, width: Any, group_by: Any, filters: dict[str, Any]
    ) -> dict[str, Any]:
        """A query's arguments, with this source's clock for "now"."""
        return {
            "start_time": start,
            "end_time": end,
            "bucket_width": width,
            "group_by": group_by,
            "now": self._clock(),
            **filters,
        }
