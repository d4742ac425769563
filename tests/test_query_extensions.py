"""The reports beyond OpenAI's: costs by model, user and provider, and spend()."""

from __future__ import annotations

import datetime as dt
import inspect
from decimal import Decimal
from typing import Any

import attrs
import pytest

from aievents import ImageUsageEvent
from aievents.query import COST_EXTENSIONS, COST_GROUPS, DIMENSIONS, QueryError, Spend, spend
from aievents.sinks import AggregateSink
from test_aggregate import D0, DAY, EVENTS, event, valid

D = Decimal
EXTENSIONS = sorted(COST_EXTENSIONS)
#: An event of a model without a price: counted, its cost unknown.
UNPRICED = attrs.evolve(event("u1", D0 + 300, user_id="user_9"), model="acme-image-x", cost=None)


def sink_of(events: list[ImageUsageEvent], now: int = D0 + 10 * DAY) -> AggregateSink:
    """An AggregateSink holding ``events``, its clock at ``now``."""
    sink = AggregateSink(minute_detail=400 * DAY, hour_detail=400 * DAY, clock=lambda: now)
    for item in events:
        sink.handle(item)
    return sink


@pytest.fixture(name="sink")
def _sink() -> AggregateSink:
    return sink_of([*EVENTS, UNPRICED])


def amounts(page: Any) -> list[Decimal | None]:
    """Every result's amount, bucket after bucket."""
    return [result.amount for bucket in page.data for result in bucket.results]


class TestExtensionSet:
    """The extensions are model and user_id, and provider once it is a dimension."""

    def test_members(self) -> None:
        """Each extension is a dimension, none is OpenAI's."""
        assert {"model", "user_id"} <= COST_EXTENSIONS <= {"model", "user_id", "provider"}
        assert set(DIMENSIONS) >= COST_EXTENSIONS
        assert not COST_EXTENSIONS & COST_GROUPS
        assert ("provider" in COST_EXTENSIONS) == ("provider" in DIMENSIONS)


@pytest.mark.parametrize("name", EXTENSIONS)
class TestCostsByExtension:
    """costs() groups and filters by each extension, naming the group in its field."""

    def test_named_and_adds_up(self, sink: AggregateSink, name: str) -> None:
        """Each result names its group; the groups add up to the ungrouped amounts."""
        whole = sink.costs(start_time=D0, end_time=D0 + 2 * DAY)
        page = sink.costs(start_time=D0, end_time=D0 + 2 * DAY, group_by=[name])
        data = valid(page)
        for ours, theirs in zip(page.data, whole.data, strict=True):
            priced = [r.amount for r in ours.results if r.amount is not None]
            assert sum(priced) == sum(r.amount for r in theirs.results if r.amount is not None)
        for bucket in data["data"]:
            for result in bucket["results"]:
                assert result[name] is not None
                others = {"model", "user_id", "provider", "project_id", "api_key_id", "line_item"}
                assert all(result[other] is None for other in others - {name})

    def test_unknown_cost_apart(self, sink: AggregateSink, name: str) -> None:
        """The unpriced request is a result of its own, in its group, with no amount."""
        page = sink.costs(start_time=D0, end_time=D0 + DAY, group_by=[name])
        unknown = [r for r in page.data[0].results if r.amount is None]
        assert [r.unpriced_requests for r in unknown] == [1]
        assert getattr(unknown[0], name) == getattr(UNPRICED, name)
        assert "amount" not in unknown[0].to_dict()

    def test_with_line_items(self, sink: AggregateSink, name: str) -> None:
        """With line_item, each model's items are split by the group and add up alike."""
        lines = sink.costs(start_time=D0, end_time=D0 + 2 * DAY, group_by=["line_item"])
        both = sink.costs(start_time=D0, end_time=D0 + 2 * DAY, group_by=[name, "line_item"])
        valid(both)
        for ours, theirs in zip(both.data, lines.data, strict=True):
            assert sum(r.amount or 0 for r in ours.results) == sum(
                r.amount or 0 for r in theirs.results
            )
            for result in ours.results:
                assert result.line_item is not None
                assert getattr(result, name) is not None
        if name == "model":  # line items are per model already: the same items
            assert [r.line_item for b in both.data for r in b.results] == [
                r.line_item for b in lines.data for r in b.results
            ]

    def test_filter(self, sink: AggregateSink, name: str) -> None:
        """The filter of the extension keeps those values only."""
        value = getattr(EVENTS[1], name)  # dall-e-3, user_2, openai
        plural = {"model": "models", "user_id": "user_ids", "provider": "providers"}[name]
        page = sink.costs(start_time=D0, end_time=D0 + 2 * DAY, **{plural: [value]})
        # every event is openai's: its amounts are all of them (the unpriced one apart)
        expected = [D("0.16245"), None, D("0.06338")] if name == "provider" else [D("0.16")]
        assert amounts(page) == expected
        unknown = sink.costs(start_time=D0, end_time=D0 + 2 * DAY, **{plural: ["nobody"]})
        assert amounts(unknown) == []
        by = sink.costs(start_time=D0, end_time=D0 + 2 * DAY, group_by=[name], **{plural: [value]})
        assert {getattr(r, name) for b in by.data for r in b.results} == {value}


class TestCostsExtensionErrors:
    """Bad extension parameters are refused, naming them."""

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"group_by": ["size"]}, "group_by"),
            ({"models": [""]}, "models"),
            ({"user_ids": 7}, "user_ids"),
        ],
    )
    def test_named(self, sink: AggregateSink, params: dict[str, Any], field: str) -> None:
        """QueryError names the field."""
        with pytest.raises(QueryError) as info:
            sink.costs(start_time=D0, end_time=D0 + DAY, **params)
        assert info.value.field == field


class TestSpend:
    """spend() sums usage's pages: every request, cost unknown never $0."""

    def test_user_this_month(self, sink: AggregateSink) -> None:
        """user_1's requests since the month began (the sink's clock is 2024-11-11)."""
        got = sink.spend(user_id="user_1", since="month")
        assert got.amount == D("0.00245") + D("0.00528") + D("0.0041")
        assert (got.requests, got.images, got.partial) == (3, 3, False)
        assert got.since == dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc)
        assert got.until == dt.datetime.fromtimestamp(D0 + 10 * DAY + 60, dt.timezone.utc)
        assert str(got).startswith("$0.01183 (computed) for 3 requests, 3 images")

    @pytest.mark.parametrize(
        ("since", "start"),
        [
            ("today", dt.datetime(2024, 11, 13, tzinfo=dt.timezone.utc)),
            ("week", dt.datetime(2024, 11, 11, tzinfo=dt.timezone.utc)),  # a Monday
            ("month", dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc)),
            (D0 + 60, dt.datetime.fromtimestamp(D0 + 60, dt.timezone.utc)),
            (D0 + 5, dt.datetime.fromtimestamp(D0 + 60, dt.timezone.utc)),  # by whole minutes
            (dt.date(2024, 11, 2), dt.datetime(2024, 11, 2, tzinfo=dt.timezone.utc)),
        ],
    )
    def test_since(self, since: Any, start: dt.datetime) -> None:
        """Names are UTC calendar starts as of now; seconds and dates to the minute up."""
        now = D0 + 12 * DAY + 3600  # Wednesday 2024-11-13 01:00 UTC
        assert spend(sink_of([]), since=since, now=now).since == start

    def test_partial_and_unknown(self, sink: AggregateSink) -> None:
        """A lower bound when some request has no price; unknown when none has."""
        everyone = sink.spend(since=D0, until=D0 + DAY)
        assert everyone.partial
        assert everyone.unpriced_requests == 1
        assert everyone.amount == D("0.16245")
        assert everyone.figure == "at least $0.16245"
        assert "at least $0.16245" in repr(everyone)
        nobody = sink.spend(user_id="user_9", since=D0)
        assert nobody.amount is None
        assert nobody.requests == 1
        assert str(nobody).startswith("unknown")
        assert "1 request without a price" in str(nobody)
        assert "unknown" in nobody._repr_html_()

    def test_partial_minutes(self) -> None:
        """Counted by whole minutes: since and until say the minutes actually counted."""
        events = [
            event("in-first", D0 + 10),  # inside since's partial minute: not counted
            event("in-span", D0 + 90),
            event("in-last", D0 + 150),  # inside until's partial minute: counted
        ]
        got = spend(sink_of(events), since=D0 + 5, until=D0 + 125, now=D0 + DAY)
        assert got.requests == 2
        assert got.since == dt.datetime.fromtimestamp(D0 + 60, dt.timezone.utc)
        assert got.until == dt.datetime.fromtimestamp(D0 + 180, dt.timezone.utc)
        assert (got.to_dict()["since"], got.to_dict()["until"]) == (D0 + 60, D0 + 180)

    @pytest.mark.parametrize(
        ("asked", "field"), [({"since": 1800}, "since"), ({"until": 1800}, "until")]
    )
    def test_edge_inside_rolled_up(self, asked: dict[str, int], field: str) -> None:
        """A source's error about an edge names since or until, as spend's caller wrote it."""
        now = [D0 + DAY]
        sink = AggregateSink(minute_detail=3600, hour_detail=DAY, clock=lambda: now[0])
        sink.handle(event("a", D0 + DAY - 3600 + 120))
        sink.handle(event("b", D0 + DAY - 600))
        now[0] = D0 + DAY + 7200  # the two minutes rolled into their hour
        params = {"since": D0, **{name: D0 + DAY - 3600 + at for name, at in asked.items()}}
        with pytest.raises(QueryError) as info:
            sink.spend(**params)
        assert info.value.field == field
        assert "rolled up" in info.value.reason

    def test_nothing_spent(self, sink: AggregateSink) -> None:
        """No request at all: $0, known."""
        got = sink.spend(user_id="nobody", since=D0)
        assert (got.amount, got.requests, got.partial) == (Decimal(0), 0, False)

    def test_every_page(self) -> None:
        """Over many pages of usage (31 days each), every day's requests are summed."""
        events = [
            event(f"d{day}", D0 - day * DAY + 60, text=10, image=40, output=50)
            for day in range(200)
        ]
        got = spend(sink_of(events), since=D0 - 365 * DAY, now=D0 + DAY)
        assert got.requests == 200
        assert got.amount == 200 * D("0.00245")

    def test_filters_and_reported(self, sink: AggregateSink) -> None:
        """project, key and model narrow it; reported counts the requests without one."""
        assert sink.spend(project_id="proj_b", since=D0).amount == D("0.05928")
        assert sink.spend(api_key_id="key_2", model="dall-e-2", since=D0).amount == D("0.054")
        assert sink.spend(provider="openai", since=D0).requests == 6
        assert sink.spend(provider="google", since=D0).requests == 0
        reported = sink.spend(since=D0, cost="reported")
        assert reported.amount is None  # no provider reported a cost
        assert reported.unreported_requests == reported.requests == 6
        assert reported.unpriced_requests == 0
        assert "without a reported cost" in str(reported)

    def test_same_as_usage(self, sink: AggregateSink) -> None:
        """The requests, images and cost are usage()'s, summed."""
        page = sink.usage(start_time=D0, end_time=D0 + 3 * DAY, group_by=["user_id"])
        got = sink.spend(since=D0, until=D0 + 3 * DAY)
        results = [r for b in page.data for r in b.results]
        assert got.requests == sum(r.num_model_requests for r in results)
        assert got.images == sum(r.images for r in results)
        assert got.amount == sum(r.cost for r in results if r.cost is not None)

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"since": "yesterday"}, "since"),
            ({"since": dt.datetime(2024, 11, 1)}, "since"),  # naive
            ({"since": D0, "until": D0}, "until"),
            ({"user_id": ""}, "user_id"),
            ({"model": ["a"]}, "model"),
            ({"cost": "billed"}, "cost"),
        ],
    )
    def test_bad(self, sink: AggregateSink, params: dict[str, Any], field: str) -> None:
        """A bad parameter is refused, named."""
        with pytest.raises(QueryError) as info:
            sink.spend(**params)
        assert info.value.field == field

    def test_typed_with_now(self, sink: AggregateSink) -> None:
        """sink.spend takes spend()'s parameters, now included (the sink's clock otherwise)."""
        got = sink.spend(since=D0, now=D0 + DAY)
        assert got.until == dt.datetime.fromtimestamp(D0 + DAY + 60, dt.timezone.utc)
        assert got == spend(sink, since=D0, now=D0 + DAY)
        assert (
            list(inspect.signature(sink.spend).parameters)
            == list(inspect.signature(spend).parameters)[1:]
        )

    def test_since_kinds_named(self, sink: AggregateSink) -> None:
        """A wrong since names every kind it takes, dates included."""
        with pytest.raises(QueryError) as info:
            sink.spend(since="yesterday")
        assert "an aware datetime or a date" in info.value.reason

    def test_frozen_and_dict(self, sink: AggregateSink) -> None:
        """A Spend is frozen; to_dict gives the exact amount as text."""
        got = sink.spend(since=D0, until=D0 + DAY)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            got.amount = D(0)  # type: ignore[misc]
        assert isinstance(got, Spend)
        data = got.to_dict()
        assert (data["amount"], data["partial"], data["since"]) == ("0.16245", True, D0)
