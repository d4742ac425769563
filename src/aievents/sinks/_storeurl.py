"""A store's URL: read as PostgreSQL and SQLite read it, shown without its passwords.

The URL as given lives in a :class:`Target`, whose ``repr`` is masked, never
in a plain local variable: a renderer that prints a traceback's local
variables (rich's, in structlog's console output) finds no password. The
masking itself is :mod:`aievents._redact`'s, which every output uses.
"""

from __future__ import annotations

import os
from typing import Any, Final
from urllib.parse import unquote

from aievents._redact import hide, masked_url, split_url, url_secrets

try:
    import sqlalchemy as sa
except ImportError:  # the store extra is not installed: StoreSink says so first
    sa = None  # type: ignore[assignment]

__all__ = ["DRIVERS", "RefusedError", "Target", "parse", "secrets_of"]


class RefusedError(Exception):
    """A URL StoreSink does not open; the message says why (without the URL).

    Internal, never raised to users: ``StoreSink`` turns it into a
    :class:`~aievents.exceptions.StoreSettingError` naming the masked URL.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Target:
    """A store's URL as given, and as parsed: shown (``repr``) only without its passwords.

    The URL as given is kept here rather than in a local variable, so that a
    renderer that prints a traceback's local variables (rich's) shows it
    masked.
    """

    __slots__ = ("given", "parsed", "secrets", "shown")

    def __init__(self, given: Any) -> None:
        if sa is not None and isinstance(given, sa.engine.URL):
            given = given.render_as_string(hide_password=False)
        self.given = given
        #: SQLAlchemy's URL, once parsed (with a SQLite file's path made absolute).
        self.parsed: Any = None
        #: The URL's passwords, as written and as decoded, longest first.
        self.secrets: tuple[str, ...] = ()
        #: The URL as it may be shown.
        self.shown: Any = masked_url(given) if isinstance(given, str) else given

    def __repr__(self) -> str:
        return f"<store URL {self.shown!r}>"


#: The drivers StoreSink uses, by backend ("": SQLAlchemy's default name).
DRIVERS: Final = {"sqlite": ("", "pysqlite"), "postgresql": ("", "psycopg")}


def parse(target: Target) -> Any:
    """Check a store's URL and parse it into ``target``; returns SQLAlchemy's URL.

    A SQLite file's path is resolved now: a later ``os.chdir`` does not
    move the store.

    Raises:
        RefusedError: the URL is not one StoreSink opens; it says why.
    """

    def refuse(reason: str) -> RefusedError:
        return RefusedError(reason)

    try:
        parsed = sa.engine.make_url(target.given)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise refuse("is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend not in DRIVERS:
        raise refuse("must be a sqlite:// or postgresql:// URL")
    driver = parsed.drivername.partition("+")[2]
    if driver not in DRIVERS[backend]:
        raise refuse(
            f"names the driver {driver!r}, which StoreSink does not use: write "
            + ("sqlite:///path/to/file.db" if backend == "sqlite" else "postgresql:// (psycopg 3)")
        )
    written = split_url(target.given)  # the password as written, whatever it holds
    if unquote((written and written.password) or "") != (parsed.password or ""):
        # SQLAlchemy ends the password at the first "@", so "user:p@ss@host" reads
        # as host "ss@host", and "host:5432/db?password=p@ss" as user "host",
        # password "5432/db?password=p", host "ss": the rest would be shown.
        raise refuse(
            "cannot be read as user:password@host/database?parameters: write an '@', '/',"
            " '?', '&' or '#' inside a user name, password or parameter as %40, %2F, %3F,"
            " %26 or %23"
        )
    target.secrets = secrets_of(target.given, parsed)
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
        target.shown = masked_url(parsed.render_as_string(hide_password=False))
    else:
        if parsed.database in (None, "", ":memory:"):
            raise refuse(
                "must name a SQLite file (a database in memory is not shared with the writer)"
            )
        if parsed.username or parsed.password or parsed.host or parsed.port:
            raise refuse("must be sqlite:///path/to/file.db, without a user, password or host")
        if "uri" in parsed.query or "mode" in parsed.query:
            raise refuse("must be sqlite:///path/to/file.db, without SQLite URI options")
        parsed = parsed.set(database=os.path.abspath(parsed.database))
        target.shown = f"sqlite:///{parsed.database}"
    target.shown = hide(target.shown, target.secrets)  # a password that is also a host, a path...
    target.parsed = parsed
    return parsed


def secrets_of(given: str, parsed: Any) -> tuple[str, ...]:
    """A URL's passwords and secret parameters, as written and as decoded, longest first.

    They are hidden from the database's own words. Those shorter than 4
    characters are not searched for: they would garble every message, and
    drivers do not quote passwords.
    """
    found = {
        parsed.password or "",
        *url_secrets(given),
        *url_secrets(parsed.render_as_string(hide_password=False)),
    }
    return tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True))
