"""PriceBook: prices and their warnings as an object; the process default book."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator, MutableMapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import openai
import pytest
import structlog

from aievents import EventClient, ImageUsage, ImageUsageEvent, InputTokensDetails, to_json
from aievents.cli import main
from aievents.instrument import image_request, instrument_openai
from aievents.pricing import (
    PriceBook,
    PriceTable,
    book_for,
    cost_of,
    default_book,
    default_table,
    image_cost,
    load_prices,
    set_default_table,
    set_price,
    shipped_table,
)
from aievents.query import CostsResult, Page
from aievents.sinks import AggregateSink, StoreSink
from aievents.testing import ImageServer, capture_events

D = Decimal
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
#: gpt-image-1, 10 text + 40 image tokens in, 50 image tokens out: the shipped price.
SHIPPED = D("0.00245")
#: The same at a negotiated $32 (not $40) per 1M output image tokens.
NEGOTIATED = D("0.00205")


# The default book starts from the shipped table with no warnings, and is put back.
pytestmark = pytest.mark.usefixtures("shipped_prices")


@pytest.fixture(name="negotiated")
def _negotiated() -> PriceBook:
    """A book of its own with a lower rate for gpt-image-1's output images."""
    book = PriceBook()
    book.set_price("gpt-image-1", tokens={"output_image": "32.00"}, source="contract")
    return book


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def spec_usage() -> ImageUsage:
    """The usage of the spec's example: 10 text + 40 image tokens in, 50 out."""
    return ImageUsage(
        input_tokens=50,
        output_tokens=50,
        input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
    )


def unpriced_event(request_id: str = "r1", model: str = "gpt-image-1") -> ImageUsageEvent:
    """A usage event that carries no cost (a sink prices it), a minute into the window."""
    return ImageUsageEvent(
        request_id=request_id,
        timestamp=(T0 + 60) * 1000,
        provider="openai",
        model=model,
        images=1,
        usage=spec_usage(),
    )


def total(page: Page) -> Decimal:
    """The sum of a costs page's amounts."""
    amounts = (r.amount for b in page.data for r in b.results if isinstance(r, CostsResult))
    return sum((amount for amount in amounts if amount is not None), D(0))


def unknown_models(logs: list[MutableMapping[str, Any]]) -> list[str]:
    """The models of the ``price_unknown`` warnings logged."""
    return [line["model"] for line in logs if line["event"] == "price_unknown"]


class TestTwoBooks:
    """Two books price the same request differently in the same process."""

    def test_openai_instrumentation(self, server: ImageServer, negotiated: PriceBook) -> None:
        """Two clients instrumented with different books report different costs for one call."""
        costs = []
        for prices in (None, negotiated):
            client = instrument_openai(
                openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0),
                prices=prices,
            )
            with client, capture_events() as events:
                client.images.generate(model="gpt-image-1", prompt="a fox", size="auto")
            (usage,) = (e for e in events if isinstance(e, ImageUsageEvent))
            assert usage.cost is not None
            costs.append((usage.cost.total, usage.cost.price_version))
        assert costs == [(SHIPPED, "2026-12-01"), (NEGOTIATED, "2026-12-01+local.1")]

    def test_image_request(self, client: EventClient) -> None:
        """image_request(prices=book) prices with that book; without, with the default."""
        book = PriceBook()
        book.set_price("sd3.5-large", per_image="0.05")
        totals = []
        for prices in (None, book):
            with (
                capture_events(client) as events,
                image_request(
                    provider="stability", model="sd3.5-large", client=client, prices=prices
                ) as request,
            ):
                request.record_images(2)
            assert isinstance(events[-1], ImageUsageEvent)
            assert events[-1].cost is not None
            totals.append(events[-1].cost.total)
        assert totals == [D("0.130"), D("0.10")]

    def test_aggregate_sink(self, negotiated: PriceBook) -> None:
        """Two AggregateSinks with different books sum the same event to different costs."""
        sinks = [AggregateSink(clock=lambda: T0 + DAY, prices=p) for p in (None, negotiated)]
        for sink in sinks:
            sink.handle(unpriced_event())
        assert [total(s.costs(T0, T0 + DAY)) for s in sinks] == [SHIPPED, NEGOTIATED]

    def test_store_sink(self, tmp_path: Path, negotiated: PriceBook) -> None:
        """Two StoreSinks with different books store the same event at different costs."""
        stores = [
            StoreSink(f"sqlite:///{tmp_path / name}.db", clock=lambda: T0 + DAY, prices=prices)
            for name, prices in (("default", None), ("negotiated", negotiated))
        ]
        try:
            for store in stores:
                store.handle(unpriced_event())
            assert [total(s.costs(T0, T0 + DAY)) for s in stores] == [SHIPPED, NEGOTIATED]
        finally:
            for store in stores:
                store.close(10)

    def test_command(
        self, tmp_path: Path, negotiated: PriceBook, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """main(prices=book) prices the events of ``costs --events`` and of ``ingest``."""
        events = tmp_path / "events.jsonl"
        events.write_text(to_json(unpriced_event()) + "\n")
        window = ["--start", str(T0), "--end", str(T0 + DAY), "--format", "json"]
        amounts = []
        for prices in (None, negotiated):
            capsys.readouterr()
            assert main(["costs", "--events", str(events), *window], prices=prices) == 0
            (result,) = json.loads(capsys.readouterr().out)["data"][0]["results"]
            amounts.append(D(str(result["amount"]["value"])))
        assert amounts == [SHIPPED, NEGOTIATED]
        url = f"sqlite:///{tmp_path / 'ingested.db'}"
        assert (
            main(["ingest", str(events), "--store", url, "--no-progress"], prices=negotiated) == 0
        )
        store = StoreSink(url, create=False, clock=lambda: T0 + DAY)
        try:
            assert total(store.costs(T0, T0 + DAY)) == NEGOTIATED
        finally:
            store.close(10)


class TestWarnings:
    """Each book warns once per unpriced model, apart from every other book."""

    def test_per_book(self) -> None:
        """The same unknown model is warned about once by each book, and by each once only."""
        first, second = PriceBook(), PriceBook()
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                assert first.image_cost("mystery-model", images=1) is None
            assert unknown_models(logs) == ["mystery-model"]
            for _ in range(3):
                assert second.image_cost("mystery-model", images=1) is None
            assert image_cost("mystery-model", images=1) is None
        assert unknown_models(logs) == ["mystery-model"] * 3

    def test_reset(self) -> None:
        """reset() forgets the warnings given and every change made."""
        book = PriceBook()
        book.set_price("mystery-model", provider="acme", per_image="0.01")
        with structlog.testing.capture_logs() as logs:
            assert book.image_cost("other-model", images=1) is None
            book.reset()
            assert book.image_cost("mystery-model", images=1) is None
            assert book.image_cost("other-model", images=1) is None
        assert unknown_models(logs) == ["other-model", "mystery-model", "other-model"]
        assert book.table == shipped_table()

    def test_bare_table_warns_through_the_default_book(self) -> None:
        """A PriceTable given as prices= warns once per process, as before books."""
        table = shipped_table().with_prices([], version="mine")
        sinks = [AggregateSink(prices=table, clock=lambda: T0 + DAY) for _ in range(2)]
        with structlog.testing.capture_logs() as logs:
            for index, sink in enumerate(sinks):
                sink.handle(unpriced_event(f"r{index}", model="mystery-model"))
            assert cost_of(unpriced_event(model="mystery-model")) is None
        assert unknown_models(logs) == ["mystery-model"]
        assert book_for(table).table is table


class TestDefaultBook:
    """The module functions and everything given no prices= use the process default book."""

    def test_module_functions(self, tmp_path: Path) -> None:
        """set_price, load_prices, set_default_table and default_table act on default_book()."""
        book = default_book()
        assert default_book() is book
        assert book_for(None) is book
        assert default_table() is book.table
        set_price("acme-paint", provider="acme", per_image="0.01")
        assert book.lookup("acme-paint") is not None
        assert book.image_cost("acme-paint", images=3) == image_cost("acme-paint", images=3)
        mine = shipped_table().with_prices([], version="mine")
        previous = set_default_table(mine)
        assert previous.lookup("acme-paint") is not None
        assert book.table is mine
        path = tmp_path / "prices.json"
        path.write_text(json.dumps({"version": "file", "models": []}))
        assert load_prices(path, replace=True) is book.table
        assert default_table().version == "file"

    def test_instrumentation_follows_it(self, client: EventClient) -> None:
        """A price set with set_price() after instrumenting is what the next request costs."""
        request = image_request(provider="stability", model="sd3.5-large", client=client)
        with capture_events(client) as events:
            with request as running:
                running.record_images(1)
            set_price("sd3.5-large", per_image="0.01")
            with request as running:
                running.record_images(1)
        costs = [e.cost.total for e in events if isinstance(e, ImageUsageEvent) and e.cost]
        assert costs == [D("0.065"), D("0.01")]

    def test_other_books_untouched(self) -> None:
        """Changing the default book changes no other book, and the other way round."""
        book = PriceBook()
        set_price("dall-e-2", per_image="1.00")
        book.set_price("dall-e-2", per_image="2.00")
        costs = [book.image_cost("dall-e-2", images=1), image_cost("dall-e-2", images=1)]
        assert [c.total if c else None for c in costs] == [D("2.00"), D("1.00")]

    def test_wrong_prices(self) -> None:
        """prices= takes a PriceBook, a PriceTable or None; anything else is a TypeError."""
        with pytest.raises(TypeError, match="PriceBook"):
            AggregateSink(prices="gpt-image-1: 0.04")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="PriceTable"):
            PriceBook({"version": "x"})  # type: ignore[arg-type]
        assert isinstance(repr(PriceBook()), str)
        assert "version='mine'" in repr(PriceBook(PriceTable("mine", {})))


class TestConcurrency:
    """A book is safe to change and price with from many threads at once."""

    def test_set_price_and_cost_of(self) -> None:
        """Every override is kept, and every cost is computed from one whole table."""
        book = PriceBook()
        book.set_price("gpt-image-1", tokens={"input_text": "1", "output_image": "1"})
        writers, rounds = 4, 100
        start = threading.Barrier(writers + 2)
        done = threading.Event()
        torn: list[Any] = []
        priced = [0, 0]
        event = ImageUsageEvent(
            request_id="r",
            model="gpt-image-1",
            usage=ImageUsage(input_tokens=1_000_000, output_tokens=1_000_000),
        )

        def write(writer: int) -> None:
            start.wait()
            for step in range(1, rounds + 1):
                # Both rates change in one step: a cost must never mix two tables.
                rate = f"{writer}.{step:03d}"
                book.set_price("gpt-image-1", tokens={"input_text": rate, "output_image": rate})
                book.set_price(f"model-{writer}-{step}", provider="acme", per_image="0.01")

        def read(reader: int) -> None:
            start.wait()
            while not done.is_set():
                cost = book.cost_of(event)
                if cost is None or cost.input_text != cost.output_image:
                    torn.append(cost)
                priced[reader] += 1

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        readers = [threading.Thread(target=read, args=(r,)) for r in range(2)]
        for thread in threads + readers:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        for thread in readers:
            thread.join()
        assert torn == []
        assert all(priced)
        table = book.table
        assert table.version == f"2026-12-01+local.{2 * writers * rounds + 1}"
        assert all(
            table.lookup(f"model-{w}-{s}", "acme") is not None
            for w in range(writers)
            for s in range(1, rounds + 1)
        )

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_fork_while_held(self) -> None:
        """A child forked while another thread changes prices can change prices itself."""
        book = PriceBook()
        with book._lock:  # as a parent thread inside set_price at the fork
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                code = 1
                try:
                    signal.alarm(10)  # a child that hangs is ended, and the test fails
                    book.set_price("acme-paint", provider="acme", per_image="0.01")
                    code = 0 if book.image_cost("acme-paint", images=1) is not None else 2
                finally:
                    os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status), "the child hung on the book's lock"
        assert os.WEXITSTATUS(status) == 0


class TestCostFor:
    """cost_for: the event's cost, else (when pricing) the book's price; never the reported one."""

    def test_order(self, negotiated: PriceBook) -> None:
        """A cost carried wins over the book; the book prices only what carries none."""
        bare = unpriced_event()
        priced = negotiated.cost_of(bare)
        assert priced is not None
        assert negotiated.cost_for(bare) == priced
        assert negotiated.cost_for(bare, price=False) is None
        with_usage_cost = attrs.evolve(bare, usage=attrs.evolve(spec_usage(), cost="0.5"))
        # What the provider reported is not a computed cost: the book prices the event.
        assert negotiated.cost_for(with_usage_cost) == negotiated.cost_of(with_usage_cost)
        assert negotiated.cost_for(with_usage_cost, price=False) is None
        unknown = attrs.evolve(with_usage_cost, model="acme-image-x")
        assert negotiated.cost_for(unknown) is None
        own = attrs.evolve(with_usage_cost, cost=PriceBook().cost_of(bare))
        assert own.cost is not None
        assert negotiated.cost_for(own) is own.cost
        assert own.cost != priced
