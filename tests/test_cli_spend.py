"""The command's extensions: costs by model, user and provider, and ``aievents spend``."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

from aievents import ImageUsageEvent
from aievents.query import COST_EXTENSIONS
from aievents.sinks import AggregateSink
from aievents.wire import to_json
from test_cli import SCHEMA
from test_store import DAY, T0, event

D = Decimal
#: The run's clock: 2024-11-04 00:00 UTC (a Monday), three days after T0.
NOW = T0 + 3 * DAY
WINDOW = ["--start", str(T0), "--end", str(T0 + 3 * DAY)]


def events() -> list[ImageUsageEvent]:
    """30 priced events over three days by u1 and u2, and one of u3 without a price."""
    found = [
        event(f"r{index}", T0 + index * 7200, user_id=("u1", "u2")[index % 2])
        for index in range(30)
    ]
    unpriced = event("x1", T0 + DAY + 60, user_id="u3", model="acme-image-x")
    return [*found, attrs.evolve(unpriced, cost=None)]


@pytest.fixture(name="events_file")
def _events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(to_json(item) + "\n" for item in events()))
    return path


@pytest.fixture(name="memory")
def _memory() -> AggregateSink:
    sink = AggregateSink(minute_detail=30 * DAY, hour_detail=30 * DAY, clock=lambda: NOW)
    for item in events():
        sink.handle(item)
    return sink


@pytest.fixture(name="store_url")
def _store_url(cli: Any, events_file: Path, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert cli("ingest", str(events_file), "--store", url, "--no-progress").returncode == 0
    return url


class TestCostsExtensions:
    """costs --group-by model, user_id (and provider): the pages the query module gives."""

    @pytest.mark.parametrize("name", sorted(COST_EXTENSIONS))
    def test_json_as_the_query(
        self, cli: Any, events_file: Path, memory: AggregateSink, name: str
    ) -> None:
        """JSON is the query's page (amounts exact), valid against OpenAI's schema."""
        ran = cli(
            "costs", "--events", str(events_file), *WINDOW, "--group-by", name,
            "--format", "json", now=NOW,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        page = json.loads(ran.stdout, parse_float=Decimal)
        expected = memory.costs(T0, T0 + 3 * DAY, group_by=[name])
        got = [
            (r[name], r.get("amount", {}).get("value"), r["unpriced_requests"])
            for b in page["data"]
            for r in b["results"]
        ]
        assert got == [
            (getattr(r, name), r.amount, r.unpriced_requests)
            for b in expected.data
            for r in b.results
        ]
        jsonschema.validate(json.loads(ran.stdout), SCHEMA)

    def test_csv_and_filters(self, cli: Any, store_url: str) -> None:
        """--models and --user-ids filter costs; CSV names the grouped user."""
        ran = cli(
            "costs", "--store", store_url, *WINDOW, "--group-by", "user_id,model",
            "--user-ids", "u2,u3", "--format", "csv", now=NOW,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        rows = list(csv.DictReader(io.StringIO(ran.stdout)))
        assert {(r["user_id"], r["model"]) for r in rows} == {
            ("u2", "gpt-image-1"),
            ("u3", "acme-image-x"),
        }
        unknown = [r for r in rows if r["user_id"] == "u3"]
        assert [(r["amount"], r["unpriced_requests"]) for r in unknown] == [("", "1")]
        assert "no price for 'acme-image-x'" in ran.stderr

    def test_help_marks_extensions(self, cli: Any) -> None:
        """The help says which groups and filters are extensions of OpenAI's."""
        ran = cli("costs", "--help")
        text = " ".join(ran.stdout.split())
        shown = ",".join(sorted(COST_EXTENSIONS))
        assert (
            f"project_id,line_item,api_key_id; and, an extension not in OpenAI's API, {shown}"
            in text
        )
        assert "--models VALUES only these models (comma-separated); an extension, not in" in text

    def test_bad_group(self, cli: Any, events_file: Path) -> None:
        """A field costs cannot group by is named, with the option."""
        ran = cli("costs", "--events", str(events_file), "--group-by", "size", now=NOW)
        assert ran.returncode == 2
        assert "argument --group-by: must be one of" in ran.stderr
        assert "'size'" in ran.stderr


class TestSpend:
    """aievents spend: the query's Spend, from a file or a store."""

    @pytest.mark.parametrize("where", ["events", "store"])
    def test_user_this_month(
        self, cli: Any, events_file: Path, store_url: str, memory: AggregateSink, where: str
    ) -> None:
        """One line: the amount, the requests, the window; the same from file and store."""
        source = ["--events", str(events_file)] if where == "events" else ["--store", store_url]
        ran = cli("spend", *source, "--user-id", "u1", now=NOW)
        assert ran.returncode == 0, ran.stderr
        expected = memory.spend(user_id="u1", since="month")
        assert ran.stdout == f"{expected}\n"
        assert ran.stdout.startswith("$0.06075 (computed) for 15 requests, 15 images, 2024-11-01")

    def test_json_partial(self, cli: Any, store_url: str) -> None:
        """JSON holds the exact amount as text, a lower bound when partial."""
        ran = cli("spend", "--store", store_url, "--since", "2024-11-02", "--format", "json",
                  now=NOW)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        data = json.loads(ran.stdout)
        assert (data["partial"], data["unpriced_requests"], data["requests"]) == (True, 1, 19)
        assert D(data["amount"]) == 18 * D("0.00405")
        assert data["since"] == T0 + DAY
        assert "no price for 'acme-image-x'" in ran.stderr

    def test_unknown(self, cli: Any, events_file: Path) -> None:
        """Nothing priced: unknown, never $0."""
        ran = cli("spend", "--events", str(events_file), "--user-id", "u3", now=NOW)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.startswith("unknown (computed) for 1 request, 1 image")

    @pytest.mark.parametrize(
        ("since", "start"),
        [("today", "2024-11-06"), ("week", "2024-11-04"), ("month", "2024-11-01")],
    )
    def test_since_names(self, cli: Any, events_file: Path, since: str, start: str) -> None:
        """today, week and month are UTC calendar starts as of the run's clock."""
        wednesday = NOW + 2 * DAY + 60  # 2024-11-06 00:01 UTC
        ran = cli("spend", "--events", str(events_file), "--since", since, now=wednesday)
        assert ran.returncode == 0, ran.stderr
        # counted by whole minutes: up to the end of the minute of now + 1 second
        assert f", {start} 00:00:00 to 2024-11-06 00:02:00 UTC" in ran.stdout

    @pytest.mark.parametrize(
        ("args", "said"),
        [
            (["--since", "fortnight"], "argument --since: 'fortnight' is not a time"),
            (["--since", "2024-11-02", "--until", "2024-11-01"], "argument --until: must be after"),
            (["--user-id", ""], "argument --user-id: must be a non-empty string"),
        ],
    )
    def test_bad(self, cli: Any, events_file: Path, args: list[str], said: str) -> None:
        """A wrong option is named, status 2, before any file is read, with spend's usage."""
        ran = cli("spend", "--events", str(events_file), *args, now=NOW)
        assert ran.returncode == 2
        assert said in ran.stderr
        assert ran.stderr.startswith("usage: aievents spend ")

    def test_until_relative(self, cli: Any, events_file: Path) -> None:
        """--until takes a relative time as --since does (-12h is not an option)."""
        ran = cli(
            "spend", "--events", str(events_file), "--since", "-1d", "--until", "-12h", now=NOW
        )
        assert ran.returncode == 0, ran.stderr
        assert ", 2024-11-03 00:00:00 to 2024-11-03 12:00:00 UTC" in ran.stdout
