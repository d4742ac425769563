"""AggregateSink and the query module: OpenAI's usage and costs answers, by hand."""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import json
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
import structlog

from aievents import (
    EventClient,
    ImageUsage,
    ImageUsageEvent,
    InputTokensDetails,
)
from aievents.pricing import cost_of
from aievents.query import QueryError
from aievents.sinks import AggregateSink
from aievents.sinks.aggregate import OVERFLOW

from helpers import event_fields, priced_cost, usage_event

COMPILED = importlib.util.find_spec("aievents._speedups") is not None

D = Decimal
DAY = 86_400
D0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC
SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "openai_usage_response.schema.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def event(
    request_id: str,
    at: int,
    *,
    model: str = "gpt-image-1",
    size: str = "1024x1024",
    operation: str = "image.generation",
    project_id: str = "proj_a",
    user_id: str = "user_1",
    api_key_id: str = "key_1",
    images: int = 1,
    text: int | None = None,
    image: int | None = None,
    output: int | None = None,
    quality: str | None = None,
) -> ImageUsageEvent:
    """A priced image:usage event at ``at`` (seconds)."""
    usage = ImageUsage()
    if text is not None:
        usage = ImageUsage(
            input_tokens=text + (image or 0),
            output_tokens=output,
            input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=image or 0),
        )
    built = ImageUsageEvent(
        request_id=request_id,
        timestamp=at * 1000,
        model=model,
        provider="openai",
        size=size,
        quality=quality,
        operation=operation,
        project_id=project_id,
        user_id=user_id,
        api_key_id=api_key_id,
        images=images,
        usage=usage,
    )
    return ImageUsageEvent(**{**event_fields(built), "cost": cost_of(built)})


#: e1 $0.00245, e2 $0.16 (exactly on the hour), e3 $0.00528 (exactly on the day),
#: e4 $0.054, e6 $0.0041 (last second of day two); e5 repeats e1's request id.
EVENTS = [
    event("e1", D0 + 10, text=10, image=40, output=50),
    event(
        "e2",
        D0 + 3600,
        model="dall-e-3",
        size="1024x1792",
        quality="standard",
        user_id="user_2",
        images=2,
    ),
    event(
        "e3",
        D0 + DAY,
        size="1024x1536",
        operation="image.edit",
        project_id="proj_b",
        api_key_id="key_2",
        text=10,
        image=323,
        output=50,
    ),
    event(
        "e4",
        D0 + DAY + 60,
        model="dall-e-2",
        size="512x512",
        operation="image.variation",
        project_id="proj_b",
        user_id="user_3",
        api_key_id="key_2",
        images=3,
    ),
    event("e1", D0 + 20, text=999, output=999),
    event("e6", D0 + 2 * DAY - 1, text=20, output=100),
]


@pytest.fixture(autouse=True, params=["compiled", "python"])
def _twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs on the compiled tally and on its pure Python twin."""
    if request.param == "python":
        monkeypatch.setenv("AIEVENTS_PURE_PYTHON", "1")
    else:
        monkeypatch.delenv("AIEVENTS_PURE_PYTHON", raising=False)
        if not COMPILED:
            pytest.skip("aievents._speedups was not built (no C compiler)")


@pytest.fixture(name="sink")
def _sink() -> AggregateSink:
    sink = AggregateSink(minute_detail=30 * DAY, hour_detail=60 * DAY, clock=lambda: D0 + 10 * DAY)
    for item in EVENTS:
        sink.handle(item)
    return sink


def valid(page: Any) -> dict[str, Any]:
    """The page's JSON, checked against OpenAI's UsageResponse schema."""
    data = page.to_dict()
    VALIDATOR.validate(data)
    return dict(json.loads(json.dumps(data)))


def counts(page: Any) -> list[list[tuple[Any, ...]]]:
    """Per bucket: (images, requests, group values...) of each result."""
    out = []
    for bucket in valid(page)["data"]:
        out.append(
            [
                (
                    r["images"],
                    r["num_model_requests"],
                    *(r[k] for k in ("model", "size", "source", "project_id", "user_id")),
                    r["api_key_id"],
                )
                for r in bucket["results"]
            ]
        )
    return out


class TestUsage:
    """usage() buckets, groups and filters exactly like OpenAI's endpoint."""

    def test_daily_totals(self, sink: AggregateSink) -> None:
        """Three days: totals per day, the empty third day as an empty bucket."""
        page = sink.usage(start_time=D0, end_time=D0 + 3 * DAY)
        data = valid(page)
        assert [b["start_time"] for b in data["data"]] == [D0, D0 + DAY, D0 + 2 * DAY]
        assert [b["end_time"] for b in data["data"]] == [D0 + DAY, D0 + 2 * DAY, D0 + 3 * DAY]
        day0, day1, day2 = (b["results"] for b in data["data"])
        assert [(r["images"], r["num_model_requests"]) for r in day0] == [(3, 2)]
        assert [(r["images"], r["num_model_requests"]) for r in day1] == [(5, 3)]
        assert day2 == []
        assert day0[0]["model"] is None
        assert day0[0]["input_tokens"] == 50
        assert day0[0]["input_text_tokens"] == 10
        assert day0[0]["input_image_tokens"] == 40
        assert day0[0]["output_image_tokens"] == 50
        assert day0[0]["cost"] == {"value": 0.16245, "currency": "usd"}
        assert page.data[1].results[0].cost == D("0.00528") + D("0.054") + D("0.0041")
        assert data["has_more"] is False
        assert data["next_page"] is None

    @pytest.mark.parametrize(
        ("group_by", "day0", "day1"),
        [
            (
                ["model"],
                [(2, 1, "dall-e-3"), (1, 1, "gpt-image-1")],
                [(3, 1, "dall-e-2"), (2, 2, "gpt-image-1")],
            ),
            (
                ["size"],
                [(1, 1, "1024x1024"), (2, 1, "1024x1792")],
                [(1, 1, "1024x1024"), (1, 1, "1024x1536"), (3, 1, "512x512")],
            ),
            (
                ["source"],
                [(3, 2, "image.generation")],
                [(1, 1, "image.edit"), (1, 1, "image.generation"), (3, 1, "image.variation")],
            ),
            (["project_id"], [(3, 2, "proj_a")], [(1, 1, "proj_a"), (4, 2, "proj_b")]),
            (
                ["user_id"],
                [(1, 1, "user_1"), (2, 1, "user_2")],
                [(2, 2, "user_1"), (3, 1, "user_3")],
            ),
            (["api_key_id"], [(3, 2, "key_1")], [(1, 1, "key_1"), (4, 2, "key_2")]),
        ],
    )
    def test_group_by_each_field(
        self, sink: AggregateSink, group_by: list[str], day0: list[Any], day1: list[Any]
    ) -> None:
        """Grouping by each field gives one result per value; other fields stay null."""
        page = sink.usage(start_time=D0, end_time=D0 + 2 * DAY, group_by=group_by)
        data = valid(page)
        (field,) = group_by
        for bucket, expected in zip(data["data"], (day0, day1), strict=True):
            got = [(r["images"], r["num_model_requests"], r[field]) for r in bucket["results"]]
            assert got == expected
            for result in bucket["results"]:
                others = {"model", "size", "source", "project_id", "user_id", "api_key_id"}
                assert all(result[name] is None for name in others - {field})

    def test_group_by_everything(self, sink: AggregateSink) -> None:
        """All six fields at once: one result per event, every combination valid."""
        groups = ["model", "size", "source", "project_id", "user_id", "api_key_id"]
        for size in range(1, len(groups) + 1):
            for combination in itertools.combinations(groups, size):
                valid(sink.usage(start_time=D0, end_time=D0 + 2 * DAY, group_by=combination))
        page = sink.usage(start_time=D0, end_time=D0 + 2 * DAY, group_by=groups)
        assert [len(b.results) for b in page.data] == [2, 3]

    @pytest.mark.parametrize(
        ("filters", "day0", "day1"),
        [
            ({"models": ["gpt-image-1"]}, (1, 1), (2, 2)),
            ({"sources": ["image.edit"]}, None, (1, 1)),
            ({"sizes": ["512x512", "1024x1792"]}, (2, 1), (3, 1)),
            ({"project_ids": ["proj_b"]}, None, (4, 2)),
            ({"user_ids": ["user_2"]}, (2, 1), None),
            ({"api_key_ids": ["key_1"]}, (3, 2), (1, 1)),
            ({"models": ["gpt-image-1"], "user_ids": ["user_1"]}, (1, 1), (2, 2)),
            ({"models": ["nope"]}, None, None),
        ],
    )
    def test_filters(
        self,
        sink: AggregateSink,
        filters: dict[str, list[str]],
        day0: tuple[int, int] | None,
        day1: tuple[int, int] | None,
    ) -> None:
        """Each filter keeps only matching events; filters combine."""
        page = sink.usage(start_time=D0, end_time=D0 + 2 * DAY, **filters)
        got = [
            (b["results"][0]["images"], b["results"][0]["num_model_requests"])
            if b["results"]
            else None
            for b in valid(page)["data"]
        ]
        assert got == [day0, day1]

    def test_hour_edges(self, sink: AggregateSink) -> None:
        """An event exactly on a bucket edge lands in the later bucket."""
        page = sink.usage(start_time=D0, end_time=D0 + 2 * 3600, bucket_width="1h")
        assert [[(r.images, r.num_model_requests) for r in b.results] for b in page.data] == [
            [(1, 1)],
            [(2, 1)],
        ]
        day = sink.usage(start_time=D0 + DAY - 60, end_time=D0 + DAY + 120, bucket_width="1m")
        per_minute = [sum(r.images for r in b.results) for b in day.data]
        assert per_minute == [0, 1, 3]  # e3 at the day's first second, e4 a minute later

    def test_end_time_exclusive(self, sink: AggregateSink) -> None:
        """An event at end_time is not counted; one a second earlier is."""
        before = sink.usage(start_time=D0, end_time=D0 + 3600, bucket_width="1h")
        assert [r.images for r in before.data[0].results] == [1]
        after = sink.usage(start_time=D0, end_time=D0 + 3601, bucket_width="1h")
        assert [sum(r.images for r in b.results) for b in after.data] == [1, 2]

    def test_start_time_inclusive(self, sink: AggregateSink) -> None:
        """start_time counts events at that very second; earlier ones in its bucket are out."""
        page = sink.usage(start_time=D0 + 11, end_time=D0 + DAY)
        assert page.data[0].start_time == D0  # buckets stay aligned to UTC days
        assert [(r.images, r.num_model_requests) for r in page.data[0].results] == [(2, 1)]
        at = sink.usage(start_time=D0 + 3600, end_time=D0 + DAY)
        assert [r.images for r in at.data[0].results] == [2]

    def test_duplicate_request_counted_once(self, sink: AggregateSink) -> None:
        """The repeated request id (e5) was not counted, and the duplicate is counted."""
        assert sink.duplicates == 1
        assert sink.events == 5

    def test_paging(self, sink: AggregateSink) -> None:
        """Pages of one bucket visit every bucket exactly once, then stop."""
        seen: list[int] = []
        page = sink.usage(start_time=D0, end_time=D0 + 3 * DAY, limit=1)
        pages = 1
        while True:
            valid(page)
            seen += [b.start_time for b in page.data]
            if not page.has_more:
                assert page.next_page is None
                break
            assert page.next_page is not None
            page = sink.usage(start_time=D0, end_time=D0 + 3 * DAY, limit=1, page=page.next_page)
            pages += 1
        assert seen == [D0, D0 + DAY, D0 + 2 * DAY]
        assert pages == 3

    def test_default_limits(self, sink: AggregateSink) -> None:
        """Without limit, pages hold 7 days, 24 hours or 60 minutes, as OpenAI's."""
        for width, size in (("1d", 7), ("1h", 24), ("1m", 60)):
            page = sink.usage(start_time=D0, bucket_width=width)  # type: ignore[arg-type]
            assert len(page.data) == size
            assert page.has_more

    def test_end_defaults_to_now(self, sink: AggregateSink) -> None:
        """Without end_time the buckets run to the sink's clock."""
        page = sink.usage(start_time=D0 + 8 * DAY, limit=31)
        assert [b.start_time for b in page.data] == [D0 + 8 * DAY, D0 + 9 * DAY, D0 + 10 * DAY]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"group_by": ["colour"]}, "group_by"),
            ({"group_by": ["line_item"]}, "group_by"),
            ({"limit": 32}, "limit"),
            ({"limit": 0}, "limit"),
            ({"limit": "7"}, "limit"),
            ({"bucket_width": "2d"}, "bucket_width"),
            ({"end_time": D0 - 1}, "end_time"),
            ({"end_time": D0}, "end_time"),
            ({"start_time": D0 * 1000}, "start_time"),
            ({"start_time": "yesterday"}, "start_time"),
            ({"sources": ["image.upscale"]}, "sources"),
            ({"models": [3]}, "models"),
            ({"page": "not-a-cursor"}, "page"),
            ({"page": "eyJ2IjoxLCJzIjoxLCJxIjoieCJ9"}, "page"),
        ],
    )
    def test_bad_parameters(self, sink: AggregateSink, params: dict[str, Any], field: str) -> None:
        """Each bad parameter is a QueryError (a ValueError) naming it."""
        arguments: dict[str, Any] = {"start_time": D0, "end_time": D0 + DAY, **params}
        with pytest.raises(QueryError) as info:
            sink.usage(**arguments)
        assert info.value.field == field
        assert isinstance(info.value, ValueError)
        assert repr(field) in str(info.value)

    def test_cursor_of_another_query(self, sink: AggregateSink) -> None:
        """A cursor is refused by a query with other parameters."""
        page = sink.usage(start_time=D0, end_time=D0 + 3 * DAY, limit=1)
        with pytest.raises(QueryError, match="other parameters"):
            sink.usage(
                start_time=D0,
                end_time=D0 + 3 * DAY,
                limit=1,
                group_by=["model"],
                page=page.next_page,
            )


class TestCosts:
    """costs() answers like OpenAI's costs endpoint, with named line items."""

    def test_daily_amounts(self, sink: AggregateSink) -> None:
        """One amount per day, exact, in usd."""
        page = sink.costs(start_time=D0, end_time=D0 + 3 * DAY)
        data = valid(page)
        assert [[r["amount"] for r in b["results"]] for b in data["data"]] == [
            [{"value": 0.16245, "currency": "usd"}],
            [{"value": 0.06338, "currency": "usd"}],
            [],
        ]
        assert page.data[1].results[0].amount == D("0.06338")  # type: ignore[union-attr]

    def test_line_items(self, sink: AggregateSink) -> None:
        """By line item: model and kind, quantity and unit."""
        page = sink.costs(start_time=D0, end_time=D0 + DAY, group_by=["line_item"])
        results = valid(page)["data"][0]["results"]
        got = [
            (r["line_item"], r["amount"]["value"], r["quantity"], r["quantity_unit"])
            for r in results
        ]
        assert got == [
            ("dall-e-3, images", 0.16, 2, "images"),
            ("gpt-image-1, input image tokens", 0.0004, 40, "tokens"),
            ("gpt-image-1, input text tokens", 0.00005, 10, "tokens"),
            ("gpt-image-1, output image tokens", 0.002, 50, "tokens"),
        ]

    @pytest.mark.parametrize(
        "group_by",
        [
            ["project_id"],
            ["api_key_id"],
            ["line_item"],
            ["project_id", "line_item"],
            ["project_id", "api_key_id", "line_item"],
        ],
    )
    def test_groups(self, sink: AggregateSink, group_by: list[str]) -> None:
        """Every grouping validates and adds up to the ungrouped amounts."""
        total = sink.costs(start_time=D0, end_time=D0 + 2 * DAY)
        grouped = sink.costs(start_time=D0, end_time=D0 + 2 * DAY, group_by=group_by)
        valid(grouped)
        for whole, parts in zip(total.data, grouped.data, strict=True):
            assert sum(r.amount for r in parts.results) == whole.results[0].amount  # type: ignore[union-attr]
            for result in parts.results:
                for name in ("project_id", "api_key_id", "line_item"):
                    if name not in group_by:
                        assert getattr(result, name) is None

    def test_project_filter(self, sink: AggregateSink) -> None:
        """project_ids keeps those projects only."""
        page = sink.costs(start_time=D0 + DAY, end_time=D0 + 2 * DAY, project_ids=["proj_b"])
        assert page.data[0].results[0].amount == D("0.00528") + D("0.054")  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"bucket_width": "1h"}, "bucket_width"),
            ({"group_by": ["size"]}, "group_by"),
            ({"limit": 181}, "limit"),
            ({"end_time": D0 - DAY}, "end_time"),
            ({"page": "%%%"}, "page"),
        ],
    )
    def test_bad_parameters(self, sink: AggregateSink, params: dict[str, Any], field: str) -> None:
        """Bad costs parameters are refused, naming them."""
        with pytest.raises(QueryError) as info:
            sink.costs(**{"start_time": D0, "end_time": D0 + DAY, **params})
        assert info.value.field == field

    def test_limits(self, sink: AggregateSink) -> None:
        """Costs pages hold 7 days by default and up to 180."""
        assert len(sink.costs(start_time=D0 - 30 * DAY, end_time=D0 + DAY).data) == 7
        page = sink.costs(start_time=D0 - 179 * DAY, end_time=D0 + DAY, limit=180)
        assert len(page.data) == 180
        assert not page.has_more


class TestAwareDatetimes:
    """start_time and end_time take aware datetimes as well as Unix seconds."""

    def test_same_answers_as_seconds(self, sink: AggregateSink) -> None:
        """A datetime in any zone means its instant; the pages equal those asked in seconds."""
        start = dt.datetime.fromtimestamp(D0, dt.timezone.utc)
        end = dt.datetime.fromtimestamp(D0 + 2 * DAY, dt.timezone(dt.timedelta(hours=2)))
        for kind in ("usage", "costs"):
            query = getattr(sink, kind)
            by_seconds = query(start_time=D0, end_time=D0 + 2 * DAY).to_dict()
            assert query(start_time=start, end_time=end).to_dict() == by_seconds
            assert query(start, D0 + 2 * DAY).to_dict() == by_seconds
        hour = sink.usage(start + dt.timedelta(hours=1), end, "1h", limit=48)
        assert hour.to_dict() == sink.usage(D0 + 3600, D0 + 2 * DAY, "1h", limit=48).to_dict()

    def test_part_second_rounds_up(self, sink: AggregateSink) -> None:
        """A start a fraction past a second begins at the next second, as documented."""
        start = dt.datetime.fromtimestamp(D0 + 3600, dt.timezone.utc) + dt.timedelta(microseconds=1)
        page = sink.usage(start, D0 + DAY, "1h", limit=24)
        assert page.to_dict() == sink.usage(D0 + 3601, D0 + DAY, "1h", limit=24).to_dict()

    def test_without_end_time_counts_until_now(self, sink: AggregateSink) -> None:
        """The usual "the last day" query: an aware start, no end."""
        start = dt.datetime.fromtimestamp(D0 + 10 * DAY, dt.timezone.utc) - dt.timedelta(days=9)
        page = sink.usage(start_time=start, bucket_width="1d", limit=9)
        assert page.to_dict() == sink.usage(start_time=D0 + DAY, limit=9).to_dict()

    @pytest.mark.parametrize("field", ["start_time", "end_time"])
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (dt.datetime(2024, 11, 2), "timezone-aware"),
            (dt.date(2024, 11, 2), "not a date"),
            (1_730_419_200.5, "Unix seconds"),
            (dt.datetime(1969, 12, 31, tzinfo=dt.timezone.utc), "from 1970-01-01 to 5138-11-16"),
            (dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc), "from 1970-01-01 to 5138-11-16"),
            (-86_400, r"Unix seconds from 0 \(1970-01-01 UTC\) on"),
            (1_730_419_200_000, r"Unix seconds \(not milliseconds\)"),
        ],
    )
    def test_refused_naming_the_field(
        self, sink: AggregateSink, field: str, value: object, reason: str
    ) -> None:
        """A wrong type or a time out of range is a QueryError naming the field and value given."""
        arguments: dict[str, Any] = {"start_time": D0, "end_time": D0 + 2 * DAY, field: value}
        for kind in ("usage", "costs"):
            with pytest.raises(QueryError, match=reason) as info:
                getattr(sink, kind)(**arguments)
            assert info.value.field == field
            assert info.value.value == value
            assert repr(value) in str(info.value)


class TestAggregateSink:
    """Thread safety, bounds, retention, and export/merge."""

    def test_threads(self) -> None:
        """8 threads x 100k events: every sum exact."""
        sink = AggregateSink(max_request_ids=1_000_000, clock=lambda: D0 + DAY)
        usage = ImageUsage(
            input_tokens=7,
            output_tokens=11,
            input_tokens_details=InputTokensDetails(text_tokens=3, image_tokens=4),
        )
        template = event("t", D0 + 5, text=3, image=4, output=11)
        per_thread = 100_000
        batches = [
            [
                ImageUsageEvent(
                    **{**event_fields(template), "request_id": f"t{n}-{i}", "usage": usage}
                )
                for i in range(per_thread)
            ]
            for n in range(8)
        ]
        barrier = threading.Barrier(8)

        def feed(batch: list[ImageUsageEvent]) -> None:
            barrier.wait()
            handle = sink.handle
            for item in batch:
                handle(item)

        threads = [threading.Thread(target=feed, args=(batch,)) for batch in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        (result,) = sink.usage(start_time=D0, end_time=D0 + DAY).data[0].results
        total = 8 * per_thread
        assert isinstance(result, type(result))
        assert result.num_model_requests == total  # type: ignore[union-attr]
        assert result.images == total  # type: ignore[union-attr]
        assert result.input_tokens == 7 * total  # type: ignore[union-attr]
        assert result.output_image_tokens == 11 * total  # type: ignore[union-attr]
        assert result.cost == template.cost.total * total  # type: ignore[union-attr]

    def test_series_cap(self) -> None:
        """Past max_series, new combinations go to one overflow series, counted."""
        sink = AggregateSink(max_series=2, clock=lambda: D0 + DAY)
        assert sink.series_count == 0
        for index, model in enumerate(["m1", "m2", "m3", "m4", "m3"]):
            sink.handle(event(f"r{index}", D0 + index, model=model))
        page = sink.usage(start_time=D0, end_time=D0 + DAY, group_by=["model"])
        got = {r.model: r.num_model_requests for r in page.data[0].results}  # type: ignore[union-attr]
        assert got == {"m1": 1, "m2": 1, OVERFLOW: 3}
        assert sink.overflowed == 3
        assert sink.series_count == 3

    def test_request_ids_bounded(self) -> None:
        """Only the last max_request_ids ids are remembered."""
        sink = AggregateSink(max_request_ids=2, clock=lambda: D0 + DAY)
        for request_id in ["a", "b", "c", "a", "c"]:
            sink.handle(event(request_id, D0))
        assert sink.events == 4  # "a" was forgotten when "c" came; "c" is still known
        assert sink.duplicates == 1

    def test_roll_up_and_retention(self) -> None:
        """As the clock moves on, minutes roll into hours, hours into days, and old days go."""
        now = [D0 + DAY]
        sink = AggregateSink(
            minute_detail=3600, hour_detail=DAY, retention=3 * DAY, clock=lambda: now[0]
        )
        sink.handle(event("a", D0 + DAY - 3600 + 120))  # 2 minutes into the last hour of day 0
        sink.handle(event("b", D0 + DAY - 600))  # the same hour, 10 minutes before day 1

        def minutes() -> list[int]:
            page = sink.usage(start_time=D0 + DAY - 3600, end_time=D0 + DAY, bucket_width="1m")
            return [sum(r.images for r in b.results) for b in page.data]

        assert minutes()[2] == 1  # fresh: each event in its own minute
        assert minutes()[50] == 1
        now[0] = D0 + DAY + 7200  # two hours later: the minutes rolled into their hour
        rolled = minutes()
        assert rolled[2] == 2  # in the bucket of its first event's minute
        assert sum(rolled) == 2
        now[0] = D0 + 2 * DAY + DAY // 2  # later: the hour rolled into day 0
        days = sink.usage(start_time=D0, end_time=D0 + 3 * DAY)
        assert [sum(r.images for r in b.results) for b in days.data] == [2, 0, 0]
        now[0] = D0 + 4 * DAY  # past retention: gone, and its combination freed
        days = sink.usage(start_time=D0, end_time=D0 + 4 * DAY)
        assert [sum(r.images for r in b.results) for b in days.data] == [0, 0, 0, 0]
        assert sink.series_count == 0

    def test_future_event_changes_nothing(self) -> None:
        """An event dated far ahead neither rolls up nor drops anyone else's totals."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        for index in range(10):
            sink.handle(event(f"now-{index}", D0 + 60 * index))
        sink.handle(event("future", D0 + 500 * DAY))
        page = sink.usage(start_time=D0, end_time=D0 + DAY, bucket_width="1h")
        assert sum(r.num_model_requests for b in page.data for r in b.results) == 10
        assert sink.future == 1

    def test_entry_cap(self) -> None:
        """Past max_entries the oldest detail is rolled up early; memory stays bounded."""
        sink = AggregateSink(max_entries=100, clock=lambda: D0 + DAY)
        for index in range(2000):
            sink.handle(event(f"r{index}", D0 + 60 * index, user_id=f"u{index % 3}"))
        page = sink.usage(start_time=D0, end_time=D0 + 2 * DAY)
        assert sum(r.num_model_requests for b in page.data for r in b.results) == 2000
        assert len(sink._table.minutes) <= 100

    def test_roll_ups_keep_up(self) -> None:
        """Minutes due by the thousand never starve the hours' roll-up: entries stay days x series.

        Each maintenance looks at up to its budget of entries at each level;
        a budget shared by the levels went to the minutes, and the hours
        they rolled into piled up, one an event.
        """
        sink = AggregateSink(
            minute_detail=60, hour_detail=60, retention=30 * DAY, clock=lambda: D0 + 10 * DAY
        )
        for index in range(20_000):
            at = D0 + index * 104_729 % (5 * DAY)
            sink.handle(event(f"r{index}", at, user_id=f"u{index % 300}"))
        assert len(sink._table.minutes) <= 5 * 300 + 2 * 256
        page = sink.usage(start_time=D0, end_time=D0 + 5 * DAY, group_by=["user_id"], limit=31)
        assert sum(r.num_model_requests for b in page.data for r in b.results) == 20_000

    def test_export_and_merge(self) -> None:
        """Merging the exports of two sinks equals one sink that saw every event."""
        one, two, both = (AggregateSink(clock=lambda: D0 + 3 * DAY) for _ in range(3))
        for index, item in enumerate(EVENTS):
            (one if index % 2 else two).handle(item)
            both.handle(item)
        merged = AggregateSink(clock=lambda: D0 + 3 * DAY)
        merged.merge(json.loads(json.dumps(one.export())))
        merged.merge(two)
        for group_by in ([], ["model", "project_id"]):
            expected = both.usage(start_time=D0, end_time=D0 + 3 * DAY, group_by=group_by)
            got = merged.usage(start_time=D0, end_time=D0 + 3 * DAY, group_by=group_by)
            assert got.to_dict() == expected.to_dict()
        assert merged.costs(start_time=D0, end_time=D0 + 3 * DAY).to_dict() == (
            both.costs(start_time=D0, end_time=D0 + 3 * DAY).to_dict()
        )

    @pytest.mark.parametrize(
        "state",
        [
            None,
            {"format": 2},
            {"format": 1, "fields": ["x"], "series": []},
            {"format": 1, "fields": "from-export", "series": [[1, ["a"], [0]]]},
        ],
    )
    def test_bad_state(self, state: Any) -> None:
        """A state that is not a compatible export is refused and nothing is merged."""
        sink = AggregateSink()
        if isinstance(state, dict) and state.get("fields") == "from-export":
            state = {**state, "fields": sink.export()["fields"]}
        with pytest.raises(QueryError):
            sink.merge(state)
        assert sink.export()["series"] == []

    def test_other_events_ignored(self) -> None:
        """Only image:usage events are summed; events without a cost price themselves."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        client = EventClient()
        client.add_sink(sink)
        client.emit(usage_event("u1", timestamp=(D0 + 5) * 1000, images=1))
        from helpers import started_event

        client.emit(started_event("u2", timestamp=(D0 + 5) * 1000))
        (result,) = sink.usage(start_time=D0, end_time=D0 + DAY).data[0].results
        assert result.num_model_requests == 1  # type: ignore[union-attr]
        assert result.cost == 50 * D(5) / 10**6 + 50 * D(40) / 10**6  # type: ignore[union-attr]
        client.close()
        assert sink.closed


class TestEdges:
    """Cursors across processes, cached tokens, bare totals and hostile merges."""

    def test_cursor_independent_of_hash_seed(self, sink: AggregateSink) -> None:
        """A cursor made in another process (another hash seed) is accepted here."""
        import os
        import subprocess
        import sys

        models = ["gpt-image-1", "dall-e-3", "dall-e-2", "a", "b", "c"]
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]);"
            "from aievents.sinks import AggregateSink;"
            f"p = AggregateSink().usage(start_time={D0}, end_time={D0 + 3 * DAY}, limit=1,"
            f" models={models!r}); print(p.next_page)"
        )
        env = {**os.environ, "PYTHONHASHSEED": "12345"}
        cursor = subprocess.run(
            [sys.executable, "-c", code, str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout.strip()
        page = sink.usage(
            start_time=D0,
            end_time=D0 + 3 * DAY,
            limit=1,
            models=list(reversed(models)),
            page=cursor,
        )
        assert page.data[0].start_time == D0 + DAY

    def test_cached_tokens_reported_apart(self) -> None:
        """input_text_tokens and input_image_tokens are uncached, as OpenAI's are."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        usage = ImageUsage(
            input_tokens=100,
            output_tokens=10,
            input_tokens_details=InputTokensDetails(
                text_tokens=60, image_tokens=40, cached_tokens=70
            ),
        )
        sink.handle(usage_event("c", timestamp=(D0 + 5) * 1000, usage=usage))
        (result,) = sink.usage(start_time=D0, end_time=D0 + DAY).data[0].results
        assert result.input_cached_tokens == 70  # type: ignore[union-attr]
        assert result.input_text_tokens == 0  # type: ignore[union-attr]
        assert result.input_image_tokens == 30  # type: ignore[union-attr]
        assert result.input_tokens == 100  # type: ignore[union-attr]

    def test_total_without_breakdown(self) -> None:
        """A cost given as a bare total still counts."""
        from aievents import ImageCost

        sink = AggregateSink(clock=lambda: D0 + DAY)
        bare = ImageCost(total=D("0.05"), basis="images", price_version="x", priced_model="m")
        sink.handle(usage_event("t", timestamp=(D0 + 5) * 1000, cost=bare, usage=ImageUsage()))
        (result,) = sink.costs(start_time=D0, end_time=D0 + DAY).data[0].results
        assert result.amount == D("0.05")  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        "mutate",
        [
            lambda row: row[2].__setitem__(-1, "NaN"),
            lambda row: row[2].__setitem__(-1, "-1"),
            lambda row: row[2].__setitem__(0, -5),
            lambda row: row[2].__setitem__(-1, 0.1),
            lambda row: row[1].__setitem__(0, 7),
            lambda row: row[1].__setitem__(0, ["x"]),
        ],
    )
    def test_merge_refuses_bad_rows(self, sink: AggregateSink, mutate: Any) -> None:
        """A corrupt row is refused and nothing at all is merged."""
        state = json.loads(json.dumps(sink.export()))
        mutate(state["series"][-1])
        target = AggregateSink(clock=lambda: D0 + 10 * DAY)
        with pytest.raises(QueryError):
            target.merge(state)
        assert target.export()["series"] == []
        assert target.events == 0

    def test_merge_counters(self, sink: AggregateSink) -> None:
        """Merging carries the duplicate and overflow counters too."""
        target = AggregateSink(clock=lambda: D0 + 10 * DAY)
        target.merge(sink)
        assert (target.events, target.duplicates) == (5, 1)


def unpriced_events() -> list[ImageUsageEvent]:
    """A priced request, and three of models without a price: with tokens, without, and twice."""
    return [
        event("p1", D0 + 10, text=10, image=40, output=50),  # $0.00245
        event("u1", D0 + 20, model="acme-image-x", text=10, output=1000),
        event("u2", D0 + 30, model="seedream-4.5", images=2),
        event("u3", D0 + 40, model="seedream-4.5", images=1),
    ]


def partly_priced(request_id: str, at: int) -> ImageUsageEvent:
    """A request whose text output has no rate: $0.002 is known, the rest is not."""
    built = event(request_id, at, text=10, output=50)
    cost = priced_cost(output_image="0.002")
    return ImageUsageEvent(
        **{**event_fields(built), "cost": attrs.evolve(cost, unpriced=("output_text",))}
    )


class TestUnpriced:
    """A request without a price is counted, and its cost is unknown, never $0."""

    def test_usage_counts_them(self) -> None:
        """Requests, images and tokens are counted; cost is null unless something is priced."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        for item in unpriced_events():
            sink.handle(item)
        by_model = valid(sink.usage(start_time=D0, end_time=D0 + DAY, group_by=["model"]))
        results = {r["model"]: r for r in by_model["data"][0]["results"]}
        acme, seed, gpt = (
            results["acme-image-x"],
            results["seedream-4.5"],
            results["gpt-image-1"],
        )
        assert (acme["num_model_requests"], acme["images"], acme["output_tokens"]) == (1, 1, 1000)
        assert (acme["unpriced_requests"], acme["cost"]) == (1, None)
        assert (seed["num_model_requests"], seed["images"], seed["unpriced_requests"]) == (2, 3, 2)
        assert seed["cost"] is None
        assert (gpt["unpriced_requests"], gpt["cost"]["value"]) == (0, 0.00245)
        (total,) = valid(sink.usage(start_time=D0, end_time=D0 + DAY))["data"][0]["results"]
        assert (total["num_model_requests"], total["unpriced_requests"]) == (4, 3)
        assert total["cost"] == {"value": 0.00245, "currency": "usd"}  # a lower bound
        assert (
            sink.usage(start_time=D0, end_time=D0 + DAY, models=["acme-image-x"])
            .data[0]
            .results[0]
            .cost
            is None
        )  # type: ignore[union-attr]

    def test_partly_priced(self) -> None:
        """A cost with unpriced parts counts as unpriced; its known part is summed."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        for index in range(3):  # the first opens the series; the others take the fast path
            sink.handle(partly_priced(f"q{index}", D0 + index))
        (result,) = sink.usage(start_time=D0, end_time=D0 + DAY).data[0].results
        assert result.unpriced_requests == 3  # type: ignore[union-attr]
        assert result.cost == D("0.006")  # type: ignore[union-attr]

    def test_costs_page(self) -> None:
        """Unpriced requests are a result of their own with no amount; pages stay valid."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        for item in unpriced_events():
            sink.handle(item)
        (bucket,) = valid(sink.costs(start_time=D0, end_time=D0 + DAY))["data"]
        priced, unknown = bucket["results"]
        assert priced["amount"] == {"value": 0.00245, "currency": "usd"}
        assert priced["unpriced_requests"] == 0
        assert "amount" not in unknown
        assert unknown["unpriced_requests"] == 3
        lines = valid(sink.costs(start_time=D0, end_time=D0 + DAY, group_by=["line_item"]))
        items = {r["line_item"]: r for r in lines["data"][0]["results"]}
        assert not any(name.startswith("acme-image-x, output") for name in items)
        seed = items["seedream-4.5, unpriced"]
        assert "amount" not in seed
        assert (seed["quantity"], seed["quantity_unit"], seed["unpriced_requests"]) == (
            2,
            "requests",
            2,
        )
        assert "amount" not in items["acme-image-x, unpriced"]
        assert items["gpt-image-1, output image tokens"]["amount"]["value"] == 0.002

    def test_only_unpriced(self) -> None:
        """A day of unpriced requests only: no priced result at all, nothing reads as $0."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        sink.handle(unpriced_events()[2])
        (result,) = valid(sink.costs(start_time=D0, end_time=D0 + DAY))["data"][0]["results"]
        assert "amount" not in result
        assert result["unpriced_requests"] == 1

    def test_export_keeps_them(self) -> None:
        """export/merge carry unpriced_requests; format 1 totals without a cost are unpriced."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        for item in unpriced_events():
            sink.handle(item)
        merged = AggregateSink(clock=lambda: D0 + DAY)
        merged.merge(json.loads(json.dumps(sink.export())))
        page = {"start_time": D0, "end_time": D0 + DAY, "group_by": ["model"]}
        assert merged.usage(**page).to_dict() == sink.usage(**page).to_dict()
        state = sink.export()
        newer = {"reported_requests", "cost_reported"}  # format 3: none reported here
        for version, dropped in ((3, set()), (2, newer), (1, {*newer, "unpriced_requests"})):
            kept = [at for at, name in enumerate(state["fields"]) if name not in dropped]
            old = {  # formats 1 to 3: six dimensions (before provider and quality)
                **state,
                "format": version,
                "fields": [state["fields"][at] for at in kept],
                "series": [[m, d[:6], [t[at] for at in kept]] for m, d, t in state["series"]],
            }
            from_old = AggregateSink(clock=lambda: D0 + DAY)
            from_old.merge(old)
            assert from_old.usage(**page).to_dict() == sink.usage(**page).to_dict()


class TestExpired:
    """An event older than the retention is counted in ``expired`` and logged, not lost."""

    def test_counted_and_logged(self) -> None:
        """Counted apart from events, logged once per interval with the number so far."""
        sink = AggregateSink(
            minute_detail=DAY, hour_detail=DAY, retention=3 * DAY, clock=lambda: D0 + 10 * DAY
        )
        with structlog.testing.capture_logs() as logs:
            sink.handle(event("old-1", D0))
            sink.handle(event("old-2", D0 + 60))
            sink.handle(event("fresh", D0 + 9 * DAY))
        assert (sink.expired, sink.events) == (2, 1)
        lines = [line for line in logs if line["event"] == "event_expired"]
        assert len(lines) == 1
        assert lines[0]["request_id"] == "old-1"
        assert lines[0]["log_level"] == "warning"
        page = sink.usage(start_time=D0, end_time=D0 + 10 * DAY, limit=10)
        assert sum(r.num_model_requests for b in page.data for r in b.results) == 1
        assert sink.export()["expired"] == 2

    def test_whole_days(self) -> None:
        """Totals go by whole UTC days: an event in a day that has gone is expired."""
        now = D0 + 10 * DAY + 3600
        sink = AggregateSink(
            minute_detail=DAY, hour_detail=DAY, retention=3 * DAY, clock=lambda: now
        )
        sink.handle(event("held", D0 + 8 * DAY))  # a series to add to
        sink.handle(event("kept", D0 + 8 * DAY + 60))  # the day kept
        sink.handle(event("gone", D0 + 8 * DAY - 60))  # its day has gone: expired
        assert (sink.events, sink.expired) == (2, 1)
        days = sink.usage(start_time=D0 + 7 * DAY, end_time=now)
        assert [sum(r.num_model_requests for r in b.results) for b in days.data] == [0, 2, 0, 0]

    def test_merge(self) -> None:
        """Merged totals older than the retention are counted as expired, not added."""
        source = AggregateSink(clock=lambda: D0 + DAY)
        source.handle(event("a", D0))
        source.handle(event("b", D0 + 60, user_id="user_2"))
        target = AggregateSink(
            minute_detail=DAY, hour_detail=DAY, retention=3 * DAY, clock=lambda: D0 + 10 * DAY
        )
        with structlog.testing.capture_logs() as logs:
            target.merge(source)
        assert target.expired == 2
        assert target.export()["series"] == []
        assert [line["requests"] for line in logs if line["event"] == "totals_expired"] == [2]


class TestRolledEdges:
    """A query edge inside rolled-up totals is answered exactly or refused, never short."""

    @pytest.fixture(name="rolled")
    def _rolled(self) -> AggregateSink:
        """180 events, one a minute from 10:00 to 12:59 of day 0, rolled into day 0."""
        sink = AggregateSink(clock=lambda: D0 + 10 * DAY)
        for index in range(180):
            sink.handle(event(f"r{index}", D0 + 10 * 3600 + 60 * index))
        return sink

    def test_edges_outside_the_events(self, rolled: AggregateSink) -> None:
        """A start or end inside the day but outside its events' minutes: exact."""
        for width in ("1h", "1d"):
            page = rolled.usage(
                start_time=D0 + 9 * 3600 + 1800, end_time=D0 + 15 * 3600, bucket_width=width
            )
            assert sum(r.num_model_requests for b in page.data for r in b.results) == 180
        hours = rolled.usage(start_time=D0, end_time=D0 + DAY, bucket_width="1h")
        assert [sum(r.images for r in b.results) for b in hours.data][10] == 180

    @pytest.mark.parametrize(
        ("start", "end", "field"),
        [(D0 + 11 * 3600, D0 + DAY, "start_time"), (D0, D0 + 12 * 3600, "end_time")],
    )
    def test_edge_inside_the_events(
        self, rolled: AggregateSink, start: int, end: int, field: str
    ) -> None:
        """An edge between the first and last minute of rolled-up totals is refused, named."""
        with pytest.raises(QueryError) as caught:
            rolled.usage(start_time=start, end_time=end)
        assert caught.value.field == field
        assert "2024-11-01T10:00 or earlier, or 2024-11-01T13:00 or later" in str(caught.value)

    def test_up_to_now_counts_whole(self) -> None:
        """Without an end ("up to now"), a rolled-up total reaching past now counts whole."""
        sink = AggregateSink(clock=lambda: D0 + 60, max_entries=2, compiled=False)
        for index in range(6):  # minutes 0 to 5, now at minute 1: caps roll them up
            sink.handle(event(f"r{index}", D0 + 60 * index))
        page = sink.usage(start_time=D0)  # no QueryError: the end was not given
        counted = sum(r.num_model_requests for b in page.data for r in b.results)
        assert 2 <= counted <= 6  # minutes 0 and 1 at least; later ones only in a roll-up
        with pytest.raises(QueryError):  # a given end inside them is still refused
            sink.usage(start_time=D0, end_time=D0 + 120)

    def test_filtered_out_totals_do_not_refuse(self, rolled: AggregateSink) -> None:
        """Totals the filters leave out do not stop the answer."""
        page = rolled.usage(start_time=D0 + 11 * 3600, end_time=D0 + DAY, models=["other"])
        assert all(not b.results for b in page.data)

    def test_pages_count_each_roll_up_once(self, rolled: AggregateSink) -> None:
        """Minute buckets over rolled-up time, page by page: each total on one page."""
        total, page_token = 0, None
        while True:
            page = rolled.usage(
                start_time=D0 + 9 * 3600, end_time=D0 + 14 * 3600, bucket_width="1m",
                limit=37, page=page_token,
            )  # fmt: skip
            total += sum(r.num_model_requests for b in page.data for r in b.results)
            if page.next_page is None:
                break
            page_token = page.next_page
        assert total == 180
