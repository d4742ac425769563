"""Setting a store's tables up when a StoreSink opens it: create, upgrade, or only read.

A store whose tables are there and of this release's schema version is only
read (which tables exist, the version in ``aievents_meta``): no table is
created or altered, so a writer role that may not do either opens it. A
store without tables, or with older ones, is set up by the role that opens
it; a role that may not is told what to run as one that may.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from aievents.exceptions import StoreAccessError, first_line
from aievents.sinks._storemigrate import missing_columns, recount, schema_version, upgrade
from aievents.sinks._storeschema import ROLLUPS, SCHEMA_VERSION

try:
    import sqlalchemy as sa
except ImportError:  # the store extra is not installed: StoreSink says so first
    sa = None  # type: ignore[assignment]

__all__ = ["SETUP_COMMAND", "set_up"]

#: What a role that may create and alter tables runs once, to create a store's
#: tables or upgrade them (``URL`` being that role's).
SETUP_COMMAND: Final = "aievents ingest /dev/null --store URL"
#: PostgreSQL's SQLSTATE for a privilege the role lacks (or a table it must own).
_INSUFFICIENT_PRIVILEGE: Final = "42501"


def set_up(
    conn: Any,
    tables: dict[str, Any],
    metadata: Any,
    *,
    sqlite: bool,
    create: bool,
    allow_upgrade: bool,
    url: str,
    hide: Callable[[str], str],
) -> None:
    """Create the tables, or upgrade older ones, in ``conn``'s transaction; else only read.

    Args:
        conn: A connection in a transaction (rolled back by the caller on error).
        tables: The tables of this release (:func:`~aievents.sinks._storeschema.tables`).
        metadata: Their SQLAlchemy metadata.
        sqlite: The store is a SQLite file (else PostgreSQL).
        create: Create the tables when there are none.
        allow_upgrade: Upgrade tables of an older schema version.
        url: The store's URL without its password, for errors.
        hide: Takes the store's secrets out of the database's words.

    Raises:
        StoreAccessError: there are no tables and ``create=False``; they are
            older and ``allow_upgrade=False``; they are newer; or the role
            lacks a privilege the set-up needs (saying what to run instead).
    """
    doing = "create its tables"  # what a missing privilege stops
    try:
        if not sqlite:  # one process sets the tables up; the others wait, then find them
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7240811)"))
        if not create and not sa.inspect(conn).has_table("aievents_meta"):
            raise _error(url, "names no store: the database has no aievents tables")
        meta = tables["meta"]
        meta.create(conn, checkfirst=True)
        doing = "read its schema version (in aievents_meta)"
        version = schema_version(conn, tables, url)
        # Older tables, or tables lacking a lane added since they were made.
        stale = version < SCHEMA_VERSION or missing_columns(conn, tables)
        if stale and not allow_upgrade:
            raise _error(
                url,
                f"needs an upgrade first: its tables are of schema version {version}, this "
                f"release's are {SCHEMA_VERSION} (opening it without upgrade=False, e.g. a "
                "reprice that is not a dry run, upgrades it)",
            )
        doing = "create its tables"
        if stale and version >= 1:
            doing = (
                f"upgrade its tables from schema version {version} to {SCHEMA_VERSION}"
                if version < SCHEMA_VERSION
                else "add the columns its tables lack"
            )
        if stale and sqlite:
            # One writer changes the tables, in one transaction (the driver
            # would commit each DDL statement by itself).
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            version = schema_version(conn, tables, url)
        if stale and version >= 1:
            upgrade(conn, tables, version, url)
        _roll_ups_anew(conn, tables)
        # Every start: tables dropped under a running sink come back.
        metadata.create_all(conn, checkfirst=True)
        if version < SCHEMA_VERSION:
            conn.execute(meta.delete().where(meta.c.key == "schema_version"))
            conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
    except sa.exc.DBAPIError as error:
        original = getattr(error, "orig", None) or error
        if getattr(original, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise
        if doing.startswith("read"):
            remedy = "grant it what a writer needs (see the PostgreSQL guide)"
        else:
            remedy = (
                f"run `{SETUP_COMMAND}` once with the URL of a role that may (the "
                "tables' owner), then open the store with this one"
            )
        said = hide(first_line(error))
        raise _error(url, f"cannot {doing} as this role ({said}): {remedy}") from None


def _roll_ups_anew(conn: Any, tables: dict[str, Any]) -> None:
    """A roll-up missing beside the rows (dropped, or not made yet) made and summed from them."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(tables["usage"].name):
        return  # no rows: create_all makes every table, empty
    for name, period in ROLLUPS.items():
        if not inspector.has_table(name):
            tables[name].create(conn)
            recount(conn, tables["usage"], tables[name], period)


def _error(url: str, reason: str) -> StoreAccessError:
    return StoreAccessError("url", url, reason, owner="StoreSink")
