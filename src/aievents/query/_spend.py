"""What was spent since a time: :class:`Spend`, summed from usage pages (an extension)."""

from __future__ import annotations

import datetime as dt
import decimal
import html
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

from aievents.exceptions import QueryError
from aievents.money import EXACT
from aievents.query._display import plain
from aievents.query._pages import ImagesResult, Page
from aievents.query._params import LIMITS, error, instant, minute_up

__all__ = ["SINCE_NAMES", "Spend", "since_seconds", "summed"]

#: The calendar starts ``since`` takes by name (UTC).
SINCE_NAMES: Final = ("today", "week", "month")
_UTC: Final = dt.timezone.utc


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


@attrs.frozen(kw_only=True, repr=False)
class Spend:
    """What was spent in ``[since, until)``: an extension beside OpenAI's usage API.

    Attributes:
        amount: The cost summed, exact; ``None`` when requests were made
            but none of them has a known cost (never a made-up $0); ``0``
            when no request was made. A lower bound when :attr:`partial`.
        currency: ``usd``, as OpenAI's amounts.
        requests: Every request of the time range, priced or not.
        images: The images they produced.
        unpriced_requests: Requests without a price (their cost, or part of
            it, is not in ``amount``); 0 when summing the reported cost.
        unreported_requests: Summing the reported cost, the requests that
            reported none; 0 when summing the computed cost.
        cost_source: ``computed`` (from the prices) or ``reported`` (by the
            providers).
        since: The first instant counted (UTC): usage is counted by whole
            minutes, so this is the ``since`` asked rounded up to a minute.
        until: The first instant not counted (UTC): the ``until`` asked (or
            now) rounded up to a minute, as counted.
    """

    amount: Decimal | None
    currency: str = "usd"
    requests: int
    images: int
    unpriced_requests: int = 0
    unreported_requests: int = 0
    cost_source: str = "computed"
    since: dt.datetime
    until: dt.datetime

    @property
    def partial(self) -> bool:
        """Whether some request's cost is missing from ``amount`` (a lower bound, or None)."""
        return bool(self.unpriced_requests or self.unreported_requests)

    @property
    def figure(self) -> str:
        """The amount as read: ``$0.04``, ``at least $0.04`` when partial, or ``unknown``."""
        if self.amount is None:
            return "unknown"
        shown = f"${plain(self.amount)}"
        return f"at least {shown}" if self.partial else shown

    def _missing(self) -> str:
        if self.unpriced_requests:
            return f"{_plural(self.unpriced_requests, 'request')} without a price"
        if self.unreported_requests:
            return f"{_plural(self.unreported_requests, 'request')} without a reported cost"
        return ""

    def _span(self) -> str:
        return f"{self.since:%Y-%m-%d %H:%M:%S} to {self.until:%Y-%m-%d %H:%M:%S} UTC"

    def __str__(self) -> str:
        missing = self._missing()
        return (
            f"{self.figure} ({self.cost_source}) for {_plural(self.requests, 'request')}, "
            f"{_plural(self.images, 'image')}, {self._span()}" + (f"; {missing}" if missing else "")
        )

    def __repr__(self) -> str:
        return (
            f"Spend({self.figure}, requests={self.requests}, images={self.images}, "
            f"unpriced_requests={self.unpriced_requests}, "
            f"unreported_requests={self.unreported_requests}, "
            f"cost_source={self.cost_source!r}, since={self.since.isoformat()!r}, "
            f"until={self.until.isoformat()!r})"
        )

    def _repr_html_(self) -> str:
        """A small HTML table, as Jupyter shows it (every value escaped)."""
        rows = [
            (f"spent ({self.cost_source})", self.figure),
            ("requests", f"{self.requests:,}"),
            ("images", f"{self.images:,}"),
        ]
        missing = self._missing()
        if missing:
            rows.append(("cost unknown for", missing))
        rows.append(("from", f"{self.since:%Y-%m-%d %H:%M:%S} UTC"))
        rows.append(("to", f"{self.until:%Y-%m-%d %H:%M:%S} UTC"))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
            f"<td style='text-align:right'>{html.escape(value)}</td></tr>"
            for name, value in rows
        )
        return f"<table class='aievents-spend'>{body}</table>"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``amount`` is the exact amount as a string (``null`` when unknown)."""
        return {
            "object": "aievents.spend",
            "amount": None if self.amount is None else plain(self.amount),
            "currency": self.currency,
            "partial": self.partial,
            "requests": self.requests,
            "images": self.images,
            "unpriced_requests": self.unpriced_requests,
            "unreported_requests": self.unreported_requests,
            "cost_source": self.cost_source,
            "since": int(self.since.timestamp()),
            "until": int(self.until.timestamp()),
        }


def since_seconds(since: Any, now: float) -> int:
    """Unix seconds of ``since``: a calendar start by name (UTC), seconds, a datetime or a date.

    ``today`` is today's 00:00 UTC, ``week`` this week's Monday 00:00 UTC,
    ``month`` the 1st of this month 00:00 UTC; "this" is ``now``'s.
    """
    if isinstance(since, str):
        if since not in SINCE_NAMES:
            reason = "must be 'today', 'week', 'month', Unix seconds, an aware datetime or a date"
            raise error("since", since, reason)
        day = dt.datetime.fromtimestamp(int(now), _UTC).replace(hour=0, minute=0, second=0)
        if since == "week":
            day -= dt.timedelta(days=day.weekday())
        elif since == "month":
            day = day.replace(day=1)
        return int(day.timestamp())
    return instant("since", since)


def single(name: str, value: Any) -> tuple[str, ...] | None:
    """A filter of one value (``user_id="u"``) as a query's list; ``None`` when not given."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise error(name, value, "must be a non-empty string")
    return (value,)


def total(pages: Iterable[Page], cost: str, span: tuple[int, int]) -> Spend:
    """The :class:`Spend` of every result of usage ``pages`` (ungrouped) in ``span`` (seconds)."""
    requests = images = unpriced = unreported = 0
    amount: Decimal | None = None
    with decimal.localcontext(EXACT):
        for page in pages:
            for bucket in page.data:
                for result in bucket.results:
                    assert isinstance(result, ImagesResult), "spend sums usage pages"
                    requests += result.num_model_requests
                    images += result.images
                    if cost == "reported":
                        unreported += result.num_model_requests - result.reported_requests
                    else:
                        unpriced += result.unpriced_requests
                    if result.cost is not None:
                        amount = result.cost if amount is None else amount + result.cost
    if amount is None and not requests:
        amount = Decimal(0)  # nothing was asked for: nothing was spent
    since, until = (dt.datetime.fromtimestamp(moment, _UTC) for moment in span)
    return Spend(
        amount=amount,
        requests=requests,
        images=images,
        unpriced_requests=unpriced,
        unreported_requests=unreported,
        cost_source=cost,
        since=since,
        until=until,
    )


#: The filter of each dimension a query takes.
_PLURALS: Final = {
    "user_id": "user_ids",
    "project_id": "project_ids",
    "api_key_id": "api_key_ids",
    "model": "models",
    "provider": "providers",
}


def summed(
    usage: Callable[..., Page],
    source: Any,
    *,
    filters: Mapping[str, Any],
    span: tuple[Any, Any],
    cost: str,
    now: float | None,
) -> Spend:
    """The :class:`Spend` of ``source`` in ``span`` (since, until) with one-value ``filters``.

    Every page of ``usage`` (one bucket a day, following ``next_page``) is
    summed: spend counts as usage does, by whole minutes, so the edges are
    rounded up to a minute and the Spend says so. A source's error about
    usage's ``start_time`` or ``end_time`` names ``since`` or ``until``.
    """
    moment = time.time() if now is None else now
    since, until = span
    start = since_seconds(since, moment)
    end = None if until is None else instant("until", until)
    if end is not None and end <= start:
        raise error("until", until, f"must be after since ({start})")
    asked: dict[str, Any] = {}
    for name, value in filters.items():
        one = single(name, value)
        if one is not None:
            asked[_PLURALS[name]] = one
    stop = end if end is not None else max(int(moment) + 1, start + 1)  # as usage() ends it

    def pages() -> Iterable[Page]:
        cursor = None
        while True:
            page = usage(
                source,
                start_time=start,
                end_time=stop,
                limit=LIMITS["1d"][1],
                page=cursor,
                cost=cost,
                **asked,
            )
            yield page
            cursor = page.next_page
            if cursor is None:
                return

    try:
        return total(pages(), cost, (minute_up(start), minute_up(stop)))
    except QueryError as problem:
        named = _EDGES.get(problem.field)
        if named is None:
            raise
        raise QueryError(named, problem.value, problem.reason, owner=problem.owner) from problem


#: Usage's parameter for each of spend's edges, for the errors about them.
_EDGES: Final = {"start_time": "since", "end_time": "until"}
