"""Lifecycle: a model's status on a day; a retired model is priced and warned about once."""

from __future__ import annotations

import datetime
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any

import pytest
import structlog

from aievents import ImageUsage, ImageUsageEvent
from aievents.pricing import PriceBook

from price_tables import sample_table

D = Decimal
day = datetime.date.fromisoformat


@pytest.fixture(name="book")
def _book() -> PriceBook:
    return PriceBook(sample_table())


def lines(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    """The log lines of ``event``."""
    return [line for line in logs if line["event"] == event]


class TestStatus:
    """ModelPrice.status(on) follows the entry's dates."""

    @pytest.mark.parametrize(
        ("model", "on", "status"),
        [
            ("gpt-image-2", "2026-04-20", "upcoming"),  # released 2026-04-21
            ("gpt-image-2", "2026-04-21", "current"),
            ("gpt-image-1", "2026-10-22", "current"),  # deprecated 2026-10-23
            ("gpt-image-1", "2026-10-23", "deprecated"),
            ("dall-e-3", "2026-05-11", "current"),  # shut down 2026-05-12
            ("dall-e-3", "2026-05-12", "shutdown"),
            ("grok-imagine-image-2.0", "2030-01-01", "current"),  # no dates
        ],
    )
    def test_on(self, model: str, on: str, status: str) -> None:
        """Each entry's status on each day."""
        price = sample_table().lookup(model)
        assert price is not None
        assert price.status(day(on)) == status
        assert price.status(datetime.datetime.fromisoformat(f"{on}T23:59:59")) == status

    def test_dates_read(self) -> None:
        """The lifecycle fields are dates and names."""
        price = sample_table().lookup("dall-e-3")
        assert price is not None
        assert (price.shutdown, price.successor) == (day("2026-05-12"), "gpt-image-2")


class TestRetired:
    """A model past its shutdown is priced, and warned about once per book, naming its successor."""

    def test_priced_and_warned_once(self, book: PriceBook) -> None:
        """dall-e-3 on 2026-06-01: 0.040 as ever, one model_retired line for three calls."""
        with structlog.testing.capture_logs() as logs:
            costs = [
                book.image_cost(
                    "dall-e-3",
                    images=1,
                    size="1024x1024",
                    quality="standard",
                    when=day("2026-06-01"),
                )
                for _ in range(3)
            ]
        assert [c.total if c else None for c in costs] == [D("0.040")] * 3
        (line,) = lines(logs, "model_retired")
        assert line["log_level"] == "warning"
        assert (line["model"], line["successor"], line["shutdown"]) == (
            "dall-e-3",
            "gpt-image-2",
            "2026-05-12",
        )

    def test_before_shutdown_no_warning(self, book: PriceBook) -> None:
        """Before its shutdown date the model is priced without a word."""
        with structlog.testing.capture_logs() as logs:
            cost = book.image_cost(
                "dall-e-3", images=1, size="1024x1024", quality="standard", when=day("2026-05-11")
            )
        assert cost is not None
        assert logs == []

    def test_per_book(self, book: PriceBook) -> None:
        """Each book warns once for itself."""
        other = PriceBook(sample_table())
        with structlog.testing.capture_logs() as logs:
            for priced_by in (book, other, book):
                priced_by.image_cost("dall-e-3", images=1, size="1024x1024", quality="standard")
        assert len(lines(logs, "model_retired")) == 2

    def test_event_date(self, book: PriceBook) -> None:
        """cost_of judges by the event's own day: a late event from before the shutdown is quiet."""
        before = ImageUsageEvent(
            request_id="r1",
            timestamp=int(datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc).timestamp())
            * 1000,
            model="dall-e-3",
            images=1,
            size="1024x1024",
            quality="standard",
            usage=ImageUsage(),
        )
        with structlog.testing.capture_logs() as logs:
            cost = book.cost_of(before)
        assert cost is not None
        assert cost.total == D("0.040")
        assert lines(logs, "model_retired") == []


class TestDeprecated:
    """A deprecated model (not shut down) is priced and noted once, at info level."""

    def test_one_info_line(self, book: PriceBook) -> None:
        """gpt-image-1 after 2026-10-23: one model_deprecated line at info."""
        usage = ImageUsage(input_tokens=10, output_tokens=0)
        with structlog.testing.capture_logs() as logs:
            for _ in range(2):
                cost = book.image_cost("gpt-image-1", usage=usage, when=day("2026-11-01"))
                assert cost is not None
                assert cost.total == D("0.00005")  # 10 x 5.00/M
        (line,) = lines(logs, "model_deprecated")
        assert (line["log_level"], line["successor"]) == ("info", "gpt-image-2")
        assert lines(logs, "model_retired") == []
