"""A store opened to be read only, as ``aievents usage``, ``costs`` and ``serve`` open one.

Reading changes nothing: the store must exist (nothing is created), and one
of an older schema version is refused rather than upgraded (a reader may
not own it; a role that may only ``SELECT`` could not upgrade it anyway).
No writer thread starts: a sink's writer starts with its first event, and
these commands write none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from aievents.cli._terminal import say
from aievents.exceptions import StoreAccessError, message

if TYPE_CHECKING:
    from aievents.sinks.store import StoreSink

__all__ = ["read_store"]

#: What StoreSink's refusal of an older schema says.
_STALE = "needs an upgrade first"


def read_store(url: str, errors: TextIO, *, read_timeout: float | None = None) -> StoreSink | None:
    """The store at ``url``, opened to be read only; None (said on ``errors``) if it is older.

    ``read_timeout`` limits each PostgreSQL query (see :class:`StoreSink`).

    Raises:
        StoreError: the store cannot be opened, or is not there.
    """
    from aievents.sinks.store import StoreSink

    try:
        return StoreSink(url, create=False, upgrade=False, read_timeout=read_timeout)
    except StoreAccessError as error:
        if _STALE not in error.reason:
            raise
        say(
            errors,
            f"error: {message(error)}. Reading does not upgrade a store: its owner upgrades "
            f"it by writing to it once with this release, e.g. 'aievents ingest --store URL "
            "/dev/null' (a role that may change its tables)",
        )
        return None
