"""examples/grafana-dashboard.json: valid, and every expression names metrics the sink exposes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from aievents import ImageRequestCompletedEvent, ImageRequestErrorEvent, ImageUsage, ImageUsageEvent
from aievents.pricing import image_cost
from aievents.sinks.prometheus import PrometheusSink, serve_metrics
from prom_scrape import names, scrape

DASHBOARD = Path(__file__).resolve().parent.parent / "examples" / "grafana-dashboard.json"
#: A metric name in a PromQL expression (the sink's namespace is aievents).
METRIC = re.compile(r"\baievents_[a-z_]+\b")


@pytest.fixture(name="dashboard", scope="module")
def _dashboard() -> dict[str, Any]:
    """The dashboard, as Grafana reads it."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(name="exposed", scope="module")
def _exposed() -> set[str]:
    """The sample names a real scrape of a sink that counted every kind of event gives."""
    sink = PrometheusSink(registry=CollectorRegistry(), labels=["user_id"])
    common: dict[str, Any] = {"provider": "openai", "model": "gpt-image-1", "user_id": "u"}
    sink.handle(ImageRequestCompletedEvent(request_id="a", duration=900.0, **common))
    usage = ImageUsage(input_tokens=3, output_tokens=1056, cost=Decimal("0.04"))
    cost = image_cost("gpt-image-1", usage=usage)
    sink.handle(ImageUsageEvent(request_id="a", usage=usage, cost=cost, **common))
    sink.handle(
        ImageRequestErrorEvent(request_id="b", error_type="Timeout", duration=50.0, **common)
    )
    with serve_metrics(sink, port=0) as server:
        found = names(scrape(server.url))
    sink.close()
    return found


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["definition"]


class TestDashboard:
    """The Grafana dashboard imports as it is, and shows what the sink counts."""

    def test_shape(self, dashboard: dict[str, Any]) -> None:
        """Current schema, a Prometheus datasource variable every panel uses, unique ids."""
        assert dashboard["schemaVersion"] >= 36
        assert dashboard["uid"]
        assert dashboard["title"]
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        # import asks for the Prometheus to use, and the variable starts on it
        (wanted,) = dashboard["__inputs"]
        assert (wanted["type"], wanted["pluginId"]) == ("datasource", "prometheus")
        chosen = "${" + wanted["name"] + "}"
        assert variables["datasource"]["current"]["value"] == chosen
        panels = dashboard["panels"]
        assert len({p["id"] for p in panels}) == len(panels)
        for panel in panels:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]

    def test_metrics_exposed(self, dashboard: dict[str, Any], exposed: set[str]) -> None:
        """Every metric an expression names is one a real scrape of the sink has."""
        for where, expression in expressions(dashboard):
            named = set(METRIC.findall(expression))
            assert named, f"{where}: {expression}"
            assert named <= exposed, f"{where}: {sorted(named - exposed)} not exposed"

    def test_panels_asked_for(self, dashboard: dict[str, Any]) -> None:
        """Cost per day by model, images per hour, p95 duration, requests and unpriced."""
        exprs = [e for _, e in expressions(dashboard)]

        def has(*parts: str) -> bool:
            return any(all(part in e for part in parts) for e in exprs)

        assert has("sum by (model) (increase(aievents_cost_usd_total", "[1d]))")
        assert has("increase(aievents_images_total", "[1h]))")
        quantile = (
            "histogram_quantile(0.95, sum by (le, model) "
            "(rate(aievents_image_request_duration_seconds_bucket{"
        )
        assert has(quantile, 'error_type=""}[5m])))')  # successful requests
        assert has(quantile, 'error_type!=""}[5m])))')  # failed ones apart
        assert not has(quantile, 'model=~"$model"}')  # never the two mixed
        assert has("aievents_image_requests_total")
        assert has("aievents_unpriced_requests_total")
        titles = [panel["title"] for panel in dashboard["panels"]]
        assert not [t for t in titles if "today" in t.lower()]  # [1d] is the last 24 hours
        assert "Cost, last 24 hours" in titles

    def test_balanced(self, dashboard: dict[str, Any]) -> None:
        """Every expression's brackets and quotes pair up (a typo Grafana would refuse)."""
        pairs = {")": "(", "]": "[", "}": "{"}
        for where, expression in expressions(dashboard):
            stack: list[str] = []
            for char in re.sub(r'"[^"]*"', '""', expression):
                if char in "([{":
                    stack.append(char)
                elif char in pairs:
                    assert stack, f"{where}: {expression}"
                    assert stack.pop() == pairs[char], f"{where}: {expression}"
            assert not stack, f"{where}: {expression}"
            assert expression.count('"') % 2 == 0, f"{where}: {expression}"
