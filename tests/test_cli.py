"""The aievents command, run as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import aievents
from aievents.wire import to_json
from test_store import DAY, T0, event

SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "openai_usage_response.schema.json").read_text()
)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aievents`` with args."""
    return subprocess.run(
        [sys.executable, "-m", "aievents", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
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


class TestDemo:
    """aievents demo runs the instrumented SDK against a local server and reports."""

    def test_demo(self, tmp_path: Path) -> None:
        """Calls are logged, stored, and reported; no key reaches the output."""
        result = run("demo", "--db", str(tmp_path / "demo.db"))
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "11 image calls, 3 failed; 8 stored" in out
        assert out.count("image:request:error") == 3
        for title in ("Usage today by model and size", "Costs today by line item"):
            assert title in out
        assert "gpt-image-1, output image tokens" in out
        assert "sk-demo-local" not in out + result.stderr
        assert (tmp_path / "demo.db").exists()


class TestQueries:
    """usage and costs over a JSONL file or a store, in each format."""

    def test_usage_json(self, events_file: Path) -> None:
        """JSON is OpenAI's page, with the exact sums."""
        result = run("usage", "--events", str(events_file), *WINDOW, "--format", "json")
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        jsonschema.validate(page, SCHEMA)
        requests = [r["num_model_requests"] for b in page["data"] for r in b["results"]]
        assert requests == [12, 12, 6]

    def test_usage_csv_grouped(self, events_file: Path) -> None:
        """CSV has a header and a row per bucket and group."""
        result = run(
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

    def test_costs_table(self, events_file: Path) -> None:
        """The table names each line item."""
        result = run("costs", "--events", str(events_file), *WINDOW, "--group-by", "line_item")
        assert result.returncode == 0, result.stderr
        assert "gpt-image-1, output image tokens" in result.stdout

    def test_ingest_then_query(self, events_file: Path, tmp_path: Path) -> None:
        """Ingest writes every event once; the store answers as the file does."""
        url = f"sqlite:///{tmp_path / 'store.db'}"
        first = run("ingest", str(events_file), "--store", url, "--no-progress")
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("30 events written, 0 already stored")
        again = run("ingest", str(events_file), "--store", url, "--no-progress")
        assert again.stdout.startswith("0 events written, 30 already stored")
        stored = run("usage", "--store", url, *WINDOW, "--format", "json")
        from_file = run("usage", "--events", str(events_file), *WINDOW, "--format", "json")
        assert json.loads(stored.stdout) == json.loads(from_file.stdout)


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

    def test_dicts_envelopes_blank_and_other_events(self, tmp_path: Path) -> None:
        """Usage lines of both shapes count; a blank line and another event type are skipped."""
        path = tmp_path / "events.jsonl"
        path.write_text(
            "\n".join(line % (T0 * 1000) if "%" in line else line for line in self.LINES) + "\n"
        )
        result = run("usage", "--events", str(path), *WINDOW, "--format", "json")
        assert result.returncode == 0, result.stderr
        (first, *_) = json.loads(result.stdout)["data"]
        assert [(r["num_model_requests"], r["cost"]["value"]) for r in first["results"]] == [
            (3, 0.12)
        ]
        url = f"sqlite:///{tmp_path / 'store.db'}"
        ingested = run("ingest", str(path), "--store", url, "--no-progress")
        assert ingested.returncode == 0, ingested.stderr
        assert ingested.stdout.startswith("3 events written")


class TestErrors:
    """Bad input: one line on stderr and a non-zero exit; good lines kept."""

    def test_malformed_line(self, events_file: Path, tmp_path: Path) -> None:
        """A bad line is named by its number; the others are ingested."""
        lines = events_file.read_text().splitlines()
        lines.insert(4, "{not json")
        lines.insert(9, json.dumps({"type": "image:usage", "payload": {"model": 5}}))
        events_file.write_text("\n".join(lines) + "\n")
        url = f"sqlite:///{tmp_path / 'store.db'}"
        result = run("ingest", str(events_file), "--store", url, "--no-progress")
        assert result.returncode == 1
        assert f"{events_file}:5: skipped" in result.stderr
        assert f"{events_file}:10: skipped" in result.stderr
        assert result.stdout.startswith("30 events written")
        assert result.stderr.strip().splitlines()[-1].startswith("aievents: error: ")

    def test_undecodable_line(self, events_file: Path) -> None:
        """A line that is not UTF-8 is named and skipped; the others are used."""
        events_file.write_bytes(events_file.read_bytes() + b"\xff\xfe\n")
        result = run("usage", "--events", str(events_file), *WINDOW, "--format", "json")
        assert result.returncode == 1
        assert f"{events_file}:31: skipped" in result.stderr
        page = json.loads(result.stdout)
        assert sum(r["num_model_requests"] for b in page["data"] for r in b["results"]) == 30

    def test_demo_twice_into_one_store(self, tmp_path: Path) -> None:
        """A second demo run into the same file stores its own calls too."""
        for _ in range(2):
            result = run("demo", "--db", str(tmp_path / "demo.db"))
            assert "8 stored" in result.stdout

    @pytest.mark.parametrize(
        ("args", "status", "message"),
        [
            (["usage", "--store", "not a url"], 1, "is not a database URL"),
            (["usage", "--store", "mysql://h/db"], 1, "sqlite:// or postgresql://"),
            (["usage", "--events", "missing.jsonl"], 1, "cannot read missing.jsonl"),
            (["ingest", "missing.jsonl", "--store", "sqlite:///x.db"], 1, "cannot read"),
            (["usage", "--events", "f", "--bucket-width", "2d"], 2, "'2d'"),
            (["usage", "--events", "f", "--start", "yesterday"], 2, "'yesterday'"),
            (["usage", "--events", "f", "--store", "sqlite://"], 2, "not allowed with"),
            (["costs", "--events", "f", "--bucket-width", "1h"], 2, "'1h'"),
        ],
    )
    def test_bad_arguments(
        self, tmp_path: Path, args: list[str], status: int, message: str
    ) -> None:
        """Each is reported in one line naming the value."""
        result = run(*args, cwd=tmp_path)
        assert result.returncode == status
        assert message in result.stderr
        if status == 1:
            assert len(result.stderr.strip().splitlines()) == 1

    def test_bad_group(self, events_file: Path) -> None:
        """A field that cannot be grouped by is named."""
        result = run("usage", "--events", str(events_file), "--group-by", "colour")
        assert result.returncode == 1
        assert "colour" in result.stderr


class TestCommand:
    """Version, help and usage errors."""

    def test_version(self) -> None:
        """--version prints the package version."""
        result = run("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"aievents {aievents.__version__}"

    def test_no_command(self) -> None:
        """Without a command it prints help to stderr and exits 2."""
        result = run()
        assert result.returncode == 2
        assert "demo" in result.stderr

    def test_unknown_command(self) -> None:
        """An unknown command is a usage error naming it."""
        result = run("frobnicate")
        assert result.returncode == 2
        assert "frobnicate" in result.stderr
