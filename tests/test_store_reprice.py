"""StoreSink.reprice on SQLite and a real PostgreSQL: repriced equals priced anew from the start."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from aievents import ImageUsage
from aievents.exceptions import QueryError, StoreAccessError
from aievents.pricing import PriceBook, PriceTable
from aievents.sinks._storeschema import ROLLUP_COLUMNS, USAGE_COLUMNS
from aievents.sinks._storewrite import price_columns
from aievents.sinks.store import SCHEMA_VERSION, StoreSink
from aievents.totals import FIELDS
from aievents.usage import Billed
from postgres_server import fresh_database
from reprice_data import DAY, NEW, OLD, OLD_DATA, T0, request, requests, tokens

D = Decimal
V2_FILE = Path(__file__).parent / "fixtures" / "store_v2.db"


@pytest.fixture(name="kind", params=["sqlite", "postgresql"])
def _kind(request: pytest.FixtureRequest) -> str:
    """Which database the stores are made on."""
    return str(request.param)


@pytest.fixture(name="urls")
def _urls(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A maker of fresh stores of the kind under test."""
    made = iter(range(100))

    def make() -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'usage{next(made)}.db'}"
        server = request.getfixturevalue("postgres_server")
        return fresh_database(server, f"aievents_{uuid.uuid4().hex[:12]}")

    return make


def engine(url: str) -> Any:
    """A SQLAlchemy engine on the store's database, to look inside."""
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def contents(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row of the store (every column), and every roll-up row, in order."""
    db = engine(url)
    with db.connect() as conn:
        rows = [
            tuple(r)
            for r in conn.exec_driver_sql(
                f"SELECT {', '.join(USAGE_COLUMNS)} FROM aievents_usage ORDER BY request_id"
            )
        ]
        daily = [
            tuple(r)
            for r in conn.exec_driver_sql(
                # by name: an upgraded store has the lanes added since at the end
                f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM aievents_daily ORDER BY period, series"
            )
        ]
    db.dispose()
    return rows, daily


def summed(url: str) -> list[int]:
    """Every lane (FIELDS) summed over the rows."""
    rows = contents(url)[0]
    lanes = [USAGE_COLUMNS.index(name) for name in FIELDS[1:]]
    return [len(rows), *(sum(int(r[i]) for r in rows) for i in lanes)]


def rolled_up(url: str) -> list[int]:
    """Every lane (FIELDS) summed over the daily roll-up (each kept in two halves)."""
    db = engine(url)
    with db.connect() as conn:
        daily = conn.exec_driver_sql("SELECT * FROM aievents_daily").mappings().all()
    db.dispose()
    return [sum(d[f"{f}_hi"] * 2**32 + d[f"{f}_lo"] for d in daily) for f in FIELDS]


def store(url: str, table: Any, events: list[Any] | None = None) -> StoreSink:
    """A store pricing with ``table``, given ``events``."""
    sink = StoreSink(url, prices=PriceBook(table), clock=lambda: T0 + 10 * DAY)
    if events:
        sink.write(events)
    return sink


def answers(sink: StoreSink) -> list[Any]:
    """The usage and costs answers a report asks for, over the three days."""
    found = []
    for width, limit in (("1d", 7), ("1h", 72)):
        page = sink.usage(T0, T0 + 3 * DAY, width, ["model", "size", "user_id"], limit=limit)
        found.append(page.to_dict())
    for group in ([], ["line_item"], ["project_id", "line_item"]):
        found.append(sink.costs(T0, T0 + 3 * DAY, group_by=group).to_dict())
    return found


def same_stores(repriced: str, fresh: str) -> None:
    """Two stores hold the same rows, roll-up and answers."""
    assert contents(repriced) == contents(fresh)
    one, two = StoreSink(repriced, create=False), StoreSink(fresh, create=False)
    assert answers(one) == answers(two)
    one.close(10)
    two.close(10)


class TestReprice:
    """Priced with an old table, then repriced: the store priced with the new one from the start."""

    def test_old_then_repriced_equals_new(self, urls: Any) -> None:
        """Every row's lanes and price columns, the roll-up and the answers are the same."""
        first, second = urls(), urls()
        old = store(first, OLD, requests(PriceBook(OLD)))
        result = old.reprice(prices=PriceBook(NEW))
        old.close(10)
        store(second, NEW, requests(PriceBook(NEW))).close(10)
        same_stores(first, second)
        assert (result.requests, result.changed, result.unpriced, result.kept) == (6, 5, 0, 0)
        assert result.price_version == "new-1"
        by_model = {
            m.model: (m.requests, m.changed, m.old, m.new, m.old_unpriced, m.new_unpriced)
            for m in result.models
        }
        # See reprice_data.requests for each cost.
        assert by_model == {
            "img-model": (2, 1, D("0.16"), D("0.18"), 0, 0),  # 0.08 + 0.08 -> 0.10 + 0.08
            "new-model": (1, 1, None, D("0.06"), 1, 0),  # unknown (unpriced) -> 3 * 0.02
            # 0.0405 + 0.0839125 + 0.165 -> 0.0306 + 0.064075 + 0.126
            "tok-model": (3, 3, D("0.2894125"), D("0.220675"), 0, 0),
        }
        # Before: a lower bound, one request unpriced.
        assert (result.old_total, result.old_unpriced) == (D("0.4494125"), 1)
        assert result.new_total == D("0.460675")
        again = StoreSink(first, prices=PriceBook(NEW)).reprice()
        assert again.changed == 0  # priced as it is already
        rows = contents(first)[0]
        stamps = [USAGE_COLUMNS.index(name) for name in ("price_version", "priced_as")]
        assert {(r[0], *(r[i] for i in stamps)) for r in rows} == {
            ("img-a", "new-1", "img-model"),
            ("img-b", "new-1", "img-model"),
            ("new-a", "new-1", "new-model"),
            ("tok-a", "new-1", "tok-model"),
            ("tok-b", "new-1", "tok-model"),
            ("tok-c", "new-1", "tok-model"),
        }

    def test_rows_written_meanwhile_and_batches(self, urls: Any) -> None:
        """More rows than a batch: each priced once, the roll-up right, a new write kept."""
        first, second = urls(), urls()
        many = [
            request(f"img-{i:04d}", T0 + (i % 2000) * 60, "img-model", images=1 + i % 3)
            for i in range(1200)
        ]
        old = store(first, OLD, many)
        seen: list[tuple[int, int]] = []
        later = request("late", T0 + 2500 * 60, "img-model", images=1)  # past the batches read

        def progress(done: int, total: int) -> None:
            seen.append((done, total))
            if len(seen) == 2:  # another writer adds a row between two batches
                writer = store(first, NEW, [later])
                writer.close(10)

        result = old.reprice(prices=NEW, progress=progress)
        old.close(10)
        assert seen[0] == (0, 1200)
        assert seen[-1][0] == 1201
        assert result.requests == 1201
        store(second, NEW, [*many, later]).close(10)
        same_stores(first, second)

    def test_interrupted_then_run_again(self, urls: Any) -> None:
        """Stopped after a batch: that batch whole, the rest as it was; run again, it finishes."""
        first, second = urls(), urls()
        many = [
            request(f"tok-{i:04d}", T0 + i * 60, "tok-model", usage=tokens(10 + i, 100 + i))
            for i in range(700)
        ]
        old = store(first, OLD, many)

        def stop(done: int, total: int) -> None:
            if done:  # after the first batch (500 rows) is written
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            old.reprice(prices=NEW, progress=stop)
        rows = contents(first)[0]
        stamp = USAGE_COLUMNS.index("price_version")
        assert [r[stamp] for r in rows].count("new-1") == 500
        assert rolled_up(first) == summed(first)  # the roll-up still sums the rows
        assert old.reprice(prices=NEW).changed == 200
        old.close(10)
        store(second, NEW, many).close(10)
        same_stores(first, second)

    def test_since_limits_rows(self, urls: Any) -> None:
        """Only the requests from --since on are priced again."""
        url = urls()
        sink = store(url, OLD, requests())
        result = sink.reprice(since=T0 + DAY, prices=NEW)
        assert result.requests == 4  # tok-b, img-b, new-a, tok-c
        # The first day keeps the old prices: tok-a $0.0405 and img-a $0.08.
        (day,) = sink.costs(T0, T0 + DAY).data[0].results
        assert day.amount == D("0.1205")  # type: ignore[union-attr]
        # The next days are priced anew: 0.064075 + 0.08 + 0.06, then 0.126.
        pages = sink.costs(T0 + DAY, T0 + 3 * DAY).data
        later = [b.results[0].amount for b in pages]  # type: ignore[union-attr]
        assert later == [D("0.204075"), D("0.126")]
        sink.close(10)

    def test_since_read_as_a_query_reads_times(self, tmp_path: Path) -> None:
        """A date or an aware datetime; a naive datetime, NaN or infinity named as ``since``."""
        sink = store(f"sqlite:///{tmp_path / 'since.db'}", OLD, requests())
        day = dt.datetime.fromtimestamp(T0 + DAY, dt.timezone.utc)
        assert sink.reprice(since=day.date(), prices=NEW, dry_run=True).requests == 4
        assert sink.reprice(since=day, prices=NEW, dry_run=True).requests == 4
        for bad in (day.replace(tzinfo=None), float("nan"), float("inf")):
            with pytest.raises(QueryError) as raised:
                sink.reprice(since=bad, prices=NEW, dry_run=True)  # type: ignore[arg-type]
            assert raised.value.field == "since"
        sink.close(10)

    def test_dry_run_changes_nothing(self, urls: Any, kind: str) -> None:
        """A dry run tells what would change, and the database is as it was, byte for byte."""
        url = urls()
        sink = store(url, OLD, requests())
        sink.close(10)
        sink.dispose()
        before = contents(url)
        path = Path(url.removeprefix("sqlite:///")) if kind == "sqlite" else None
        data = path.read_bytes() if path is not None else None
        sink = StoreSink(url, create=False)
        result = sink.reprice(prices=NEW, dry_run=True)
        sink.close(10)
        sink.dispose()
        assert result.dry_run
        assert result.changed == 5
        assert contents(url) == before
        if path is not None:
            assert path.read_bytes() == data

    def test_same_prices_of_another_version(self, urls: Any) -> None:
        """The same prices under a new version: each row notes the version, no cost changes."""
        url = urls()
        sink = store(url, OLD, requests())
        before = contents(url)
        result = sink.reprice(prices=OLD.with_prices([], version="old-2"))
        assert (result.requests, result.changed) == (6, 0)
        rows, daily = contents(url)
        at = USAGE_COLUMNS.index("price_version")
        assert daily == before[1]
        assert [r[:at] for r in rows] == [r[:at] for r in before[0]]
        assert {r[at] for r in rows} == {"old-2", None}  # None: new-a, unpriced
        sink.close(10)

    def test_billed_kept(self, urls: Any) -> None:
        """What the provider billed is kept on the row, as exact text, and read back to reprice."""
        url = urls()
        usage = ImageUsage(billed=Billed(quantity=D("2.50"), unit="megapixels"))
        sink = store(url, NEW, [request("bill-a", T0 + 60, "img-model", usage=usage)])
        assert sink.reprice(prices=NEW).changed == 0
        (row,) = contents(url)[0]
        found = [row[USAGE_COLUMNS.index(c)] for c in ("billed_quantity", "billed_unit")]
        assert found == ["2.50", "megapixels"]
        sink.close(10)

    def test_a_malformed_row_is_kept_and_named(
        self, urls: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A row no request can be rebuilt from is kept and named; the other rows are repriced."""
        url = urls()
        sink = store(url, OLD, requests(PriceBook(OLD)))
        db = engine(url)
        with db.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE aievents_usage SET billed_quantity = 'abc', billed_unit = 'credits' "
                    "WHERE request_id = 'img-a'"
                )
            )
        db.dispose()
        (before,) = [row for row in contents(url)[0] if "img-a" in row]
        with caplog.at_level("WARNING", logger="aievents.store"):
            result = sink.reprice(prices=NEW)
        assert (result.requests, result.kept, result.changed) == (6, 1, 4)
        assert [row for row in contents(url)[0] if "img-a" in row] == [before]
        assert "reprice_row_kept" in caplog.text
        assert "img-a" in caplog.text
        sink.close(10)

    def test_zero_tokens_stay_priced_by_tokens(self, urls: Any) -> None:
        """A usage that reported 0 tokens, repriced with the same prices: still $0, no estimate."""
        data = json.loads(json.dumps(OLD_DATA))
        data["models"][0]["per_image_estimate"] = [{"price": "0.04"}]  # tok-model
        table = PriceTable.from_dict(data)
        url = urls()
        sink = store(url, table, [request("zero-a", T0 + 60, "tok-model", usage=tokens(0, 0))])
        before = contents(url)
        (row,) = before[0]
        # Priced by its tokens: 0 * 5.00 + 0 * 40.00 = $0 (the estimate would be $0.04).
        assert row[USAGE_COLUMNS.index("cost_basis")] == "tokens"
        result = sink.reprice(prices=table)
        assert (result.changed, result.models[0].new) == (0, D(0))
        assert contents(url) == before
        sink.close(10)

    def test_priced_as_another_model(self, urls: Any) -> None:
        """A row priced as another model (an Azure deployment) is repriced as that model."""
        url = urls()
        event = request("dep-a", T0 + 60, "deploy-a", usage=tokens(100, 1000))
        old = PriceBook(OLD).image_cost("tok-model", usage=event.usage)  # as instrumented
        sink = store(url, OLD, [attrs.evolve(event, cost=old)])
        result = sink.reprice(prices=NEW)
        # 100 text x 5/1M + 1000 image out x 40/1M = 0.0405 -> 100 x 6/1M + 1000 x 30/1M = 0.0306
        (model,) = result.models
        assert (model.model, model.changed, model.old, model.new) == (
            "deploy-a", 1, D("0.0405"), D("0.0306"),
        )  # fmt: skip
        assert result.unpriced == 0
        (row,) = contents(url)[0]
        found = [row[USAGE_COLUMNS.index(c)] for c in ("model", "price_version", "priced_as")]
        assert found == ["deploy-a", "new-1", "tok-model"]
        sink.close(10)

    def test_still_unpriced_and_kept(self, urls: Any) -> None:
        """A model neither table knows stays unpriced and is counted so."""
        url = urls()
        sink = store(url, OLD, [request("odd-a", T0 + 60, "odd-model", usage=tokens(10, 10))])
        result = sink.reprice(prices=NEW)
        assert (result.requests, result.changed, result.unpriced) == (1, 0, 1)
        sink.close(10)


def load_v2(url: str, tmp_path: Path) -> None:
    """The tables and rows of a store of schema version 2 (see tests/store_v2.py).

    On SQLite the file itself; on PostgreSQL the statements that make it.
    """
    copy = tmp_path / f"v2-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(V2_FILE, copy)
    if url.startswith("sqlite"):
        shutil.move(copy, url.removeprefix("sqlite:///"))
        return
    source = sqlite3.connect(copy)
    statements = [s for s in source.iterdump() if s not in ("BEGIN TRANSACTION;", "COMMIT;")]
    source.close()
    db = engine(url)
    with db.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    db.dispose()


class TestFromVersion2:
    """A store of schema version 2 is upgraded, then repriced like one written today."""

    def test_not_upgraded_for_a_dry_run(self, urls: Any, tmp_path: Path) -> None:
        """Opened with upgrade=False (a dry run's way): refused as needing an upgrade, unchanged."""
        url = urls()
        load_v2(url, tmp_path)

        def everything() -> list[Any]:
            db = engine(url)
            with db.connect() as conn:
                names = ("aievents_meta", "aievents_usage", "aievents_daily")
                found = [conn.exec_driver_sql(f"SELECT * FROM {n} ORDER BY 1").all() for n in names]
                found.append(
                    sorted(c["name"] for c in sa.inspect(conn).get_columns("aievents_usage"))
                )
            db.dispose()
            return found

        before = everything()
        with pytest.raises(StoreAccessError, match="needs an upgrade first"):
            StoreSink(url, create=False, upgrade=False)
        assert everything() == before
        assert before[0] == [("schema_version", "2")]

    def test_migrated_then_repriced(self, urls: Any, tmp_path: Path) -> None:
        """The new columns are added; repriced, it equals a store written with the new table."""
        first, second = urls(), urls()
        load_v2(first, tmp_path)
        old = StoreSink(first, prices=PriceBook(OLD), clock=lambda: T0 + 10 * DAY)
        db = engine(first)
        with db.connect() as conn:
            version = conn.exec_driver_sql("SELECT value FROM aievents_meta").scalar()
            stamps = conn.exec_driver_sql("SELECT DISTINCT price_version FROM aievents_usage").all()
        db.dispose()
        assert (version, stamps) == (str(SCHEMA_VERSION), [(None,)])
        result = old.reprice(prices=NEW)
        old.close(10)
        assert (result.requests, result.changed, result.kept) == (6, 5, 0)
        store(second, NEW, requests(PriceBook(NEW))).close(10)
        same_stores(first, second)


OPENER = """
import sys
sys.path[:0] = [{tests!r}, {src!r}]
from reprice_data import DAY, T0, request
from aievents.sinks import StoreSink
print("ready", flush=True)
sys.stdin.readline()  # both processes open the store at once
sink = StoreSink({url!r})
sink.write([request(sys.argv[1], T0 + 3 * DAY, "img-model")])
assert sink.close(30)
print("written", flush=True)
"""


class TestMigration:
    """The upgrade adds whatever the tables lack, once, whoever opens them at the same time."""

    def test_two_processes_open_an_old_store(self, urls: Any, tmp_path: Path) -> None:
        """Two processes upgrade a version 2 store at once: both open it, both rows written."""
        url = urls()
        load_v2(url, tmp_path)
        here = Path(__file__).parent
        script = OPENER.format(tests=str(here), src=str(here.parent / "src"), url=url)
        openers = [
            subprocess.Popen(
                [sys.executable, "-c", script, name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in ("p1", "p2")
        ]
        for opener in openers:
            assert opener.stdout is not None
            assert opener.stdout.readline().strip() == "ready"
        for opener in openers:
            assert opener.stdin is not None
            opener.stdin.write("go\n")
            opener.stdin.flush()
        outputs = [opener.communicate(timeout=120)[0] for opener in openers]
        assert [o.returncode for o in openers] == [0, 0], outputs
        rows = contents(url)[0]
        assert len(rows) == 8  # the six of version 2, and one from each process
        sink = StoreSink(url, create=False)
        assert sink.usage(T0, T0 + 4 * DAY).data[3].results[0].num_model_requests == 2  # type: ignore[union-attr]
        sink.close(10)

    def test_a_lane_column_missing(self, urls: Any) -> None:
        """A lane (row column and roll-up halves) the tables lack is added as 0, at any version."""
        url = urls()
        store(url, OLD, requests()).close(10)
        db = engine(url)
        with db.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE aievents_usage DROP COLUMN output_text_tokens")
            for half in ("hi", "lo"):
                conn.exec_driver_sql(
                    f"ALTER TABLE aievents_daily DROP COLUMN output_text_tokens_{half}"
                )
        db.dispose()
        sink = StoreSink(url, create=False)
        (day,) = sink.usage(T0 + DAY, T0 + 2 * DAY).data[0].results
        assert day.output_text_tokens == 0  # type: ignore[union-attr]
        sink.write(
            [request("tok-x", T0 + DAY + 600, "tok-model", usage=tokens(10, 10, out_text=7))]
        )
        (day,) = sink.usage(T0 + DAY, T0 + 2 * DAY).data[0].results
        assert day.output_text_tokens == 7  # type: ignore[union-attr]
        sink.close(10)


class TestPriceColumns:
    """A row keeps the table version and entry of its cost, and what its provider billed."""

    def test_columns(self) -> None:
        """A cost's version and entry; a billed quantity as exact text and its unit; else None."""
        cost = request("tok-a", T0, "tok-model", usage=tokens(10, 10), cost_by=PriceBook(NEW)).cost
        billed = ImageUsage(billed=Billed(quantity=D("1.50"), unit="seconds"))
        assert price_columns(cost, billed) == ("new-1", "tok-model", "1.50", "seconds", "tokens")
        assert price_columns(None, ImageUsage()) == (None, None, None, None, None)
