"""Other names of priced models: aliases, patterns, dated snapshots; the event keeps its own."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from aievents import ImageUsage, ImageUsageEvent, OutputTokensDetails, PriceTableError
from aievents.pricing import Pattern, PriceBook, PriceTable

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
            ("gpt-image-2-0421", "gpt-image-2", "snapshot"),  # month and day
            ("gpt-image-2-0229", "gpt-image-2", "snapshot"),  # a leap day is a date
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

    @pytest.mark.parametrize(
        "name",
        [
            "gpt-image-2-1536",  # a size, not a date
            "gpt-image-2-2024",  # a year alone
            "gpt-image-2-1301",  # no month 13
            "gpt-image-2-0231",  # no 31 February
            "gpt-image-2-2026-13-01",
            "gpt-image-2-20260230",
        ],
    )
    def test_not_a_date(self, table: PriceTable, name: str) -> None:
        """A suffix that is not a real date is part of the name: no snapshot of anything."""
        assert table.resolve(name) is None

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

    def test_pattern_loop_ends(self, table: PriceTable) -> None:
        """A pattern built in code that gives back a name it matches again ends, unresolved."""
        looping = PriceTable("loop", table.models, patterns=[Pattern("x/*", "x/x/*")])
        assert looping.resolve("x/a") is None

    @pytest.mark.parametrize(
        ("match", "model"),
        [("x/*", "x/x/*"), ("gw/*", "gw/*"), ("*-azure", "*-azure"), ("acme-*", "acme-one")],
    )
    def test_pattern_loop_refused(self, match: str, model: str) -> None:
        """A file's pattern whose every answer it matches again is refused, naming it."""
        data = table_data()
        data["patterns"] = [{"match": match, "model": model}]
        with pytest.raises(PriceTableError) as info:
            PriceTable.from_dict(data)
        assert (info.value.field, info.value.value) == ("patterns[0].model", model)

    @pytest.mark.parametrize(
        ("match", "model"), [("openrouter/*", "*"), ("gw/*", "vendor/*"), ("*-azure", "*")]
    )
    def test_pattern_shrinks(self, match: str, model: str) -> None:
        """A pattern whose answers it may match again, but not all of them, is fine."""
        data = table_data()
        data["patterns"] = [{"match": match, "model": model}]
        assert PriceTable.from_dict(data).patterns[0] == Pattern(match, model)


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


class TestPatternOverlap:
    """Two patterns overlap when some name matches both: heads and tails agree."""

    @pytest.mark.parametrize(
        ("first", "second", "overlap"),
        [
            ("openrouter/*", "open*", True),  # openrouter/x
            ("azure/*", "*-azure", True),  # azure/x-azure
            ("fal-ai/*", "fal-ai/flux/*", True),
            ("openrouter/*", "azure/*", False),
            ("*-azure", "*-bedrock", False),
            ("a*b", "c*b", False),
        ],
    )
    def test_overlaps(self, first: str, second: str, overlap: bool) -> None:
        """Both ways round."""
        one, other = Pattern(first, "*"), Pattern(second, "*")
        assert one.overlaps(other) is overlap
        assert other.overlaps(one) is overlap

    def test_star_matches_something(self) -> None:
        """The * stands for one character or more: openrouter/ alone is no name."""
        assert Pattern("openrouter/*", "*").apply("openrouter/") is None
        assert Pattern("*-azure", "*").apply("gpt-image-2-azure") == "gpt-image-2"
        assert Pattern("gw/*", "vendor/*").apply("gw/m") == "vendor/m"


class TestMerged:
    """A file loaded onto a table: its names win, its patterns are tried first."""

    def test_precedence(self, table: PriceTable) -> None:
        """The file's alias replaces the table's; its pattern comes before the table's."""
        mine = PriceTable(
            "mine",
            {},
            aliases={"contoso-images": "dall-e-3"},
            patterns=[Pattern("openrouter/*", "gpt-image-1")],
        )
        merged = table.merged(mine)
        assert merged.version == "test-2026-12-01+local.1"
        assert [(p.match, p.model) for p in merged.patterns] == [
            ("openrouter/*", "gpt-image-1"),
            ("azure/*", "*"),
        ]
        contoso = merged.resolve("contoso-images")
        routed = merged.resolve("openrouter/anything")
        assert contoso is not None
        assert routed is not None
        assert (contoso.priced_as, routed.priced_as) == ("dall-e-3", "gpt-image-1")

    def test_set_price_on_an_alias(self, table: PriceTable) -> None:
        """set_price of an alias's name gives that name its own entry; the model is untouched."""
        book = PriceBook(table)
        entry = book.set_price("contoso-images", per_image="0.5")
        assert (entry.model, entry.provider, entry.unit) == ("contoso-images", "openai", "images")
        own = book.resolve("contoso-images")
        assert own is not None
        assert (own.priced_as, own.via) == ("contoso-images", "exact")
        assert book.lookup("gpt-image-2") == table.lookup("gpt-image-2")

    def test_file_alias_over_a_model(self, tmp_path: Path, table: PriceTable) -> None:
        """A loaded file aliasing dall-e-3 to gpt-image-2: dall-e-3 is priced as gpt-image-2."""
        path = tmp_path / "mine.json"
        mine = {"format": 2, "version": "mine", "aliases": {"dall-e-3": "gpt-image-2"}}
        path.write_text(json.dumps({**mine, "models": []}))
        book = PriceBook(table)
        book.load_prices(path)
        resolved = book.resolve("dall-e-3")
        assert resolved is not None
        assert (resolved.priced_as, resolved.via) == ("gpt-image-2", "alias")
        # 1000 image output tokens at gpt-image-2's 30.00/M: 1000 x 30 / 1e6 = 0.03
        cost = book.image_cost("dall-e-3", usage=USAGE)
        assert cost is not None
        assert cost.total == COST

    def test_file_alias_over_an_entry_alias(self, table: PriceTable) -> None:
        """A loaded alias over a name an entry of the table lists: the loaded one wins."""
        mine = PriceTable("mine", {}, aliases={"gemini-3.1-flash-image-preview": "gpt-image-2"})
        merged = table.merged(mine)
        resolved = merged.resolve("gemini-3.1-flash-image-preview")
        assert resolved is not None
        assert (resolved.priced_as, resolved.via) == ("gpt-image-2", "alias")
        kept = merged.lookup("gemini-3.1-flash-image")
        assert kept is not None
        assert kept.aliases == ()
