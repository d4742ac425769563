"""A SQLite store's file: made, set aside, told apart, and kept from being set up under use.

A store whose file is deleted or replaced is set up again by the sink. What a
moved file leaves under its name (-wal, -shm, -journal) must never serve
the next file of that name, and must never be taken from a live one: the
folder is locked while a file is made, and a file that some process has
open keeps its -wal and -shm. :class:`Gate` keeps a sink from setting its
store up again while one of its own connections is in use.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Final

if sys.platform != "win32":
    import fcntl

__all__ = [
    "Gate",
    "GateTimeoutError",
    "create_file",
    "identity",
    "in_use",
    "open_failure",
    "readable_only",
    "set_aside",
]


def create_file(path: str) -> None:
    """Create an empty SQLite file (an empty database), unless another process just did.

    What a deleted file of that name left (its -wal, -shm, -journal) is set
    aside first: a connection still open on the deleted file shares its
    -shm, which must not become the new file's. The folder is locked while
    this is done, so that no other process sets aside the new file's.
    """
    with folder_locked(os.path.dirname(path)):
        if not os.path.exists(path):
            set_aside(path, locked=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def set_aside(path: str, *, locked: bool = False) -> None:
    """Remove the -wal, -shm and -journal under a SQLite file's name: a moved file's.

    SQLite does not checkpoint a file deleted or replaced while it was open:
    the next file of that name would read the frames left as its own. They
    are left alone while a connection (of any process) has the file now
    under the name open: they are that file's, maybe with commits not yet
    checkpointed.
    """
    if not locked:
        with folder_locked(os.path.dirname(path)):
            set_aside(path, locked=True)
        return
    if in_use(path):
        return
    for suffix in ("-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            os.remove(path + suffix)


def on_read_only_fs(path: str) -> bool:
    """Whether the folder of ``path`` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(os.path.dirname(path)).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        return False


def readable_only(path: str) -> bool:
    """Whether a SQLite store is on a read-only file system, without a -wal to read.

    Such a file is read as SQLite's ``immutable``: a -wal would hold commits
    that reading so would miss.
    """
    return on_read_only_fs(path) and not os.path.exists(path + "-wal")


def open_failure(path: str) -> str:
    """What to say when SQLite cannot open the store at ``path``."""
    if on_read_only_fs(path):
        return (
            "cannot be opened (its folder is on a read-only file system, where SQLite "
            "cannot make the -wal and -shm it needs to write the store, or to read "
            "the -wal it has)"
        )
    return "cannot be opened"


#: Where Linux lists the file locks every process holds.
_PROC_LOCKS: Final = "/proc/locks"


def in_use(path: str) -> bool:
    """Whether a process holds a lock on the file at ``path`` (SQLite connections do).

    A SQLite connection in WAL mode holds a shared lock on its database
    file as long as it is open. The locks are read from ``/proc/locks``
    rather than probed through a descriptor: closing a descriptor of a file
    drops every POSIX lock this process holds on it, SQLite's included.
    Where the system does not list locks, this answers False.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return False
    device = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    try:
        with open(_PROC_LOCKS, encoding="ascii", errors="replace") as locks:
            return any(device in line.split() for line in locks)
    except OSError:
        return False


@contextmanager
def folder_locked(folder: str) -> Iterator[None]:
    """An exclusive lock on a folder, between processes (where the system has flock)."""
    if sys.platform == "win32":  # pragma: no cover - open files cannot be deleted there
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        # Let go explicitly: a child forked meanwhile shares the lock, and its
        # copy of the descriptor would keep it held after this one is closed.
        with suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def identity(path: str) -> tuple[int, int] | None:
    """The file's device and inode, or None when there is no file."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


class GateTimeoutError(Exception):
    """A wait at the gate ran out: another thread kept it.

    Internal, never raised to users: the store catches it and raises its own
    transient :class:`~aievents.exceptions.StoreError` instead.
    """


class Gate:
    """This sink's connections in use (shared) against setting the store up again (exclusive).

    A connection left open on a deleted SQLite file, while a new file takes
    its name, would have its -wal and -shm taken for the new file's. Every
    wait ends at a deadline (a ``time.monotonic()`` value) with
    :class:`GateTimeoutError`.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._users = 0
        self._reopening = False

    def _wait(self, ready: Callable[[], bool], deadline: float) -> None:
        if not self._changed.wait_for(ready, max(0.0, deadline - time.monotonic())):
            raise GateTimeoutError

    @contextmanager
    def shared(self, deadline: float) -> Iterator[None]:
        with self._changed:
            self._wait(lambda: not self._reopening, deadline)
            self._users += 1
        try:
            yield
        finally:
            with self._changed:
                self._users -= 1
                self._changed.notify_all()

    @contextmanager
    def exclusive(self, deadline: float) -> Iterator[None]:
        with self._changed:
            self._wait(lambda: not self._reopening, deadline)
            self._reopening = True
            try:
                self._wait(lambda: not self._users, deadline)
            except GateTimeoutError:
                self._reopening = False
                self._changed.notify_all()
                raise
        try:
            yield
        finally:
            with self._changed:
                self._reopening = False
                self._changed.notify_all()
