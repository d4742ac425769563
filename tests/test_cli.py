"""The aievents command: in process (main()), and as a real subprocess where the process matters."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

import aievents
from aievents import ImageUsage
from aievents.wire import to_json
from test_store import DAY, T0, event

from helpers import usage_at, usage_event

SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "openai_usage_response.schema.json").read_text()
)
#: The clock of in-process runs that need one: 2024-11-02 11:50:45.5 UTC.
NOW = 1_730_548_245.5
#: 00:00 UTC of NOW's day.
TODAY = 1_730_505_600


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aievents`` with args, as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "aievents", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(name="events_file")
def _events_file(tmp_path: Path) -> Path:
    """A JSONL file of 30 events over three days, as dicts and as envelopes."""
    path = tmp_path / "events.jsonl"
    lines = []
    for index in range(30):
        item = event(f"r{index}", T0 + index * 7200, user_id=("u1", "u2")[index % 2])
        lines.append(to_json(item, form="envelope" if index % 3 else "dict"))
    path.write_text("\n".join(lines) + "\n")
    return path


WINDOW = ["--start", str(T0), "--end", str(T0 + 3 * DAY)]


def write_events(path: Path, events: Sequence[Any]) -> Path:
    """``path`` holding one JSON line per event."""
    path.write_text("".join(to_json(item) + "\n" for item in events))
    return path


def requests(page: dict[str, Any]) -> list[int]:
    """The request counts of a JSON page, bucket by bucket (0 for an empty bucket)."""
    return [sum(r["num_model_requests"] for r in b["results"]) for b in page["data"]]


#: The demo's costs by model, worked by hand from pricing.md. The image server
#: reports one text token per word of the prompt and, for the gpt-image-2
#: family, OpenAI's billed image tokens (1024x1024: low 196, medium 1756, high
#: 7024; 1536x1024 and 1024x1536: medium 1372, high 5488); an edit adds 323
#: image input tokens. gpt-image-2 (and its 2.5 models): 5.00/M text in, 8.00/M
#: image in, 30.00/M image out.
DEMO_COSTS = {
    # "a lighthouse at dusk", medium 1024x1024: 4 x 5/1M + 1756 x 30/1M = 0.00002 + 0.05268;
    # the edit "add a red scarf", medium: 0.00002 + 323 x 8/1M + 0.05268 = 0.055284;
    # "the same, as a poster", high 1024x1536, n=2: 5 x 5/1M + 2 x 5488 x 30/1M = 0.329305;
    # the Responses API's image tool, "draw the harbour at night", medium 1536x1024:
    # 5 x 5/1M + 1372 x 30/1M = 0.000025 + 0.04116 = 0.041185 (gpt-5's own tokens not counted).
    "gpt-image-2": Decimal("0.0527")
    + Decimal("0.055284")
    + Decimal("0.329305")
    + Decimal("0.041185"),
    # The Azure deployment, priced as gpt-image-2: "a fox in the rain", high 1024x1024:
    # 5 x 5/1M + 7024 x 30/1M = 0.000025 + 0.21072.
    "contoso-images": Decimal("0.210745"),
    # The dated snapshot, priced as gpt-image-2: "an icon of a bell", low 1024x1024:
    # 5 x 5/1M + 196 x 30/1M = 0.000025 + 0.00588.
    "gpt-image-2-2026-04-21": Decimal("0.005905"),
}
#: The demo's costs that need the 2026-12 catalogue (gpt-image-2.5-flare and
#: gemini-3.1-flash-image are priced there).
DEMO_CATALOGUE_COSTS = {
    # "a paper boat", low 1024x1024: 3 x 5/1M + 196 x 30/1M = 0.000015 + 0.00588 = 0.005895;
    # "a fox in the snow", medium 1536x1024: 5 x 5/1M + 1372 x 30/1M = 0.041185.
    "gpt-image-2.5-flare": Decimal("0.005895") + Decimal("0.041185"),
    # Gemini at 0.50/M input, 60.00/M image output: "a watercolor map of the harbour" is 6
    # text tokens, a 1K image 1120 tokens: 6 x 0.5/1M + 1120 x 60/1M = 0.000003 + 0.0672.
    "gemini-3.1-flash-image": Decimal("0.067203"),
}
#: Models shut down by 2026-12-01: the demo calls none of them.
RETIRED = ("dall-e-", "gpt-image-1", "chatgpt-image-latest", "gemini-2.5-flash-image", "imagen-")


@pytest.fixture(name="demo", scope="module")
def _demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Any]:
    """One run of ``aievents demo`` into a SQLite file, and its usage today by model."""
    from aievents.sinks import StoreSink

    db = tmp_path_factory.mktemp("demo") / "demo.db"
    began = int(time.time())
    result = run("demo", "--db", str(db))
    store = StoreSink(f"sqlite:///{db}")
    page = store.usage(began - began % DAY, int(time.time()) + 1, group_by=["model"])
    store.close(10)
    return result, {r.model: r for bucket in page.data for r in bucket.results}


class TestDemo:
    """aievents demo runs the instrumented SDK against a local server and reports."""

    def test_demo(self, demo: tuple[subprocess.CompletedProcess[str], Any]) -> None:
        """Calls are logged, stored, and reported; no key reaches the output."""
        result, _ = demo
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "13 image calls, 3 failed; 10 stored" in out
        assert out.count("image:request:error") == 3
        for title in ("Usage today by model and size", "Costs today by line item"):
            assert title in out
        assert "gpt-image-2, output image tokens" in out
        assert "contoso-images, output image tokens" in out  # the deployment's own name
        assert "seedream-4.5, unpriced" in out  # the call without a price, on the books
        assert "unknown" in out
        assert "'seedream-4.5' (1 request)" in out
        assert "sk-demo-local" not in out + result.stderr
        assert "demo-local-not-a-key" not in out + result.stderr

    def test_providers(self, demo: tuple[subprocess.CompletedProcess[str], Any]) -> None:
        """Each call names where its client sends it; none names the local server."""
        out = demo[0].stdout
        for provider in ("openai", "azure", "google", "gateway.example.com"):
            assert f"provider={provider} " in out, provider
        assert "provider=127.0.0.1" not in out

    def test_in_process(self, tmp_path: Path) -> None:
        """Run in-process, the demo undoes its instrumentation of both SDKs when it ends."""
        from aievents.cli._demo import run_demo
        from aievents.instrument import google, openai

        out = io.StringIO()
        assert run_demo(str(tmp_path / "demo.db"), out, time.time()) == 0
        assert "13 image calls, 3 failed; 10 stored" in out.getvalue()
        assert not openai.is_instrumented()
        assert not google.is_instrumented()

    def test_todays_models(self, demo: tuple[subprocess.CompletedProcess[str], Any]) -> None:
        """OpenAI, an Azure deployment, Gemini by google-genai, one unpriced; none retired."""
        _, models = demo
        assert sorted(models) == sorted([*DEMO_COSTS, *DEMO_CATALOGUE_COSTS, "seedream-4.5"])
        assert not [m for m in models if m.startswith(RETIRED)]
        gemini = models["gemini-3.1-flash-image"]  # token usage by modality: text in, image out
        assert (gemini.input_text_tokens, gemini.output_image_tokens) == (6, 1120)
        seedream = models["seedream-4.5"]
        assert (seedream.num_model_requests, seedream.unpriced_requests, seedream.cost) == (
            1,
            1,
            None,
        )

    def test_costs(self, demo: tuple[subprocess.CompletedProcess[str], Any]) -> None:
        """gpt-image-2, its snapshot and the Azure deployment cost what pricing.md says."""
        _, models = demo
        for model, cost in DEMO_COSTS.items():
            assert (model, models[model].cost, models[model].unpriced_requests) == (model, cost, 0)

    def test_catalogue_costs(self, demo: tuple[subprocess.CompletedProcess[str], Any]) -> None:
        """gpt-image-2.5-flare and gemini-3.1-flash-image cost what pricing.md says."""
        _, models = demo
        for model, cost in DEMO_CATALOGUE_COSTS.items():
            assert (model, models[model].cost, models[model].unpriced_requests) == (model, cost, 0)

    def test_demo_reads_no_private_name(self) -> None:
        """The demo prints its reports through the rendering module's public functions."""
        from aievents.cli import _demo

        source = Path(_demo.__file__).read_text()
        assert re.findall(r"from aievents\.cli\._render import (.+)", source) == [
            "note_unpriced, write_pages"
        ]
        assert not re.search(r"from aievents\.cli import _", source)


class TestQueries:
    """usage and costs over a JSONL file or a store, in each format."""

    def test_usage_json(self, cli: Any, events_file: Path) -> None:
        """JSON is OpenAI's page, with the exact sums."""
        result = cli("usage", "--events", str(events_file), *WINDOW, "--format", "json")
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        jsonschema.validate(page, SCHEMA)
        requests = [r["num_model_requests"] for b in page["data"] for r in b["results"]]
        assert requests == [12, 12, 6]

    def test_usage_csv_grouped(self, cli: Any, events_file: Path) -> None:
        """CSV has a header and a row per bucket and group."""
        result = cli(
            "usage", "--events", str(events_file), *WINDOW, "--group-by", "user_id",
            "--user-ids", "u2", "--format", "csv",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [(r["user_id"], r["num_model_requests"]) for r in rows] == [
            ("u2", "6"),
            ("u2", "6"),
            ("u2", "3"),
        ]

    def test_costs_table(self, cli: Any, events_file: Path) -> None:
        """The table names each line item."""
        result = cli("costs", "--events", str(events_file), *WINDOW, "--group-by", "line_item")
        assert result.returncode == 0, result.stderr
        assert "gpt-image-1, output image tokens" in result.stdout

    def test_ingest_then_query(self, cli: Any, events_file: Path, tmp_path: Path) -> None:
        """Ingest writes every event once; the store answers as the file does."""
        url = f"sqlite:///{tmp_path / 'store.db'}"
        first = cli("ingest", str(events_file), "--store", url, "--no-progress")
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("30 events written, 0 already stored")
        again = cli("ingest", str(events_file), "--store", url, "--no-progress")
        assert again.stdout.startswith("0 events written, 30 already stored")
        stored = cli("usage", "--store", url, *WINDOW, "--format", "json")
        from_file = cli("usage", "--events", str(events_file), *WINDOW, "--format", "json")
        assert json.loads(stored.stdout) == json.loads(from_file.stdout)

    @pytest.mark.parametrize("width", ["1m", "1h", "1d"])
    def test_file_answers_as_the_store_at_each_width(
        self, cli: Any, tmp_path: Path, width: str
    ) -> None:
        """A file's totals, kept only as fine as the buckets asked for, are the store's."""
        path = write_events(
            tmp_path / "spread.jsonl",
            [
                usage_at(f"s{i}", T0 + i * 677 % (2 * DAY), user_id=f"u{i % 7}", text=i % 5)
                for i in range(400)
            ],
        )
        url = f"sqlite:///{tmp_path / 'store.db'}"
        assert cli("ingest", str(path), "--store", url, "--no-progress").returncode == 0
        window = ["--start", "2024-11-01", "--end", "2024-11-03", "--bucket-width", width]
        for group in ("user_id", "model,size"):
            asked = [*window, "--group-by", group, "--format", "json"]
            from_file = cli("usage", "--events", str(path), *asked)
            assert from_file.returncode == 0, from_file.stderr
            stored = cli("usage", "--store", url, *asked)
            assert json.loads(from_file.stdout) == json.loads(stored.stdout)
            assert sum(requests(json.loads(from_file.stdout))) == 400


@pytest.fixture(name="unpriced_file")
def _unpriced_file(tmp_path: Path) -> Path:
    """A JSONL file: two priced requests, and three of two models without a price."""
    path = tmp_path / "unpriced.jsonl"
    items = [
        event("p1", T0 + 60),
        event("p2", T0 + 120),
        attrs.evolve(event("u1", T0 + 180), model="acme-image-x", cost=None),
        attrs.evolve(
            usage_at("u2", T0 + 240, usage=ImageUsage(), images=2),
            model="seedream-4.5",
            cost=None,
        ),
        attrs.evolve(
            usage_at("u3", T0 + 300, usage=ImageUsage(), images=1),
            model="seedream-4.5",
            cost=None,
        ),
    ]
    path.write_text("".join(to_json(item) + "\n" for item in items))
    return path


DAY_ONE = ["--start", str(T0), "--end", str(T0 + DAY)]


class TestUnpriced:
    """A cost that is not known is never printed as a dollar figure."""

    def test_table(self, cli: Any, unpriced_file: Path) -> None:
        """The table says unknown; stderr names the models and how to add a price."""
        result = cli("usage", "--events", str(unpriced_file), *DAY_ONE, "--group-by", "model")
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if line.startswith("│")]
        rows = {line.split("│")[2].strip(): line for line in lines}
        assert "unknown" in rows["acme-image-x"]
        assert "unknown" in rows["seedream-4.5"]
        assert "$0.008100" in rows["gpt-image-1"]
        assert "$0.000000" not in result.stdout
        total = cli("usage", "--events", str(unpriced_file), *DAY_ONE)
        assert "$0.008100 + unknown" in total.stdout
        (note,) = [line for line in total.stderr.splitlines() if "no price" in line]
        assert "'seedream-4.5' (2 requests), 'acme-image-x' (1 request)" in note
        assert "aievents.pricing.set_price('seedream-4.5'" in note
        assert "aievents.pricing.load_prices" in note

    def test_json(self, cli: Any, unpriced_file: Path) -> None:
        """JSON: cost null, unpriced_requests counted; costs results without an amount."""
        result = cli("usage", "--events", str(unpriced_file), *DAY_ONE, "--format", "json")
        page = json.loads(result.stdout)
        jsonschema.validate(page, SCHEMA)
        (total,) = page["data"][0]["results"]
        assert (total["num_model_requests"], total["unpriced_requests"]) == (5, 3)
        assert total["cost"]["value"] == 0.0081  # the priced part, a lower bound
        by_model = cli(
            "usage", "--events", str(unpriced_file), *DAY_ONE, "--group-by", "model",
            "--models", "seedream-4.5", "--format", "json",
        )  # fmt: skip
        (seedream,) = json.loads(by_model.stdout)["data"][0]["results"]
        assert (seedream["images"], seedream["cost"]) == (3, None)
        costs = cli("costs", "--events", str(unpriced_file), *DAY_ONE, "--format", "json")
        page = json.loads(costs.stdout)
        jsonschema.validate(page, SCHEMA)
        priced, unknown = page["data"][0]["results"]
        assert priced["amount"]["value"] == 0.0081
        assert "amount" not in unknown
        assert unknown["unpriced_requests"] == 3

    def test_csv_and_store(self, cli: Any, unpriced_file: Path, tmp_path: Path) -> None:
        """CSV leaves the amount empty; a store answers as the file does."""
        result = cli("costs", "--events", str(unpriced_file), *DAY_ONE, "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [(r["amount"], r["unpriced_requests"]) for r in rows] == [("0.0081", "0"), ("", "3")]
        url = f"sqlite:///{tmp_path / 'store.db'}"
        assert cli("ingest", str(unpriced_file), "--store", url, "--no-progress").returncode == 0
        for kind in ("usage", "costs"):
            stored = cli(kind, "--store", url, *DAY_ONE, "--format", "json")
            from_file = cli(kind, "--events", str(unpriced_file), *DAY_ONE, "--format", "json")
            assert json.loads(stored.stdout) == json.loads(from_file.stdout)
            assert "no price for" in stored.stderr

    def test_priced_only(self, cli: Any, events_file: Path) -> None:
        """Nothing unpriced: no note."""
        result = cli("usage", "--events", str(events_file), *WINDOW)
        assert result.returncode == 0
        assert "no price" not in result.stderr


class TestJsonlFormat:
    """The documented JSON Lines format is what ingest and usage --events read."""

    LINES = (
        '{"type": "image:usage", "request_id": "a", "timestamp": %d, "model": "dall-e-3",'
        ' "images": 1, "size": "1024x1024", "quality": "standard", "usage": {}}',
        '{"type": "tanstack-ai-devtools:image:usage", "pluginId": "tanstack-ai-devtools",'
        ' "payload": {"requestId": "b", "timestamp": %d, "model": "dall-e-3", "images": 1,'
        ' "size": "1024x1024", "quality": "standard", "usage": {}}}',
        # An envelope may leave out its pluginId, as aievents.from_json allows.
        '{"type": "tanstack-ai-devtools:image:usage", "payload": {"requestId": "c",'
        ' "timestamp": %d, "model": "dall-e-3", "images": 1, "size": "1024x1024",'
        ' "quality": "standard", "usage": {}}}',
        "",
        '{"type": "image:request:completed", "request_id": "a", "timestamp": %d,'
        ' "provider": "openai", "model": "dall-e-3", "duration": 812.5}',
    )

    def test_dicts_envelopes_blank_and_other_events(self, cli: Any, tmp_path: Path) -> None:
        """Usage lines of both shapes count; a blank line and another event type are skipped."""
        path = tmp_path / "events.jsonl"
        path.write_text(
            "\n".join(line % (T0 * 1000) if "%" in line else line for line in self.LINES) + "\n"
        )
        result = cli("usage", "--events", str(path), *WINDOW, "--format", "json")
        assert result.returncode == 0, result.stderr
        (first, *_) = json.loads(result.stdout)["data"]
        assert [(r["num_model_requests"], r["cost"]["value"]) for r in first["results"]] == [
            (3, 0.12)
        ]
        url = f"sqlite:///{tmp_path / 'store.db'}"
        ingested = cli("ingest", str(path), "--store", url, "--no-progress")
        assert ingested.returncode == 0, ingested.stderr
        assert ingested.stdout.startswith("3 events written")


class TestErrors:
    """Bad input: one line on stderr and a non-zero exit; good lines kept."""

    def test_malformed_line(self, cli: Any, events_file: Path, tmp_path: Path) -> None:
        """A bad line is named by its number; the others are ingested."""
        lines = events_file.read_text().splitlines()
        lines.insert(4, "{not json")
        lines.insert(9, json.dumps({"type": "image:usage", "payload": {"model": 5}}))
        events_file.write_text("\n".join(lines) + "\n")
        url = f"sqlite:///{tmp_path / 'store.db'}"
        result = cli("ingest", str(events_file), "--store", url, "--no-progress")
        assert result.returncode == 1
        assert f"{events_file}:5: skipped" in result.stderr
        assert f"{events_file}:10: skipped" in result.stderr
        assert result.stdout.startswith("30 events written")
        assert result.stderr.strip().splitlines()[-1].startswith("aievents: error: ")

    def test_undecodable_line(self, cli: Any, events_file: Path) -> None:
        """A line that is not UTF-8 is named and skipped; the others are used."""
        events_file.write_bytes(events_file.read_bytes() + b"\xff\xfe\n")
        result = cli("usage", "--events", str(events_file), *WINDOW, "--format", "json")
        assert result.returncode == 1
        assert f"{events_file}:31: skipped" in result.stderr
        page = json.loads(result.stdout)
        assert sum(r["num_model_requests"] for b in page["data"] for r in b["results"]) == 30

    def test_demo_twice_into_one_store(self, tmp_path: Path) -> None:
        """A second demo run into the same file stores its own calls too."""
        for _ in range(2):
            result = run("demo", "--db", str(tmp_path / "demo.db"))
            assert "10 stored" in result.stdout

    @pytest.mark.parametrize(
        "case",
        [
            (["usage", "--store", "not a url"], 1, "is not a database URL"),
            (["usage", "--store", "mysql://h/db"], 1, "sqlite:// or postgresql://"),
            (["usage", "--events", "missing.jsonl"], 1, "cannot read missing.jsonl"),
            (["ingest", "missing.jsonl", "--store", "sqlite:///x.db"], 1, "cannot read"),
            (["usage", "--events", "f", "--bucket-width", "2d"], 2, "'2d'"),
            (["usage", "--events", "f", "--start", "last tuesday"], 2, "'last tuesday'"),
            (["usage", "--events", "f", "--end=-3x"], 2, "'-3x'"),
            (["usage", "--events", "f", "--store", "sqlite://"], 2, "not allowed with"),
            (["costs", "--events", "f", "--bucket-width", "1h"], 2, "'1h'"),
        ],
    )
    def test_bad_arguments(
        self,
        cli: Any,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        case: tuple[list[str], int, str],
    ) -> None:
        """Each is reported in one line naming the value."""
        args, status, message = case
        monkeypatch.chdir(tmp_path)
        result = cli(*args)
        assert result.returncode == status
        assert message in result.stderr
        if status == 1:
            assert len(result.stderr.strip().splitlines()) == 1

    def test_exit_status_and_streams_of_a_process(self, tmp_path: Path) -> None:
        """As a process: status 2 or 1, the message on stderr alone, nothing on stdout."""
        wrong = run("usage", "--events", "f", "--start", "last tuesday", cwd=tmp_path)
        assert (wrong.returncode, wrong.stdout) == (2, "")
        assert "argument --start: 'last tuesday' is not a time" in wrong.stderr
        failed = run("usage", "--events", "missing.jsonl", "--format", "json", cwd=tmp_path)
        assert (failed.returncode, failed.stdout) == (1, "")
        assert (
            failed.stderr
            == "aievents: error: cannot read missing.jsonl: no such file or directory\n"
        )


class TestCommand:
    """Version, help and usage errors."""

    def test_version(self, cli: Any) -> None:
        """--version prints the package version."""
        result = cli("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"aievents {aievents.__version__}"

    def test_no_command(self, cli: Any) -> None:
        """Without a command it prints help to stderr and exits 2."""
        result = cli()
        assert result.returncode == 2
        assert "demo" in result.stderr

    def test_unknown_command(self, cli: Any) -> None:
        """An unknown command is a usage error naming it."""
        result = cli("frobnicate")
        assert result.returncode == 2
        assert "frobnicate" in result.stderr

    def test_the_package_entry_point(self) -> None:
        """``aievents.cli:main`` stays the console script; the command is a package of modules."""
        import aievents.cli

        pyproject = (ROOT / "pyproject.toml").read_text()
        assert 'aievents = "aievents.cli:main"' in pyproject
        folder = Path(aievents.cli.__file__).parent
        for module in folder.glob("*.py"):
            assert len(module.read_text().splitlines()) <= 500, module.name


class TestWindow:
    """The default window is the last 7 UTC days with today; JSON and CSV hold every page."""

    @pytest.fixture(name="recent")
    def _recent(self, tmp_path: Path) -> Path:
        """Events today, 3 and 6 days ago (inside the window) and 7 days ago (outside), at NOW."""
        days = (0, 3, 6, 7)
        return write_events(
            tmp_path / "recent.jsonl",
            [
                usage_at(f"r{d}-{i}", NOW - d * DAY, user_id=f"u{d}")
                for d in days
                for i in range(d + 1)
            ],
        )

    @pytest.mark.parametrize("form", ["json", "csv"])
    def test_default_window_has_today(self, cli: Any, recent: Path, form: str) -> None:
        """Seven daily buckets, the last one today's, with today's events."""
        result = cli("usage", "--events", str(recent), "--format", form, now=NOW)
        assert result.returncode == 0, result.stderr
        if form == "json":
            page = json.loads(result.stdout)
            jsonschema.validate(page, SCHEMA)
            starts = [b["start_time"] for b in page["data"]]
            assert starts == [TODAY - d * DAY for d in range(6, -1, -1)]
            assert requests(page) == [7, 0, 0, 4, 0, 0, 1]
            assert page["has_more"] is False
        else:
            rows = list(csv.DictReader(io.StringIO(result.stdout)))
            counts = {row["start_time"]: int(row["num_model_requests"]) for row in rows}
            assert counts == {
                "2024-10-27T00:00:00Z": 7,
                "2024-10-30T00:00:00Z": 4,
                "2024-11-02T00:00:00Z": 1,
            }

    def test_default_window_of_a_process(self, recent: Path) -> None:
        """As a process, on the real clock: seven daily buckets, the last one holding its now.

        The run's clock is read between ``before`` and ``after``: a day may
        turn in between, so its day is the day of one or the other.
        """
        before = time.time()
        result = run("usage", "--events", str(recent), "--format", "json")
        after = time.time()
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        starts = [b["start_time"] for b in page["data"]]
        assert [b - starts[0] for b in starts] == [d * DAY for d in range(7)]
        assert starts[-1] in {int(before) // DAY * DAY, int(after) // DAY * DAY}

    def test_default_table_shows_today(self, cli: Any, recent: Path) -> None:
        """The table's rows run to today's bucket; nothing is left for a second page."""
        result = cli("usage", "--events", str(recent), "--group-by", "user_id", now=NOW)
        assert result.returncode == 0, result.stderr
        assert "u0" in result.stdout
        assert "u3" in result.stdout
        assert "u7" not in result.stdout
        assert "--page" not in result.stdout

    @pytest.fixture(name="month")
    def _month(self, tmp_path: Path) -> Path:
        """One event a day for 20 days from T0."""
        return write_events(
            tmp_path / "month.jsonl", [usage_at(f"m{d}", T0 + d * DAY + 60) for d in range(20)]
        )

    def test_json_has_every_page(self, cli: Any, month: Path) -> None:
        """20 daily buckets (three pages of OpenAI's default 7) in one valid page."""
        window = ["--start", "2024-11-01", "--end", "2024-11-21"]
        result = cli("usage", "--events", str(month), *window, "--format", "json")
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        jsonschema.validate(page, SCHEMA)
        assert requests(page) == [1] * 20
        assert (page["has_more"], page["next_page"]) == (False, None)

    def test_csv_has_every_page_in_iso_times(self, cli: Any, month: Path) -> None:
        """Every bucket's row, its times ISO 8601 UTC."""
        window = ["--start", "2024-11-01T00:00:00Z", "--end", "2024-11-21"]
        result = cli("costs", "--events", str(month), *window, "--format", "csv")
        assert result.returncode == 0, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert len(rows) == 20
        assert rows[0]["start_time"] == "2024-11-01T00:00:00Z"
        assert rows[-1]["end_time"] == "2024-11-21T00:00:00Z"

    def test_limit_and_page_give_one_page(self, cli: Any, month: Path) -> None:
        """--limit prints that page only, with its cursor; --page gives the next."""
        window = ["--start", "2024-11-01", "--end", "2024-11-21", "--limit", "7"]
        first = cli("usage", "--events", str(month), *window, "--format", "json")
        page = json.loads(first.stdout)
        assert requests(page) == [1] * 7
        assert page["has_more"] is True
        rest = cli(
            "usage", "--events", str(month), *window, "--page", page["next_page"],
            "--format", "csv",
        )  # fmt: skip
        assert rest.returncode == 0, rest.stderr
        assert len(list(csv.DictReader(io.StringIO(rest.stdout)))) == 7
        assert "more buckets: --page " in rest.stderr

    def test_cursor_of_an_open_window_holds_on_a_later_run(self, cli: Any, recent: Path) -> None:
        """Without --end, a cursor from one run is good for a later one (another clock)."""
        first = cli("usage", "--events", str(recent), "--limit", "2", "--format", "json", now=NOW)
        cursor = json.loads(first.stdout)["next_page"]
        later = cli(
            "usage", "--events", str(recent), "--limit", "2", "--page", cursor,
            "--format", "json", now=NOW + 60,
        )  # fmt: skip
        assert later.returncode == 0, later.stderr
        assert [b["start_time"] for b in json.loads(later.stdout)["data"]] == [
            TODAY - 4 * DAY,
            TODAY - 3 * DAY,
        ]

    def test_relative_start(self, cli: Any, recent: Path) -> None:
        """``--start -7d`` (a separate word) is 00:00 UTC seven days before today."""
        result = cli(
            "usage", "--events", str(recent), "--start", "-7d", "--format", "json", now=NOW
        )
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        assert len(page["data"]) == 8
        assert sum(requests(page)) == 1 + 4 + 7 + 8


def unpriced_file(tmp_path: Path, model: str) -> Path:
    """Events of a model without a price (warned of once a process) and of a priced one."""
    return write_events(
        tmp_path / "unpriced.jsonl",
        [usage_event("u1", model=model, timestamp=int(NOW * 1000)), usage_at("p1", NOW)],
    )


class TestStdoutIsData:
    """Log lines go to stderr: stdout holds the data alone."""

    @pytest.mark.parametrize("form", ["json", "csv"])
    def test_unpriced_model_over_file(self, cli: Any, tmp_path: Path, form: str) -> None:
        """The price warning is on stderr; stdout parses."""
        model = f"no-such-model-{form}"
        path = unpriced_file(tmp_path, model)
        result = cli(
            "usage", "--events", str(path), "--group-by", "model", "--format", form, now=NOW
        )
        assert result.returncode == 0, result.stderr
        if form == "json":
            page = json.loads(result.stdout)
            jsonschema.validate(page, SCHEMA)
        else:
            rows = list(csv.DictReader(io.StringIO(result.stdout)))
            assert {row["model"] for row in rows} == {"gpt-image-1", model}
        assert f"price_unknown model='{model}'" in result.stderr

    def test_separate_streams_of_a_process(self, tmp_path: Path) -> None:
        """As a process, ingest and costs --store: the warning on stderr, the data on stdout."""
        url = f"sqlite:///{tmp_path / 'store.db'}"
        path = write_events(
            tmp_path / "now.jsonl",
            [usage_event("u1", model="no-such-model-9", timestamp=int(time.time() * 1000))],
        )
        fed = run("ingest", str(path), "--store", url, "--no-progress")
        assert fed.returncode == 0, fed.stderr
        assert fed.stdout.splitlines() == [f"1 events written, 0 already stored, into {url}"]
        assert "price_unknown" in fed.stderr
        result = run("costs", "--store", url, "--format", "json")
        assert result.returncode == 0, result.stderr
        jsonschema.validate(json.loads(result.stdout), SCHEMA)
        assert "no price for 'no-such-model-9'" in result.stderr

    def test_log_lines_on_stderr_in_process(self, capsys: pytest.CaptureFixture[str]) -> None:
        """While the command runs, the library's diagnostics and structlog go to stderr."""
        import structlog

        from aievents import _diag
        from aievents.cli._terminal import command_logging

        with command_logging(sys.stderr):
            _diag.log("pricing", "warning", "price_unknown", model="m\x1b[2J")
            structlog.get_logger("elsewhere").warning("stray_line")
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "aievents: warning: price_unknown model='m\\x1b[2J'" in captured.err
        assert "stray_line" in captured.err
        assert not structlog.is_configured()


ROOT = Path(__file__).resolve().parent.parent


def command_blocks() -> list[tuple[str, list[str]]]:
    """(page, lines) of each shell block of the docs that runs the command on files."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for block in re.findall(r"^```sh\n(.*?)^```", page.read_text(), re.M | re.S):
            lines = [  # `aievents serve` runs until stopped: test_serve_command runs it
                line
                for line in block.splitlines()
                if re.match(r"(cat .*\| )?aievents (?!serve )", line)
            ]
            if lines and not any("postgresql://" in line for line in block.splitlines()):
                found.append((str(page.relative_to(ROOT)), lines))
    return found


class TestDocs:
    """The command lines the docs show run as written."""

    def test_blocks_found(self) -> None:
        """The README's and the reports guide's blocks are among them."""
        assert {page for page, _ in command_blocks()} >= {"README.md", "docs/guides/reports.md"}

    @pytest.mark.parametrize(("page", "lines"), command_blocks())
    def test_block(self, tmp_path: Path, page: str, lines: list[str]) -> None:
        """Each line exits 0 in a folder holding an events.jsonl of recent events."""
        now = time.time()
        write_events(
            tmp_path / "events.jsonl",
            [usage_at(f"d{i}", now - i * 3600, user_id="user-42") for i in range(48)],
        )
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        for line in lines:
            result = subprocess.run(
                ["bash", "-c", f"set -o pipefail; {line}"],
                capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path, env=env,
            )  # fmt: skip
            assert result.returncode == 0, f"{page}: {line}: {result.stderr}"
