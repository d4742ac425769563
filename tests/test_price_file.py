"""The price file: format 2 read whole, format 1 still read, anything wrong refused whole."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aievents import PriceTableError
from aievents.pricing import PriceBook, PriceProblem, PriceTable, check_prices

from price_tables import FIXTURES, sample_table, table_data

D = Decimal


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


#: Each way a file can be wrong: a change to the test table, and the field the error names.
BAD: list[dict[str, Any]] = json.loads((FIXTURES / "bad_price_tables.json").read_text())


def broken(case: dict[str, Any]) -> dict[str, Any]:
    """The test table with the changes of ``case``: ``at`` the keys down to a value.

    The last key ``+`` appends ``value`` to a list; ``drop`` removes the value.
    """
    data = table_data()
    for change in case["change"]:
        *parents, last = change["at"]
        node: Any = data
        for key in parents:
            node = node[key]
        if last == "+":
            node.append(change["value"])
        elif change.get("drop"):
            del node[last]
        else:
            node[last] = change["value"]
    return data


CASES = pytest.mark.parametrize("case", BAD, ids=[case["case"] for case in BAD])


class TestRefused:
    """A file with anything wrong is refused whole, naming file, entry and field."""

    @CASES
    def test_dict(self, case: dict[str, Any]) -> None:
        """from_dict raises PriceTableError naming the field and the source."""
        data, field = broken(case), case["field"]
        with pytest.raises(PriceTableError) as info:
            PriceTable.from_dict(data, source="mine.json")
        assert info.value.field == field
        assert info.value.owner == "mine.json"
        assert str(info.value).startswith(f"mine.json: field {field!r}")

    @CASES
    def test_file_leaves_the_table(self, tmp_path: Path, case: dict[str, Any]) -> None:
        """load_prices refuses the file and the book's table in force is unchanged."""
        path, field = write(tmp_path / "bad.json", broken(case)), case["field"]
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


class TestShownValues:
    """A price file's error shows the bad value unless the field's own name is a secret's."""

    @pytest.mark.parametrize(
        ("model", "at", "value"),
        [
            ("gpt-image-2", ("per_million_tokens", "output_image"), "-3"),
            ("gpt-image-2", ("typical_tokens", "output_image"), "many"),
            ("gpt-image-2", ("per_billed_unit", "tokens"), "x"),
            ("acme-secret-sauce", ("per_million_tokens", "input_text"), "-1"),
        ],
    )
    def test_value_shown(self, model: str, at: tuple[str, str], value: str) -> None:
        """A bad rate, token count or billed price: the message shows it."""
        data = table_data()
        found = entry(data, 0)
        found["model"] = model
        found.setdefault(at[0], {})[at[1]] = value
        with pytest.raises(PriceTableError) as info:
            PriceTable.from_dict(data, source="mine.json")
        assert info.value.field == f"models[0]({model}).{at[0]}.{at[1]}"
        assert f"got {value!r} (str)" in str(info.value)
        assert "not shown" not in str(info.value)

    def test_secret_field_hidden(self) -> None:
        """A field named like a secret (api_key) is not shown, and its name is the reason."""
        data = table_data()
        entry(data, 0)["api_key"] = "hunter2"
        with pytest.raises(PriceTableError) as info:
            PriceTable.from_dict(data, source="mine.json")
        assert "hunter2" not in str(info.value)
        assert "(not shown: api_key is private)" in str(info.value)


KEY = "sk-proj-abcdefghijklmnopqrstuvwx0123456789"


class TestScrubbed:
    """Names that look like keys (aliases, a file's path) never appear in clear in errors."""

    @pytest.mark.parametrize(
        "aliases",
        [
            {KEY: "other", "other": KEY},  # a cycle
            {"gpt-image-2-alias": "gpt-image-2", KEY: "dall-e-3"},
        ],
    )
    def test_alias_names(self, tmp_path: Path, aliases: dict[str, str]) -> None:
        """Path, reason and message of each problem are scrubbed; the error too."""
        data = table_data()
        data["aliases"] = aliases
        entry(data, 0)["aliases"] = [KEY]  # a second target for KEY, or a cycle member's owner
        path = write(tmp_path / "bad.json", data)
        problems = check_prices(path)
        assert problems
        for problem in problems:
            assert KEY not in f"{problem.path} {problem.reason} {problem}"
        with pytest.raises(PriceTableError) as info:
            PriceTable.from_file(path)
        assert KEY not in str(info.value)

    def test_alias_is_a_model(self, tmp_path: Path) -> None:
        """An alias that is a model's name, the name looking like a key: scrubbed."""
        data = table_data()
        entry(data, 0)["model"] = KEY
        data["aliases"] = {KEY: "dall-e-3"}
        problems = check_prices(write(tmp_path / "bad.json", data))
        assert any("the name of a model" in p.reason for p in problems)
        for problem in problems:
            assert KEY not in f"{problem.path} {problem.reason} {problem}"

    def test_file_path(self, tmp_path: Path) -> None:
        """A file whose path holds a key-like word: the error names it scrubbed."""
        folder = tmp_path / KEY
        folder.mkdir()
        data = table_data()
        entry(data, 0)["unit"] = "pixels"
        path = write(folder / "prices.json", data)
        for missing in (False, True):
            with pytest.raises(PriceTableError) as info:
                PriceTable.from_file(folder / "none.json" if missing else path)
            assert KEY not in str(info.value)
            assert "[redacted]" in str(info.value)


def small_file(path: Path, **more: Any) -> Path:
    """A format 2 file with one entry (acme-paint, $0.04 an image) and ``more``."""
    model: dict[str, Any] = {"provider": "acme", "model": "acme-paint", "unit": "images"}
    model.update(source="contract", effective="2026-12-01", per_image=[{"price": "0.04"}])
    model.update(more.pop("entry", {}))
    return write(path, {"format": 2, "version": "mine", "models": [model], **more})


class TestUnknownNames:
    """An alias or successor must name a model of the table the file makes, merged or alone."""

    def test_alias_to_nothing(self, tmp_path: Path) -> None:
        """An alias to no model is refused by load_prices and listed by check_prices."""
        path = small_file(tmp_path / "p.json", aliases={"house": "acme-pain"})
        book = PriceBook(sample_table())
        before = book.table
        with pytest.raises(PriceTableError) as info:
            book.load_prices(path)
        assert (info.value.field, info.value.value) == ("aliases.house", "acme-pain")
        assert "names no model" in str(info.value)
        assert book.table is before
        assert [(p.path, p.value) for p in check_prices(path)] == [("aliases.house", "acme-pain")]

    def test_successor_to_nothing(self, tmp_path: Path) -> None:
        """A successor naming no model: refused, by its entry's path."""
        path = small_file(tmp_path / "p.json", entry={"successor": "acme-paint-9"})
        with pytest.raises(PriceTableError) as info:
            PriceBook(sample_table()).load_prices(path)
        assert info.value.field == "models[0](acme-paint).successor"
        assert [p.path for p in check_prices(path)] == ["models[0](acme-paint).successor"]

    def test_names_of_the_table_below(self, tmp_path: Path) -> None:
        """A file may name the models of the table it is loaded onto; alone, it may not."""
        path = small_file(
            tmp_path / "p.json", aliases={"house": "gpt-image-2"}, entry={"successor": "dall-e-3"}
        )
        book = PriceBook(sample_table())
        book.load_prices(path)
        resolved = book.resolve("house")
        assert resolved is not None
        assert resolved.priced_as == "gpt-image-2"
        assert check_prices(path) == []  # both are shipped models
        with pytest.raises(PriceTableError, match="names no model"):
            PriceBook(sample_table()).load_prices(path, replace=True)

    def test_shipped_table(self) -> None:
        """The shipped table names only its own models."""
        from aievents.pricing import shipped_table
        from aievents.pricing._table import unknown_names

        shipped = shipped_table()
        assert unknown_names(shipped, shipped) == []


class TestLifecycleOrder:
    """released, deprecated, shutdown come in that order, or the file is refused."""

    @pytest.mark.parametrize(
        ("dates", "field", "value"),
        [
            ({"deprecated": "2026-06-01", "shutdown": "2026-05-01"}, "deprecated", "2026-06-01"),
            ({"released": "2026-06-01", "deprecated": "2026-05-01"}, "released", "2026-06-01"),
            ({"released": "2026-06-01", "shutdown": "2026-05-01"}, "released", "2026-06-01"),
        ],
    )
    def test_refused(self, tmp_path: Path, dates: dict[str, str], field: str, value: str) -> None:
        """The earlier stage dated after the later one is named, with its value."""
        path = small_file(tmp_path / "p.json", entry=dates)
        with pytest.raises(PriceTableError) as info:
            PriceTable.from_file(path)
        assert (info.value.field, info.value.value) == (f"models[0](acme-paint).{field}", value)

    def test_same_day(self, tmp_path: Path) -> None:
        """Deprecated and shut down on the same day, released before: loads."""
        dates = {"released": "2026-01-01", "deprecated": "2026-05-01", "shutdown": "2026-05-01"}
        table = PriceTable.from_file(small_file(tmp_path / "p.json", entry=dates))
        assert table.lookup("acme-paint") is not None
