"""The dashboard at ``/`` in a real browser: Debian's chromium, driven by Selenium.

A uvicorn server on 127.0.0.1 (a free port) serves
``Starlette(routes=dashboard_routes(source))`` over a real source: an
AggregateSink, and a SQLite StoreSink, each fed the same seeded random
stream. What the page shows is checked against ``source.usage()`` itself.

The browser is Debian's: ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``
(``.ci/run`` installs them). Without them the browser tests are skipped,
except in CI (``CI`` set), where that fails. The plain-HTTP tests are in
``test_serve_dashboard_http.py``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.applications import Starlette

from aievents import AggregateSink, StoreSink
from aievents.serve._dashboard import CONTENT_SECURITY_POLICY, dashboard_routes

from dashboard_site import HOSTILE_USER, Served, fed, groups, price_table, stream, totals

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


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
        Select(driver.find_element("id", "f-models")).select_by_value("img-current")
        WebDriverWait(driver, 30).until(expected_conditions.url_contains("models=img-current"))
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
        Select(driver.find_element("id", "f-group")).select_by_value("user_id")
        WebDriverWait(driver, 30).until(expected_conditions.url_contains("group=user_id"))
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
