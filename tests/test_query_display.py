"""Pages for people: Page.to_pandas() and the HTML table Jupyter shows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser

import attrs
import pandas as pd
import pytest

from aievents.query import HTML_ROWS, Page
from aievents.sinks import AggregateSink
from test_aggregate import D0, DAY, EVENTS, event

D = Decimal
UNPRICED = attrs.evolve(event("u1", D0 + 300, user_id="user_9"), model="acme-image-x", cost=None)
#: A user id that is markup: shown as text, never run.
MARKUP = "<script>alert('x')</script>&"


@pytest.fixture(name="sink")
def _sink() -> AggregateSink:
    sink = AggregateSink(minute_detail=30 * DAY, hour_detail=60 * DAY, clock=lambda: D0 + 10 * DAY)
    for item in [*EVENTS, UNPRICED, event("m1", D0 + 400, user_id=MARKUP, text=1, output=1)]:
        sink.handle(item)
    return sink


class Cells(HTMLParser):
    """The text of each table cell, row by row, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def cells(text: str) -> Cells:
    parser = Cells()
    parser.feed(text)
    parser.close()
    return parser


class TestToPandas:
    """One row per result: bucket times in UTC, every field, exact amounts."""

    def test_usage(self, sink: AggregateSink) -> None:
        """Columns are the bucket's times then to_dict's fields; cost stays Decimal or None."""
        page = sink.usage(start_time=D0, end_time=D0 + 3 * DAY, group_by=["model"])
        frame = page.to_pandas()
        fields = [n for n in page.data[0].results[0].to_dict() if n != "object"]
        assert list(frame.columns) == ["start_time", "end_time", *fields, "partial"]
        assert len(frame) == sum(len(b.results) for b in page.data)  # the empty day: no row
        assert frame["start_time"].iloc[0] == pd.Timestamp(D0, unit="s", tz="UTC")
        assert str(frame["start_time"].dt.tz) == "UTC"
        assert frame["cost"].dtype == object
        unknown = frame[frame["model"] == "acme-image-x"]
        assert unknown["cost"].tolist() == [None]
        assert unknown["unpriced_requests"].tolist() == [1]
        assert frame.loc[frame["model"] == "dall-e-3", "cost"].tolist() == [D("0.16")]
        assert frame["images"].dtype == "int64"
        assert frame["images"].sum() == sum(r.images for b in page.data for r in b.results)

    def test_costs(self, sink: AggregateSink) -> None:
        """Costs rows hold the exact amount and the extension groups."""
        page = sink.costs(start_time=D0, end_time=D0 + 2 * DAY, group_by=["user_id"])
        frame = page.to_pandas()
        assert {"amount", "user_id", "model", "line_item"} <= set(frame.columns)
        assert all(isinstance(a, Decimal) or a is None for a in frame["amount"])
        total = sum(a for a in frame["amount"] if a is not None)
        assert total == sum(r.amount or 0 for b in page.data for r in b.results)

    def test_partial_column(self, sink: AggregateSink) -> None:
        """partial marks the rows whose amount is unknown or a lower bound: a sum is not all."""
        page = sink.costs(start_time=D0, end_time=D0 + DAY, group_by=["model"])
        frame = page.to_pandas()
        assert frame["partial"].dtype == bool
        unknown = frame["model"] == "acme-image-x"
        assert frame.loc[unknown, "partial"].tolist() == [True]
        assert not frame.loc[~unknown, "partial"].any()
        assert frame["partial"].any()  # so the sum of amounts below is a lower bound
        lower = frame["amount"].sum(min_count=1)
        assert lower == sum(a for a in frame["amount"] if a is not None)
        assert pd.isna(frame.loc[unknown, "amount"].sum(min_count=1))  # unknown, not 0
        ungrouped = sink.usage(start_time=D0, end_time=D0 + DAY).to_pandas()
        assert ungrouped["partial"].tolist() == [True]  # a priced part + unknown

    def test_empty(self, sink: AggregateSink) -> None:
        """No usage: no rows, the same columns."""
        page = sink.costs(start_time=D0 - 5 * DAY, end_time=D0 - 4 * DAY)
        frame = page.to_pandas()
        assert len(frame) == 0
        assert "amount" in frame.columns
        assert list(Page(data=(), has_more=False, next_page=None).to_pandas().columns) == [
            "start_time",
            "end_time",
        ]


class TestReprHtml:
    """The HTML table Jupyter shows: escaped, cost unknown never $0, no pandas needed."""

    def test_table(self, sink: AggregateSink) -> None:
        """The grouped fields and the sums, one row per result."""
        page = sink.usage(start_time=D0, end_time=D0 + DAY, group_by=["user_id", "model"])
        table = cells(page._repr_html_())
        head, *rows = table.rows
        assert head[:3] == ["bucket (UTC)", "model", "user_id"]
        assert "cost (computed)" in head
        assert len(rows) == len(page.data[0].results)
        by_model = {row[1]: row for row in rows}
        cost_at = head.index("cost (computed)")
        assert by_model["acme-image-x"][cost_at] == "unknown"
        assert by_model["dall-e-3"][cost_at] == "$0.16"
        assert by_model["dall-e-3"][0] == "2024-11-01 00:00"

    def test_grouped_columns(self) -> None:
        """The grouped fields are the page's group_by, even where every value is null."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        sink.handle(attrs.evolve(event("n1", D0 + 60), user_id=None, project_id=None))
        page = sink.usage(start_time=D0, end_time=D0 + DAY, group_by=["user_id"])
        assert page.group_by == ("user_id",)
        head, row = cells(page._repr_html_()).rows
        assert head[:2] == ["bucket (UTC)", "user_id"]
        assert row[1] == ""
        ungrouped = sink.costs(start_time=D0, end_time=D0 + DAY)  # results name no group
        assert cells(ungrouped._repr_html_()).rows[0][:2] == ["bucket (UTC)", "amount (computed)"]

    def test_escaped(self, sink: AggregateSink) -> None:
        """Markup in a value is text: no script tag, the value read back whole."""
        page = sink.costs(start_time=D0, end_time=D0 + DAY, group_by=["user_id"])
        text = page._repr_html_()
        table = cells(text)
        assert "script" not in table.tags
        assert any(MARKUP in row for row in table.rows)

    def test_partial(self, sink: AggregateSink) -> None:
        """Ungrouped, the day's cost is the priced part + unknown."""
        page = sink.usage(start_time=D0, end_time=D0 + DAY)
        head, row = cells(page._repr_html_()).rows
        assert row[head.index("cost (computed)")].endswith(" + unknown")
        assert row[head.index("unpriced")] == "1"

    def test_many_rows(self) -> None:
        """Past HTML_ROWS rows the table stops and says so."""
        sink = AggregateSink(clock=lambda: D0 + DAY)
        for index in range(HTML_ROWS + 5):
            sink.handle(event(f"r{index}", D0 + 60, user_id=f"user_{index:04}"))
        page = sink.usage(start_time=D0, end_time=D0 + DAY, group_by=["user_id"])
        text = page._repr_html_()
        assert len(cells(text).rows) == HTML_ROWS + 1
        assert f"the first {HTML_ROWS:,} of {HTML_ROWS + 5:,} rows" in text

    def test_spend(self, sink: AggregateSink) -> None:
        """A Spend shows as a small table too."""
        got = sink.spend(since=dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc))
        table = dict(cells(got._repr_html_()).rows)  # type: ignore[arg-type]
        assert table["spent (computed)"].startswith("at least $")
        assert table["requests"] == str(got.requests)
