"""The store a StoreSink writes to and reads from: its connection and its life.

:class:`StoreDB` makes the engine for a SQLite file or a PostgreSQL
database, opens the store (creating the file and the tables when allowed,
upgrading tables of an older schema version), runs each action of the sink
on it (:meth:`StoreDB.on_store`), and notices a SQLite file deleted or
replaced, or tables dropped, under a running sink, and sets the store up
again. It also tells the database's failures apart (one that may pass, a
server away) and words them as a :class:`StoreError` naming the URL, never
with its password.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar
from urllib.parse import quote

from aievents._diag import RateLimitedLog
from aievents._extras import missing_extra
from aievents._fork import after_fork
from aievents._redact import hide, scrub_text
from aievents.exceptions import (
    StoreAccessError,
    StoreConnectionError,
    StoreError,
    StoreSettingError,
    first_line,
)
from aievents.sinks._sqlitefile import (
    Gate,
    GateTimeoutError,
    create_file,
    identity,
    open_failure,
    readable_only,
    set_aside,
)
from aievents.sinks._storeledger import Ledger
from aievents.sinks._storeschema import SQLITE_NULL, statements, tables
from aievents.sinks._storesetup import set_up
from aievents.sinks._storeurl import RefusedError, Target, parse

#: Why SQLAlchemy could not be imported, if it could not.
_NO_SQLALCHEMY = ""
try:
    import sqlalchemy as sa
except ImportError as _error:  # the store extra is not installed
    sa = None  # type: ignore[assignment]
    _NO_SQLALCHEMY = str(_error)

__all__ = ["SETTLE", "StoreDB", "require_sqlalchemy"]

_T = TypeVar("_T")

#: Times a write or read runs again on a store that moved under it, before
#: it fails (a write is then tried again after a while).
_ATTEMPTS: Final = 3
#: Seconds a write waits, at least, for other threads of the sink (beside
#: twice the busy timeout), and setting a store up waits for a file that
#: keeps moving.
SETTLE: Final = 5.0
#: SQLite's result codes (primary) that may pass: BUSY, LOCKED, FULL.
_SQLITE_TRANSIENT: Final = frozenset({5, 6, 13})
_SQLITE_TRANSIENT_WORDS: Final = ("database is locked", "table is locked", "is full")
#: PostgreSQL's SQLSTATE classes and codes that may pass: connection,
#: transaction rollback (serialization, deadlock), insufficient resources,
#: operator intervention (a restart), lock not available, object in use.
_PG_TRANSIENT_CLASSES: Final = frozenset({"08", "40", "53", "57"})
_PG_TRANSIENT_STATES: Final = frozenset({"55P03", "55006"})


def require_sqlalchemy() -> None:
    """Raise the missing-extra error when SQLAlchemy cannot be imported."""
    if sa is None:
        raise missing_extra("StoreSink", "store", _NO_SQLALCHEMY)


class StoreDB:
    """A store's engine, its tables, and the SQLite file they are in.

    Args:
        target: The URL, as given (shown only masked).
        create: Create the store when there is none.
        busy: Seconds a statement waits for a lock another connection holds.
        read_timeout: Seconds a PostgreSQL query may run, else None.
        diag: The sink's diagnostic log.
        ledger: The sink's counters (``reopened`` is counted here).

    Raises:
        StoreError: the URL cannot be used, the store cannot be opened or
            created, or (``create=False``) there is no store there.
    """

    def __init__(
        self,
        target: Target,
        *,
        create: bool,
        upgrade: bool = True,
        busy: float,
        read_timeout: float | None = None,
        diag: RateLimitedLog,
        ledger: Ledger,
    ) -> None:
        self._create = create
        self._upgrade = upgrade
        self.busy = busy
        #: Seconds a PostgreSQL query may run (its statement_timeout), else None.
        self.read_timeout = read_timeout
        self._diag = diag
        self._ledger = ledger
        self._setup_locks()
        after_fork(self)
        try:
            parsed = parse(target)
        except RefusedError as refused:
            reason = refused.reason
            raise StoreSettingError("url", target.shown, reason, owner="StoreSink") from None
        self.sqlite = parsed.get_backend_name() == "sqlite"
        #: The store's URL without a password (in the user info or the query).
        self.url = target.shown
        self._secrets = target.secrets
        #: The SQLite file (an absolute path), else None.
        self._path: str | None = parsed.database if self.sqlite else None
        #: Only read, from a read-only file system: opened as a file nothing changes.
        self._read_only = self._path is not None and not self._create and readable_only(self._path)
        self._identity: tuple[int, int] | None = None
        self._leftovers = False  # a -wal and -shm of a moved file, under its name
        self._dbapi: Any = None
        self.engine = self._connect(target)
        self._metadata = sa.MetaData()
        self.tables = tables(self._metadata)
        self.mark = "?" if self.sqlite else "%s"
        #: What a row built for this store holds in a column left NULL (see SQLITE_NULL).
        self.null: int | None = SQLITE_NULL if self.sqlite else None
        self.sql = statements(self.mark, self.null)
        self._dbapi = dbapi = self.engine.dialect.loaded_dbapi
        #: The database's errors.
        self.errors: tuple[type[BaseException], ...] = (
            sa.exc.DBAPIError,
            dbapi.Error,
            UnicodeError,
        )
        #: Errors a batch may meet: the database's, and the store gone for good.
        self.failures: tuple[type[BaseException], ...] = (StoreError, *self.errors)
        #: Errors that say a row is wrong rather than the database away.
        self.refusals: tuple[type[BaseException], ...] = (
            dbapi.DataError,
            dbapi.IntegrityError,
            UnicodeError,
        )
        self._open(time.monotonic() + max(self.busy, SETTLE))

    def _setup_locks(self) -> None:
        self._lock = threading.Lock()
        self.gate = Gate()

    def _after_fork(self) -> None:
        """In a forked child: a lock and a gate of its own (the parent's may have been held).

        A thread of the parent may have been writing or reading at the fork:
        the child has no such thread, and must not wait for it.
        """
        self._setup_locks()

    def _connect(self, target: Target) -> Any:
        # A connection per batch or query, closed after it: a sink holds no
        # idle connection (nor leaves one to the garbage collector).
        kwargs: dict[str, Any] = {"poolclass": sa.pool.NullPool}
        if self.sqlite:
            # Connections open the file only if it exists ("mode=rw"): a file
            # deleted under the sink is not silently created anew, empty, by
            # SQLite; _open creates it when that is allowed.
            kwargs["connect_args"] = {"timeout": self.busy}
            # On a read-only file system SQLite cannot make the -shm that WAL
            # mode needs to read: the file is read as one that nothing changes.
            mode = {"mode": "ro", "immutable": "1"} if self._read_only else {"mode": "rw"}
            try:
                engine = sa.create_engine(
                    target.parsed.set(
                        database=f"file:{quote(target.parsed.database)}",
                        query={**target.parsed.query, **mode, "uri": "true"},
                    ),
                    **kwargs,
                )
            except (sa.exc.ArgumentError, ValueError, TypeError) as error:
                raise self.error("cannot be opened", error, setting=True) from None
            busy = round(self.busy * 1000)

            @sa.event.listens_for(engine, "connect")
            def _pragmas(connection: Any, _record: Any) -> None:
                cursor = connection.cursor()
                cursor.execute(f"PRAGMA busy_timeout={busy}")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

            return engine
        kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            return sa.create_engine(target.parsed, **kwargs)
        except ImportError as error:  # the database driver (psycopg) is not installed
            raise missing_extra("StoreSink", "store", error) from None
        except (sa.exc.ArgumentError, ValueError, TypeError) as error:  # ?port=abc...
            raise self.error("cannot be opened", error, setting=True) from None

    def error(
        self,
        reason: str,
        error: BaseException | None = None,
        *,
        transient: bool = False,
        setting: bool = False,
    ) -> StoreError:
        """A StoreError about the store's URL; the database's words, without secrets.

        A :class:`StoreSettingError` for a URL that cannot be used
        (``setting``), a :class:`StoreConnectionError` for a server that
        cannot be reached, else a :class:`StoreAccessError`.
        """
        kind: type[StoreError] = StoreSettingError if setting else StoreAccessError
        if error is not None:
            reason = f"{reason}: {self.hide(first_line(error))}"
            transient = transient or self.transient(error)
            if not setting and self._unreachable(error):
                kind = StoreConnectionError
        return kind("url", self.url, reason, owner="StoreSink", transient=transient)

    def hide(self, text: str) -> str:
        """``text`` without the store's password (nor any secret-looking value)."""
        return scrub_text(hide(text, self._secrets))

    def transient(self, error: BaseException) -> bool:
        """Whether a failure may pass by itself, so that the same write may succeed later.

        A lock held past the busy timeout, a full disk, the store being set
        up again or moved meanwhile, a server that does not answer or is
        restarting: yes. A file that is not a database, a store that is gone
        with ``create=False``, a refused row, a missing privilege: no.
        """
        if isinstance(error, StoreError):
            return error.transient
        original = getattr(error, "orig", None) or error
        code = getattr(original, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_TRANSIENT
        if self.sqlite:  # Python 3.10's sqlite3 errors carry no code
            return any(words in str(original) for words in _SQLITE_TRANSIENT_WORDS)
        state = getattr(original, "sqlstate", None)
        if not state:
            return self._unreachable(error)
        return state[:2] in _PG_TRANSIENT_CLASSES or state in _PG_TRANSIENT_STATES

    def _unreachable(self, error: BaseException) -> bool:
        """Whether a failure says the database server could not be reached or went away."""
        if self.sqlite or isinstance(error, StoreError):
            return isinstance(error, StoreConnectionError)
        original = getattr(error, "orig", None) or error
        state = getattr(original, "sqlstate", None)
        if state:
            return bool(state[:2] == "08")  # connection exception
        # No answer from the server (psycopg puts no SQLSTATE on a failed
        # connection): it is away, restarting or refusing connections.
        dbapi = self._dbapi
        return isinstance(error, sa.exc.OperationalError) or (
            dbapi is not None and isinstance(original, dbapi.OperationalError)
        )

    def _file_identity(self, path: str) -> tuple[int, int] | None:
        """The SQLite file's identity (None: there is none); a StoreError when it cannot be read."""
        try:
            return identity(path)
        except OSError as error:
            raise self.error("cannot be opened", error) from None

    def _open(self, deadline: float) -> None:
        """Open the store: create the SQLite file when allowed, set up its tables, note the file.

        The file noted is the one that was set up: its identity is read
        before and after, and a file deleted or replaced meanwhile is set up
        again, until ``deadline`` (a ``time.monotonic()`` value).

        Raises:
            StoreError: it cannot be opened or created, it is not there and
                ``create=False``, or it keeps moving until ``deadline``
                (``transient``).
        """
        path = self._path
        if path is None:
            self._migrate()
            return
        for attempt in itertools.count():
            if attempt and time.monotonic() >= deadline:
                raise self.error(
                    "keeps being deleted or replaced while it is set up", transient=True
                )
            with self._lock:
                leftovers, self._leftovers = self._leftovers, False
            if leftovers:
                try:
                    set_aside(path)
                except OSError as error:
                    raise self.error("cannot be opened again", error) from None
            before = self._file_identity(path)
            if before is None:
                if not self._create:
                    raise self.error("names no store: the SQLite file does not exist")
                try:
                    create_file(path)
                except OSError as error:
                    raise self.error("cannot be created", error) from None
                continue  # set up the file that is there now
            try:
                self._migrate()
                if not self._read_only:
                    with self.engine.connect() as conn:
                        # WAL mode stays with the file; set once it is known to be a store.
                        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            except self.failures as error:
                if self._file_identity(path) == before:
                    if isinstance(error, StoreError):
                        raise
                    raise self.error(open_failure(path), error) from None
            else:
                if self._file_identity(path) == before:
                    self._identity = before
                    return
            # The file moved while it was set up: a connection that was open on
            # the old one may have left its -wal and -shm under the name.
            with self._lock:
                self._leftovers = True
        raise AssertionError("unreachable")  # pragma: no cover

    def _changed(self) -> str | None:
        """Why the SQLite file is not the one set up (``deleted``, ``replaced``), else None."""
        if self._path is None:
            return None
        try:
            now = identity(self._path)
        except OSError:
            return None  # cannot tell: the next connection says what is wrong
        if now is None:
            return "deleted"  # whatever was noted: a missing file is always a change
        return None if now == self._identity else "replaced"

    def _reopen(self, reason: str, deadline: float) -> bool:
        """Set the store up again (its file or tables went away); whether it was needed.

        Waits (until ``deadline``) for no connection of this sink to be in
        use, so none of them is left on a deleted file while a new one takes
        its name.

        Raises:
            StoreError: it cannot be set up again (or, ``create=False``, the
                store is gone).
            GateTimeoutError: the connections in use did not end by ``deadline``.
        """
        with self.gate.exclusive(deadline):
            if reason != "tables_missing":
                reason = self._changed() or ""
                if not reason:
                    return False  # another thread set it up meanwhile
            elif self._tables_present():
                return False
            if reason == "deleted" and not self._create:
                raise self.error("names no store any more: the SQLite file was deleted")
            self._open(deadline)
            self._ledger.count(reopened=1)
        self._diag(("reopened", reason), "warning", "store_reopened", reason=reason, url=self.url)
        return True

    def _tables_present(self) -> bool:
        try:
            with self.engine.connect() as conn:
                inspector = sa.inspect(conn)
                return all(inspector.has_table(table.name) for table in self.tables.values())
        except self.errors:
            return True  # cannot tell: report the original error rather than rebuild

    def _migrate(self) -> None:
        """Create or upgrade the tables, once, whoever else is doing the same.

        Tables there and current are only read (:func:`set_up`), so a role
        that may not create or alter tables opens the store.
        """
        last: Exception | None = None
        for _ in range(5):
            try:
                with self.engine.begin() as conn:
                    set_up(
                        conn,
                        self.tables,
                        self._metadata,
                        sqlite=self.sqlite,
                        create=self._create,
                        allow_upgrade=self._upgrade,
                        url=self.url,
                        hide=self.hide,
                    )
                return
            except StoreError:
                raise
            except sa.exc.DBAPIError as error:  # another process got there first, or no server
                last = error
        raise self.error(open_failure(self._path) if self._path else "cannot be opened", last)

    def on_store(self, action: Callable[[], _T], deadline: float) -> _T:
        """Run ``action`` (it opens a connection and closes it) on the store as set up.

        A SQLite file deleted or replaced before or while ``action`` ran, or
        tables gone, are set up again, and ``action`` runs again: what it
        wrote may be in a file that is gone, or only in a -wal that SQLite
        left behind (it does not checkpoint a file that moved). Rows are
        keyed by request id, so a batch written twice is stored once.
        Waits for other threads of this sink (setting the store up again,
        or using it while this one would) end at ``deadline``.

        Raises:
            StoreError: the store cannot be set up again, or keeps moving or
                losing its tables, or the wait for other threads ran out
                (both ``transient``).
        """
        what = "keeps being deleted or replaced"
        try:
            for _ in range(_ATTEMPTS):
                reason = self._changed()
                if reason is not None:
                    self._reopen(reason, deadline)
                with self.gate.shared(deadline):
                    opened = self._identity  # no reopening while the gate is shared
                    try:
                        return_value = action()
                    except self.errors as error:
                        if self._moved_from(opened):
                            what = "keeps being deleted or replaced"
                            continue
                        if not _missing_table(error):
                            raise
                        failure = error
                    else:
                        if not self._moved_from(opened):
                            return return_value
                        what = "keeps being deleted or replaced"
                        continue
                what = "keeps losing its tables (dropped again each time they are made)"
                if not self._reopen("tables_missing", deadline):  # outside the gate: it waits
                    raise failure
        except GateTimeoutError:
            what = "is being set up again by another thread of this sink"
        raise self.error(f"{what}: ask again later", transient=True)

    def _moved_from(self, opened: tuple[int, int] | None) -> bool:
        """Whether the SQLite file is no longer the one a connection just closed was opened on.

        If so, the -wal and -shm under the file's name are that connection's
        and are set aside before the file there now is opened.
        """
        if self._path is None:
            return False
        try:
            moved = identity(self._path) != opened
        except OSError:
            return False
        if moved:
            with self._lock:
                self._leftovers = True
        return moved

    def dispose(self) -> None:
        """Close the database connections."""
        self.engine.dispose()


def _missing_table(error: BaseException) -> bool:
    """Whether a database error says one of the tables does not exist."""
    original = getattr(error, "orig", None) or error
    return getattr(original, "sqlstate", None) == "42P01" or "no such table" in str(original)
