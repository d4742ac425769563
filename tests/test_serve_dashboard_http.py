"""The dashboard at ``/`` over plain HTTP: escaping, an empty store, the ranges, its files."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.applications import Starlette

from aievents import AggregateSink, ImageUsage, ImageUsageEvent, StoreSink
from aievents.serve._dashboard import CONTENT_SECURITY_POLICY, dashboard_routes

from dashboard_site import (
    HOSTILE_MODEL,
    HOSTILE_PROJECT,
    HOSTILE_USER,
    Served,
    chart_attributes,
    fed,
    price_table,
)


@pytest.fixture(name="hostile")
def _hostile(tmp_path: Path) -> Iterator[Served]:
    """The dashboard over a store whose model, user and project names are markup."""
    now = time.time()
    events = [
        ImageUsageEvent(
            request_id=f"evil-{n}",
            timestamp=int((now - 3600 * (n + 1)) * 1000),
            provider="acme",
            model=model,
            size="1024x1024",
            quality="low",
            images=1,
            user_id=HOSTILE_USER,
            project_id=HOSTILE_PROJECT,
            usage=ImageUsage(),
        )
        for n, model in enumerate([HOSTILE_MODEL, "img-current"])
    ]
    source = fed(StoreSink(f"sqlite:///{tmp_path / 'evil.db'}", prices=price_table()), events)
    with Served(Starlette(routes=dashboard_routes(source, prices=price_table()))) as served:
        yield served
    source.close(10)


class TestEscaping:
    """Names from events, and the query string, are shown as text: never markup."""

    @pytest.mark.parametrize("group", ["model", "user_id", "project_id"])
    def test_names(self, hostile: Served, group: str) -> None:
        """Model, user and project names that are markup appear escaped, in every place."""
        answer = httpx.get(hostile.url + "/", params={"group": group})
        assert answer.status_code == 200
        page = answer.text
        for name in (HOSTILE_MODEL, HOSTILE_USER, HOSTILE_PROJECT):
            assert name not in page
            assert html.escape(name, quote=True) in page
        assert "<script>alert" not in page
        assert "<img" not in page
        assert page.count("<script") == 1  # the package's own, by src

    def test_chosen_filter_values(self, hostile: Served) -> None:
        """A filter value from the URL is offered back escaped, and finds what it names."""
        answer = httpx.get(hostile.url + "/", params={"models": HOSTILE_MODEL})
        assert answer.status_code == 200
        assert HOSTILE_MODEL not in answer.text
        assert f'value="{html.escape(HOSTILE_MODEL, quote=True)}" selected' in answer.text
        assert chart_attributes(answer.text)["total-requests"] == "1"

    def test_bad_parameter(self, hostile: Served) -> None:
        """A wrong value is a 400 page naming the parameter and the value, escaped."""
        answer = httpx.get(hostile.url + "/", params={"group": "<b>x</b>"})
        assert answer.status_code == 400
        assert "group" in answer.text
        assert "&lt;b&gt;x&lt;/b&gt;" in answer.text
        assert "<b>x</b>" not in answer.text
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.fixture(name="empty", params=["aggregate", "sqlite"])
def _empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The dashboard over a source that holds nothing."""
    if request.param == "aggregate":
        source: Any = AggregateSink()
    else:
        source = StoreSink(f"sqlite:///{tmp_path / 'empty.db'}")
    routes = dashboard_routes(source, clock=lambda: 1_764_547_205)  # 5 s past midnight
    with Served(Starlette(routes=routes)) as served:
        yield served
    source.close(10)


class TestEmpty:
    """With no usage at all the page says so, with totals of zero."""

    def test_page(self, empty: Served) -> None:
        """200, "No usage in this range", zero totals, every bucket drawn (today too), no series."""
        answer = httpx.get(empty.url + "/")
        assert answer.status_code == 200
        assert "No usage in this range." in answer.text
        data = chart_attributes(answer.text)
        assert (data["total-requests"], data["total-images"], data["total-cost"]) == ("0", "0", "0")
        assert (data["cost-state"], data["unpriced-requests"], data["buckets"]) == (
            "known",
            "0",
            "8",
        )
        assert 'id="unpriced"' not in answer.text
        assert 'id="retired"' not in answer.text
        assert "<li data-series-name" not in answer.text


class TestServed:
    """The page's own files, the report alone for the refresh, and the headers."""

    def test_assets(self, empty: Served) -> None:
        """The stylesheet, script and icon, with their types; anything else is 404."""
        for name, kind in [
            ("dashboard.css", "text/css"),
            ("dashboard.js", "text/javascript"),
            ("icon.svg", "image/svg+xml"),
        ]:
            answer = httpx.get(f"{empty.url}/assets/{name}")
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith(kind)
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert "http" not in answer.text.replace("http://www.w3.org/2000/svg", "")
        assert httpx.get(f"{empty.url}/assets/secret.txt").status_code == 404
        assert httpx.get(f"{empty.url}/assets/..%2Fpyproject.toml").status_code == 404

    def test_report_alone(self, empty: Served) -> None:
        """With the refresh's header, the report without the page around it."""
        answer = httpx.get(empty.url + "/?range=24h", headers={"X-Aievents-Fragment": "report"})
        assert answer.status_code == 200
        assert answer.text.startswith('<div id="report"')
        assert "<form" not in answer.text
        assert chart_attributes(answer.text)["bucket-width"] == "1h"
        assert answer.headers["cache-control"] == "no-store"


class TestSettings:
    """The routes' own settings are checked."""

    @pytest.mark.parametrize("refresh", [-1, 1.5, True, "30"])
    def test_refresh(self, refresh: Any) -> None:
        """A refresh that is not whole seconds from 0 is refused, named."""
        with pytest.raises(ValueError, match="refresh") as caught:
            dashboard_routes(AggregateSink(), refresh=refresh)
        assert repr(refresh) in str(caught.value) or str(refresh) in str(caught.value)

    def test_no_refresh(self) -> None:
        """refresh=0: the page does not fetch its report again."""
        source = AggregateSink()
        with Served(Starlette(routes=dashboard_routes(source, refresh=0))) as served:
            assert 'data-refresh-seconds="0"' in httpx.get(served.url + "/").text
        source.close(10)


def spend_card(page: str) -> str:
    """The text of the page's spend card."""
    found = re.search(r'id="card-spend">.*?<div class="card-value">(.*?)</div>', page)
    assert found is not None
    return html.unescape(found.group(1))


class TestCostShown:
    """A cost is shown as known, as a lower bound, or as unknown: never $0 when unknown."""

    @pytest.mark.parametrize(
        ("models", "card", "state", "cost"),
        [
            (["img-current"], "$0.08", "known", "0.08"),
            (["img-current", "img-mystery"], "at least $0.08", "partial", "0.08"),
            (["img-mystery"], "unknown", "unknown", ""),
        ],
    )
    def test_spend(self, models: list[str], card: str, state: str, cost: str) -> None:
        """Two images of img-current at $0.04; img-mystery has no price: its cost is empty."""
        now = time.time()
        events = [
            ImageUsageEvent(
                request_id=f"req-{n}",
                timestamp=int((now - 120) * 1000),
                provider="acme",
                model=model,
                size="1024x1024",
                quality="low",
                images=2,
                usage=ImageUsage(),
            )
            for n, model in enumerate(models)
        ]
        source = fed(AggregateSink(prices=price_table()), events)
        with Served(Starlette(routes=dashboard_routes(source, prices=price_table()))) as served:
            page = httpx.get(served.url + "/?range=24h").text
        source.close(10)
        assert spend_card(page) == card
        data = chart_attributes(page)
        assert (data["cost-state"], data["total-cost"]) == (state, cost)
        assert data["total-requests"] == str(len(models))
        series = re.findall(r'data-series-cost="([^"]*)" data-series-state="([^"]*)"', page)
        assert series
        for series_cost, series_state in series:
            assert (series_cost == "") == (series_state == "unknown")
        assert ('id="unpriced"' in page) == ("img-mystery" in models)
