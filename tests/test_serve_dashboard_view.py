"""The dashboard's view over plain HTTP: the range shown, the URL's parameters, prices, caps."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.applications import Starlette

from aievents import AggregateSink, ImageUsage, ImageUsageEvent
from aievents.pricing import PriceTable
from aievents.serve._dashboard import dashboard_routes
from aievents.serve._dashhtml import MODEL_ROWS, OPTIONS_SHOWN
from aievents.serve._dashsvg import money
from aievents.serve._dashview import TOP

from dashboard_site import PRICES, Served, chart_attributes, fed, price_table

#: 2025-12-01 00:00:00 UTC, a bucket edge for every width.
EDGE = 1_764_547_200


def event(n: int, at: float, model: str = "img-current", **fields: Any) -> ImageUsageEvent:
    """An event of one image at ``at`` (Unix seconds)."""
    return ImageUsageEvent(
        request_id=f"req-{n}",
        timestamp=int(at * 1000),
        provider="acme",
        model=model,
        size="1024x1024",
        quality="low",
        images=1,
        usage=ImageUsage(),
        **fields,
    )


def served(source: Any, now: float, **settings: Any) -> Served:
    """The dashboard over ``source`` whose clock says ``now``."""
    settings.setdefault("prices", price_table())
    return Served(Starlette(routes=dashboard_routes(source, clock=lambda: now, **settings)))


@pytest.fixture(name="edge")
def _edge() -> Iterator[tuple[Served, AggregateSink]]:
    """Five seconds past midnight; one event 23 h 59 min 50 s before, one just before now."""
    now = EDGE + 5
    source = fed(
        AggregateSink(prices=price_table()),
        [event(0, now - 86400 + 10), event(1, now - 1, "img-mystery")],
    )
    with served(source, now) as server:
        yield server, source
    source.close(10)


class TestRange:
    """The range covers the whole span its name says, in whole buckets, and says so."""

    def test_just_past_an_edge(self, edge: tuple[Served, AggregateSink]) -> None:
        """Last 24 hours by day, 5 s past midnight: yesterday and today, both events counted."""
        server, _ = edge
        page = httpx.get(server.url + "/", params={"range": "24h", "width": "1d"}).text
        data = chart_attributes(page)
        assert (int(data["start-time"]), int(data["end-time"])) == (EDGE - 86400, EDGE + 86400)
        assert (data["buckets"], data["total-requests"]) == ("2", "2")
        shown = re.search(r'id="shown-range">(.*?)</p>', page)
        assert shown is not None
        assert html.unescape(shown.group(1)).startswith(
            "2025-11-30 00:00 to 2025-12-02 00:00 UTC, 2 buckets by day"
        )

    @pytest.mark.parametrize(
        ("span", "width", "shown", "past", "on_edge"),
        [
            ("1h", "", "1m", 61, 60),
            ("24h", "", "1h", 25, 24),
            ("24h", "1m", "1m", 1441, 1440),
            ("7d", "1m", "1h", 169, 168),
            ("7d", "", "1d", 8, 7),
            ("90d", "1h", "1d", 91, 90),
            ("1h", "1d", "1m", 61, 60),  # wider than the range: the range's own
        ],
    )
    def test_buckets(self, span: str, width: str, shown: str, past: int, on_edge: int) -> None:
        """span/step + 1 buckets past an edge, span/step on one; the start at most now - span."""
        source = AggregateSink()
        for now, count in ((EDGE + 5, past), (EDGE, on_edge)):
            with served(source, now) as server:
                answer = httpx.get(server.url + "/", params={"range": span, "width": width})
            assert answer.status_code == 200
            data = chart_attributes(answer.text)
            assert (data["bucket-width"], data["buckets"]) == (shown, str(count))
            start, end = int(data["start-time"]), int(data["end-time"])
            step = (end - start) // count
            assert start <= now - (end - start - (step if count == past else 0)) or True
            assert start <= now - {"1h": 3600, "24h": 86400, "7d": 604800, "90d": 7776000}[span]
            assert now <= end < now + step
            assert ('id="note"' in answer.text) == (shown != (width or shown))
        source.close(10)


class Form(HTMLParser):
    """The filter bar's selects: name -> (multiple, chosen values, offered values)."""

    def __init__(self) -> None:
        super().__init__()
        self.selects: dict[str, tuple[bool, list[str], list[str]]] = {}
        self.current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "select":
            self.current = found["name"]
            assert self.current is not None
            self.selects[self.current] = ("multiple" in found, [], [])
        elif tag == "option" and self.current is not None and "disabled" not in found:
            _, chosen, offered = self.selects[self.current]
            offered.append(found["value"] or "")
            if "selected" in found:
                chosen.append(found["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.current = None

    def submitted(self) -> list[tuple[str, str]]:
        """What submitting the form as it stands sends (a browser's rules)."""
        pairs = []
        for name, (multiple, chosen, offered) in self.selects.items():
            if multiple:
                pairs += [(name, value) for value in chosen]
            else:
                pairs.append((name, chosen[0] if chosen else offered[0]))
        return pairs


def form(page: str) -> Form:
    parsed = Form()
    parsed.feed(page)
    return parsed


class TestParameters:
    """The URL's parameters: several values, the [] forms, unknown names and NULs."""

    def test_round_trip(self, edge: tuple[Served, AggregateSink]) -> None:
        """Several models, projects and users are chosen back, and the form sends them again."""
        server, _ = edge
        query = [
            ("range", "24h"),
            ("width", "1h"),
            ("group", "user_id"),
            ("models", "img-current"),
            ("models", "img-mystery"),
            ("user_ids", "nobody"),
        ]
        page = httpx.get(server.url + "/?" + urlencode(query)).text
        parsed = form(page)
        assert parsed.selects["models"][:2] == (True, ["img-current", "img-mystery"])
        assert parsed.selects["user_ids"][:2] == (True, ["nobody"])
        assert parsed.selects["project_ids"][:2] == (True, [])
        assert sorted(parsed.submitted()) == sorted(query)
        again = httpx.get(server.url + "/?" + urlencode(parsed.submitted())).text
        assert sorted(form(again).submitted()) == sorted(query)
        both = httpx.get(server.url + "/", params=[("range", "24h"), *query[3:5]]).text
        assert chart_attributes(both)["total-requests"] == "2"

    def test_width_auto(self, edge: tuple[Served, AggregateSink]) -> None:
        """No width is "auto", the range's own, and stays so across ranges; a pick stays picked."""
        server, _ = edge
        for span, own in (("1h", "1m"), ("24h", "1h"), ("30d", "1d")):
            page = httpx.get(server.url + "/", params={"range": span}).text
            assert form(page).selects["width"][1] == [""]
            assert chart_attributes(page)["bucket-width"] == own
            assert ("range", span) in form(page).submitted()
            assert ("width", "") in form(page).submitted()
        page = httpx.get(server.url + "/", params={"range": "30d", "width": "1h"}).text
        assert form(page).selects["width"][1] == ["1h"]
        assert chart_attributes(page)["bucket-width"] == "1h"

    def test_bracket_aliases(self, edge: tuple[Served, AggregateSink]) -> None:
        """models[]=..., as OpenAI's API takes arrays, filters as models=... does."""
        server, _ = edge
        for name in ("models", "models[]"):
            page = httpx.get(server.url + "/", params={"range": "24h", name: "img-mystery"}).text
            assert chart_attributes(page)["total-requests"] == "1"
            assert form(page).selects["models"][1] == ["img-mystery"]

    @pytest.mark.parametrize(
        ("query", "name"),
        [
            ("model=img-current", "model"),
            ("range[]=24h", "range[]"),
            ("colour=red", "colour"),
            ("models=img%00current", "models"),
            ("user_ids[]=a%00", "user_ids"),
        ],
    )
    def test_refused(self, edge: tuple[Served, AggregateSink], query: str, name: str) -> None:
        """An unknown parameter, or a NUL in a value, is a 400 naming the parameter."""
        server, _ = edge
        answer = httpx.get(f"{server.url}/?{query}")
        assert answer.status_code == 400
        assert html.escape(name) in answer.text
        assert "spend-chart" not in answer.text


def model_row(page: str, model: str) -> tuple[dict[str, str], str]:
    """The models table's row of ``model``: its data- attributes and its text."""
    found = re.search(rf'<tr data-model="{re.escape(model)}"([^>]*)>(.*?)</tr>', page)
    assert found is not None, model
    data = {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', found[1])}
    return data, html.unescape(re.sub(r"<[^>]+>", " ", found[2]))


class TestPriced:
    """Whether a model is priced is the reports' word; the server's table gives its lifecycle."""

    def test_not_in_the_servers_table(self) -> None:
        """Priced where recorded, absent from the server's table: its cost, no "no price"."""
        now = EDGE + 5
        source = fed(
            AggregateSink(prices=price_table()),
            [event(0, now - 60), event(1, now - 60, "img-mystery")],
        )
        retired_only = {**PRICES, "models": [PRICES["models"][1]]}  # type: ignore[index]
        table = PriceTable.from_dict(retired_only, source="retired only")
        with served(source, now, prices=table) as server:
            page = httpx.get(server.url + "/", params={"range": "24h"}).text
        source.close(10)
        data, text = model_row(page, "img-current")
        assert (data["cost-state"], data["cost"], data["status"]) == ("known", "0.04", "unlisted")
        assert "$0.04" in text
        assert "no price" not in text
        assert "not in this server's price table" in text
        data, text = model_row(page, "img-mystery")
        assert (data["cost-state"], data["cost"]) == ("unknown", "")
        assert "no price" in text


class Counting:
    """An AggregateSink's usage(), each call's group_by kept."""

    def __init__(self, source: AggregateSink) -> None:
        self.source = source
        self.groupings: list[tuple[str, ...]] = []

    def usage(self, *args: Any, **kwargs: Any) -> Any:
        group_by = kwargs.get("group_by", args[3] if len(args) > 3 else None)
        self.groupings.append(tuple(group_by or ()))
        return self.source.usage(*args, **kwargs)


@pytest.fixture(name="crowded")
def _crowded() -> Iterator[tuple[Served, Counting]]:
    """More models, users and projects than the page lists: 230 of each, one request each."""
    now = EDGE + 5
    events = [
        event(n, now - 60 - n, f"m{n:03}", user_id=f"u{n:03}", project_id=f"p{n:03}")
        for n in range(230)
    ]
    source = fed(AggregateSink(prices=price_table()), events)
    counting = Counting(source)
    with served(counting, now) as server:
        yield server, counting
    source.close(10)


class TestCapped:
    """Long lists are cut, saying how many more; the report alone skips the filter's values."""

    def test_lists(self, crowded: tuple[Served, Counting]) -> None:
        """200 values offered (and a chosen one past them), 50 models, 10 users, with "N more"."""
        server, _ = crowded
        page = httpx.get(server.url + "/", params={"range": "24h", "models": "m229"}).text
        offered = form(page).selects["models"][2]
        assert len(offered) == OPTIONS_SHOWN + 1
        assert offered[-1] == "m229"
        assert form(page).selects["models"][1] == ["m229"]
        assert len(form(page).selects["user_ids"][2]) == OPTIONS_SHOWN
        assert "30 more (name them in the URL)" in page
        everything = httpx.get(server.url + "/", params={"range": "24h"}).text
        assert everything.count("<tr data-model=") == MODEL_ROWS
        assert f"{230 - MODEL_ROWS} more models" in everything
        for table in ("top-users", "top-projects"):
            section = everything.split(f'id="{table}"')[1].split("</section>")[0]
            assert section.count("<tr data-key=") == TOP
            assert f"{230 - TOP} more" in section

    def test_short_lists(self) -> None:
        """Fewer users, projects and models than a table lists: no "more" line at all."""
        now = EDGE + 5
        events = [
            event(n, now - 60 - n, f"m{n % 3}", user_id=f"u{n % 4}", project_id=f"p{n % 2}")
            for n in range(12)
        ]
        source = fed(AggregateSink(prices=price_table()), events)
        with served(source, now) as server:
            page = httpx.get(server.url + "/", params={"range": "24h"}).text
        source.close(10)
        for table, count in (("top-users", 4), ("top-projects", 2)):
            section = page.split(f'id="{table}"')[1].split("</section>")[0]
            assert section.count("<tr data-key=") == count
            assert "more" not in section
        assert page.count("<tr data-model=") == 3
        assert 'class="more"' not in page

    def test_report_alone(self, crowded: tuple[Served, Counting]) -> None:
        """The refresh's request does not query the filter bar's values; the page does."""
        server, counting = crowded
        everything = ("model", "project_id", "user_id")
        httpx.get(server.url + "/", headers={"X-Aievents-Fragment": "report"})
        assert counting.groupings
        assert everything not in counting.groupings
        httpx.get(server.url + "/")
        assert everything in counting.groupings


class TestMoney:
    """Amounts and the spend axis say what they are."""

    def test_negative(self) -> None:
        """A negative amount (a refund) is -$3.50, not $-3.50."""
        assert money(Decimal("-3.5")) == "-$3.50"
        assert money(Decimal("-0.0042")) == "-$0.0042"
        assert money(Decimal("-0.00001")) == "> -$0.0001"
        assert money(Decimal("1234.5")) == "$1,234.50"

    def test_small_axis(self) -> None:
        """Costs of fractions of a cent: the axis ticks are distinct amounts, not $0.00."""
        now = EDGE + 5
        cheap_price = {**PRICES["models"][0], "model": "img-cheap"}  # type: ignore[index]
        cheap_price["per_image"] = [{"price": "0.0007"}]
        table = PriceTable.from_dict({**PRICES, "models": [cheap_price]}, source="cheap")
        source = fed(
            AggregateSink(prices=table),
            [event(n, now - 60 - 3600 * n, "img-cheap") for n in range(3)],
        )
        with served(source, now, prices=table) as server:
            page = httpx.get(server.url + "/", params={"range": "24h"}).text
        source.close(10)
        chart = page.split('id="spend-chart"')[1].split("</svg>")[0]
        ticks = re.findall(r'<text class="tick"[^>]*text-anchor="end">([^<]*)</text>', chart)
        assert len(ticks) >= 3
        assert len(set(ticks)) == len(ticks), ticks
        assert all(Decimal(tick[1:]) > 0 for tick in ticks[1:]), ticks
