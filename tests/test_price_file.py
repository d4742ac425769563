"""The price file: format 2 read whole, format 1 still read, anything wrong refused whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aievents import PriceTableError
from aievents.pricing import PriceBook, PriceProblem, PriceTable, check_prices

from price_tables import sample_table, table_data

D = Decimal
Change = Callable[[dict[str, Any]], object]


def write(path: Path, data: Any) -> Path:
    """``data`` as a JSON file at ``path``."""
    path.write_text(json.dumps(data))
    return path


def entry(data: dict[str, Any], index: int) -> dict[str, Any]:
    """The entry ``index`` of ``data``'s models."""
    found: dict[str, Any] = data["models"][index]
    return found


class TestFormat2:
    """A format 2 file gives every field of every entry."""

    def test_reads(self) -> None:
        """Units, rows with tiers, megapixels, requests, billed units, lifecycle and names."""
        table = sample_table()
        assert table.version == "test-2026-12-01"
        assert len(table.models) == 8
        grok = table.lookup("grok-imagine-image-2.0")
        assert grok is not None
        assert [(row.tier, row.price) for row in grok.per_image] == [
            ("1K", D("0.04")),
            ("2K", D("0.06")),
        ]
        flux = table.lookup("fal-ai/flux/dev")
        assert flux is not None
        assert flux.per_megapixel is not None
        assert (flux.per_megapixel.price, flux.per_megapixel.pixels) == (D("0.025"), 1_000_000)
        assert flux.per_megapixel.round == "up"
        assert flux.billed_rate("megapixels") == D("0.025")
        assert flux.billed_rate("seconds") is None
        upscale = table.lookup("acme-upscale")
        assert upscale is not None
        assert upscale.per_request == D("0.01")
        assert table.aliases["house-default"] == "contoso-images"
        assert [p.match for p in table.patterns] == ["openrouter/*", "azure/*"]

    def test_file_and_dict_agree(self, tmp_path: Path) -> None:
        """The same content from a file or a dict is the same table."""
        path = write(tmp_path / "prices.json", table_data())
        assert PriceTable.from_file(path) == sample_table()
        assert check_prices(path) == []

    def test_format_1_still_loads(self) -> None:
        """A format 1 file (no source or date required, fields not checked) loads as before."""
        old = {
            "format": 1,
            "version": "old",
            "models": [
                {"provider": "acme", "model": "acme-paint", "unit": "images",
                 "per_image": [{"price": "0.01"}], "comment": "kept quiet in format 1"}
            ],
        }  # fmt: skip
        table = PriceTable.from_dict(old)
        price = table.lookup("acme-paint")
        assert price is not None
        assert price.per_image[0].price == D("0.01")
        old["format"] = 2
        with pytest.raises(PriceTableError):
            PriceTable.from_dict(old)


# Each way a file can be wrong: (change to the test table, field the error names).
BAD: list[tuple[str, Change, str]] = [
    ("no provider", lambda d: entry(d, 0).pop("provider"), "models[0](gpt-image-2).provider"),
    ("no model", lambda d: entry(d, 0).pop("model"), "models[0].model"),
    ("no source", lambda d: entry(d, 1).pop("source"), "models[1](gpt-image-1).source"),
    ("no effective", lambda d: entry(d, 1).pop("effective"), "models[1](gpt-image-1).effective"),
    ("no version", lambda d: d.pop("version"), "version"),
    (
        "no rates",
        lambda d: entry(d, 0).pop("per_million_tokens"),
        "models[0](gpt-image-2).per_million_tokens",
    ),
    ("no per_image", lambda d: entry(d, 2).pop("per_image"), "models[2](dall-e-3).per_image"),
    (
        "no per_megapixel",
        lambda d: entry(d, 6).pop("per_megapixel"),
        "models[6](fal-ai/flux/dev).per_megapixel",
    ),
    (
        "no per_request",
        lambda d: entry(d, 7).pop("per_request"),
        "models[7](acme-upscale).per_request",
    ),
    (
        "no row price",
        lambda d: entry(d, 2)["per_image"][1].pop("price"),
        "models[2](dall-e-3).per_image[1].price",
    ),
    (
        "negative price",
        lambda d: entry(d, 2)["per_image"][1].update(price="-0.12"),
        "models[2](dall-e-3).per_image[1].price",
    ),
    (
        "not a decimal",
        lambda d: entry(d, 5)["per_image"][0].update(price="four cents"),
        "models[5](grok-imagine-image-2.0).per_image[0].price",
    ),
    (
        "a float",
        lambda d: entry(d, 7).update(per_request=0.01),
        "models[7](acme-upscale).per_request",
    ),
    (
        "negative rate",
        lambda d: entry(d, 0)["per_million_tokens"].update(output_image="-30"),
        "models[0](gpt-image-2).per_million_tokens.output_image",
    ),
    (
        "infinite",
        lambda d: entry(d, 6)["per_megapixel"].update(price="Infinity"),
        "models[6](fal-ai/flux/dev).per_megapixel.price",
    ),
    ("unknown unit", lambda d: entry(d, 2).update(unit="pixels"), "models[2](dall-e-3).unit"),
    (
        "unknown rate",
        lambda d: entry(d, 0)["per_million_tokens"].update(output_video="1"),
        "models[0](gpt-image-2).per_million_tokens.output_video",
    ),
    (
        "unknown billed unit",
        lambda d: entry(d, 6)["per_billed_unit"].update(parsecs="1"),
        "models[6](fal-ai/flux/dev).per_billed_unit.parsecs",
    ),
    (
        "unknown tier",
        lambda d: entry(d, 5)["per_image"][0].update(tier="8K"),
        "models[5](grok-imagine-image-2.0).per_image[0].tier",
    ),
    (
        "unknown rounding",
        lambda d: entry(d, 6)["per_megapixel"].update(round="down"),
        "models[6](fal-ai/flux/dev).per_megapixel.round",
    ),
    (
        "no pixels",
        lambda d: entry(d, 6)["per_megapixel"].update(pixels=0),
        "models[6](fal-ai/flux/dev).per_megapixel.pixels",
    ),
    (
        "misspelt field",
        lambda d: entry(d, 2).update(per_imgae=[]),
        "models[2](dall-e-3).per_imgae",
    ),
    (
        "field of another unit",
        lambda d: entry(d, 2).update(per_request="0.1"),
        "models[2](dall-e-3).per_request",
    ),
    (
        "typical tokens not a count",
        lambda d: entry(d, 4)["typical_tokens"].update(output_image="1290"),
        "models[4](gemini-2.5-flash-image).typical_tokens.output_image",
    ),
    (
        "not a date",
        lambda d: entry(d, 2).update(shutdown="12 May 2026"),
        "models[2](dall-e-3).shutdown",
    ),
    (
        "no such day",
        lambda d: entry(d, 0).update(released="2026-02-30"),
        "models[0](gpt-image-2).released",
    ),
    (
        "effective not a date",
        lambda d: entry(d, 0).update(effective="October"),
        "models[0](gpt-image-2).effective",
    ),
    ("format", lambda d: d.update(format=3), "format"),
    ("currency", lambda d: d.update(currency="eur"), "currency"),
    (
        "entry twice",
        lambda d: d["models"].append(dict(entry(d, 7))),
        "models[8](acme-upscale).model",
    ),
    (
        "alias is a model",
        lambda d: d["aliases"].update({"dall-e-3": "gpt-image-2"}),
        "aliases.dall-e-3",
    ),
    (
        "entry alias is a model",
        lambda d: entry(d, 3)["aliases"].append("gpt-image-1"),
        "models[3](gemini-3.1-flash-image).aliases[1]",
    ),
    (
        "alias on two entries",
        lambda d: entry(d, 0).update(aliases=["gemini-3.1-flash-image-preview"]),
        "models[3](gemini-3.1-flash-image).aliases[0]",
    ),
    (
        "alias two targets",
        lambda d: d["aliases"].update({"gemini-3.1-flash-image-preview": "gpt-image-2"}),
        "aliases.gemini-3.1-flash-image-preview",
    ),
    (
        "cycle",
        lambda d: d["aliases"].update({"ping": "pong", "pong": "ping"}),
        "aliases.ping",
    ),
    (
        "patterns overlap",
        lambda d: d["patterns"].append({"match": "open*", "model": "*"}),
        "patterns[2].match",
    ),
    (
        "patterns overlap head and tail",  # both match azure/x-azure
        lambda d: d["patterns"].append({"match": "*-azure", "model": "*"}),
        "patterns[2].match",
    ),
    (
        "pattern without a star",
        lambda d: d["patterns"].append({"match": "exact-name", "model": "gpt-image-2"}),
        "patterns[2].match",
    ),
    (
        "pattern with two stars",
        lambda d: d["patterns"].append({"match": "a/*/*", "model": "*"}),
        "patterns[2].match",
    ),
]


class TestRefused:
    """A file with anything wrong is refused whole, naming file, entry and field."""

    @pytest.mark.parametrize(("change", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
    def test_dict(self, change: Change, field: str) -> None:
        """from_dict raises PriceTableError naming the field and the source."""
        data = table_data()
        change(data)
        with pytest.raises(PriceTableError) as info:
            PriceTable.from_dict(data, source="mine.json")
        assert info.value.field == field
        assert info.value.owner == "mine.json"
        assert str(info.value).startswith(f"mine.json: field {field!r}")

    @pytest.mark.parametrize(("change", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
    def test_file_leaves_the_table(self, tmp_path: Path, change: Change, field: str) -> None:
        """load_prices refuses the file and the book's table in force is unchanged."""
        data = table_data()
        change(data)
        path = write(tmp_path / "bad.json", data)
        book = PriceBook(sample_table())
        before = book.table
        for replace in (False, True):
            with pytest.raises(PriceTableError) as info:
                book.load_prices(path, replace=replace)
            assert (info.value.field, info.value.owner) == (field, str(path))
            assert book.table is before
        assert field in [problem.path for problem in check_prices(path)]

    def test_alias_given_twice_in_the_file(self, tmp_path: Path) -> None:
        """The same alias twice in the JSON, to two targets, is refused (not the last kept)."""
        text = json.dumps(table_data()).replace(
            '"aliases": {', '"aliases": {"twice": "gpt-image-2", "twice": "dall-e-3", ', 1
        )
        path = tmp_path / "twice.json"
        path.write_text(text)
        with pytest.raises(PriceTableError) as info:
            PriceTable.from_file(path)
        assert (info.value.field, info.value.value) == ("aliases.twice", "dall-e-3")

    def test_unreadable(self, tmp_path: Path) -> None:
        """A missing file or one that is not JSON: refused, and one problem each."""
        missing = tmp_path / "nope.json"
        broken = tmp_path / "broken.json"
        broken.write_text("{not json")
        for path, words in ((missing, "cannot be read"), (broken, "is not valid JSON")):
            with pytest.raises(PriceTableError, match=words):
                PriceTable.from_file(path)
            (problem,) = check_prices(path)
            assert words in problem.reason


class TestCheck:
    """check_prices lists every problem of a file, not the first alone."""

    def test_every_problem(self, tmp_path: Path) -> None:
        """Four problems in three entries and the names: four problems, by path and value."""
        data = table_data()
        entry(data, 2)["per_image"][0]["price"] = "-1"
        entry(data, 2)["shutdown"] = "soon"
        entry(data, 5)["unit"] = "pixels"
        data["aliases"]["ping"] = "ping"
        problems = check_prices(write(tmp_path / "bad.json", data))
        assert [(p.path, p.value) for p in problems] == [
            ("models[2](dall-e-3).shutdown", "soon"),
            ("models[2](dall-e-3).per_image[0].price", "-1"),
            ("models[5](grok-imagine-image-2.0).unit", "pixels"),
            ("aliases.ping", "ping"),
        ]
        assert all(isinstance(p, PriceProblem) for p in problems)
        assert "must be an ISO date" in str(problems[0])
        with pytest.raises(PriceTableError, match=r"and 3 more problems"):
            PriceTable.from_file(tmp_path / "bad.json")
