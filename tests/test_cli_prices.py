"""aievents prices: the price table with each model's status, filtered; --check FILE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aievents.pricing import PriceBook, check_prices, shipped_table
from test_cli import run

# The default price book on the shipped table, put back after each test.
pytestmark = pytest.mark.usefixtures("shipped_prices")
#: 2026-12-02 12:00 UTC: dall-e-3 is shut down, gpt-image-1 deprecated.
DEC_2 = 1_796_212_800
#: 2026-09-07 12:00 UTC: the day before the 2.5 models' release.
SEP_7 = 1_788_782_400
GPT_IMAGE = [
    "gpt-image-2",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-sunburst",
    "gpt-image-1.5",
    "gpt-image-1",
    "gpt-image-1-mini",
]


def listed(cli: Any, *args: str, now: float = DEC_2) -> dict[str, Any]:
    """The JSON answer of ``aievents prices --format json ARGS``."""
    result = cli("prices", "--format", "json", *args, now=now)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def rows(table: str) -> list[dict[str, str]]:
    """The rows of a rich table by column name, each cell's folded lines joined by spaces."""
    header = next(line for line in table.splitlines() if line.startswith("┃"))
    names = [cell.strip() for cell in header.split("┃")[1:-1]]
    found: list[dict[str, str]] = []
    fresh = True
    for line in table.splitlines():
        if line.startswith("├") or line.startswith("┡"):
            fresh = True
        elif line.startswith("│"):
            cells = [cell.strip() for cell in line.split("│")[1:-1]]
            if fresh:
                found.append(dict.fromkeys(names, ""))
                fresh = False
            for name, cell in zip(names, cells, strict=True):
                found[-1][name] = f"{found[-1][name]} {cell}".strip()
    return found


def models(answer: dict[str, Any]) -> list[str]:
    """The model names of a JSON answer, in order."""
    return [entry["model"] for entry in answer["models"]]


#: A good entry of a user's price file.
ACME = {
    "provider": "acme",
    "model": "acme-a",
    "unit": "images",
    "per_image": [{"price": "0.01"}],
    "source": "contract",
    "effective": "2026-12-01",
}


def price_file(path: Path, models: list[dict[str, Any]], **more: Any) -> Path:
    """``path`` holding a format 2 price file of ``models`` (and ``more`` top-level fields)."""
    table = {"format": 2, "version": "mine", "currency": "usd", "models": models, **more}
    path.write_text(json.dumps(table))
    return path


@pytest.fixture(name="bad_file")
def _bad_file(tmp_path: Path) -> Path:
    """A price file with problems in three entries, and two aliases in a cycle."""
    return price_file(
        tmp_path / "prices.json",
        [
            {**ACME, "per_image": [{"price": "-0.01"}]},
            {**ACME, "model": "acme-b", "unit": "pixels", "per_image": []},
            {**ACME, "model": "acme-c", "effective": "1 Dec", "per_image": [{"price": "x"}]},
        ],
        aliases={"one": "two", "two": "one"},
    )


class TestTable:
    """The default answer is a rich table: provider, model, unit, status, prices."""

    def test_every_model(self, cli: Any) -> None:
        """Every entry of the shipped table is a row, under the table's version and date."""
        result = cli("prices", now=DEC_2)
        assert result.returncode == 0, result.stderr
        assert "prices 2026-12-01 on 2026-12-02 (UTC): " in result.stdout
        count = len(shipped_table().models)
        assert f"{count} models" in result.stdout
        for line in result.stdout.splitlines():
            assert line.isprintable(), repr(line)

    def test_status_and_prices(self, cli: Any) -> None:
        """A retired model's row says since when and its successor; its prices are listed."""
        result = cli("prices", "--model", "dall-e-2", now=DEC_2)
        assert result.returncode == 0, result.stderr
        (row,) = rows(result.stdout)
        assert row == {
            "provider": "openai",
            "model": "dall-e-2",
            "unit": "images",
            "status": "shutdown 2026-05-12, successor gpt-image-2",
            # pricing.md: dall-e-2 0.016 / 0.018 / 0.020 by size
            "prices": "per image: 256x256 0.016, 512x512 0.018, 1024x1024 0.020",
            "effective": "2026-07-22",
        }

    def test_one_row_each(self, cli: Any) -> None:
        """Each row is an entry, in the table's order, its aliases beside its name."""
        result = cli("prices", "--provider", "xai", now=DEC_2)
        assert result.returncode == 0, result.stderr
        assert [(row["model"], row["status"]) for row in rows(result.stdout)] == [
            ("grok-imagine-image", "current"),
            ("grok-imagine-image-quality", "deprecated 2026-11-02"),
            ("grok-imagine-image-2.0", "current"),
            # legacy in pricing.md, with no date and no successor: current, "legacy" in its note
            ("grok-2-image-1212 (also grok-2-image, grok-2-image-latest)", "current"),
        ]


class TestJson:
    """--format json: each entry in the price file's form, with its status on the run's date."""

    def test_status_on_the_day(self, cli: Any) -> None:
        """The status of each OpenAI model on 2026-12-02, and on 2026-09-07."""
        answer = listed(cli, "--provider", "openai")
        status = {entry["model"]: entry["status"] for entry in answer["models"]}
        assert (answer["version"], answer["date"]) == ("2026-12-01", "2026-12-02")
        assert status == {
            "gpt-image-2": "current",
            "gpt-image-2.5-flare": "current",
            "gpt-image-2.5-sunburst": "current",
            "gpt-image-1.5": "shutdown",  # 2026-12-01
            "chatgpt-image-latest": "shutdown",  # 2026-12-01
            "gpt-image-1": "deprecated",  # 2026-10-23
            "gpt-image-1-mini": "shutdown",  # 2026-12-01
            "dall-e-2": "shutdown",  # 2026-05-12
            "dall-e-3": "shutdown",  # 2026-05-12
        }
        before = listed(cli, "--model", "gpt-image-2.5-*", now=SEP_7)
        assert [e["status"] for e in before["models"]] == ["upcoming", "upcoming"]

    def test_entries_in_file_form(self, cli: Any, tmp_path: Path) -> None:
        """Amounts are exact strings; the entries, without status, are a good price file."""
        answer = listed(cli)
        flux = next(e for e in answer["models"] if e["model"] == "fal-ai/flux/dev")
        assert flux["per_megapixel"] == {"price": "0.025", "pixels": 1048576, "round": "up"}
        assert flux["per_billed_unit"] == {"megapixels": "0.025"}
        assert {"match": "openrouter/*", "model": "*"} in answer["patterns"]
        entries = [{k: v for k, v in e.items() if k != "status"} for e in answer["models"]]
        again = price_file(tmp_path / "again.json", entries, patterns=answer["patterns"])
        assert check_prices(again) == []
        assert len(entries) == len(shipped_table().models)

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (["--model", "gpt-image-*"], GPT_IMAGE),  # a pattern: the whole name
            (["--model", "NANO-banana"], ["fal-ai/nano-banana", "fal-ai/nano-banana-pro"]),
            (["--model", "grok-2-image-latest"], ["grok-2-image-1212"]),  # an alias
            (["--provider", "XAI", "--model", "quality"], ["grok-imagine-image-quality"]),
            (["--provider", "bedrock", "--model", "amazon.*"], [
                "amazon.titan-image-generator-v1",
                "amazon.titan-image-generator-v2:0",
                "amazon.nova-canvas-v1:0",
            ]),
        ],
    )  # fmt: skip
    def test_filters(self, cli: Any, args: list[str], expected: list[str]) -> None:
        """--provider (any case) and --model (a part of a name or alias, or a pattern)."""
        assert models(listed(cli, *args)) == expected

    def test_no_match(self, cli: Any) -> None:
        """Nothing matches: an empty list, one line on stderr, status 0."""
        result = cli("prices", "--format", "json", "--provider", "acme", now=DEC_2)
        assert result.returncode == 0
        assert json.loads(result.stdout)["models"] == []
        assert "no model matches (--provider 'acme')" in result.stderr

    def test_no_match_said_once(self, cli: Any) -> None:
        """The table says nothing matches once: on stderr, not in its caption too."""
        result = cli("prices", "--model", "nothing-here", now=DEC_2)
        assert result.returncode == 0
        said = result.stdout + result.stderr
        assert said.count("matches") == 1
        assert "aievents: no model matches (--model 'nothing-here')" in result.stderr

    @pytest.mark.parametrize(
        ("name", "entry", "via"),
        [
            ("openrouter/openai/gpt-image-2", "gpt-image-2", "pattern"),
            ("gpt-image-1-2025-04-15", "gpt-image-1", "snapshot"),
            ("bedrock/amazon.nova-canvas-v1:0", "amazon.nova-canvas-v1:0", "pattern"),
        ],
    )
    def test_name_priced_as(self, cli: Any, name: str, entry: str, via: str) -> None:
        """--model NAME shows the entry NAME is priced as, and how it was reached."""
        answer = listed(cli, "--model", name)
        (found,) = answer["models"]
        assert (found["model"], found["reached"]) == (entry, {"name": name, "via": via})
        table = cli("prices", "--model", name, now=DEC_2)
        assert (table.returncode, table.stderr) == (0, "")
        (row,) = rows(table.stdout)
        assert row["model"].replace(" ", "").startswith(f"{entry}(as{name},by{via})")

    def test_prices_file(self, cli: Any, tmp_path: Path) -> None:
        """--prices FILE: the user's entries added to the table shown, overriding the same model."""
        mine = {
            **ACME,
            "provider": "openai",
            "model": "gpt-image-2",
            "per_image": [{"price": "0.07"}],
        }
        path = price_file(tmp_path / "mine.json", [ACME, mine])
        answer = listed(cli, "--prices", str(path), "--model", "acme-a")
        assert [(e["model"], e["per_image"]) for e in answer["models"]] == [
            ("acme-a", [{"price": "0.01"}])
        ]
        (entry,) = listed(cli, "--prices", str(path), "--model", "openrouter/openai/gpt-image-2")[
            "models"
        ]
        assert (entry["unit"], entry["per_image"]) == ("images", [{"price": "0.07"}])

    def test_prices_file_bad(self, cli: Any, bad_file: Path) -> None:
        """A --prices FILE that cannot be loaded is an error naming the file."""
        result = cli("prices", "--prices", str(bad_file), now=DEC_2)
        assert result.returncode != 0
        assert str(bad_file) in result.stderr

    def test_the_book_given(self, capsys: pytest.CaptureFixture[str]) -> None:
        """main(prices=book) shows that book's table, its runtime prices included."""
        from aievents.cli import main

        book = PriceBook()
        book.set_price("acme-image-v2", provider="acme", per_image="0.05", effective="2026-12-01")
        argv = ["prices", "--format", "json", "--provider", "acme"]
        assert main(argv, now=DEC_2, prices=book) == 0
        answer = json.loads(capsys.readouterr().out)
        assert answer["version"] == "2026-12-01+local.1"
        (entry,) = answer["models"]
        assert (entry["model"], entry["per_image"], entry["status"]) == (
            "acme-image-v2",
            [{"price": "0.05"}],
            "current",
        )


class TestCheck:
    """--check FILE lists every problem of a price file by path and value."""

    def test_good(self, cli: Any, tmp_path: Path) -> None:
        """A good file: status 0."""
        path = price_file(tmp_path / "mine.json", [ACME])
        result = cli("prices", "--check", str(path))
        assert (result.returncode, result.stdout) == (0, f"{path}: no problem found\n")

    def test_every_problem(self, cli: Any, bad_file: Path) -> None:
        """Each bad entry is named by path and value, once, and nothing else; status 1."""
        result = cli("prices", "--check", str(bad_file))
        assert result.returncode == 1
        amount = "must be a finite, non-negative amount"
        units = "must be one of 'tokens', 'images', 'megapixels', 'requests'"
        assert result.stdout.splitlines() == [
            f"{bad_file}: field {where!r} {reason}, got {value}"
            for where, reason, value in [
                ("models[0](acme-a).per_image[0].price", amount, "'-0.01' (str)"),
                ("models[1](acme-b).unit", units, "'pixels' (str)"),
                (
                    "models[2](acme-c).effective",
                    "must be an ISO date such as '2026-12-01'",
                    "'1 Dec' (str)",
                ),
                (
                    "models[2](acme-c).per_image[0].price",
                    "must be a decimal amount such as '0.040'",
                    "'x' (str)",
                ),
                ("aliases.one", "is in a cycle of aliases: one -> two -> one", "'two' (str)"),
                ("aliases.two", "is in a cycle of aliases: two -> one -> two", "'one' (str)"),
            ]
        ]
        assert f"{bad_file}: 6 problems: the file is refused" in result.stderr

    def test_empty_prices(self, cli: Any, tmp_path: Path) -> None:
        """A per_image list with no row is one problem; one bad row is not also 'no row'."""
        path = price_file(tmp_path / "p.json", [{**ACME, "per_image": []}])
        assert [(p.path, p.reason) for p in check_prices(path)] == [
            ("models[0](acme-a).per_image", "must list at least one price")
        ]

    def test_json(self, cli: Any, bad_file: Path) -> None:
        """--format json: the file, whether it is good, and each problem."""
        result = cli("prices", "--check", str(bad_file), "--format", "json")
        assert result.returncode == 1
        answer = json.loads(result.stdout)
        assert (answer["file"], answer["good"]) == (str(bad_file), False)
        unit = next(p for p in answer["problems"] if p["path"] == "models[1](acme-b).unit")
        assert unit["reason"].startswith("must be one of 'tokens', 'images'")
        assert unit["message"].endswith("got 'pixels' (str)")
        assert len(answer["problems"]) == len(check_prices(bad_file))

    def test_json_scrubbed(self, cli: Any, tmp_path: Path) -> None:
        """--format json scrubs a secret from the path and reason, as the text output does."""
        secret = "sk-proj-" + "Q7xL2mN9pR4tV8wZ" * 3
        path = price_file(tmp_path / "mine.json", [{**ACME, "model": secret, "unit": "pixels"}])
        for form in ("table", "json"):
            result = cli("prices", "--check", str(path), "--format", form)
            assert result.returncode == 1
            assert secret not in result.stdout
            assert "[redacted]" in result.stdout

    def test_key_in_file_name(self, cli: Any, tmp_path: Path) -> None:
        """A key pasted into the file's name is scrubbed wherever the command names the file."""
        secret = "sk-proj-" + "Q7xL2mN9pR4tV8wZ" * 3
        folder = tmp_path / secret
        folder.mkdir()
        good = price_file(folder / "good.json", [ACME])
        bad = price_file(folder / "bad.json", [{**ACME, "unit": "pixels"}])
        for path, status in ((good, 0), (bad, 1)):
            for form in ("table", "json"):
                result = cli("prices", "--check", str(path), "--format", form)
                assert result.returncode == status
                assert secret not in result.stdout + result.stderr
                assert "[redacted]" in result.stdout

    def test_missing_file(self, cli: Any, tmp_path: Path) -> None:
        """A file that is not there is a problem too."""
        result = cli("prices", "--check", str(tmp_path / "none.json"))
        assert result.returncode == 1
        assert "cannot be read" in result.stdout

    def test_not_with_filters(self, cli: Any, bad_file: Path) -> None:
        """--check checks a whole file: --provider or --model with it is a wrong command line."""
        result = cli("prices", "--check", str(bad_file), "--provider", "acme")
        assert result.returncode == 2
        assert "--check: not with --provider or --model" in result.stderr


class TestProcess:
    """The command as a real process."""

    def test_check_exit_status(self, bad_file: Path) -> None:
        """A bad file exits 1, as a real process."""
        result = run("prices", "--check", str(bad_file))
        assert result.returncode == 1, result.stderr
        assert "models[1](acme-b).unit" in result.stdout

    def test_json_and_help(self) -> None:
        """JSON of the whole table; the help names the command and its options."""
        result = run("prices", "--format", "json")
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)["models"]) == len(shipped_table().models)
        helped = run("prices", "--help")
        for option in ("--provider", "--model", "--format", "--check"):
            assert option in helped.stdout
        assert "prices" in run("--help").stdout
