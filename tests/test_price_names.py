"""Other names of priced models: aliases, patterns, dated snapshots; the event keeps its own."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from aievents import ImageUsage, ImageUsageEvent, OutputTokensDetails
from aievents.pricing import PriceBook, PriceTable

from price_tables import sample_table, table_data

D = Decimal
#: 1000 image output tokens of gpt-image-2: 1000 x 30.00/M.
USAGE = ImageUsage(
    input_tokens=0, output_tokens=1000, output_tokens_details=OutputTokensDetails(image_tokens=1000)
)
COST = D("0.03")


@pytest.fixture(name="table")
def _table() -> PriceTable:
    return sample_table()


class TestResolve:
    """resolve() says which entry prices a name, as what, and how it was found."""

    @pytest.mark.parametrize(
        ("name", "priced_as", "via"),
        [
            ("gpt-image-2", "gpt-image-2", "exact"),
            ("contoso-images", "gpt-image-2", "alias"),
            ("house-default", "gpt-image-2", "alias"),  # alias -> alias -> model
            ("gemini-3.1-flash-image-preview", "gemini-3.1-flash-image", "alias"),  # the entry's
            ("openrouter/gpt-image-2", "gpt-image-2", "pattern"),
            ("azure/contoso-images", "gpt-image-2", "pattern"),  # pattern, then alias
            ("gpt-image-2-2026-04-21", "gpt-image-2", "snapshot"),
            ("openrouter/gpt-image-2-2026-04-21", "gpt-image-2", "pattern"),
            ("gemini-3.1-flash-image-20261001", "gemini-3.1-flash-image", "snapshot"),
        ],
    )
    def test_names(self, table: PriceTable, name: str, priced_as: str, via: str) -> None:
        """Each name reaches its entry."""
        resolved = table.resolve(name)
        assert resolved is not None
        assert (resolved.priced_as, resolved.via) == (priced_as, via)
        assert resolved.price.model == priced_as
        assert resolved.names[0] == name
        assert table.lookup(name) is resolved.price

    @pytest.mark.parametrize("name", ["mystery", "openrouter/mystery", "openrouter/", "azure"])
    def test_unknown(self, table: PriceTable, name: str) -> None:
        """A name that leads to no entry is None."""
        assert table.resolve(name) is None

    def test_chain(self, table: PriceTable) -> None:
        """The names looked up on the way are kept, in order."""
        resolved = table.resolve("openrouter/house-default")
        assert resolved is not None
        assert resolved.names == (
            "openrouter/house-default",
            "house-default",
            "contoso-images",
            "gpt-image-2",
        )

    def test_provider_first(self) -> None:
        """Two providers' entries of one name: the provider's own wins."""
        data = table_data()
        fal = {**data["models"][2], "provider": "fal", "per_image": [{"price": "0.5"}]}
        data["models"].append(fal)
        table = PriceTable.from_dict(data)
        fal_entry = table.lookup("dall-e-3", "fal")
        assert fal_entry is not None
        assert fal_entry.provider == "fal"
        openai_entry = table.lookup("dall-e-3", "openai")
        assert openai_entry is not None
        assert openai_entry.provider == "openai"

    def test_pattern_loop_ends(self) -> None:
        """A pattern that gives back a name it matches again ends, unresolved."""
        data = table_data()
        data["patterns"] = [{"match": "x/*", "model": "x/x/*"}]
        assert PriceTable.from_dict(data).resolve("x/a") is None


class TestPricedAs:
    """The cost says what the model was priced as; the event keeps the name used."""

    @pytest.mark.parametrize(
        "name", ["contoso-images", "openrouter/gpt-image-2", "gpt-image-2-2026-04-21"]
    )
    def test_cost(self, table: PriceTable, name: str) -> None:
        """Priced at gpt-image-2's rates, and says so."""
        cost = PriceBook(table).image_cost(name, usage=USAGE)
        assert cost is not None
        assert (cost.total, cost.priced_model) == (COST, "gpt-image-2")

    def test_event(self, table: PriceTable) -> None:
        """An event for a deployment name keeps it; priced_as names the entry."""
        event = ImageUsageEvent(
            request_id="r1", provider="azure", model="contoso-images", usage=USAGE
        )
        assert event.priced_as is None
        cost = PriceBook(table).cost_of(event)
        priced = ImageUsageEvent(
            request_id="r1", provider="azure", model="contoso-images", usage=USAGE, cost=cost
        )
        assert (priced.model, priced.priced_as) == ("contoso-images", "gpt-image-2")

    def test_load_adds_names(self, tmp_path: Path) -> None:
        """Loading a file into a book adds its aliases and patterns to the table's."""
        data = table_data()
        path = tmp_path / "mine.json"
        mine = {
            "format": 2,
            "version": "mine",
            "aliases": {"my-deployment": "gpt-image-2"},
            "patterns": [{"match": "gw/*", "model": "*"}],
            "models": [],
        }
        path.write_text(json.dumps(mine))
        book = PriceBook(PriceTable.from_dict(data))
        book.load_prices(path)
        for name in ("my-deployment", "gw/contoso-images", "openrouter/gpt-image-2"):
            resolved = book.resolve(name)
            assert resolved is not None
            assert resolved.priced_as == "gpt-image-2"
