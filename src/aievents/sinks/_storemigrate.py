"""A store's schema version, and the upgrade of tables an older release made."""

from __future__ import annotations

from typing import Any

from aievents.exceptions import StoreAccessError
from aievents.query import DIMENSIONS
from aievents.sinks._storeschema import (
    DAILY,
    DAILY_COLUMNS,
    DAY,
    LANE_COLUMNS,
    LOOKUP,
    SCHEMA_VERSION,
    daily_row,
    joined,
    lane_sums,
)
from aievents.totals import COSTS

try:
    import sqlalchemy as sa
except ImportError:  # the store extra is not installed: StoreSink says so first
    sa = None  # type: ignore[assignment]

__all__ = ["schema_version", "upgrade"]


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


def upgrade(conn: Any, tables: dict[str, Any]) -> None:
    """Tables of version 1 to version 2, in the caller's transaction.

    The rows get ``unpriced_requests``: 1 for a row without any cost
    (version 1 stored an unknown cost as 0, so a cost of 0 is taken as
    unknown, never as a $0 that may be false). The roll-up, whose sums
    version 1 could let turn into floats, is summed again from the rows.
    """
    usage = tables["usage"]
    if not sa.inspect(conn).has_table(usage.name):
        return  # nothing to upgrade: the tables are made anew
    held = {column["name"] for column in sa.inspect(conn).get_columns(usage.name)}
    for lane in LANE_COLUMNS:
        if lane not in held:  # unpriced_requests, and the lanes added since
            conn.exec_driver_sql(
                f"ALTER TABLE aievents_usage ADD COLUMN {lane} BIGINT NOT NULL DEFAULT 0"
            )
    costs = [usage.c[lane] == 0 for lane in LANE_COLUMNS[COSTS - 1 :]]
    conn.execute(
        usage.update().where(*costs, usage.c.cost_exact.is_(None)).values(unpriced_requests=1)
    )
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {DAILY}")
    daily = tables[DAILY]
    daily.create(conn)
    day = (usage.c.minute // DAY).label("day")
    dims = [usage.c[name] for name in DIMENSIONS]
    query = sa.select(day, *dims, *lane_sums(usage, raw=True)).group_by(day, *dims)
    rows = []
    for record in conn.execute(query):
        lanes = joined(record[1 + len(dims) :])
        row = daily_row(record[0] * DAY, tuple(record[1 : 1 + len(dims)]), lanes)
        rows.append(dict(zip(DAILY_COLUMNS, row, strict=True)))
        if len(rows) >= LOOKUP:
            conn.execute(daily.insert(), rows)
            rows.clear()
    if rows:
        conn.execute(daily.insert(), rows)
