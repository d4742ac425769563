"""The cost a provider reported: summed apart from the computed one, by every sink and report."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from aievents import ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.pricing import PriceBook
from aievents.query import QueryError
from aievents.sinks import AggregateSink, StoreSink
from aievents.wire import to_json
from postgres_server import fresh_database

from helpers import usage_at

D = Decimal
T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC
DAY = 86_400
WINDOW = {"start_time": T0, "end_time": T0 + DAY}
UNPRICED = "acme-image-x"  # no price in any table
COMPILED = importlib.util.find_spec("aievents._speedups") is not None

# gpt-image-1 (pricing.md): input text $5.00/M, output image $40.00/M. A
# request of 10 input text tokens and 100 output image tokens:
# 10 * 5 / 1e6 + 100 * 40 / 1e6 = 0.00005 + 0.004 = $0.00405 computed.
COMPUTED_ONE = D("0.00405")


def request(request_id: str, at: int, *, model: str, reported: str | None) -> ImageUsageEvent:
    """A request the book prices itself (no cost carried), with what its provider reported."""
    usage = ImageUsage(
        input_tokens=10,
        output_tokens=100,
        input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=0),
        cost=reported,
    )
    built = usage_at(request_id, at, model=model, usage=usage)
    return attrs.evolve(built, cost=None)


#: a: priced, reported $0.0041; b: priced, nothing reported;
#: c: no price, reported $0.02; d: no price, nothing reported.
EVENTS = (
    request("a", T0 + 60, model="gpt-image-1", reported="0.0041"),
    request("b", T0 + 120, model="gpt-image-1", reported=None),
    request("c", T0 + 180, model=UNPRICED, reported="0.02"),
    request("d", T0 + 240, model=UNPRICED, reported=None),
)


def aggregate(compiled: bool) -> AggregateSink:
    return AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)


@pytest.fixture(name="source", params=["compiled", "python", "sqlite", "postgresql"])
def _source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each sink that answers reports, holding EVENTS."""
    if request.param in ("compiled", "python"):
        sink: Any = aggregate(request.param == "compiled")
        if request.param == "compiled" and not sink.compiled:
            pytest.skip("aievents._speedups was not built")
        for item in EVENTS:
            sink.handle(item)
        yield sink
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'usage.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = fresh_database(server, f"aievents_{uuid.uuid4().hex[:12]}")
    store = StoreSink(url, clock=lambda: T0 + 3600)
    for item in EVENTS:
        store.handle(item)
    assert store.flush(30)
    yield store
    store.close(10)


def by_model(page: Any) -> dict[str | None, dict[str, Any]]:
    return {r["model"]: r for b in page.to_dict()["data"] for r in b["results"]}


class TestUsage:
    """A usage result sums the cost asked for, says which, and counts the requests that reported."""

    def test_computed(self, source: Any) -> None:
        """Computed (the default): the book's prices only; what was reported is not added."""
        page = source.usage(**WINDOW, group_by=["model"])
        assert page.cost_source == "computed"
        found = by_model(page)
        priced, unknown = found["gpt-image-1"], found[UNPRICED]
        assert priced["cost"]["value"] == pytest.approx(float(2 * COMPUTED_ONE))  # $0.0081
        assert (priced["unpriced_requests"], priced["reported_requests"]) == (0, 1)
        # The unpriced model's reported $0.02 does not make it priced.
        assert unknown["cost"] is None
        assert (unknown["unpriced_requests"], unknown["reported_requests"]) == (2, 1)
        assert {r["cost_source"] for r in found.values()} == {"computed"}
        exact = {r.model: r.cost for b in page.data for r in b.results}
        assert exact == {"gpt-image-1": D("0.0081"), UNPRICED: None}

    def test_reported(self, source: Any) -> None:
        """Reported: the providers' figures; a lower bound where some request reported none."""
        page = source.usage(**WINDOW, group_by=["model"], cost="reported")
        assert page.to_dict()["cost_source"] == "reported"
        exact = {r.model: (r.cost, r.partial) for b in page.data for r in b.results}
        assert exact == {"gpt-image-1": (D("0.0041"), True), UNPRICED: (D("0.02"), True)}
        (total,) = source.usage(**WINDOW, cost="reported").data[0].results
        assert (total.cost, total.reported_requests, total.num_model_requests) == (
            D("0.0241"),  # 0.0041 + 0.02
            2,
            4,
        )

    def test_nothing_reported(self, source: Any) -> None:
        """A result none of whose requests reported a cost has no reported cost: None, not 0."""
        page = source.usage(**WINDOW, models=["gpt-image-1"], group_by=["user_id"], cost="reported")
        assert page.data[0].results[0].cost == D("0.0041")
        only_b = source.usage(T0 + 120, T0 + 180, bucket_width="1m", cost="reported")
        (result,) = only_b.data[0].results
        assert (result.cost, result.reported_requests) == (None, 0)
        assert result.to_dict()["cost"] is None

    def test_other_value_refused(self, source: Any) -> None:
        """Anything but computed or reported is an error naming the value."""
        for query in (source.usage, source.costs):
            with pytest.raises(QueryError, match="'both'") as caught:
                query(**WINDOW, cost="both")
            assert caught.value.field == "cost"


class TestCosts:
    """A costs page sums the cost asked for; requests of unknown cost are counted apart."""

    def test_groups(self, source: Any) -> None:
        """The known amount, then the requests whose cost is not known (no amount)."""
        computed = source.costs(**WINDOW).data[0].results
        assert [(r.amount, r.unpriced_requests) for r in computed] == [(D("0.0081"), 0), (None, 2)]
        reported = source.costs(**WINDOW, cost="reported").data[0].results
        # $0.0041 + $0.02 reported; b and d reported nothing: not reported,
        # which is not "no price" (unpriced_requests means that everywhere).
        assert [(r.amount, r.unreported_requests, r.unpriced_requests) for r in reported] == [
            (D("0.0241"), 0, 0),
            (None, 2, 0),
        ]
        assert {r.to_dict()["cost_source"] for r in reported} == {"reported"}
        assert reported[1].to_dict()["unreported_requests"] == 2
        assert [r.unreported_requests for r in computed] == [0, 0]

    def test_line_items(self, source: Any) -> None:
        """Reported: one line item of a model's reported amount, then its requests without one."""
        page = source.costs(**WINDOW, group_by=["line_item"], cost="reported")
        lines = [
            (r.line_item, r.amount, r.quantity, r.quantity_unit, r.unreported_requests)
            for r in page.data[0].results
        ]
        assert lines == [
            (f"{UNPRICED}, not reported", None, 1, "requests", 1),
            (f"{UNPRICED}, reported", D("0.02"), 1, "requests", 0),
            ("gpt-image-1, not reported", None, 1, "requests", 1),
            ("gpt-image-1, reported", D("0.0041"), 1, "requests", 0),
        ]
        # gpt-image-1 has a price: its request b reported nothing, yet is priced.
        assert {r.unpriced_requests for r in page.data[0].results} == {0}
        computed = source.costs(**WINDOW, group_by=["line_item"]).data[0].results
        assert {r.line_item: r.amount for r in computed} == {
            f"{UNPRICED}, unpriced": None,
            "gpt-image-1, input text tokens": D("0.0001"),  # 2 x 10 x $5/M
            "gpt-image-1, output image tokens": D("0.008"),  # 2 x 100 x $40/M
        }


class TestReprice:
    """A reprice changes the computed cost only: what the providers reported is kept."""

    def test_reported_kept(self, source: Any) -> None:
        """The unpriced model priced since: computed known, reported as it was."""
        book = PriceBook()
        book.set_price(UNPRICED, tokens={"input_text": "5.00", "output_image": "40.00"})

        def reported() -> list[Any]:
            page = source.usage(**WINDOW, group_by=["model"], cost="reported")
            return [(r.model, r.cost, r.reported_requests) for b in page.data for r in b.results]

        before = reported()
        source.reprice(prices=book)
        assert reported() == before == [(UNPRICED, D("0.02"), 1), ("gpt-image-1", D("0.0041"), 1)]
        found = {r.model: r.cost for b in source.usage(**WINDOW, group_by=["model"]).data
                 for r in b.results}  # fmt: skip
        # gpt-image-1 as before (2 x $0.00405). acme-image-x, priced as
        # gpt-image-1 is: a store prices its rows again (2 x $0.00405); an
        # AggregateSink cannot reprice totals counted unpriced: still unknown.
        assert found["gpt-image-1"] == D("0.0081")
        assert found[UNPRICED] == (None if isinstance(source, AggregateSink) else D("0.0081"))


class TestExport:
    """AggregateSink's export and merge carry the reported lanes, exactly."""

    @pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
    def test_round_trip(self, compiled: bool) -> None:
        """A merge of an export answers as the sink did, a reported cost finer than units too."""
        if compiled and not COMPILED:
            pytest.skip("aievents._speedups was not built")
        sink = aggregate(compiled=False)
        fine = request("e", T0 + 300, model="gpt-image-1", reported="1E-19")
        for item in (*EVENTS, fine):
            sink.handle(item)
        state = json.loads(json.dumps(sink.export()))
        assert state["format"] == 4
        at = state["fields"].index("cost_reported")
        assert sum(D(row[at]) for _, _, row in state["series"]) == D("0.0241000000000000001")
        merged = AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)
        merged.merge(state)
        for cost in ("computed", "reported"):
            for query in ("usage", "costs"):
                got = getattr(merged, query)(**WINDOW, cost=cost).to_dict()
                assert got == getattr(sink, query)(**WINDOW, cost=cost).to_dict()
        (result,) = merged.usage(**WINDOW, cost="reported").data[0].results
        assert (result.cost, result.reported_requests) == (D("0.0241000000000000001"), 3)


@pytest.fixture(name="events_file")
def _events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(to_json(item) + "\n" for item in EVENTS))
    return path


CLI_WINDOW = ("--start", "2024-11-01", "--end", "2024-11-02")


class TestCommand:
    """``aievents usage/costs --cost``: the sum asked for, named in every format."""

    def test_json(self, cli: Callable[..., Any], events_file: Path) -> None:
        """JSON names the cost summed on the page and in each result; the figures are exact."""
        for kind, name in (("usage", "cost"), ("costs", "amount")):
            ran = cli(kind, "--events", str(events_file), *CLI_WINDOW, "--format", "json",
                      "--cost", "reported")  # fmt: skip
            assert ran.returncode == 0, ran.stderr
            page = json.loads(ran.stdout)
            assert page["cost_source"] == "reported"
            first = page["data"][0]["results"][0]
            assert (first[name]["value"], first["cost_source"]) == (0.0241, "reported")
            assert "no reported cost for" in ran.stderr
        ran = cli("usage", "--events", str(events_file), *CLI_WINDOW, "--format", "json")
        page = json.loads(ran.stdout)
        assert page["cost_source"] == "computed"
        assert page["data"][0]["results"][0]["cost"]["value"] == 0.0081
        assert "no price for 'acme-image-x' (2 requests)" in ran.stderr

    def test_store(self, cli: Callable[..., Any], events_file: Path, tmp_path: Path) -> None:
        """From a store as from the file: ingested, then summed as asked."""
        url = f"sqlite:///{tmp_path / 'usage.db'}"
        assert cli("ingest", str(events_file), "--store", url).returncode == 0
        for where in (("--store", url), ("--events", str(events_file))):
            ran = cli("costs", *where, *CLI_WINDOW, "--group-by", "line_item", "--format", "json",
                      "--cost", "reported")  # fmt: skip
            lines = {
                r["line_item"]: r.get("amount")
                for r in json.loads(ran.stdout)["data"][0]["results"]
            }
            assert lines == {
                f"{UNPRICED}, reported": {"value": 0.02, "currency": "usd"},
                f"{UNPRICED}, not reported": None,
                "gpt-image-1, reported": {"value": 0.0041, "currency": "usd"},
                "gpt-image-1, not reported": None,
            }

    def test_csv_and_table(self, cli: Callable[..., Any], events_file: Path) -> None:
        """CSV has a cost_source column; the table's title and cost column name the sum."""
        asked = ("--events", str(events_file), *CLI_WINDOW, "--cost", "reported")
        ran = cli("costs", *asked, "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(ran.stdout)))
        assert [
            (r["amount"], r["unreported_requests"], r["unpriced_requests"], r["cost_source"])
            for r in rows
        ] == [
            ("0.0241", "0", "0", "reported"),
            ("", "2", "0", "reported"),
        ]
        costs = cli("costs", *asked, "--group-by", "line_item").stdout
        assert "not reported" in costs  # the column, and the line items
        assert "unpriced" not in costs
        assert "gpt-image-1, not reported" in costs
        table = cli("usage", *asked, "--group-by", "model").stdout
        assert "reported cost" in table
        assert "cost (reported)" in table
        assert "$0.020000 + unknown" in table

    def test_wrong_value(self, tmp_path: Path, events_file: Path) -> None:
        """Another value is refused, naming the option and the choices (status 2)."""
        ran = subprocess.run(
            [sys.executable, "-m", "aievents", "usage", "--events", str(events_file),
             "--cost", "both"],
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert ran.returncode == 2
        assert "--cost" in ran.stderr
        assert "'both'" in ran.stderr
