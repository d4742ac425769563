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
import threading
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
from aievents.query import DIMENSIONS
from aievents.serve._dashboard import CONTENT_SECURITY_POLICY, dashboard_routes

from dashboard_site import (
    HOSTILE_MODEL,
    HOSTILE_USER,
    Served,
    by_group,
    fed,
    groups,
    price_table,
    stream,
    totals,
)

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


@pytest.fixture(name="browser", scope="module")
def _browser() -> Iterator[Any]:
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


@pytest.fixture(name="driver")
def _driver(browser: Any) -> Iterator[Any]:
    """The browser for one test, left on a blank page with its logs emptied after it.

    A page of the test refreshes itself until the browser leaves it, against
    a server the test has stopped: what that logs belongs to no other test.
    """
    yield browser
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get_log("performance")


def wait(driver: Any) -> Any:
    """A wait of up to 30 s that looks again when the report it read was replaced."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))


def opened(driver: Any, url: str) -> dict[str, str]:
    """Load ``url``; the chart's ``data-`` attributes, once it is there."""
    driver.get(url)
    return dict(wait(driver).until(chart_data))


#: The spend chart's data- attributes, read at once (a refresh may replace the chart).
CHART_DATA = """
const chart = document.getElementById("spend-chart");
if (!chart) { return null; }
const found = {};
for (const attribute of chart.attributes) {
  if (attribute.name.startsWith("data-")) { found[attribute.name.slice(5)] = attribute.value; }
}
return found;
"""
#: The legend's, the top tables' and the models table's rows, read at once.
TABLES_DATA = """
const rows = (selector) => Array.from(document.querySelectorAll(selector), (element) => {
  const found = {};
  for (const attribute of element.attributes) {
    if (attribute.name.startsWith("data-")) { found[attribute.name.slice(5)] = attribute.value; }
  }
  return found;
});
return {
  legend: rows("#legend li"),
  users: rows("#top-users tbody tr[data-key]"),
  projects: rows("#top-projects tbody tr[data-key]"),
  models: rows("#models tbody tr[data-model]"),
  chart: rows("#spend-chart")[0],
};
"""


def chart_data(driver: Any) -> dict[str, str] | None:
    """The spend chart's ``data-`` attributes, in one script (None: not there yet)."""
    found = driver.execute_script(CHART_DATA)
    return None if found is None else {name: str(value) for name, value in found.items()}


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
        assert data["bucket-width"] == "1d"
        assert end - start == int(data["buckets"]) * 86400
        assert start <= time.time() - 7 * 86400  # the whole week, in whole days
        assert end >= time.time()
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
        from selenium.webdriver.support.ui import Select

        server, source = served
        data = opened(driver, server.url + "/")
        Select(driver.find_element("id", "f-models")).select_by_value("img-current")
        driver.find_element("id", "apply").click()
        wait(driver).until(expected_conditions.url_contains("models=img-current"))
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
        from selenium.webdriver.support.ui import Select

        server, source = served
        data = opened(driver, server.url + "/")
        names = [row["series-name"] for row in tables(driver)["legend"]]
        start, end = int(data["start-time"]), int(data["end-time"])
        assert set(names) == groups(source, start, end, "model")
        Select(driver.find_element("id", "f-group")).select_by_value("user_id")
        wait(driver).until(expected_conditions.url_contains("group=user_id"))
        by_user = opened(driver, driver.current_url)
        assert by_user["group-by"] == "user_id"
        names = [row["series-name"] for row in tables(driver)["legend"]]
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
        flagged = driver.execute_script(
            "return Array.from(document.querySelectorAll('#legend li'))"
            ".filter((li) => li.textContent.includes('retired'))"
            ".map((li) => li.getAttribute('data-series-name'));"
        )
        assert flagged == ["img-retired"]
        hostile = driver.find_element("css selector", "#unpriced").text
        assert HOSTILE_MODEL in hostile  # unpriced too, and shown as text

    def test_tables_match_usage(self, served: tuple[Served, Any], driver: Any) -> None:
        """The legend, the top users and projects, and the models table are usage()'s own."""
        server, source = served
        opened(driver, server.url + "/")
        shown = tables(driver)
        start, end = int(shown["chart"]["start-time"]), int(shown["chart"]["end-time"])
        legend = {
            (row["series-name"],): (row["series-cost"], row["series-state"])
            for row in shown["legend"]
        }
        assert legend == {
            ("(not set)" if key[0] is None else key[0],): expected(row)
            for key, row in by_group(source, start, end, ["model"]).items()
        }
        assert HOSTILE_MODEL in {key[0] for key in legend}
        for table, name in (("users", "user_id"), ("projects", "project_id")):
            rows = {(row["key"] or None,): numbers(row) for row in shown[table]}
            usage = by_group(source, start, end, [name])
            assert rows == {
                key: (row["requests"], row["images"], *expected(row)) for key, row in usage.items()
            }
        names = ["model", "provider"] if "provider" in DIMENSIONS else ["model"]
        rows = {
            (row["model"], row["provider"] or None)[: len(names)]: numbers(row)
            for row in shown["models"]
        }
        usage = by_group(source, start, end, names)
        assert rows == {
            key: (row["requests"], row["images"], *expected(row)) for key, row in usage.items()
        }

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
            stamp = driver.find_element("id", "updated").text
            assert stamp.startswith("updated ")
            assert stamp.endswith(" UTC")
            assert console_errors(driver) == []
        source.close(10)

    def test_one_fetch_at_a_time(self, driver: Any) -> None:
        """While a fetch is held by the server, a refresh is skipped, not sent beside it."""
        source = fed(AggregateSink(prices=price_table()), stream(time.time(), 3))
        gate = Gate(source)
        with Served(Starlette(routes=dashboard_routes(gate, refresh=1))) as served:
            opened(driver, served.url + "/?range=24h")
            gate.close()
            assert gate.waiting.wait(30)  # the page's next fetch, held
            for _ in range(3):
                driver.execute_script("document.dispatchEvent(new Event('visibilitychange'))")
            skipped = driver.execute_script(
                "return document.body.getAttribute('data-refresh-skipped')"
            )
            assert skipped == "3"
            sent = driver.execute_script(
                "return document.body.getAttribute('data-refresh-sequence')"
            )
            gate.open()

            def next_sent(_: Any) -> bool:  # the held fetch settled, and the next one was made
                script = "return document.body.getAttribute('data-refresh-sequence')"
                return int(driver.execute_script(script)) > int(sent)

            wait(driver).until(next_sent)
            assert driver.find_element("id", "updated").text.startswith("updated")
            assert gate.most == 1  # never two fetches in the server at once
            assert console_errors(driver) == []
        source.close(10)


class Gate:
    """An AggregateSink whose usage() waits while the gate is closed (the server held)."""

    def __init__(self, source: AggregateSink) -> None:
        self.source = source
        self.opened = threading.Event()
        self.opened.set()
        self.waiting = threading.Event()
        self.lock = threading.Lock()
        self.held = 0
        self.most = 0

    def close(self) -> None:
        self.opened.clear()

    def open(self) -> None:
        self.opened.set()

    def usage(self, *args: Any, **kwargs: Any) -> Any:
        if not self.opened.is_set():
            with self.lock:
                self.held += 1
                self.most = max(self.most, self.held)
            self.waiting.set()
            self.opened.wait(60)
            with self.lock:
                self.held -= 1
        return self.source.usage(*args, **kwargs)


class TestLogin:
    """A dashboard with a key: the browser logs in through the form and sees the page."""

    def test_login_form(self, driver: Any) -> None:
        """The login form, a wrong key refused, the right one opens the page, which refreshes;
        a session that ends under the open page brings the form back; so does Log out."""
        key = "browser-Dashboard-key"
        source = fed(AggregateSink(prices=price_table()), stream(time.time(), 3))
        with Served(Starlette(routes=dashboard_routes(source, key=key, refresh=1))) as served:
            driver.delete_all_cookies()
            driver.get(served.url + "/?range=24h")
            for attempt in ("wrong", key):
                field = wait(driver).until(lambda d: d.find_element("id", "key"))
                field.send_keys(attempt)
                driver.find_element("id", "log-in").click()
                if attempt == "wrong":
                    wait(driver).until(lambda d: d.find_elements("id", "login-error"))
            data = dict(wait(driver).until(chart_data))
            assert data["total-requests"] == "3"
            assert key not in driver.page_source
            assert driver.execute_script("return document.cookie") == ""  # HttpOnly
            console_errors(driver)  # the 401 answers before logging in
            wait(driver).until(lambda d: d.find_element("id", "updated").text.startswith("updated"))
            assert console_errors(driver) == []
            session = driver.get_cookies()
            driver.delete_all_cookies()  # the session ends under the open page
            wait(driver).until(lambda d: d.find_elements("id", "key"))  # its refresh: the form
            assert not driver.find_elements("id", "spend-chart")
            console_errors(driver)  # the refresh's 401
            for cookie in session:
                driver.add_cookie(cookie)
            driver.get(served.url + "/?range=24h")
            wait(driver).until(chart_data)
            driver.find_element("id", "log-out").click()  # back to the form, the cookie gone
            wait(driver).until(lambda d: d.find_elements("id", "key"))
            assert driver.get_cookies() == []
            driver.get(served.url + "/?range=24h")
            wait(driver).until(lambda d: d.find_elements("id", "key"))
            assert not driver.find_elements("id", "spend-chart")
            driver.delete_all_cookies()
        source.close(10)


def tables(driver: Any) -> dict[str, Any]:
    """The legend's, the tables' and the chart's data- attributes, read in one script."""
    return dict(driver.execute_script(TABLES_DATA))


def expected(row: dict[str, Any]) -> tuple[str, str]:
    """A usage() sum's cost as the page writes it (empty when unknown), and its state."""
    if not row["unpriced"]:
        return str(row["cost"]), "known"
    if row["unpriced"] >= row["requests"] and not row["cost"]:
        return "", "unknown"
    return str(row["cost"]), "partial"


def numbers(row: dict[str, str]) -> tuple[int, int, str, str]:
    """A table row's requests, images, cost and cost state."""
    cost = row["cost"] and str(Decimal(row["cost"]))
    return int(row["requests"]), int(row["images"]), cost, row["cost-state"]
