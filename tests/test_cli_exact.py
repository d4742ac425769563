"""The command's answers are exact: any window's edges, every amount, every error message."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from test_cli import write_events
from test_store import DAY, T0

from helpers import usage_at

#: 180 events, one a minute from 10:00 to 12:59 UTC of T0's day.
FIRST = T0 + 10 * 3600
#: The command's clock: the next day.
NOW = T0 + DAY + 3600


@pytest.fixture(name="minutes")
def _minutes(tmp_path: Path, cli: Any) -> tuple[Path, str]:
    """The 180 events as a JSONL file, and ingested into a SQLite store."""
    path = write_events(
        tmp_path / "minutes.jsonl", [usage_at(f"m{i}", FIRST + 60 * i) for i in range(180)]
    )
    url = f"sqlite:///{tmp_path / 'minutes.db'}"
    assert cli("ingest", str(path), "--store", url).returncode == 0
    return path, url


def answer(cli: Any, kind: str, source: list[str], *window: str) -> dict[str, Any]:
    """The JSON page of a query."""
    result = cli(kind, *source, *window, "--format", "json", now=NOW)
    assert result.returncode == 0, result.stderr
    page: dict[str, Any] = json.loads(result.stdout, parse_float=Decimal)
    return page


def counts(page: dict[str, Any]) -> list[int]:
    """Requests per bucket."""
    return [sum(r["num_model_requests"] for r in b["results"]) for b in page["data"]]


class TestEventsWindow:
    """usage and costs --events count what a store counts, wherever the window starts and ends."""

    @pytest.mark.parametrize(
        ("kind", "width"), [("usage", "1m"), ("usage", "1h"), ("usage", "1d"), ("costs", "1d")]
    )
    @pytest.mark.parametrize(
        "window",
        [
            (FIRST + 1800, None),  # 10:30, inside an hour and a day
            (FIRST + 1800 + 20, FIRST + 2 * 3600 + 900 + 40),  # seconds off the minute
            (T0, FIRST + 3600 + 1),  # ends a second into 11:00: that minute counts
            (FIRST - 300, FIRST + 3 * 3600),
        ],
    )
    def test_file_answers_as_the_store(
        self, cli: Any, minutes: tuple[Path, str], kind: str, width: str, *, window: tuple[int, Any]
    ) -> None:
        """The same window over the file and over the store gives the same page."""
        path, url = minutes
        start, end = window
        asked = ["--start", str(start), "--bucket-width", width]
        if end is not None:
            asked += ["--end", str(end)]
        from_file = answer(cli, kind, ["--events", str(path)], *asked)
        from_store = answer(cli, kind, ["--store", url], *asked)
        assert from_file == from_store
        assert any(bucket["results"] for bucket in from_file["data"])

    def test_first_bucket_counted(self, cli: Any, minutes: tuple[Path, str]) -> None:
        """From 10:30 in hourly buckets: 30, 60, 60, as the events are."""
        path, _ = minutes
        window = ["--start", str(FIRST + 1800), "--end", str(FIRST + 3 * 3600)]
        page = answer(cli, "usage", ["--events", str(path)], *window, "--bucket-width", "1h")
        assert counts(page) == [30, 60, 60]
        page = answer(cli, "usage", ["--events", str(path)], *window)
        assert counts(page) == [150]

    def test_relative_start(self, cli: Any, minutes: tuple[Path, str]) -> None:
        """--start -12h (not on a bucket edge) counts the window's events."""
        path, _ = minutes
        now = FIRST + 3 * 3600 + 1234.5
        result = cli("usage", "--events", str(path), "--start", "-12h", "--format", "json", now=now)
        assert result.returncode == 0, result.stderr
        assert sum(counts(json.loads(result.stdout))) == 180


class TestExactAmounts:
    """CSV and JSON write amounts exactly, in plain notation."""

    def test_csv(self, cli: Any, minutes: tuple[Path, str]) -> None:
        """10 input text tokens cost 0.00005, not 5e-05; every amount is a plain decimal."""
        path, _ = minutes
        result = cli(
            "costs", "--events", str(path), "--start", str(T0), "--end", str(T0 + DAY),
            "--group-by", "line_item", "--format", "csv", now=NOW,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        amounts = {row["line_item"]: row["amount"] for row in rows}
        assert amounts["gpt-image-1, input text tokens"] == "0.009"  # 180 x 0.00005
        for amount in amounts.values():
            assert re.fullmatch(r"\d+(\.\d*[1-9])?", amount), amount
        assert sum(Decimal(a) for a in amounts.values()) == Decimal("0.729")

    def test_csv_one_event(self, cli: Any, tmp_path: Path) -> None:
        """One event's input text line item: 0.00005 exactly."""
        path = write_events(tmp_path / "one.jsonl", [usage_at("one", FIRST)])
        result = cli(
            "costs", "--events", str(path), "--start", str(T0), "--end", str(T0 + DAY),
            "--group-by", "line_item", "--format", "csv", now=NOW,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        rows = {r["line_item"]: r["amount"] for r in csv.DictReader(io.StringIO(result.stdout))}
        assert rows["gpt-image-1, input text tokens"] == "0.00005"
        assert not re.search(r"\d[eE][-+]?\d", result.stdout)

    @pytest.mark.parametrize("kind", ["usage", "costs"])
    def test_json(self, cli: Any, tmp_path: Path, kind: str) -> None:
        """JSON amounts are exact numbers with no exponent."""
        path = write_events(tmp_path / "one.jsonl", [usage_at("one", FIRST)])
        result = cli(
            kind, "--events", str(path), "--start", str(T0), "--end", str(T0 + DAY),
            "--group-by", "line_item" if kind == "costs" else "model", "--format", "json", now=NOW,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert not re.search(r"\d[eE][-+]?\d", result.stdout)
        page = json.loads(result.stdout, parse_float=Decimal)
        values = [
            (r.get("amount") or r.get("cost") or {}).get("value")
            for b in page["data"]
            for r in b["results"]
        ]
        expected = {"usage": [Decimal("0.00405")], "costs": [Decimal("0.00005"), Decimal("0.004")]}
        assert sorted(v for v in values if v is not None) == expected[kind]


class TestErrorLines:
    """An error message is shown whole, on one line, a line break in a file name escaped."""

    def test_missing_file(self, cli: Any, tmp_path: Path) -> None:
        """A missing file whose name holds a newline: the whole message, escaped."""
        name = tmp_path / "two\nlines.jsonl"
        result = cli("usage", "--events", str(name), now=NOW)
        assert result.returncode == 1
        escaped = str(name).replace("\n", "\\n")
        assert (
            result.stderr == f"aievents: error: cannot read {escaped}: no such file or directory\n"
        )

    def test_bad_lines(self, cli: Any, tmp_path: Path) -> None:
        """The closing error of a file with bad lines names the whole file."""
        name = tmp_path / "two\nlines.jsonl"
        name.write_text('{"bad"\n')
        result = cli("usage", "--events", str(name), "--format", "csv", now=NOW)
        assert result.returncode == 1
        escaped = str(name).replace("\n", "\\n")
        assert (
            result.stderr.splitlines()[-1] == f"aievents: error: {escaped}: 1 bad line(s) skipped"
        )
