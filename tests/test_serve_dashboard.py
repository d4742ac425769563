"""The dashboard at ``/``: in a real browser (Debian's chromium via Selenium) and over HTTP.

A uvicorn server on 127.0.0.1 (a free port) serves
``Starlette(routes=dashboard_routes(source))`` over a real source: an
AggregateSink, and a SQLite StoreSink, each fed the same seeded random
stream. What the page shows is checked against ``source.usage()`` itself.

The browser is Debian's: ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``
(``.ci/run`` installs them). Without them the browser tests are skipped,
except in CI (``CI`` set), where that fails.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from helpers import until

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import uvicorn
from starlette.applications import Starlette

from aievents import AggregateSink, EventClient, ImageUsage, ImageUsageEvent, StoreSink
from aievents.pricing import PriceTable
from aievents.query import ImagesResult
from aievents.serve._dashboard import CONTENT_SECURITY_POLICY, dashboard_routes

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOSTILE_USER = "<img src=/x onerror=alert(1)>"
HOSTILE_MODEL = '"><script>alert(2)</script>'
HOSTILE_PROJECT = "p&q'\""
PRICES = {
    "format": 2,
    "version": "dashboard-test",
    "currency": "usd",
    "models": [
        {
            "provider": "acme",
            "model": "img-current",
            "unit": "images",
            "per_image": [{"price": "0.04"}],
            "source": "test",
            "effective": "2026-01-01",
        },
        {
            "provider": "acme",
            "model": "img-retired",
            "unit": "images",
            "per_image": [{"price": "0.02"}],
            "source": "test",
            "effective": "2020-01-01",
            "shutdown": "2021-01-01",
            "successor": "img-current",
        },
    ],
}


def price_table() -> PriceTable:
    """img-current and img-retired (shut down in 2021) priced; img-mystery not."""
    return PriceTable.from_dict(PRICES, source="dashboard test")


def stream(now: float, count: int = 120, seed: int = 18) -> list[ImageUsageEvent]:
    """A seeded random stream over the last six days: three models, users, projects."""
    rng = random.Random(seed)
    models = ["img-current", "img-current", "img-retired", "img-mystery"]
    users = ["alice", "bob", "carol", HOSTILE_USER, None]
    projects = ["proj_a", "proj_b", HOSTILE_PROJECT]
    return [
        ImageUsageEvent(
            request_id=f"req-{n}",
            timestamp=int((now - rng.uniform(60, 6 * 86400)) * 1000),
            provider="acme",
            model=rng.choice(models),
            size="1024x1024",
            quality="low",
            images=rng.randint(1, 4),
            user_id=rng.choice(users),
            project_id=rng.choice(projects),
            usage=ImageUsage(),
        )
        for n in range(count)
    ]


def fed(source: Any, events: list[ImageUsageEvent]) -> Any:
    """``source`` with ``events`` emitted into it and written."""
    client = EventClient()
    client.add_sink(source)
    for event in events:
        client.emit(event)
    assert client.flush(30)
    return source


class Served:
    """A uvicorn server on 127.0.0.1 (a free port) in a thread, serving ``app``."""

    def __init__(self, app: Starlette) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        until(lambda: self.server.started or not self.thread.is_alive())
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.socket.close()


def totals(source: Any, start: int, end: int, width: str = "1d", **filters: Any) -> dict[str, Any]:
    """The totals of ``source.usage()`` over the range, page after page, as the page shows them."""
    found = {"requests": 0, "images": 0, "cost": Decimal(0), "unpriced": 0}
    cursor = None
    while True:
        page = source.usage(start, end, width, limit=31, page=cursor, **filters)
        for bucket in page.data:
            for result in bucket.results:
                assert isinstance(result, ImagesResult)
                found["requests"] += result.num_model_requests
                found["images"] += result.images
                found["unpriced"] += result.unpriced_requests
                found["cost"] += result.cost or 0
        cursor = page.next_page
        if cursor is None:
            return found


def groups(source: Any, start: int, end: int, name: str) -> set[str]:
    """The values of ``name`` in ``source.usage(group_by=[name])`` ("(not set)" for None)."""
    page = source.usage(start, end, "1d", [name], limit=31)
    return {
        "(not set)" if getattr(r, name) is None else getattr(r, name)
        for bucket in page.data
        for r in bucket.results
    }


@pytest.fixture(name="served", scope="module", params=["aggregate", "sqlite"])
def _served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, Any]]:
    """The dashboard over a source fed the seeded stream: an AggregateSink, a SQLite store."""
    table = price_table()
    if request.param == "aggregate":
        source: Any = AggregateSink(prices=table)
    else:
        folder = tmp_path_factory.mktemp("store")
        source = StoreSink(f"sqlite:///{folder / 'usage.db'}", prices=table)
    fed(source, stream(time.time()))
    with Served(Starlette(routes=dashboard_routes(source, prices=table))) as served:
        yield served, source
    source.close(10)


@pytest.fixture(name="driver", scope="module")
def _driver() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Selenium; its console and network logged."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        missing.append(f"selenium ({error})")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the dashboard's browser test needs {', '.join(missing)} in CI")
        pytest.skip(f"no browser for the dashboard test: {', '.join(missing)} missing")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root, in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,2000",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def opened(driver: Any, url: str) -> dict[str, str]:
    """Load ``url``; the chart's ``data-`` attributes, once it is there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    chart = WebDriverWait(driver, 30).until(
        expected_conditions.presence_of_element_located((By.ID, "spend-chart"))
    )
    return chart_data(chart)


def chart_data(chart: Any) -> dict[str, str]:
    names = ["total-cost", "cost-state", "total-requests", "total-images", "unpriced-requests"]
    names += ["start-time", "end-time", "bucket-width", "group-by"]
    return {name: chart.get_attribute(f"data-{name}") for name in names}


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """The console's errors since the last call (the log is emptied as it is read)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def requested(driver: Any) -> list[str]:
    """Every URL the browser asked for since the last call (its network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def as_shown(data: dict[str, str]) -> dict[str, Any]:
    return {
        "requests": int(data["total-requests"]),
        "images": int(data["total-images"]),
        "cost": Decimal(data["total-cost"]),
        "unpriced": int(data["unpriced-requests"]),
    }


class TestInBrowser:
    """In chromium the page loads cleanly and shows what the source's usage() answers."""

    def test_totals(self, served: tuple[Served, Any], driver: Any) -> None:
        """No console error; the chart's totals equal usage()'s over the range the page shows."""
        server, source = served
        console_errors(driver)
        data = opened(driver, server.url + "/")
        assert console_errors(driver) == []
        start, end = int(data["start-time"]), int(data["end-time"])
        assert (data["bucket-width"], end - start) == ("1d", 7 * 86400)
        expected = totals(source, start, end)
        assert as_shown(data) == expected
        assert expected["requests"] == 120
        assert 0 < expected["unpriced"] < expected["requests"]
        assert data["cost-state"] == "partial"
        spend = driver.find_element("id", "card-spend").text
        assert "at least $" in spend
        assert "$0.00" not in spend

    def test_filter(self, served: tuple[Served, Any], driver: Any) -> None:
        """Choosing a model in the filter bar changes the totals as usage(models=[...]) does."""
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import Select, WebDriverWait

        server, source = served
        data = opened(driver, server.url + "/")
        old = driver.find_element("id", "spend-chart")
        Select(driver.find_element("id", "f-models")).select_by_value("img-current")
        WebDriverWait(driver, 30).until(expected_conditions.staleness_of(old))
        chosen = opened(driver, driver.current_url)
        assert "models=img-current" in driver.current_url
        start, end = int(chosen["start-time"]), int(chosen["end-time"])
        expected = totals(source, start, end, models=["img-current"])
        assert as_shown(chosen) == expected
        assert expected["requests"] < as_shown(data)["requests"]
        assert (expected["unpriced"], chosen["cost-state"]) == (0, "known")
        assert console_errors(driver) == []

    def test_grouping(self, served: tuple[Served, Any], driver: Any) -> None:
        """Spend by user: the series are the users usage(group_by=["user_id"]) names."""
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import Select, WebDriverWait

        server, source = served
        data = opened(driver, server.url + "/")
        names = [li.get_attribute("data-series-name") for li in legend(driver)]
        start, end = int(data["start-time"]), int(data["end-time"])
        assert set(names) == groups(source, start, end, "model")
        old = driver.find_element("id", "spend-chart")
        Select(driver.find_element("id", "f-group")).select_by_value("user_id")
        WebDriverWait(driver, 30).until(expected_conditions.staleness_of(old))
        by_user = opened(driver, driver.current_url)
        assert by_user["group-by"] == "user_id"
        names = [li.get_attribute("data-series-name") for li in legend(driver)]
        assert set(names) == groups(source, start, end, "user_id")
        assert HOSTILE_USER in names  # shown as text, not run
        assert as_shown(by_user) == as_shown(data)  # the same usage, another grouping
        assert console_errors(driver) == []

    def test_unpriced_and_retired(self, served: tuple[Served, Any], driver: Any) -> None:
        """A model without a price is shown unpriced with how to price it; a retired one flagged."""
        server, _ = served
        opened(driver, server.url + "/")
        unpriced = driver.find_element("css selector", '#unpriced li[data-model="img-mystery"]')
        assert "without a price" in unpriced.text
        assert "cost unknown" in unpriced.text
        hint = driver.find_element("id", "price-hint").text
        assert "aievents.pricing.set_price" in hint
        assert "aievents prices --check" in hint
        row = driver.find_element("css selector", '#models tr[data-model="img-mystery"]')
        assert "unknown" in row.text
        assert "$0.00" not in row.text
        retired = driver.find_element("css selector", '#retired li[data-model="img-retired"]')
        assert retired.get_attribute("data-status") == "shutdown"
        assert "retired 2021-01-01" in retired.text
        assert "img-current" in retired.text  # the successor
        flagged = [li for li in legend(driver) if "retired" in li.text]
        assert [li.get_attribute("data-series-name") for li in flagged] == ["img-retired"]

    def test_nothing_leaves_the_host(self, served: tuple[Served, Any], driver: Any) -> None:
        """Every request the page makes goes to the server; scripts and styles are its own."""
        server, _ = served
        requested(driver)
        opened(driver, server.url + "/?range=24h&group=user_id")
        urls = requested(driver)
        assert any(url.endswith("/assets/dashboard.js") for url in urls), urls
        assert any(url.endswith("/assets/dashboard.css") for url in urls), urls
        assert all(url.startswith(server.url + "/") for url in urls), urls
        for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src")):
            for element in driver.find_elements("tag name", tag):
                assert element.get_attribute(attribute).startswith(server.url + "/")
        assert driver.execute_script("return document.images.length") == 0  # no injected <img>
        answer = httpx.get(server.url + "/")
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "default-src 'none'" in CONTENT_SECURITY_POLICY
        assert console_errors(driver) == []

    def test_screenshot(self, served: tuple[Served, Any], driver: Any, tmp_path: Path) -> None:
        """A screenshot of the page is saved under the test's folder."""
        server, _ = served
        opened(driver, server.url + "/")
        shot = tmp_path / "dashboard.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 0
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        keep = os.environ.get("AIEVENTS_DASHBOARD_SCREENSHOT")
        if keep:  # to look at it: AIEVENTS_DASHBOARD_SCREENSHOT=/some/folder
            Path(keep).mkdir(parents=True, exist_ok=True)
            (Path(keep) / f"dashboard-{type(served[1]).__name__}.png").write_bytes(
                shot.read_bytes()
            )


class TestRefresh:
    """The open page fetches its report again: new usage shows, the viewer's choice stays."""

    def test_new_usage_shows(self, driver: Any) -> None:
        """An event recorded while the page is open appears in its totals, by user as chosen."""
        from selenium.webdriver.support.ui import Select, WebDriverWait

        now = time.time()
        first, second = (
            attrs.evolve(event, timestamp=int((now - 60) * 1000)) for event in stream(now, 2)
        )
        source = fed(AggregateSink(prices=price_table()), [first])
        routes = dashboard_routes(source, prices=price_table(), refresh=1)
        with Served(Starlette(routes=routes)) as served:
            url = served.url + "/?group=user_id&range=24h"
            console_errors(driver)
            data = opened(driver, url)
            assert data["total-requests"] == "1"
            fed(source, [second])

            def total(_: Any) -> str:
                chart = driver.find_element("id", "spend-chart")
                return str(chart.get_attribute("data-total-requests"))

            WebDriverWait(driver, 30).until(lambda d: total(d) == "2")
            assert driver.current_url == url
            assert (
                Select(driver.find_element("id", "f-group")).first_selected_option.get_attribute(
                    "value"
                )
                == "user_id"
            )
            assert driver.find_element("id", "updated").text.startswith("updated")
            assert console_errors(driver) == []
        source.close(10)


def legend(driver: Any) -> list[Any]:
    return list(driver.find_elements("css selector", "#legend li"))


def chart_attributes(page: str) -> dict[str, str]:
    """The ``data-`` attributes of the page's spend chart, unescaped."""
    tag = re.search(r"<svg id=\"spend-chart\"[^>]*>", page)
    assert tag is not None, page[:500]
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(0))
    }


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
    with Served(Starlette(routes=dashboard_routes(source))) as served:
        yield served
    source.close(10)


class TestEmpty:
    """With no usage at all the page says so, with totals of zero."""

    def test_page(self, empty: Served) -> None:
        """200, "No usage in this range", zero totals, every bucket drawn, no series."""
        answer = httpx.get(empty.url + "/")
        assert answer.status_code == 200
        assert "No usage in this range." in answer.text
        data = chart_attributes(answer.text)
        assert (data["total-requests"], data["total-images"], data["total-cost"]) == ("0", "0", "0")
        assert (data["cost-state"], data["unpriced-requests"], data["buckets"]) == (
            "known",
            "0",
            "7",
        )
        assert 'id="unpriced"' not in answer.text
        assert 'id="retired"' not in answer.text
        assert "<li data-series-name" not in answer.text

    def test_every_range(self, empty: Served) -> None:
        """Each range and width answers; too many buckets are widened, and said so."""
        for span, width, shown, count in [
            ("1h", "", "1m", "60"),
            ("24h", "1m", "1m", "1440"),
            ("7d", "1m", "1h", "168"),
            ("90d", "1h", "1d", "90"),
            ("1h", "1d", "1m", "60"),  # wider than the range: the range's own
        ]:
            answer = httpx.get(empty.url + "/", params={"range": span, "width": width})
            assert answer.status_code == 200
            data = chart_attributes(answer.text)
            assert (data["bucket-width"], data["buckets"]) == (shown, count)
            assert (int(data["end-time"]) - int(data["start-time"])) // int(count) in (
                60,
                3600,
                86400,
            )
            assert ('id="note"' in answer.text) == (shown != (width or shown))


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
