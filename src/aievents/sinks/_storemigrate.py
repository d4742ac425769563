"""A store's schema version, and the upgrade of tables an older release made."""

from __future__ import annotations

from typing import Any, Final

from aievents.exceptions import StoreAccessError
from aievents.query import DIMENSIONS
from aievents.sinks._storeschema import (
    LANE_COLUMNS,
    LOOKUP,
    ROLLUP_COLUMNS,
    ROLLUPS,
    SCHEMA_VERSION,
    joined,
    lane_sums,
    roll_up_row,
)
from aievents.totals import COSTS

try:
    import sqlalchemy as sa
except ImportError:  # the store extra is not installed: StoreSink says so first
    sa = None  # type: ignore[assignment]

__all__ = ["missing_columns", "recount", "schema_version", "upgrade"]


def schema_version(conn: Any, tables: dict[str, Any], owner: str) -> int:
    """The schema version of the tables (0: none yet); a newer one is refused."""
    meta = tables["meta"]
    found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    try:
        version = int(found or 0)
    except ValueError:
        raise StoreAccessError("schema_version", found, "must be a number", owner=owner) from None
    if version > SCHEMA_VERSION:
        raise StoreAccessError(
            "schema_version",
            version,
            f"is newer than this aievents writes ({SCHEMA_VERSION}); upgrade it",
            owner=owner,
        )
    return version


def missing_columns(conn: Any, tables: dict[str, Any]) -> list[tuple[str, Any]]:
    """The columns the store's existing tables lack: ``(table name, column)`` each.

    Whatever the release that made them: a lane of :data:`aievents.totals.FIELDS`
    added since (its row column, its roll-up halves), or a column of a newer
    schema version (how a row was priced, what its provider billed).
    """
    inspector = sa.inspect(conn)
    missing = []
    for table in (tables["usage"], *(tables[name] for name in ROLLUPS)):
        if not inspector.has_table(table.name):
            continue  # made whole by create_all
        have = {column["name"] for column in inspector.get_columns(table.name)}
        missing += [(table.name, column) for column in table.columns if column.name not in have]
    return missing


def _add_columns(conn: Any, missing: list[tuple[str, Any]], owner: str) -> None:
    """Add columns to existing tables: a count or cost as 0, anything else as NULL."""
    for table, column in missing:
        kind = column.type.compile(dialect=conn.dialect)
        if column.name == "key_version":  # on a roll-up emptied first (_emptied): no default
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind} NOT NULL")
        elif column.nullable:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}")
        elif isinstance(column.type, sa.Integer):
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ADD COLUMN {column.name} {kind} NOT NULL DEFAULT 0"
            )
        else:  # pragma: no cover - every column added since version 1 is one of those
            raise StoreAccessError(
                "schema_version", table, f"lacks column {column.name}", owner=owner
            )


def upgrade(conn: Any, tables: dict[str, Any], version: int, owner: str) -> None:
    """Tables of an older version (or lacking a lane added since) brought up to date.

    Runs in the caller's transaction, which holds the store's write lock:
    either all of it is done, or none. Every column the tables lack is added
    (:func:`missing_columns`): counts and costs as 0, the rest NULL; a row
    of version 2 or older so keeps NULL for how it was priced and what was
    billed (not recorded then). From version 1 also: the rows get
    ``unpriced_requests`` 1 when they have no cost at all (version 1 stored
    an unknown cost as 0, so a cost of 0 is taken as unknown, never as a $0
    that may be false). From version 3 or older (a roll-up without
    ``key_version``): the roll-ups are emptied and summed again from the
    rows, by every dimension (version 4 keys a series by provider and
    quality too; version 1 could let sums turn into floats), each row
    marked with its key version, so that a writer of an older release is
    refused (see :data:`~aievents.sinks._storeschema.KEY_VERSION`).

    On PostgreSQL a roll-up is never dropped: it keeps its grants (a reader
    or writer role's privileges), and its rows go with ``DELETE``. SQLite
    has no grants, and cannot add a NOT NULL column without a default: a
    roll-up there is made anew.
    """
    usage = tables["usage"]
    if not sa.inspect(conn).has_table(usage.name):
        return  # nothing to upgrade: the tables are made anew
    rebuild = version < _KEYED_BY_ALL or _unkeyed(conn)
    if rebuild:
        _emptied(conn, tables)
    _add_columns(conn, missing_columns(conn, tables), owner)
    if version == 1:
        costs = [usage.c[lane] == 0 for lane in LANE_COLUMNS[COSTS - 1 :]]
        conn.execute(
            usage.update().where(*costs, usage.c.cost_exact.is_(None)).values(unpriced_requests=1)
        )
    if rebuild:
        for name, period in ROLLUPS.items():
            tables[name].create(conn, checkfirst=True)
            recount(conn, usage, tables[name], period)


#: The first schema version whose roll-ups key a series by every dimension.
_KEYED_BY_ALL: Final = 4


def _unkeyed(conn: Any) -> bool:
    """A roll-up lacks ``key_version`` (its rows' key unknown: they are summed again)."""
    inspector = sa.inspect(conn)
    return any(
        inspector.has_table(name)
        and "key_version" not in {column["name"] for column in inspector.get_columns(name)}
        for name in ROLLUPS
    )


def _emptied(conn: Any, tables: dict[str, Any]) -> None:
    """Every roll-up there emptied, for a recount: rows deleted, columns of old versions dropped.

    On SQLite a roll-up is dropped instead (made anew by the caller).
    """
    inspector = sa.inspect(conn)
    for name in ROLLUPS:
        if not inspector.has_table(name):
            continue
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TABLE {name}")
            continue
        conn.exec_driver_sql(f"DELETE FROM {name}")
        wanted = set(tables[name].columns.keys())
        for column in inspector.get_columns(name):
            if column["name"] not in wanted:  # e.g. version 1's sums, kept whole, NOT NULL
                conn.exec_driver_sql(f"ALTER TABLE {name} DROP COLUMN {column['name']}")


def recount(conn: Any, usage: Any, rollup: Any, period: int) -> None:
    """Fill an empty roll-up (its period in minutes) with the sums of the rows."""
    bucket = (usage.c.minute // period).label("bucket")
    dims = [usage.c[name] for name in DIMENSIONS]
    query = sa.select(bucket, *dims, *lane_sums(usage, raw=True)).group_by(bucket, *dims)
    rows = []
    for record in conn.execute(query):
        lanes = joined(record[1 + len(dims) :])
        row = roll_up_row(record[0] * period, tuple(record[1 : 1 + len(dims)]), lanes)
        rows.append(dict(zip(ROLLUP_COLUMNS, row, strict=True)))
        if len(rows) >= LOOKUP:
            conn.execute(rollup.insert(), rows)
            rows.clear()
    if rows:
        conn.execute(rollup.insert(), rows)
