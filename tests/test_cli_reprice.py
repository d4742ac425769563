"""aievents reprice: a store priced again from a price file, what changed printed as a table."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aievents.pricing import PriceBook
from aievents.sinks.store import StoreSink
from reprice_data import DAY, NEW_DATA, OLD, T0, requests
from test_store_reprice import V2_FILE, contents

D = Decimal
#: The run's clock: 2024-11-10, after every request.
NOW = T0 + 9 * DAY


@pytest.fixture(name="url")
def _url(tmp_path: Path) -> str:
    """A SQLite store holding the requests of reprice_data, priced with its OLD table."""
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    store = StoreSink(url, prices=PriceBook(OLD))
    store.write(requests(PriceBook(OLD)))
    store.close(10)
    store.dispose()
    return url


@pytest.fixture(name="new_prices")
def _new_prices(tmp_path: Path) -> Path:
    """reprice_data's NEW table as a price file."""
    path = tmp_path / "new-prices.json"
    path.write_text(json.dumps(NEW_DATA))
    return path


def table(stdout: str) -> dict[str, list[str]]:
    """The printed table's rows by their first cell."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    rows = [line.split() for line in lines[start + 1 :] if line and not line[0].isdigit()]
    return {row[0]: row[1:] for row in rows}


def cost_of_days(url: str) -> list[Decimal]:
    """The store's computed cost per day over the three days."""
    store = StoreSink(url, create=False)
    days = store.costs(T0, T0 + 3 * DAY).data
    store.close(10)
    return [sum((r.amount for r in day.results if r.amount is not None), D(0)) for day in days]


class TestReprice:
    """The command prices the store again and prints per model what changed."""

    def test_with_a_price_file(self, cli: Any, url: str, new_prices: Path) -> None:
        """The file's entries price the rows; the table has the old and new totals per model."""
        ran = cli("reprice", "--store", url, "--prices", str(new_prices), "--no-progress", now=NOW)
        assert ran.returncode == 0, ran.stderr
        # Each cost is worked in reprice_data.requests.
        assert table(ran.stdout) == {
            "img-model": ["2", "1", "0.16", "0.18"],
            "new-model": ["1", "1", "unknown", "0.06"],  # unpriced before
            "tok-model": ["3", "3", "0.2894125", "0.220675"],
            "total": ["6", "5", "0.4494125", "+", "unknown", "0.460675"],  # a lower bound before
        }
        assert "6 requests examined, 5 changed, 0 still unpriced" in ran.stdout
        # Day by day: 0.0306 + 0.10; 0.064075 + 0.08 + 0.06; 0.126.
        assert cost_of_days(url) == [D("0.1306"), D("0.204075"), D("0.126")]

    def test_dry_run_and_since(self, cli: Any, url: str, new_prices: Path) -> None:
        """A dry run changes nothing; --since takes the forms of --start and limits the rows."""
        before = contents(url)
        args = ["reprice", "--store", url, "--prices", str(new_prices), "--no-progress"]
        dry = cli(*args, "--dry-run", "--since", "2024-11-02", now=NOW)
        assert dry.returncode == 0, dry.stderr
        assert "dry run: nothing changed" in dry.stdout
        assert table(dry.stdout)["total"][:2] == ["4", "3"]  # tok-b, img-b, new-a, tok-c
        assert contents(url) == before
        ran = cli(*args, "--since", "-8d", now=NOW)  # 2024-11-02 00:00 UTC, relative to NOW
        # 0.0839125 + 0.08 + 0 + 0.165 -> 0.064075 + 0.08 + 0.06 + 0.126
        assert table(ran.stdout)["total"] == ["4", "3", "0.3289125", "+", "unknown", "0.330075"]
        # The first day as it was (0.0405 + 0.08); then 0.064075 + 0.08 + 0.06, and 0.126.
        assert cost_of_days(url) == [D("0.1205"), D("0.204075"), D("0.126")]

    def test_bad_price_file(self, cli: Any, url: str, tmp_path: Path) -> None:
        """A price file that cannot be loaded: exit 1, the file named, the store unchanged."""
        before = contents(url)
        bad = tmp_path / "bad-prices.json"
        broken = json.loads(json.dumps(NEW_DATA))
        broken["models"][1]["per_image"][0]["price"] = "-0.05"
        bad.write_text(json.dumps(broken))
        ran = cli("reprice", "--store", url, "--prices", str(bad), now=NOW)
        assert ran.returncode == 1
        assert str(bad) in ran.stderr
        assert "price" in ran.stderr
        assert ran.stdout == ""
        missing = cli("reprice", "--store", url, "--prices", str(tmp_path / "none.json"))
        assert missing.returncode == 1
        assert "none.json" in missing.stderr
        assert contents(url) == before

    def test_models_not_in_the_prices_are_kept(self, cli: Any, url: str) -> None:
        """Repriced with prices that know none of its models: every row and its cost kept."""
        before = contents(url)
        costs = cost_of_days(url)
        ran = cli("reprice", "--store", url, "--no-progress", now=NOW)  # the shipped table
        assert ran.returncode == 0, ran.stderr
        assert "6 not in these prices: kept" in ran.stdout
        assert "0 changed" in ran.stdout
        assert contents(url) == before
        # As priced by OLD: 0.0405 + 0.08; 0.0839125 + 0.08 (new-model unpriced); 0.165.
        assert costs == [D("0.1205"), D("0.1639125"), D("0.165")]
        assert cost_of_days(url) == costs

    def test_dry_run_upgrades_no_store(self, cli: Any, tmp_path: Path) -> None:
        """A dry run on a store of schema version 2 is refused as needing an upgrade, unchanged."""
        path = tmp_path / "v2.db"
        shutil.copyfile(V2_FILE, path)
        before = path.read_bytes()
        url = f"sqlite:///{path}"
        ran = cli("reprice", "--store", url, "--dry-run", "--no-progress", now=NOW)
        assert ran.returncode == 1
        assert "needs an upgrade first" in ran.stderr
        assert "schema version 2" in ran.stderr
        assert ran.stdout == ""
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["v2.db"]

    def test_no_store(self, cli: Any, tmp_path: Path) -> None:
        """Repricing creates no store."""
        ran = cli("reprice", "--store", f"sqlite:///{tmp_path / 'none.db'}", "--no-progress")
        assert ran.returncode == 1
        assert "names no store" in ran.stderr
        assert not (tmp_path / "none.db").exists()


class TestProcess:
    """As a real process: data on stdout, the progress bar on a terminal's stderr only."""

    def test_progress_bar_on_a_terminal(self, url: str, new_prices: Path) -> None:
        """Stderr a terminal: a progress bar there; stdout keeps the table alone."""
        leader, follower = pty.openpty()
        try:
            ran = subprocess.run(
                [
                    sys.executable,
                    *("-m", "aievents", "reprice", "--store", url),
                    *("--prices", str(new_prices)),
                ],
                stdout=subprocess.PIPE,
                stderr=follower,
                text=True,
                timeout=120,
                check=False,
                env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
            )
            os.close(follower)
            follower = -1
            shown = b""
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal's other end is closed: all is read
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            if follower >= 0:
                os.close(follower)
            os.close(leader)
        assert ran.returncode == 0, shown
        assert b"repricing" in shown
        assert "repricing" not in ran.stdout
        assert table(ran.stdout)["total"][0] == "6"
        # Day by day, as priced by the file: 0.0306 + 0.10; 0.064075 + 0.08 + 0.06; 0.126.
        assert cost_of_days(url) == [D("0.1306"), D("0.204075"), D("0.126")]
