"""Provider and quality as query dimensions: AggregateSink (both tallies), SQLite and
PostgreSQL stores answer alike; exports and stores of before them still load."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import jsonschema
import psycopg
import pytest
import sqlalchemy as sa

from aievents import ImageUsageEvent
from aievents.pricing import PriceTable
from aievents.query import DIMENSIONS, QueryError, usage
from aievents.sinks import AggregateSink, StoreSink
from aievents.sinks.aggregate import OVERFLOW
from aievents.sinks.store import SCHEMA_VERSION
from aievents.totals import FIELDS
from aievents.wire import to_json
from postgres_server import fresh_database
from store_v3 import COUNT, DAY, PROVIDERS, QUALITIES, SEED, T0, stream, total_images

from helpers import usage_at

COMPILED = AggregateSink().compiled
WINDOW = {"start_time": T0, "end_time": T0 + 3 * DAY}
#: The groupings and filters compared, with the limit of each width.
GROUPINGS: list[dict[str, Any]] = [
    {"group_by": ["provider"]},
    {"group_by": ["quality"]},
    {"group_by": ["provider", "quality", "model"]},
    {"group_by": ["quality"], "providers": ["azure", "openrouter"]},
    {"group_by": ["provider"], "qualities": ["hd"]},
    {"group_by": ["user_id"], "providers": ["openai"], "qualities": ["low", "high"]},
    {"providers": ["nobody"]},
]
WIDTHS = (("1d", 31), ("1h", 72), ("1m", 1440))
V3_DUMP = Path(__file__).parent / "fixtures" / "store_v3.sql"
SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "openai_usage_response.schema.json").read_text()
)


@pytest.fixture(name="url", params=["sqlite", "postgresql"])
def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'usage.db'}"
    server = request.getfixturevalue("postgres_server")
    return fresh_database(server, f"aievents_{uuid.uuid4().hex[:12]}")


def repeated(count: int) -> list[ImageUsageEvent]:
    """``stream``'s requests over few series, each many times; few of them the Python way.

    Every provider with every quality (``None`` too), by two models; the
    other dimensions alike. One in ten of the requests the compiled tally
    declines (without a price, or a cost finer than its units) is kept.
    """
    combos = [(provider, quality) for provider in PROVIDERS for quality in QUALITIES]
    found = []
    for event in stream(11, count):
        index = int(event.request_id.rsplit("-", 1)[1])  # a duplicate keeps its request's
        if (event.cost is None or event.cost.units is None) and index % 10:
            continue
        provider, quality = combos[index % len(combos)]
        found.append(
            attrs.evolve(
                event,
                provider=provider,
                quality=quality,
                model=("gpt-image-1", "gpt-image-1-mini")[index % 2],
                size="1024x1024",
                operation="image.generation",
                project_id="proj_a",
                user_id="u1",
                api_key_id="key_1",
            )
        )
    return found


def aggregate(*, compiled: bool | None = None, prices: PriceTable | None = None) -> AggregateSink:
    """An AggregateSink that keeps minute detail for the whole test window."""
    return AggregateSink(
        minute_detail=400 * DAY,
        hour_detail=400 * DAY,
        retention=400 * DAY,
        clock=lambda: T0 + 10 * DAY,
        compiled=compiled,
        prices=prices,
    )


def fed(sink: Any, events: list[ImageUsageEvent]) -> Any:
    """The sink, given the events."""
    for item in events:
        sink.handle(item)
    return sink


def pages(source: Any, **query: Any) -> list[dict[str, Any]]:
    """Every usage page of ``query`` at each width, as JSON."""
    return [
        source.usage(**WINDOW, bucket_width=width, limit=limit, **query).to_dict()
        for width, limit in WIDTHS
    ]


def engine(url: str) -> Any:
    """A SQLAlchemy engine on the store's database, to look inside."""
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


class TestGroupAndFilter:
    """group_by provider and quality, and their filters, answer alike from every source."""

    @pytest.mark.parametrize("query", GROUPINGS, ids=json.dumps)
    def test_the_tallies_agree(self, query: dict[str, Any]) -> None:
        """The compiled and the Python tally give the same pages for a random stream."""
        if not COMPILED:
            pytest.skip("aievents._speedups was not built")
        events = stream(11, 600)
        compiled = fed(aggregate(compiled=True), events)
        python = fed(aggregate(compiled=False), events)
        assert compiled.compiled
        assert not python.compiled
        assert pages(compiled, **query) == pages(python, **query)

    @pytest.mark.parametrize("query", GROUPINGS, ids=json.dumps)
    def test_the_tallies_agree_on_few_series(self, query: dict[str, Any]) -> None:
        """Few series, each sent many times: the compiled tally adds nearly every event itself.

        (A series new to the sink, and a request without a price, go the
        Python way; every other event is the compiled tally's.)
        """
        if not COMPILED:
            pytest.skip("aievents._speedups was not built")
        events = repeated(3000)
        compiled = fed(aggregate(compiled=True), events)
        python = fed(aggregate(compiled=False), events)
        distinct = len({event.request_id for event in events})
        assert compiled.events == python.events == distinct
        took = compiled._table.tally.events  # what the compiled tally added itself
        assert took > 0.9 * distinct, (took, distinct)
        assert pages(compiled, **query) == pages(python, **query)

    def test_stores_answer_as_aggregate(self, url: str) -> None:
        """A store given a random stream answers every grouping and filter as AggregateSink."""
        events = stream(7, 500)
        store = fed(StoreSink(url, clock=lambda: T0 + 10 * DAY), events)
        assert store.flush(30)
        memory = fed(aggregate(), events)
        for query in GROUPINGS:
            assert pages(store, **query) == pages(memory, **query), query
        store.close(10)

    def test_groups_are_named(self) -> None:
        """Grouped by provider and quality, results name them; the sum is every request."""
        events = stream(5, 300)
        memory = fed(aggregate(), events)
        page = memory.usage(**WINDOW, group_by=["provider", "quality"]).to_dict()
        results = [r for bucket in page["data"] for r in bucket["results"]]
        named = {(r["provider"], r["quality"]) for r in results}
        expected = {(e.provider, e.quality) for e in events}
        assert named == expected
        assert sum(r["images"] for r in results) == total_images(events)
        assert all(r["model"] is None for r in results)
        jsonschema.Draft202012Validator(SCHEMA).validate(page)  # extra fields beside OpenAI's

    def test_not_grouped_is_null(self) -> None:
        """Results not grouped by them carry provider and quality as null."""
        memory = fed(aggregate(), [usage_at("a", T0 + 60)])
        (result,) = memory.usage(**WINDOW, group_by=["model"]).to_dict()["data"][0]["results"]
        assert (result["provider"], result["quality"]) == (None, None)
        assert result["model"] == "gpt-image-1"

    def test_filter_keeps_only_those(self) -> None:
        """providers=[...] and qualities=[...] keep only those requests (sink and module)."""
        events = stream(5, 300)
        memory = fed(aggregate(), events)
        kept = {
            e.request_id: e for e in events if e.provider == "azure" and e.quality in ("hd", "low")
        }
        for page in (
            memory.usage(**WINDOW, providers=["azure"], qualities=["hd", "low"]),
            usage(memory, **WINDOW, providers=["azure"], qualities=["hd", "low"], now=T0),
        ):
            found = sum(r.num_model_requests for b in page.data for r in b.results)  # type: ignore[union-attr]
            assert found == len(kept)

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ({"providers": [""]}, "providers"),
            ({"qualities": [3]}, "qualities"),
            ({"group_by": ["providers"]}, "group_by"),
        ],
    )
    def test_bad_values_named(self, query: dict[str, Any], field: str) -> None:
        """A bad provider, quality or group is refused, naming the parameter."""
        with pytest.raises(QueryError) as caught:
            aggregate().usage(**WINDOW, **query)
        assert caught.value.field == field

    def test_dimensions_keep_openai_first(self) -> None:
        """OpenAI's six dimensions come first, in their order; the extensions after."""
        assert DIMENSIONS == (
            "model", "size", "source", "project_id", "user_id", "api_key_id", "provider", "quality",
        )  # fmt: skip


class TestOldExport:
    """An export of format 3 (six dimensions) still merges: provider and quality are None."""

    @pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
    def test_format_3(self, compiled: bool) -> None:
        """Its series merge under provider and quality None; its totals are kept whole."""
        if compiled and not COMPILED:
            pytest.skip("aievents._speedups was not built")
        events = stream(9, 200)
        sink = fed(aggregate(), events)
        state = json.loads(json.dumps(sink.export()))
        assert state["format"] == 4
        assert all(len(dims) == len(DIMENSIONS) for _, dims, _ in state["series"])
        old = {**state, "format": 3, "series": [[m, d[:6], t] for m, d, t in state["series"]]}
        merged = aggregate(compiled=compiled)
        merged.merge(old)
        by = ["model", "size", "source", "project_id", "user_id", "api_key_id"]
        assert pages(merged, group_by=by) == pages(sink, group_by=by)
        (bucket,) = merged.usage(**WINDOW, bucket_width="1d", limit=3, group_by=["provider"]).data[
            :1
        ]
        assert {r.provider for r in bucket.results} == {None}  # type: ignore[union-attr]
        # Events after the merge still count under their own provider and quality.
        later = fed(merged, [usage_at("later", T0 + 60)])
        found = later.usage(**WINDOW, bucket_width="1d", group_by=["provider"]).data[0]
        assert "openai" in {r.provider for r in found.results}  # type: ignore[union-attr]

    def test_format_3_overflow(self) -> None:
        """The overflow series of a format 3 export is the overflow series: every dim."""
        sink = AggregateSink(max_series=1, clock=lambda: T0 + DAY)
        fed(sink, [usage_at("a", T0 + 60), usage_at("b", T0 + 60, user_id="user_2")])
        assert sink.overflowed == 1
        state = sink.export()
        old = {**state, "format": 3, "series": [[m, d[:6], t] for m, d, t in state["series"]]}
        merged = AggregateSink(clock=lambda: T0 + DAY)
        merged.merge(old)
        page = merged.usage(T0, T0 + DAY, group_by=["user_id", "provider", "quality"]).to_dict()
        found = {(r["user_id"], r["provider"], r["quality"]) for r in page["data"][0]["results"]}
        assert found == {("user_1", None, None), (OVERFLOW, OVERFLOW, OVERFLOW)}
        not_repriced = merged.reprice().not_repriced
        (refused,) = [r for r in not_repriced if r.series["model"] == OVERFLOW]
        assert refused.series == dict.fromkeys(DIMENSIONS, OVERFLOW)
        assert refused.reason == "the overflow series mixes series"

    def test_format_3_of_eight_refused(self) -> None:
        """A format 3 export with eight dimensions is not one: refused, naming the row."""
        sink = fed(aggregate(), [usage_at("a", T0 + 60)])
        state = {**sink.export(), "format": 3}
        with pytest.raises(QueryError, match="6 dimensions") as caught:
            aggregate().merge(state)
        assert caught.value.field == "series[0]"


def load_v3(url: str) -> None:
    """The tables and rows of a store of schema version 3 (see tests/store_v3.py)."""
    dump = V3_DUMP.read_text()
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        db.executescript(dump)
        db.close()
        return
    db = engine(url)
    with db.begin() as conn:
        for statement in dump.split(";\n"):
            if statement.strip() in ("", "BEGIN TRANSACTION", "COMMIT"):
                continue
            conn.exec_driver_sql(statement)
    db.dispose()


def recount(conn: Any) -> dict[tuple[Any, ...], list[int]]:
    """The daily roll-up summed anew from the rows: (day, dims) to every lane."""
    dims = ", ".join(DIMENSIONS)
    lanes = ", ".join(f"SUM({lane})" for lane in FIELDS[1:])
    query = (
        f"SELECT minute / 1440 * 1440, {dims}, COUNT(*), {lanes} FROM aievents_usage "
        f"GROUP BY minute / 1440 * 1440, {dims}"
    )
    return {
        tuple(row[: 1 + len(DIMENSIONS)]): [int(v) for v in row[1 + len(DIMENSIONS) :]]
        for row in conn.exec_driver_sql(query)
    }


def rolled_up(conn: Any) -> dict[tuple[Any, ...], list[int]]:
    """The daily roll-up as it is: (day, dims) to every lane, its halves joined."""
    dims = ", ".join(DIMENSIONS)
    halves = ", ".join(f"{lane}_hi, {lane}_lo" for lane in FIELDS)
    found = {}
    for row in conn.exec_driver_sql(f"SELECT period, {dims}, {halves} FROM aievents_daily"):
        values = [int(v) for v in row[1 + len(DIMENSIONS) :]]
        lanes = [hi * 2**32 + lo for hi, lo in zip(values[::2], values[1::2], strict=True)]
        found[tuple(row[: 1 + len(DIMENSIONS)])] = lanes
    return found


class TestUpgradeFromVersion3:
    """A store of schema version 3 is upgraded: every row kept, the roll-up keyed by all dims."""

    def test_upgrade(self, url: str) -> None:
        """Rows kept, the roll-up equals a recount from the rows, answers equal AggregateSink's."""
        load_v3(url)
        db = engine(url)
        with db.connect() as conn:
            before = {
                row[0]: tuple(row)
                for row in conn.exec_driver_sql("SELECT * FROM aievents_usage ORDER BY request_id")
            }
        store = StoreSink(url, clock=lambda: T0 + 10 * DAY)
        with db.connect() as conn:
            version = conn.exec_driver_sql(
                "SELECT value FROM aievents_meta WHERE key = 'schema_version'"
            ).scalar()
            after = {
                row[0]: tuple(row)
                for row in conn.exec_driver_sql("SELECT * FROM aievents_usage ORDER BY request_id")
            }
            rolled, counted = rolled_up(conn), recount(conn)
        assert version == str(SCHEMA_VERSION) == "4"
        assert after == before  # every row, every column, as it was
        events = stream(SEED, COUNT)
        assert set(after) == {e.request_id for e in events}
        assert rolled == counted
        assert {key[-2:] for key in rolled} >= {("azure", "hd"), ("openai", None)}
        # Summed as the release that wrote the store saw them (its table priced nothing).
        memory = fed(aggregate(prices=PriceTable("store v3", {})), events)
        for query in GROUPINGS:
            assert pages(store, **query) == pages(memory, **query), query
        assert store.costs(**WINDOW, group_by=["line_item"]).to_dict() == (
            memory.costs(**WINDOW, group_by=["line_item"]).to_dict()
        )
        later = usage_at("later", T0 + 120)
        store.handle(later)
        memory.handle(later)
        assert store.close(10)
        with db.connect() as conn:
            assert rolled_up(conn) == recount(conn)
        db.dispose()
        again = StoreSink(url, clock=lambda: T0 + 10 * DAY)
        assert pages(again, group_by=["provider", "quality"]) == pages(
            memory, group_by=["provider", "quality"]
        )
        again.close(10)


def role(url: str, *grants: str) -> str:
    """A new login role granted ``grants`` (each ``PRIVILEGES ON TABLES``); its URL."""
    name, password = f"role_{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        for grant in grants:
            connection.execute(f"GRANT {grant} TO {name}")
    parts = urlsplit(url)
    return parts._replace(netloc=f"{name}:{password}@{parts.hostname}:{parts.port}").geturl()


#: What a role that serves the store (queries only) is granted.
READER = "SELECT ON aievents_usage, aievents_daily, aievents_meta"
#: What a writer role is granted (UPDATE on the rows: the lock writers take needs it).
WRITER = (
    "SELECT, INSERT, UPDATE ON aievents_usage, aievents_daily",
    "SELECT ON aievents_meta",
)


class TestUpgradeKeepsGrants:
    """On PostgreSQL the upgrade from version 3 keeps the roll-up table, and so its grants."""

    def test_reader_and_writer(self, postgres_server: str) -> None:
        """Roles granted before the upgrade still read a 1d page, and still write, after it."""
        url = fresh_database(postgres_server, f"aievents_{uuid.uuid4().hex[:12]}")
        load_v3(url)
        reader, writer = role(url, READER), role(url, *WRITER)
        db = engine(url)
        table = "SELECT 'aievents_daily'::regclass::oid"
        with db.connect() as conn:
            before = conn.exec_driver_sql(table).scalar()
        assert StoreSink(url, clock=lambda: T0 + 10 * DAY).close(10)  # the owner upgrades it
        with db.connect() as conn:
            assert conn.exec_driver_sql(table).scalar() == before  # the same table
            assert rolled_up(conn) == recount(conn)
        # The hourly roll-up is new in version 4: its grants are given once it is made.
        with psycopg.connect(url, autocommit=True) as connection:
            for granted, privileges in ((reader, "SELECT"), (writer, "SELECT, INSERT, UPDATE")):
                name = urlsplit(granted).username
                connection.execute(f"GRANT {privileges} ON aievents_hourly TO {name}")
        memory = fed(aggregate(prices=PriceTable("store v3", {})), stream(SEED, COUNT))
        query = {"group_by": ["provider", "quality"], "bucket_width": "1d"}
        served = StoreSink(reader, create=False, upgrade=False, clock=lambda: T0 + 10 * DAY)
        assert (
            served.usage(**WINDOW, **query).to_dict() == memory.usage(**WINDOW, **query).to_dict()
        )
        served.close(10)
        store = StoreSink(writer, clock=lambda: T0 + 10 * DAY)
        later = attrs.evolve(usage_at("later", T0 + 120), provider="azure", quality="hd")
        store.handle(later)
        memory.handle(later)
        assert store.close(10)
        assert store.stats()["written"] == 1
        with db.connect() as conn:
            assert rolled_up(conn) == recount(conn)
        db.dispose()
        again = StoreSink(reader, create=False, upgrade=False, clock=lambda: T0 + 10 * DAY)
        assert again.usage(**WINDOW, **query).to_dict() == memory.usage(**WINDOW, **query).to_dict()
        again.close(10)


def v3_roll_up(mark: str) -> str:
    """The roll-up statement of the release that wrote schema version 3.

    Its series keyed by OpenAI's six dimensions, without provider and quality.
    """
    columns = (
        "period",
        "series",
        *DIMENSIONS[:6],
        *(f"{f}_{h}" for f in FIELDS for h in ["hi", "lo"]),
    )
    modulo = "%%" if mark == "%s" else "%"
    updates = []
    for field in FIELDS:
        hi, lo = f"{field}_hi", f"{field}_lo"
        low = f"(aievents_daily.{lo} + excluded.{lo})"
        updates.append(f"{hi} = aievents_daily.{hi} + excluded.{hi} + {low} / {2**32}")
        updates.append(f"{lo} = {low} {modulo} {2**32}")
    return (
        f"INSERT INTO aievents_daily ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT (period, series) DO UPDATE SET {', '.join(updates)}"
    )


class TestOlderWriter:
    """A writer of the release before (schema version 3) fails on an upgraded store; no miscount."""

    def test_roll_up_refused(self, url: str) -> None:
        """Its roll-up row is refused (no key_version): its transaction, rows too, rolls back."""
        load_v3(url)
        assert StoreSink(url, clock=lambda: T0 + 10 * DAY).close(10)  # upgraded
        db = engine(url)
        with db.connect() as conn:
            before = rolled_up(conn)
        lanes = [1, 20, 272] + [0] * (len(FIELDS) - 4)  # images, input and output tokens
        values = {
            "request_id": "old-writer",
            "timestamp": (T0 + 60) * 1000,
            "minute": (T0 + 60) // 60,
            **dict(
                zip(
                    DIMENSIONS,
                    [
                        "gpt-image-1",
                        "1024x1024",
                        "image.generation",
                        "proj_a",
                        "u1",
                        "key_1",
                        "azure",
                        "hd",
                    ],
                    strict=True,
                )
            ),
            **dict(zip(FIELDS[1:], lanes, strict=True)),
        }
        dims = [values[name] for name in DIMENSIONS[:6]]
        series = hashlib.sha256(json.dumps(dims).encode()).hexdigest()
        halves = [half for lane in [1, *lanes] for half in divmod(lane, 2**32)]
        mark = "?" if url.startswith("sqlite") else "%s"
        raw = db.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(
                f"INSERT INTO aievents_usage ({', '.join(values)}) "
                f"VALUES ({', '.join([mark] * len(values))})",
                list(values.values()),
            )
            with pytest.raises(db.dialect.dbapi.IntegrityError, match="key_version"):
                cursor.execute(v3_roll_up(mark), [T0 // 60, series, *dims, *halves])
            raw.rollback()  # as that release does on a refusal
        finally:
            raw.close()
        with db.connect() as conn:
            assert rolled_up(conn) == before == recount(conn)
            found = "SELECT COUNT(*) FROM aievents_usage WHERE request_id = 'old-writer'"
            assert conn.exec_driver_sql(found).scalar() == 0
        db.dispose()


class TestCommand:
    """aievents usage --group-by provider,quality and --providers/--qualities, file and store."""

    def test_file_and_store_agree(self, cli: Any, tmp_path: Path) -> None:
        """The command groups and filters by them; a file answers as the store and the sink."""
        events = stream(13, 300)
        path = tmp_path / "events.jsonl"
        path.write_text("".join(to_json(item) + "\n" for item in events))
        url = f"sqlite:///{tmp_path / 'store.db'}"
        assert cli("ingest", str(path), "--store", url, "--no-progress").returncode == 0
        asked = [
            "--start", str(T0), "--end", str(T0 + 3 * DAY), "--group-by", "provider,quality",
            "--providers", "azure,openai", "--qualities", "hd,low,high", "--format", "json",
        ]  # fmt: skip
        from_file = cli("usage", "--events", str(path), *asked)
        assert from_file.returncode == 0, from_file.stderr
        stored = cli("usage", "--store", url, *asked)
        assert json.loads(from_file.stdout) == json.loads(stored.stdout)
        memory = fed(aggregate(), events)
        expected = memory.usage(
            **WINDOW,
            group_by=["provider", "quality"],
            providers=["azure", "openai"],
            qualities=["hd", "low", "high"],
            limit=3,
        ).to_dict()
        assert json.loads(from_file.stdout)["data"] == json.loads(json.dumps(expected))["data"]
        found = {(r["provider"], r["quality"]) for b in expected["data"] for r in b["results"]}
        assert found == {(p, q) for p in ("azure", "openai") for q in ("hd", "low", "high")}

    def test_csv_and_table_columns(self, cli: Any, tmp_path: Path) -> None:
        """CSV has provider and quality columns; the table shows them when grouped by."""
        path = tmp_path / "events.jsonl"
        path.write_text(to_json(usage_at("a", T0 + 60)) + "\n")
        window = ["--start", str(T0), "--end", str(T0 + DAY)]
        grouped = ["--group-by", "provider"]
        table = cli("usage", "--events", str(path), *window, *grouped)
        assert table.returncode == 0, table.stderr
        assert "provider" in table.stdout
        assert "openai" in table.stdout
        rows = cli("usage", "--events", str(path), *window, "--format", "csv")
        header = rows.stdout.splitlines()[0].split(",")
        assert header.index("provider") == header.index("model") + 1
        assert header.index("quality") == header.index("provider") + 1

    @pytest.mark.parametrize(
        ("args", "said"),
        [
            (["--group-by", "provider,tier"], "argument --group-by: must be one of"),
            (["--providers", ","], "argument --providers: expected comma-separated values"),
        ],
    )
    def test_bad_options_named(self, cli: Any, tmp_path: Path, args: list[str], said: str) -> None:
        """A wrong group or an empty list is refused with the option named (status 2)."""
        path = tmp_path / "events.jsonl"
        path.write_text("")
        ran = cli("usage", "--events", str(path), *args)
        assert ran.returncode == 2
        assert said in ran.stderr

    def test_help_marks_extensions(self, cli: Any) -> None:
        """The help says provider and quality are extensions beyond OpenAI's API."""
        ran = cli("usage", "--help")
        text = " ".join(ran.stdout.split())
        assert "provider,quality" in text
        assert "--providers VALUES only these providers (comma-separated); an extension" in text
        assert "--qualities VALUES only these qualities (comma-separated); an extension" in text
