"""A store's tables, its rows and its roll-ups: what StoreSink writes, and how it sums.

A row keeps a request with every dimension of :data:`aievents.query.DIMENSIONS`
(OpenAI's six, then provider and quality); a roll-up (the daily one) keeps
sums per period and series, a series being one combination of all of them.

Every count and cost is an integer, never a float: a row's counts fit 64
bits; the roll-up keeps each sum as two halves (``sum // 2**32`` and
``sum % 2**32``), and queries sum halves, so that no sum outgrows 64 bits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from operator import add
from typing import Any, Final

from aievents.query import DIMENSIONS
from aievents.totals import DAY_MINUTES, FIELDS

try:
    import sqlalchemy as sa
except ImportError:  # the store extra is not installed: StoreSink says so first
    sa = None  # type: ignore[assignment]

__all__ = [
    "BIGINT_MAX",
    "BIGINT_MIN",
    "DAILY",
    "DAY",
    "HALVES",
    "HOUR",
    "HOURLY",
    "KEY_VERSION",
    "LANE_COLUMNS",
    "LOOKUP",
    "NULLABLE",
    "PRICE_COLUMNS",
    "ROLLUPS",
    "ROLLUP_COLUMNS",
    "ROLLUP_WHOLE",
    "SCHEMA_VERSION",
    "SPLIT",
    "SQLITE_NULL",
    "TEXT_MAX",
    "USAGE_COLUMNS",
    "WHOLE",
    "joined",
    "lane_sums",
    "plain_text",
    "regrouped",
    "roll_up_row",
    "roll_up_sums",
    "roll_ups",
    "statements",
    "sum_by_period",
    "tables",
    "unfit_text",
]

#: The version of the tables this release writes (see ``aievents_meta``).
SCHEMA_VERSION: Final = 4
BIGINT_MAX: Final = 2**63 - 1
BIGINT_MIN: Final = -(2**63)
#: Sums are kept and summed in halves, (value // SPLIT, value % SPLIT), so
#: that no column nor SQL sum outgrows 64 bits.
SPLIT: Final = 2**32
#: ``value >> _SHIFT`` is ``value // SPLIT``; ``value & _LOW`` is ``value % SPLIT``.
_SHIFT: Final = 32
_LOW: Final = SPLIT - 1
#: Column of each lane past num_model_requests (FIELDS[1:]).
LANE_COLUMNS: Final = FIELDS[1:]
#: What a row keeps of how it was priced and of what its provider billed
#: (schema version 3): the price table's version and the entry it was priced
#: as (both NULL when unpriced), the ``billed`` quantity (exact decimal
#: text) and unit of its usage (NULL when none was reported), and the basis
#: of its cost (``ImageCost.basis``: ``tokens``, ``images``...; NULL when
#: unpriced, given as an amount, or written before the column was added).
PRICE_COLUMNS: Final = (
    "price_version",
    "priced_as",
    "billed_quantity",
    "billed_unit",
    "cost_basis",
)
#: The roll-up's columns of each lane (every one of FIELDS): its two halves.
HALVES: Final = tuple(f"{lane}_{half}" for lane in FIELDS for half in ("hi", "lo"))
#: The daily roll-up: one row per day and series.
DAILY: Final = "aievents_daily"
DAY: Final = DAY_MINUTES
#: The hourly roll-up: one row per hour and series.
HOURLY: Final = "aievents_hourly"
HOUR: Final = 60
#: Every roll-up table, and its period in minutes: each has the same columns
#: (ROLLUP_COLUMNS), its series keyed by every dimension (schema version 4:
#: provider and quality too; the hourly roll-up is new in version 4).
ROLLUPS: Final = {DAILY: DAY, HOURLY: HOUR}
#: What a roll-up row's ``key_version`` holds: the schema version whose dimensions
#: key its series (4: every one of DIMENSIONS). The column is NOT NULL without a
#: default, so that a writer of an older release, whose roll-up rows lack it (and
#: lack provider and quality), is refused rather than adding to a mis-keyed series.
KEY_VERSION: Final = 4
#: Request ids looked up per statement (SQLite allows 999 parameters at least).
LOOKUP: Final = 500
#: The longest text a column holds (characters).
TEXT_MAX: Final = 255


def tables(metadata: Any) -> dict[str, Any]:
    """The tables of schema version 4."""
    dims = [sa.Column(name, sa.String(TEXT_MAX), nullable=True) for name in DIMENSIONS]
    lanes = [sa.Column(name, sa.BigInteger, nullable=False, default=0) for name in LANE_COLUMNS]
    found = {
        "meta": sa.Table(
            "aievents_meta",
            metadata,
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.String(TEXT_MAX), nullable=False),
        ),
        "usage": sa.Table(
            "aievents_usage",
            metadata,
            sa.Column("request_id", sa.String(TEXT_MAX), primary_key=True),
            sa.Column("timestamp", sa.BigInteger, nullable=False),
            sa.Column("minute", sa.BigInteger, nullable=False, index=True),
            *dims,
            *lanes,
            sa.Column("cost_exact", sa.Text, nullable=True),
            sa.Column("price_version", sa.String(TEXT_MAX), nullable=True),
            sa.Column("priced_as", sa.String(TEXT_MAX), nullable=True),
            sa.Column("billed_quantity", sa.Text, nullable=True),
            sa.Column("billed_unit", sa.String(TEXT_MAX), nullable=True),
            sa.Column("cost_basis", sa.String(32), nullable=True),
            # The few rows with exact-text costs, found without a scan.
            sa.Index(
                "aievents_usage_exact",
                "minute",
                sqlite_where=sa.text("cost_exact IS NOT NULL"),
                postgresql_where=sa.text("cost_exact IS NOT NULL"),
            ),
        ),
    }
    for name in ROLLUPS:
        found[name] = sa.Table(
            name,
            metadata,
            sa.Column("period", sa.BigInteger, nullable=False),
            # A digest of the dimensions: the unique key (NULLs would all differ there).
            sa.Column("series", sa.String(64), nullable=False),
            *[sa.Column(d, sa.String(TEXT_MAX), nullable=True) for d in DIMENSIONS],
            *[sa.Column(c, sa.BigInteger, nullable=False) for c in HALVES],
            sa.Column("key_version", sa.BigInteger, nullable=False),  # KEY_VERSION
            sa.UniqueConstraint("period", "series", name=f"{name}_key"),
        )
    return found


#: The columns of a row of aievents_usage, in the order _row builds them.
USAGE_COLUMNS: Final = (
    "request_id",
    "timestamp",
    "minute",
    *DIMENSIONS,
    *LANE_COLUMNS,
    "cost_exact",
    *PRICE_COLUMNS,
)
#: The columns of a roll-up row (of every roll-up), in the order roll_up_row builds them.
ROLLUP_COLUMNS: Final = ("period", "series", *DIMENSIONS, *HALVES, "key_version")
#: The columns a row may leave NULL: each holds text when it is set.
NULLABLE: Final = frozenset({*DIMENSIONS, "cost_exact", *PRICE_COLUMNS})
#: What a row built for SQLite holds in a column of NULLABLE left NULL: 0,
#: which no such column holds, and which the statements read as NULL
#: (``NULLIF(?, 0)``). Python's sqlite3 binds None several times slower
#: than an int (it looks for an adapter on every bind), and a usage row has
#: several NULLs.
SQLITE_NULL: Final = 0
#: The key of a roll-up's statement (:func:`statements`) that takes every
#: lane whole (SQLite: the halves made by the statement) rather than in halves.
WHOLE: Final = "whole "


def statements(mark: str, null: int | None = None) -> dict[str, str]:
    """The write statements, with the driver's parameter mark.

    ``insert``, ``inserted`` and ``lookup`` are SQLite's (PostgreSQL's
    writer has its own, in :mod:`aievents.sinks._storepg`); each roll-up's
    upsert, under the table's name, serves both. With ``null``
    (:data:`SQLITE_NULL`), a column of NULLABLE given that value is written
    NULL, and each roll-up also has a statement (keyed ``WHOLE + table``)
    that takes every lane whole, in ROLLUP_WHOLE order.
    """

    def marks(columns: tuple[str, ...]) -> str:
        if null is None:
            return ", ".join([mark] * len(columns))
        return ", ".join(f"NULLIF({mark}, {null})" if c in NULLABLE else mark for c in columns)

    modulo = "%%" if mark == "%s" else "%"  # a bare % would be a placeholder there
    found = {
        # A row whose request id is stored already is skipped (the batch's rowcount says so).
        "insert": (
            f"INSERT INTO aievents_usage ({', '.join(USAGE_COLUMNS)}) "
            f"VALUES ({marks(USAGE_COLUMNS)}) ON CONFLICT (request_id) DO NOTHING"
        ),
        # The request ids of the rows inserted since the table's last rowid was ``mark``.
        "inserted": f"SELECT request_id FROM aievents_usage WHERE rowid > {mark}",
        "lookup": "SELECT request_id FROM aievents_usage WHERE request_id IN ({})",
    }
    for table in ROLLUPS:  # each roll-up's upsert, under the table's name
        upsert = f"ON CONFLICT (period, series) DO UPDATE SET {roll_up_sums(table, modulo)}"
        found[table] = (
            f"INSERT INTO {table} ({', '.join(ROLLUP_COLUMNS)}) "
            f"VALUES ({marks(ROLLUP_COLUMNS)}) {upsert}"
        )
        if null is not None:  # numbered parameters: SQLite's
            found[WHOLE + table] = (
                f"INSERT INTO {table} ({', '.join(ROLLUP_COLUMNS)}) "
                f"VALUES ({_whole_values(null)}) {upsert}"
            )
    return found


#: The columns of a roll-up row whose lanes are whole (each fits 64 bits),
#: in the order roll_ups builds them; the statement splits each in halves.
ROLLUP_WHOLE: Final = ("period", "series", *DIMENSIONS, *FIELDS, "key_version")


def _whole_values(null: int) -> str:
    """The VALUES of a roll-up upsert from a row in ROLLUP_WHOLE order (``?N``: SQLite)."""
    at = {name: n for n, name in enumerate(ROLLUP_WHOLE, start=1)}
    values = []
    for column in ROLLUP_COLUMNS:
        lane, _, half = column.rpartition("_")
        if column in HALVES:  # the same halves as _halves makes: floor division, and modulo
            values.append(f"?{at[lane]} >> {_SHIFT}" if half == "hi" else f"?{at[lane]} & {_LOW}")
        elif column in NULLABLE:
            values.append(f"NULLIF(?{at[column]}, {null})")
        else:
            values.append(f"?{at[column]}")
    return ", ".join(values)


def roll_up_sums(table: str, modulo: str) -> str:
    """The SET clause of an upsert into a roll-up: each lane's halves added, the carry moved."""
    updates = []
    for column in FIELDS:
        hi, lo = f"{column}_hi", f"{column}_lo"
        low = f"({table}.{lo} + excluded.{lo})"
        updates.append(f"{hi} = {table}.{hi} + excluded.{hi} + {low} / {SPLIT}")
        updates.append(f"{lo} = {low} {modulo} {SPLIT}")
    return ", ".join(updates)


#: Where things are in a row of aievents_usage.
_MINUTE: Final = USAGE_COLUMNS.index("minute")
_DIMS: Final = slice(USAGE_COLUMNS.index(DIMENSIONS[0]), USAGE_COLUMNS.index(DIMENSIONS[-1]) + 1)
_LANES: Final = slice(USAGE_COLUMNS.index(LANE_COLUMNS[0]), USAGE_COLUMNS.index("cost_exact"))


def roll_ups(rows: list[tuple[Any, ...]], whole: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of every roll-up (ROLLUPS) for written usage rows: sums per period and series.

    Keyed by the statement that adds them (:func:`statements`): the table's
    name for rows in ROLLUP_COLUMNS order, each lane in halves; with
    ``whole``, ``WHOLE + table`` for the rows whose every sum fits 64 bits
    (nearly all), in ROLLUP_WHOLE order. Summed per hour first; a longer
    period sums those hours.
    """
    hours = sum_by_period(rows, HOUR)
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table, period in ROLLUPS.items():
        sums = hours if period == HOUR else regrouped(hours, period)
        halved: list[tuple[Any, ...]] = []
        entire: list[tuple[Any, ...]] = []
        for key, total in sums.items():
            dims = key[1:]
            if whole and max(total) <= BIGINT_MAX and min(total) >= BIGINT_MIN:
                entire.append((key[0], _series(dims), *dims, *total, KEY_VERSION))
            else:
                halved.append(roll_up_row(key[0], dims, total, _series(dims)))
        found[table] = halved
        if whole:
            found[WHOLE + table] = entire
    return found


#: Series digests made lately (a digest costs more than a row's sums): cleared when full.
_SERIES: dict[tuple[Any, ...], str] = {}
_SERIES_KEPT: Final = 50_000


def _series(dims: tuple[Any, ...]) -> str:
    """The digest of a series, made once while it stays in _SERIES."""
    found = _SERIES.get(dims)
    if found is None:
        if len(_SERIES) >= _SERIES_KEPT:
            _SERIES.clear()
        found = _SERIES[dims] = _digest(dims)
    return found


def _digest(dims: tuple[Any, ...]) -> str:
    """A series' key in a roll-up: a digest of its dimensions (SQLITE_NULL: none)."""
    named = [None if d == SQLITE_NULL else d for d in dims]
    return hashlib.sha256(json.dumps(named).encode()).hexdigest()


def _halves(lanes: Sequence[int]) -> list[int]:
    """Each lane as its two halves, ``(value // SPLIT, value % SPLIT)``, in a row.

    ``value >> 32`` and ``value & (SPLIT - 1)`` are those for every int
    (negative ones too); a lane from 0 to SPLIT - 1 is ``(0, value)``.
    """
    halves = [0] * (2 * len(lanes))
    halves[1::2] = lanes
    for at, value in enumerate(lanes):
        if not 0 <= value <= _LOW:
            halves[2 * at] = value >> _SHIFT
            halves[2 * at + 1] = value & _LOW
    return halves


def sum_by_period(rows: list[tuple[Any, ...]], period: int) -> dict[tuple[Any, ...], list[int]]:
    """Usage rows summed per period (minutes) and series: ``(first minute, *dims)`` to lanes."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        at = row[_MINUTE]
        key = (at - at % period, *row[_DIMS])
        total = sums.get(key)
        if total is None:
            sums[key] = [1, *row[_LANES]]
        else:  # lane by lane, without a Python loop
            total[:] = map(add, total, (1, *row[_LANES]))
    return sums


def regrouped(sums: dict[tuple[Any, ...], list[int]], period: int) -> dict[Any, list[int]]:
    """Sums of shorter periods (keyed by first minute, *dims) summed again per ``period``."""
    found: dict[tuple[Any, ...], list[int]] = {}
    for key, lanes in sums.items():
        into = (key[0] - key[0] % period, *key[1:])
        total = found.get(into)
        if total is None:
            found[into] = list(lanes)
        else:
            total[:] = map(add, total, lanes)
    return found


def roll_up_row(
    period: int, dims: tuple[Any, ...], lanes: Sequence[int], series: str | None = None
) -> tuple[Any, ...]:
    """A roll-up row (in ROLLUP_COLUMNS order): the period's first minute, its series (a
    digest of every dimension; given when known), every lane in halves, its KEY_VERSION."""
    digest = _digest(dims) if series is None else series
    return (period, digest, *dims, *_halves(lanes), KEY_VERSION)


def lane_sums(source: Any, raw: bool) -> list[Any]:
    """SQL sums of every lane (FIELDS), each as its two halves (see joined).

    Over the rows (``raw``) a request is a row, and each lane is summed as
    ``value // 2**32`` and ``value % 2**32``: neither sum can outgrow 64 bits
    below 2**31 rows. The roll-up holds the halves already.
    """
    if not raw:
        return [sa.func.sum(source.c[column]) for column in HALVES]
    sums: list[Any] = [sa.literal_column("0"), sa.func.count()]
    for lane in LANE_COLUMNS:
        sums += [sa.func.sum(source.c[lane] // SPLIT), sa.func.sum(source.c[lane] % SPLIT)]
    return sums


def joined(halves: Sequence[Any]) -> list[int]:
    """The lanes summed by lane_sums, each put back together, as exact ints."""
    values = [int(v or 0) for v in halves]
    return [hi * SPLIT + lo for hi, lo in zip(values[::2], values[1::2], strict=True)]


def unfit_text(texts: list[str]) -> str | None:
    """Why these strings cannot be stored (at most TEXT_MAX characters, no NUL, valid Unicode)."""
    if max(map(len, texts)) > TEXT_MAX:
        return f"a text field is longer than {TEXT_MAX} characters"
    joined = "".join(texts)
    if "\x00" in joined:
        return "a text field holds a NUL character"
    try:
        joined.encode()
    except UnicodeEncodeError:
        return "a text field is not valid Unicode (a lone surrogate)"
    return None


def plain_text(text: str) -> bool:
    """A text every store keeps as it is, known without :func:`unfit_text`'s whole check.

    ASCII (so valid Unicode), without NUL, up to TEXT_MAX characters; a text
    that is not plain may still fit (unfit_text says).
    """
    return len(text) <= TEXT_MAX and text.isascii() and "\x00" not in text
