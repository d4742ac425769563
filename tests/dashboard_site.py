"""The dashboard tests' site: a price table, a seeded stream, and a uvicorn server on 127.0.0.1."""

from __future__ import annotations

import html
import random
import re
import socket
import threading
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette

from aievents import EventClient, ImageUsage, ImageUsageEvent
from aievents.pricing import PriceTable
from aievents.query import ImagesResult

from helpers import until

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
    """A seeded random stream over the last six days: four models, users, projects."""
    rng = random.Random(seed)
    models = ["img-current", "img-current", "img-retired", "img-mystery", HOSTILE_MODEL]
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


def by_group(
    source: Any, start: int, end: int, names: list[str], width: str = "1d"
) -> dict[tuple[str | None, ...], dict[str, Any]]:
    """``source.usage(group_by=names)`` summed over the range, by group: as the page adds them."""
    found: dict[tuple[str | None, ...], dict[str, Any]] = {}
    cursor = None
    while True:
        page = source.usage(start, end, width, names, limit=31, page=cursor)
        for bucket in page.data:
            for result in bucket.results:
                key = tuple(getattr(result, name) for name in names)
                row = found.setdefault(
                    key, {"requests": 0, "images": 0, "cost": Decimal(0), "unpriced": 0}
                )
                row["requests"] += result.num_model_requests
                row["images"] += result.images
                row["unpriced"] += result.unpriced_requests
                row["cost"] += result.cost or 0
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


def chart_attributes(page: str) -> dict[str, str]:
    """The ``data-`` attributes of the page's spend chart, unescaped."""
    tag = re.search(r"<svg id=\"spend-chart\"[^>]*>", page)
    assert tag is not None, page[:500]
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(0))
    }
