"""StoreSink on SQLite and on a real PostgreSQL: rows, roll-ups, and AggregateSink's answers."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aievents import ImageUsageEvent
from aievents.pricing import PriceTable
from aievents.query import COST_EXTENSIONS, QueryError
from aievents.sinks import AggregateSink, StoreSink
from aievents.sinks._storeschema import roll_up_row
from aievents.sinks.store import SCHEMA_VERSION, StoreError
from aievents.totals import FIELDS
from postgres_server import fresh_database
from store_v1 import BIG, batches

from helpers import event_fields, locked_store, wait_until
from helpers import priced_cost as cost
from helpers import usage_at as event

D = Decimal
DAY = 86_400
T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC
SRC = str(Path(__file__).resolve().parent.parent / "src")


@pytest.fixture(name="url", params=["sqlite", "postgresql"])
def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'usage.db'}"
    server = request.getfixturevalue("postgres_server")
    return fresh_database(server, f"aievents_{uuid.uuid4().hex[:12]}")


def aggregate(prices: PriceTable | None = None) -> AggregateSink:
    """An AggregateSink that keeps minute detail for the whole test window."""
    return AggregateSink(
        minute_detail=400 * DAY,
        hour_detail=400 * DAY,
        retention=400 * DAY,
        clock=lambda: T0,
        prices=prices,
    )


def both(url: str, events: list[ImageUsageEvent]) -> tuple[StoreSink, AggregateSink]:
    """A store and an aggregate that were given the same events."""
    store = StoreSink(url, clock=lambda: T0 + 10 * DAY)
    memory = aggregate()
    for item in events:
        store.handle(item)
        memory.handle(item)
    assert store.flush(30)
    return store, memory


def same(store: StoreSink, memory: AggregateSink, kind: str, *args: Any, **kwargs: Any) -> None:
    """The store's page is the aggregate's page."""
    ours = getattr(store, kind)(*args, **kwargs).to_dict()
    assert ours == getattr(memory, kind)(*args, **kwargs).to_dict()


def engine(url: str) -> Any:
    """A SQLAlchemy engine on the store's database, to look inside."""
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def column_kinds(url: str) -> set[str]:
    """What the count and cost columns of both tables hold: SQLite's typeof, PostgreSQL's type."""
    found: set[str] = set()
    db = engine(url)
    with db.connect() as conn:
        for table in ("aievents_usage", "aievents_daily"):
            columns = [
                c["name"]
                for c in sa.inspect(conn).get_columns(table)
                if isinstance(c["type"], sa.Integer)  # every count and cost column
            ]
            for column in columns:
                if url.startswith("sqlite"):
                    query = f"SELECT DISTINCT typeof({column}) FROM {table}"
                    found.update(kind for (kind,) in conn.exec_driver_sql(query))
                else:
                    query = (
                        "SELECT data_type FROM information_schema.columns"
                        f" WHERE table_name = '{table}' AND column_name = '{column}'"
                    )
                    found.update(kind for (kind,) in conn.exec_driver_sql(query))
    db.dispose()
    return found


INTEGERS = {"integer", "bigint"}


class TestWrite:
    """Events become rows once, and the answers are AggregateSink's."""

    def test_rows_and_duplicates(self, url: str) -> None:
        """One row per request id; a duplicate is counted, not stored."""
        store = StoreSink(url)
        for index in range(5):
            store.handle(event(f"r{index}", T0 + index))
        store.handle(event("r1", T0 + 99))
        assert store.flush(30)
        stats = store.stats()
        assert (stats["written"], stats["duplicates"], stats["pending"]) == (5, 1, 0)
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM aievents_usage")).scalar()
        engine.dispose()
        assert count == 5
        store.close(10)

    def test_batch_partly_stored(self, url: str) -> None:
        """A batch whose ids are partly stored writes and rolls up only its new rows."""
        store = StoreSink(url, clock=lambda: T0 + DAY)
        assert store.write([event(f"r{index}", T0 + 60 * index) for index in range(5)]) == (5, 0)
        again = [event(f"r{index}", T0 + 3600 + index, text=999) for index in (3, 0, 7, 4, 6)]
        assert store.write(again) == (2, 3)
        memory = aggregate()
        for index in range(5):
            memory.handle(event(f"r{index}", T0 + 60 * index))
        memory.handle(again[2])
        memory.handle(again[4])
        for width, limit in (("1d", 1), ("1h", 24), ("1m", 120)):
            same(store, memory, "usage", T0, T0 + DAY, width, ["model"], limit=limit)
        store.close(10)

    def test_largest_rowid(self, tmp_path: Path) -> None:
        """SQLite: past a row numbered 2**63 - 1 (new rows numbered at random), still once each."""
        url = f"sqlite:///{tmp_path / 'usage.db'}"
        store = StoreSink(url, clock=lambda: T0 + DAY)
        assert store.write([event("r0", T0)]) == (1, 0)
        db = sqlite3.connect(tmp_path / "usage.db")
        with db:
            db.execute(f"UPDATE aievents_usage SET rowid = {2**63 - 1} WHERE request_id = 'r0'")
        db.close()
        assert store.write([event("r0", T0 + 1), event("r1", T0 + 2), event("r2", T0 + 3)]) == (
            2,
            1,
        )
        for width in ("1d", "1h", "1m"):
            page = store.usage(T0, T0 + 60, width).to_dict()
            assert page["data"][0]["results"][0]["num_model_requests"] == 3, width
        store.close(10)

    def test_answers_like_aggregate(self, url: str) -> None:
        """usage and costs pages equal AggregateSink's, for every width and grouping."""
        events = [
            event(
                f"r{index}",
                T0 + index * 1777,
                user_id=("user_1", "user_2", None)[index % 3],
                model=("gpt-image-1", "gpt-image-1-mini")[index % 2],
                size=("1024x1024", "1536x1024")[index // 7 % 2],
                text=index,
            )
            for index in range(200)
        ]
        store, memory = both(url, events)
        for width, limit in (("1d", 7), ("1h", 168), ("1m", 1440)):
            for group in ([], ["model", "size"], ["user_id"]):
                same(store, memory, "usage", T0, T0 + 5 * DAY, width, group, limit=limit)
        same(store, memory, "usage", T0, T0 + 5 * DAY, "1d", ["model"], user_ids=["user_2"])
        for group in ([], ["line_item"], ["project_id"]):
            same(store, memory, "costs", T0, T0 + 5 * DAY, group_by=group)
        for name in sorted(COST_EXTENSIONS):  # extensions: model, user_id, provider
            for group in ([name], [name, "line_item"], [name, "project_id"]):
                same(store, memory, "costs", T0, T0 + 5 * DAY, group_by=group)
        same(store, memory, "costs", T0, T0 + 5 * DAY, group_by=["model"], user_ids=["user_2"])
        same(store, memory, "costs", T0, T0 + 5 * DAY, group_by=["user_id"], models=["gpt-image-1"])
        for since in ("month", T0 + DAY, dt.datetime(2024, 11, 2, 12, tzinfo=dt.timezone.utc)):
            for user in ("user_1", None):
                asked = {"user_id": user, "since": since, "until": T0 + 5 * DAY}
                assert store.spend(**asked) == memory.spend(**asked)
        store.close(10)

    def test_aware_datetimes(self, url: str) -> None:
        """start_time and end_time as aware datetimes answer as the same Unix seconds."""
        store, memory = both(url, [event(f"r{i}", T0 + i * 3001) for i in range(100)])
        start = dt.datetime.fromtimestamp(T0 + 3600, dt.timezone(dt.timedelta(hours=-5)))
        end = dt.datetime.fromtimestamp(T0 + 3 * DAY, dt.timezone.utc)
        same(store, memory, "usage", start, end, "1h", ["model"], limit=168)
        same(store, memory, "costs", start, end, group_by=["line_item"])
        by_seconds = store.usage(T0 + 3600, T0 + 3 * DAY, "1h", limit=168).to_dict()
        assert store.usage(start, end, "1h", limit=168).to_dict() == by_seconds
        with pytest.raises(QueryError) as info:
            store.costs(dt.datetime(2024, 11, 1), end)
        assert info.value.field == "start_time"
        store.close(10)

    def test_window_edges(self, url: str) -> None:
        """Windows that start and end inside a day or an hour are summed exactly."""
        events = [event(f"r{i}", T0 + i * 613) for i in range(400)]
        store, memory = both(url, events)
        for start, end in ((T0 + 3660, T0 + 2 * DAY - 120), (T0 + 59 * 60, T0 + 3 * DAY + 61)):
            same(store, memory, "usage", start, end, "1d")
            same(store, memory, "usage", start, end, "1h", limit=168)
        store.close(10)

    def test_exact_costs(self, url: str) -> None:
        """Costs past 64-bit units and finer than units are summed exactly."""
        prices = [
            cost(per_image="20000.000000000000001"),
            cost(output_image="0.0000000000000000001"),
            cost(output_image="9223.372036854775807"),
            cost(output_image="9223.372036854775807"),
        ]
        events = [event(f"r{i}", T0 + i, price=p) for i, p in enumerate(prices)]
        store, memory = both(url, events)
        page = store.costs(T0, T0 + DAY)
        expected = sum((p.total for p in prices), D(0))
        assert expected == D("38446.7440737095516150001")
        assert sum((r.amount for b in page.data for r in b.results), D(0)) == expected
        assert page.to_dict() == memory.costs(T0, T0 + DAY).to_dict()
        store.close(10)

    def test_rejects_counts_past_64_bits(self, url: str) -> None:
        """An event whose counts do not fit is counted as rejected, the field and limit named."""
        store = StoreSink(url)
        with structlog.testing.capture_logs() as logs:
            store.handle(event("big", T0, text=2**64))
            store.handle(event("ok", T0 + 1))
            assert store.flush(30)
        assert (store.stats()["written"], store.stats()["rejected"]) == (1, 1)
        (line,) = [line for line in logs if line["event"] == "event_rejected"]
        assert line["request_id"] == "big"
        assert "input_tokens" in line["reason"]
        assert "2**63 - 1" in line["reason"]
        store.close(10)

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            ({"user_id": "u" * 300}, "a text field is longer than 255 characters"),
            ({"user_id": "a\x00b"}, "a text field holds a NUL character"),
            ({"user_id": "a\ud800b"}, "a text field is not valid Unicode (a lone surrogate)"),
            ({"request_id": "r" * 256}, "a text field is longer than 255 characters"),
            ({"request_id": "r\x00"}, "a text field holds a NUL character"),
            ({"request_id": "r\udfff"}, "a text field is not valid Unicode (a lone surrogate)"),
        ],
        ids=["long", "nul", "surrogate", "long-id", "nul-id", "surrogate-id"],
    )
    def test_bad_text_rejected_alone(self, url: str, bad: dict[str, Any], reason: str) -> None:
        """A field the database cannot hold rejects its event, never its batch, saying why.

        Its series written before and after it (its texts checked once, then
        kept) does not let a bad request id through to the database.
        """
        store = StoreSink(url)
        for index in range(9):
            store.handle(event(f"ok-{index}", T0 + index))
        assert store.flush(30)
        with structlog.testing.capture_logs() as logs:
            store.handle(ImageUsageEvent(**{**event_fields(event("bad", T0)), **bad}))
            store.handle(event("ok-\u00e9\u8a9e", T0 + 20))  # not ASCII, and fit
            assert store.flush(30)
        stats = store.stats()
        assert (stats["written"], stats["rejected"], stats["failed"]) == (10, 1, 0)
        assert [line["reason"] for line in logs if line["event"] == "event_rejected"] == [reason]
        db = engine(url)
        with db.connect() as conn:
            ids = {rid for (rid,) in conn.exec_driver_sql("SELECT request_id FROM aievents_usage")}
        db.dispose()
        assert ids == {*(f"ok-{index}" for index in range(9)), "ok-\u00e9\u8a9e"}
        store.close(10)

    def test_closed_ignores(self, url: str) -> None:
        """After close, events are not written; the store can still be queried."""
        store = StoreSink(url, clock=lambda: T0 + DAY)
        store.handle(event("a", T0))
        assert store.close(10)
        store.handle(event("b", T0 + 1))
        assert store.stats()["written"] == 1
        assert store.stats()["dropped"] == 1  # counted, not lost silently
        assert store.usage(T0).to_dict()["data"][0]["results"][0]["num_model_requests"] == 1


class TestBigCounts:
    """Counts up to 2**63 - 1 are stored and summed exactly; the store never holds a float."""

    def test_one_batch(self, url: str) -> None:
        """Several such counts in one batch: written, and summed past 64 bits exactly."""
        events = [event(f"big-{i}", T0 + 60 * i, text=BIG) for i in range(3)]
        store, memory = both(url, [*events, event("small", T0 + 600)])
        stats = store.stats()
        assert (stats["written"], stats["failed"], stats["rejected"]) == (4, 0, 0)
        (result,) = store.usage(T0, T0 + DAY).data[0].results
        assert result.input_tokens == 3 * BIG + 10  # type: ignore[union-attr]
        for width, limit in (("1d", 7), ("1h", 24), ("1m", 60)):
            same(store, memory, "usage", T0, T0 + DAY, width, ["model"], limit=limit)
        same(store, memory, "costs", T0, T0 + DAY, group_by=["line_item"])
        assert column_kinds(url) <= INTEGERS
        store.close(10)

    def test_separate_batches(self, url: str) -> None:
        """One per batch, into one day's roll-up: it stays an exact integer; hours still sum."""
        store = StoreSink(url, clock=lambda: T0 + 10 * DAY)
        memory = aggregate()
        for index in range(3):
            built = event(f"big-{index}", T0 + 60 * index, text=BIG)
            store.handle(built)
            memory.handle(built)
            assert store.flush(30)
        assert store.stats()["written"] == 3
        assert column_kinds(url) <= INTEGERS
        for width, limit in (("1d", 7), ("1h", 24), ("1m", 60)):
            same(store, memory, "usage", T0, T0 + DAY, width, ["user_id"], limit=limit)
        (result,) = store.usage(T0, T0 + DAY, "1h").data[0].results
        assert result.input_tokens == 3 * BIG  # type: ignore[union-attr]
        store.close(10)


class TestNulls:
    """A field left empty is NULL in the rows and roll-ups; the roll-ups equal a recount."""

    def test_empty_is_null(self, url: str) -> None:
        """An empty field is NULL (a SQLite row is built with 0 there); a text "0" is text."""
        store = StoreSink(url)
        store.handle(event("empty", T0, user_id=None))
        store.handle(event("zero", T0 + 1, user_id="0"))
        assert store.flush(30)
        db = engine(url)
        with db.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT request_id, user_id, quality, cost_exact, billed_quantity, billed_unit"
                " FROM aievents_usage ORDER BY request_id"
            ).all()
            rolled = {
                table: conn.exec_driver_sql(
                    f"SELECT user_id, quality, series FROM {table} ORDER BY series"
                ).all()
                for table in ("aievents_daily", "aievents_hourly")
            }
        db.dispose()
        assert [tuple(row) for row in rows] == [
            ("empty", None, None, None, None, None),
            ("zero", "0", None, None, None, None),
        ]
        dims = event("x", T0).model, "1024x1024", "image.generation", "proj_a"
        series = {
            user: roll_up_row(0, (*dims, user, "key_1", "openai", None), [0] * len(FIELDS))[1]
            for user in (None, "0")
        }
        for table, found in rolled.items():
            assert sorted(found, key=lambda row: row[2]) == sorted(
                [(None, None, series[None]), ("0", None, series["0"])], key=lambda row: row[2]
            ), table
        assert (
            store.usage(T0, group_by=["user_id"]).to_dict()["data"][0]["results"][0][
                "num_model_requests"
            ]
            == 1
        )
        store.close(10)

    def test_roll_ups_equal_a_recount(self, url: str) -> None:
        """Roll-ups written batch by batch equal those summed anew from the rows, halves and all."""
        rng = random.Random(7)
        texts = [0, 1, 4095, 2**32 - 1, 2**32, 2**40 + 5, 2**62 + 3, 2**63 - 1]
        store = StoreSink(url, batch_size=37)
        for index in range(400):
            store.handle(
                event(
                    f"r{index}",
                    T0 + rng.randrange(3 * DAY),
                    user_id=rng.choice(["u1", "0", None]),
                    model=rng.choice(["gpt-image-1", "gpt-image-1-mini"]),
                    text=rng.choice(texts),
                )
            )
        assert store.flush(30)
        assert store.stats()["written"] == 400
        store.close(10)
        store.dispose()
        written = roll_up_tables(url)
        db = engine(url)
        with db.begin() as conn:
            for table in written:
                conn.exec_driver_sql(f"DROP TABLE {table}")
        db.dispose()
        StoreSink(url).close(10)  # opened: each roll-up made again, from the rows
        assert roll_up_tables(url) == written


def roll_up_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of each roll-up, in order."""
    db = engine(url)
    with db.connect() as conn:
        found = {
            table: [
                tuple(row)
                for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY period, series")
            ]
            for table in ("aievents_daily", "aievents_hourly")
        }
    db.dispose()
    return found


V1_DUMP = Path(__file__).parent / "fixtures" / "store_v1.sql"


def load_v1(url: str) -> None:
    """The tables and rows of a store of schema version 1 (see tests/store_v1.py).

    On PostgreSQL the roll-up row whose sum version 1 let turn into a float
    on SQLite is left out (PostgreSQL refused that write): the upgrade sums
    the roll-up again from the rows anyway.
    """
    dump = V1_DUMP.read_text()
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        db.executescript(dump)
        db.close()
        return
    db = engine(url)
    with db.begin() as conn:
        for statement in dump.split(";\n"):
            if statement.strip() in ("", "BEGIN TRANSACTION", "COMMIT") or "e+19" in statement:
                continue
            conn.exec_driver_sql(statement)
    db.dispose()


class TestUpgrade:
    """A store of schema version 1 is upgraded in place, its requests still on the books."""

    def test_from_version_1(self, url: str) -> None:
        """Costless rows become unpriced, the roll-up is summed again exactly, answers agree."""
        load_v1(url)
        if url.startswith("sqlite"):
            assert "real" in column_kinds(url)  # what version 1 left in the roll-up
        store = StoreSink(url, clock=lambda: T0 + 10 * DAY)
        # Summed as the release that wrote the store saw them: its table priced neither
        # unpriced model (fal-ai/flux/dev has a price now); the others carry their cost.
        memory = aggregate(prices=PriceTable("store v1", {}))
        for batch in batches():
            for item in batch:
                memory.handle(item)
        db = engine(url)
        with db.connect() as conn:
            version = conn.exec_driver_sql("SELECT value FROM aievents_meta").scalar()
            query = "SELECT request_id, unpriced_requests FROM aievents_usage"
            flags = {row[0]: row[1] for row in conn.exec_driver_sql(query)}
        db.dispose()
        assert version == str(SCHEMA_VERSION)
        assert flags == {"v1-a": 0, "v1-b": 0, "v1-c": 0, "v1-d": 1, "v1-e": 1} | {
            f"v1-{x}": 0 for x in "fgh"
        }
        assert column_kinds(url) <= INTEGERS
        for width, limit in (("1d", 7), ("1h", 72), ("1m", 1440)):
            same(store, memory, "usage", T0, T0 + 3 * DAY, width, ["model", "user_id"], limit=limit)
        for group in ([], ["line_item"]):
            same(store, memory, "costs", T0, T0 + 3 * DAY, group_by=group)
        (day,) = store.usage(T0, T0 + DAY).data[0].results
        assert (day.num_model_requests, day.unpriced_requests) == (7, 2)  # type: ignore[union-attr]
        later = event("v2-a", T0 + 180)
        store.handle(later)
        memory.handle(later)
        assert store.close(10)
        again = StoreSink(url, clock=lambda: T0 + 10 * DAY)
        same(again, memory, "usage", T0, T0 + 3 * DAY, "1d", ["model"])
        again.close(10)


class TestSchema:
    """The tables are versioned, created once, and kept across openings."""

    def test_reopen_keeps_data(self, url: str) -> None:
        """A second sink on the same store sees the first one's rows."""
        first = StoreSink(url)
        first.handle(event("a", T0))
        assert first.close(10)
        second = StoreSink(url, clock=lambda: T0 + DAY)
        second.handle(event("a", T0))
        second.handle(event("b", T0 + 5))
        assert second.flush(30)
        assert second.stats()["duplicates"] == 1
        results = second.usage(T0).to_dict()["data"][0]["results"]
        assert results[0]["num_model_requests"] == 2
        second.close(10)

    def test_newer_schema_refused(self, url: str) -> None:
        """Tables written by a newer release are not touched."""
        StoreSink(url).close(10)
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE aievents_meta SET value = '99' WHERE key = 'schema_version'")
            )
        engine.dispose()
        with pytest.raises(StoreError, match="schema_version") as caught:
            StoreSink(url)
        assert caught.value.value == 99
        assert SCHEMA_VERSION == 4
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE aievents_meta SET value = 'x1' WHERE key = 'schema_version'")
            )
        engine.dispose()
        with pytest.raises(StoreError, match="must be a number"):
            StoreSink(url)

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            ("sqlite://", "must name a SQLite file"),
            ("sqlite:///:memory:", "must name a SQLite file"),
            ("not a url", "is not a database URL"),
            ("mysql://localhost/x", "must be a sqlite:// or postgresql:// URL"),
            ("postgresql://nobody@127.0.0.1:1/none", "cannot be opened"),
        ],
    )
    def test_bad_url(self, bad: str, reason: str) -> None:
        """A URL that cannot be a store is named in the error."""
        with pytest.raises(StoreError, match=reason) as caught:
            StoreSink(bad)
        assert caught.value.field == "url"

    @pytest.mark.parametrize(
        "bad",
        [
            "mysql://bob:hunter2@db/x",
            "postgresql://bob:hunter2@db:x/y",
            "postgresql://bob@127.0.0.1:1/none?password=hunter2",
        ],
    )
    def test_password_never_shown(self, bad: str) -> None:
        """Errors and the store's URL leave the password out."""
        with pytest.raises(StoreError) as caught:
            StoreSink(bad)
        assert "hunter2" not in str(caught.value)
        assert "[redacted]" in str(caught.value)


WRITER = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{tests!r}, {src!r}]
    from test_store import event, T0
    from aievents.sinks import StoreSink
    sink = StoreSink({url!r}, batch_size=50)
    first, count = int(sys.argv[1]), int(sys.argv[2])
    for index in range(first, first + count):
        sink.handle(event(f"r{{index}}", T0 + index))
    assert sink.close(60), sink.stats()
    print(sink.stats()["written"], sink.stats()["duplicates"])
    """
)


class TestConcurrency:
    """Several processes write to one store and nothing is lost or doubled."""

    def test_two_processes(self, url: str) -> None:
        """Two processes with overlapping request ids: every id once, roll-ups equal to rows."""
        script = WRITER.format(tests=str(Path(__file__).parent), src=SRC, url=url)
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", script, first, "1500"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for first in ("0", "1000")
        ]
        outputs = [w.communicate(timeout=240)[0].split() for w in writers]
        assert all(w.returncode == 0 for w in writers)
        written = sum(int(out[0]) for out in outputs)
        duplicates = sum(int(out[1]) for out in outputs)
        assert (written, duplicates) == (2500, 500)
        store = StoreSink(url, clock=lambda: T0 + DAY)
        daily = store.usage(T0, T0 + DAY, "1d").to_dict()["data"][0]["results"][0]
        minutes = store.usage(T0, T0 + 3600, "1m", limit=60).to_dict()["data"]
        assert daily["num_model_requests"] == 2500
        assert sum(r["num_model_requests"] for b in minutes for r in b["results"]) == 2500
        store.close(10)


STEP = st.tuples(
    st.integers(0, 60),  # request id: repeats are duplicates
    st.integers(0, 3 * 1440 - 1),  # minute in three days
    st.sampled_from(["u1", "u2", None]),
    st.sampled_from(["gpt-image-1", "gpt-image-1-mini"]),
    st.one_of(st.integers(0, 5000), st.sampled_from([2**63 - 1, 2**62 + 3])),
    st.sampled_from(["0.04", "0.0000125", "1E-19", "12345.678"]),
    st.sampled_from(["priced", "priced", "partly", "no price"]),
)


def priced_as(kind: str, built: ImageUsageEvent) -> ImageUsageEvent:
    """The event priced, partly priced (a part without a rate), or of a model without a price."""
    if kind == "no price":
        return attrs.evolve(built, model="acme-image-x", cost=None)
    if kind == "partly" and built.cost is not None:
        return attrs.evolve(built, cost=attrs.evolve(built.cost, unpriced=("output_text",)))
    return built


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    steps=st.lists(STEP, max_size=60), window=st.tuples(st.integers(0, 4000), st.integers(1, 4320))
)
def test_parity_with_aggregate(
    tmp_path_factory: pytest.TempPathFactory, steps: list[Any], window: Any
) -> None:
    """For any events and any window, the SQLite store answers as AggregateSink does."""
    path = tmp_path_factory.mktemp("parity") / "usage.db"
    events = [
        priced_as(
            kind,
            event(
                f"r{rid}",
                T0 + minute * 60 + 5,
                user_id=user,
                model=model,
                text=text,
                price=cost(output_image=part),
            ),
        )
        for rid, minute, user, model, text, part, kind in steps
    ]
    store, memory = both(f"sqlite:///{path}", events)
    start = T0 + window[0] * 60
    end = start + window[1] * 60
    for width, limit in (("1d", 31), ("1h", 168), ("1m", 1440)):
        same(store, memory, "usage", start, end, width, ["user_id", "model"], limit=limit)
    same(store, memory, "costs", start, end, group_by=["line_item"], limit=31)
    for name in sorted(COST_EXTENSIONS):
        same(store, memory, "costs", start, end, group_by=[name, "line_item"], limit=31)
        same(store, memory, "costs", start, end, group_by=[name], limit=31)
    assert store.spend(user_id="u1", since=start, until=end) == memory.spend(
        user_id="u1", since=start, until=end
    )
    store.close(10)
    store.dispose()


class TestHonestClose:
    """flush and close return False while a batch is still being written; pending counts it."""

    def test_locked_database(self, tmp_path: Path) -> None:
        """A batch waiting for a locked database at the deadline: False, then written later."""
        with locked_store(tmp_path / "usage.db") as url:
            store = StoreSink(url, batch_size=10, max_delay=0.01)
            for index in range(10):
                store.handle(event(f"r{index}", T0))
            assert wait_until(store._worker.inflight)  # being written, not queued
            assert store.flush(0.2) is False
            assert store.close(0.2) is False
            assert store.pending == 10
            assert store.stats()["failed"] == 0
        assert wait_until(lambda: not store.pending, timeout=30)
        assert store.stats()["written"] == 10
        assert store.close(1.0) is True
