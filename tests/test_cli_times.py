"""--start, --end and the options the query checks: read alike on every Python, named in errors."""

from __future__ import annotations

import argparse
import ast
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from test_cli import NOW, TODAY, write_events
from test_store import DAY, T0

from helpers import usage_at


class TestTimes:
    """--start and --end read words, relative times, ISO 8601 and Unix seconds, in UTC."""

    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("today", TODAY),
            ("Yesterday", TODAY - DAY),
            ("-0d", TODAY),
            ("-7d", TODAY - 7 * DAY),
            ("-12h", TODAY - 3600),
            ("-30m", 1_730_548_200 - 1800),
            ("2024-11-01", T0),
            ("20241101", T0),  # ISO 8601's basic form, not 23 August 1970
            ("2024-W44-5", T0),  # a week date: Friday of week 44
            ("2024W445", T0),
            ("2024-W44", T0 - 4 * DAY),  # the Monday
            ("2024-11-01T06", T0 + 6 * 3600),
            ("2024-11-01T06:00", T0 + 6 * 3600),
            ("2024-11-01 06:00", T0 + 6 * 3600),
            ("2024-11-01T06:00:00Z", T0 + 6 * 3600),
            ("20241101T060000Z", T0 + 6 * 3600),
            ("2024-11-01T08:00+02:00", T0 + 6 * 3600),
            ("2024-11-01T0800+0200", T0 + 6 * 3600),
            ("2024-11-01T05:00-01", T0 + 6 * 3600),
            ("2024-11-01T06:00:00.000", T0 + 6 * 3600),
            ("2024-11-01T06:00:00.5", T0 + 6 * 3600 + 1),  # a part second rounds up
            ("2024-11-01T06:00:00,0000001Z", T0 + 6 * 3600 + 1),
            ("1730419200", T0),
            ("999999999", 999_999_999),
            ("99999999999", 99_999_999_999),
        ],
    )
    def test_accepted(self, text: str, seconds: int) -> None:
        """Each form gives its Unix seconds."""
        from aievents.cli._times import moment

        assert moment(text, NOW) == seconds

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("last week", "use today, yesterday"),
            ("-7", "use today"),
            ("7d", "use today"),
            ("2024-13-01", "month must be in 1..12"),
            ("2024-02-30", "day is out of range"),
            ("2024-W54", "use today"),
            ("2024-11-01T24:00", "out of range"),
            ("2024-11-01T06:00+24:00", "offset out of range"),
            ("2024-11-01Z", "use today"),
            ("\uff12\uff10\uff12\uff14-11-01", "use today"),  # fullwidth digits
            ("12345678", "8 digits are a date YYYYMMDD (month must be in 1..12)"),
            ("2024", "a number is a date YYYYMMDD (8 digits) or Unix seconds (9 to 11 digits)"),
            ("0", "Unix seconds (9 to 11 digits)"),
            ("999999999999", "Unix seconds (9 to 11 digits)"),
            ("1730419200000", "Unix seconds (9 to 11 digits)"),
            ("9" * 5000, "Unix seconds (9 to 11 digits)"),
        ],
    )
    def test_refused(self, text: str, reason: str) -> None:
        """Anything else is an argument error quoting (the start of) the value and why."""
        from aievents.cli._times import moment

        with pytest.raises(argparse.ArgumentTypeError, match="is not a time") as caught:
            moment(text, NOW)
        assert repr(text[:40]) in str(caught.value)
        assert reason in str(caught.value)
        assert len(str(caught.value)) < 600

    @pytest.mark.parametrize(
        ("text", "said"),
        [
            ("1969-12-31", "is before 1970-01-01T00:00:00Z"),
            ("-9999999d", "is before 1970-01-01T00:00:00Z"),
            ("5138-11-16T09:46:41Z", "is after 5138-11-16T09:46:40Z, the latest time a query"),
            ("9999-12-31T23:59:59-01:00", "is after 5138-11-16T09:46:40Z"),
        ],
    )
    def test_out_of_range(self, text: str, said: str) -> None:
        """A time a query does not take is refused as such, in ISO 8601 (never a crash)."""
        from aievents.cli._times import moment

        with pytest.raises(argparse.ArgumentTypeError, match=said):
            moment(text, NOW)

    def test_latest_is_the_query_limit(self) -> None:
        """The latest time taken is the latest the query takes."""
        from aievents.cli._times import LATEST
        from aievents.query import QueryError, usage

        class Nothing:
            def scan(self, scan: object) -> list[Any]:
                return []

        usage(Nothing(), start_time=LATEST - DAY, end_time=LATEST)
        with pytest.raises(QueryError):
            usage(Nothing(), start_time=LATEST - DAY, end_time=LATEST + 1)

    def test_no_fromisoformat(self) -> None:
        """Times are read by the command's own grammar, not by fromisoformat (wider from 3.11)."""
        import aievents.cli

        for module in Path(aievents.cli.__file__).parent.glob("*.py"):
            tree = ast.parse(module.read_text())
            names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
            assert "fromisoformat" not in names, module.name


@pytest.fixture(name="november")
def _november(tmp_path: Path) -> Path:
    """Three events on 1 November 2024 and one on the 2nd."""
    return write_events(
        tmp_path / "november.jsonl",
        [*(usage_at(f"n{i}", T0 + 600 * i) for i in range(3)), usage_at("n3", T0 + DAY + 60)],
    )


class TestWindowOptions:
    """What the command line gets wrong is said in its own terms, before any work: status 2."""

    def test_basic_date(self, cli: Any, november: Path) -> None:
        """--start 20241101 --end 20241103 is November's first two days."""
        result = cli(
            "usage", "--events", str(november), "--start", "20241101", "--end", "20241103",
            "--format", "csv",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [(r["start_time"], r["num_model_requests"]) for r in rows] == [
            ("2024-11-01T00:00:00Z", "3"),
            ("2024-11-02T00:00:00Z", "1"),
        ]

    @pytest.mark.parametrize(
        ("args", "said"),
        [
            (
                ["--start", "today", "--end", "yesterday"],
                "--end (2024-11-01T00:00:00Z) must be after --start (2024-11-02T00:00:00Z)",
            ),
            (["--start", "-2d", "--end", "-2d"], "--end (2024-10-31T00:00:00Z) must be after"),
            (["--start", "999999999999"], "argument --start: '999999999999' is not a time"),
            (["--end", "9999-12-31T23:59:59-01:00"], "argument --end: '9999-12-31T23:59:59-01:00'"),
            (["--limit", "0"], "argument --limit: must be an integer from 1 to 31 for 1d"),
            (["--bucket-width", "1h", "--limit", "169"], "from 1 to 168 for 1h buckets"),
            (["--group-by", "colour"], "argument --group-by: must be one of api_key_id, model"),
            (["--group-by", ","], "argument --group-by: expected comma-separated values, got ','"),
            (["--models", ""], "argument --models: expected comma-separated values, got ''"),
            (["--sources", "image.paint"], "argument --sources: must be one of image.edit"),
            (["--page", "not-a-cursor"], "argument --page: is not a cursor aievents issued"),
            (["--star", "-7d"], "unrecognized arguments: --star"),
            (["--start=-7d", "--form", "json"], "unrecognized arguments: --form json"),
        ],
    )
    def test_refused(self, cli: Any, tmp_path: Path, args: list[str], said: str) -> None:
        """Each is one line naming the option and the value as typed; no file is read."""
        missing = tmp_path / "never-read.jsonl"
        result = cli("usage", "--events", str(missing), *args, now=NOW)
        assert result.returncode == 2
        assert said in result.stderr
        assert "field '" not in result.stderr
        assert "unexpected" not in result.stderr
        assert result.stdout == ""

    def test_costs_group(self, cli: Any, november: Path) -> None:
        """costs names its own groups."""
        result = cli("costs", "--events", str(november), "--group-by", "size")
        assert result.returncode == 2
        assert "argument --group-by: must be one of api_key_id, line_item, model, " in (
            result.stderr
        )

    def test_one_clock_a_run(self, cli: Any, november: Path) -> None:
        """The default window and the window's end come from the run's one clock."""
        now = T0 + DAY + 3600.5
        result = cli("usage", "--events", str(november), "--format", "json", now=now)
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        assert [b["start_time"] for b in page["data"]][-1] == T0 + DAY
        assert sum(r["num_model_requests"] for b in page["data"] for r in b["results"]) == 4
        early = cli("usage", "--events", str(november), "--format", "json", now=T0 + DAY + 30)
        assert (
            sum(
                r["num_model_requests"]
                for b in json.loads(early.stdout)["data"]
                for r in b["results"]
            )
            == 3
        )  # the event at 00:01 is after the clock
