"""How a batch goes into PostgreSQL: new rows found without a table lock, roll-up added to.

Many processes and hosts write one database at once. The rows go in with
``INSERT ... ON CONFLICT (request_id) DO NOTHING RETURNING request_id``:
PostgreSQL skips a request id already stored, waits only for a transaction
inserting the same id right now (then skips it if that one commits), and
says which rows were new; only those are added to the roll-ups, in the
same transaction. Each statement takes its rows as arrays, one per column
(``unnest``): one statement for many rows, a fraction of the work of a
statement per row.

Two writers with request ids or roll-up rows in common wait for each other
only one way: every writer inserts its rows in request id order, then adds
to each roll-up (the tables in one order) its rows in key order (``WITH
ORDINALITY``: in the order given), so no two transactions each hold a row
the other waits for.
"""

from __future__ import annotations

from typing import Any, Final

from aievents.sinks._storeschema import (
    HALVES,
    ROLLUP_COLUMNS,
    ROLLUPS,
    USAGE_COLUMNS,
    roll_up_sums,
)
from aievents.totals import FIELDS

__all__ = ["add_to_roll_up", "insert_new", "lock_timeout"]

#: Rows per statement: a batch of the sink is one; a larger write is several.
_ROWS: Final = 5000
#: PostgreSQL's largest lock_timeout, in milliseconds (0 would mean no timeout at all).
_MOST_MS: Final = 2**31 - 1
#: Columns of aievents_usage that hold integers (the rest hold text).
_USAGE_INTEGERS: Final = frozenset({"timestamp", "minute", *FIELDS[1:]})


def _from_arrays(table: str, columns: tuple[str, ...], integers: frozenset[str]) -> str:
    """``INSERT INTO table (columns) SELECT`` them from one array each, in the order given."""
    arrays = ", ".join(f"%s::{'bigint' if c in integers else 'text'}[]" for c in columns)
    names = ", ".join(columns)
    return (
        f"INSERT INTO {table} ({names}) SELECT {names} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS given({names}, at) ORDER BY at"
    )


def _roll_up_statement(table: str) -> str:
    """The roll-up rows added to ``table``: a new one inserted, an existing one summed into."""
    return (
        f"{_from_arrays(table, ROLLUP_COLUMNS, frozenset({'period', *HALVES, 'key_version'}))} "
        f"ON CONFLICT (period, series) DO UPDATE SET {roll_up_sums(table, '%%')}"
    )


_INSERT: Final = (
    f"{_from_arrays('aievents_usage', USAGE_COLUMNS, _USAGE_INTEGERS)} "
    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
)
_ROLL_UPS: Final = {table: _roll_up_statement(table) for table in ROLLUPS}


def lock_timeout(busy: float) -> str:
    """``SET LOCAL lock_timeout`` for a busy timeout of ``busy`` seconds.

    At least 1 ms: PostgreSQL reads 0 as "wait forever", the opposite of a
    busy timeout of 0 (or of less than half a millisecond); at most
    PostgreSQL's largest (about 24 days, for a longer or infinite one).
    """
    milliseconds = _MOST_MS if busy * 1000 >= _MOST_MS else max(1, round(busy * 1000))
    return f"SET LOCAL lock_timeout = '{milliseconds}ms'"


def insert_new(cursor: Any, rows: dict[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Insert the rows (keyed by request id) whose request id is not stored; those rows.

    Runs in the cursor's transaction. In request id order, in every writer.
    """
    ids = sorted(rows)
    inserted: set[str] = set()
    for first in range(0, len(ids), _ROWS):
        part = [rows[rid] for rid in ids[first : first + _ROWS]]
        cursor.execute(_INSERT, [list(column) for column in zip(*part, strict=True)])
        inserted.update(found[0] for found in cursor.fetchall())
    return [rows[rid] for rid in ids if rid in inserted]


def add_to_roll_up(cursor: Any, table: str, rollup: list[tuple[Any, ...]]) -> None:
    """Add roll-up rows (in ROLLUP_COLUMNS order) to roll-up ``table``, in key order."""
    ordered = sorted(rollup, key=lambda row: (row[0], row[1]))  # (period, series)
    for first in range(0, len(ordered), _ROWS):
        part = ordered[first : first + _ROWS]
        cursor.execute(_ROLL_UPS[table], [list(column) for column in zip(*part, strict=True)])
