"""Which process owns a spill segment, and whether that process still runs.

Every process that writes to or replays from a spill directory holds a lock
file there, ``owner-<token>.lock``, locked with ``flock`` for the life of the
process; segments carry the token in their names. Another process tells a
live owner from a dead one by trying the lock: the kernel lets go of it when
the process ends, however it ends (SIGKILL included). A process removes its
lock file when it exits normally; the next process to take a lock in the
directory removes those of processes that ended otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Final

__all__ = ["OWNER", "alive", "token_of"]

_PREFIX: Final = "owner-"
_SUFFIX: Final = ".lock"
#: Times a lock file is made again when it was removed before it could be locked.
_ATTEMPTS: Final = 5


def _lock_file(directory: Path, token: str) -> Path:
    """The lock file of the process of ``token`` in ``directory``."""
    return directory / f"{_PREFIX}{token}{_SUFFIX}"


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _new_token() -> str:
    """A token for this process: its pid and random bytes (pid reuse does not repeat it)."""
    return f"{os.getpid()}x{os.urandom(4).hex()}"


class Owner:
    """This process's identity in spill directories: a token and the lock files it holds.

    The token (pid and random bytes) survives pid reuse. A lock file is
    opened read-only: holding it does not keep its file system from being
    remounted read-only. A forked child gets a token of its own.
    """

    def __init__(self) -> None:
        self.token = _new_token()
        self.locks: dict[Path, int] = {}

    def hold(self, directory: Path) -> None:
        """Hold this process's lock file in ``directory`` (once; raises OSError when it cannot)."""
        if directory in self.locks:
            return
        path = _lock_file(directory, self.token)
        for _ in range(_ATTEMPTS):
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(fd, path):
                    break
            except OSError:
                os.close(fd)
                raise
            # Between its creation and its lock, another process took the file
            # for an ended owner's and removed it: make it again.
            os.close(fd)
        else:
            raise OSError(f"the lock file {path} keeps being removed")
        self.locks[directory] = fd
        for path in directory.glob(f"{_PREFIX}*{_SUFFIX}"):  # those of ended processes go
            alive(directory, path.name[len(_PREFIX) : -len(_SUFFIX)])

    def release(self) -> None:
        """The process ends: its lock files go (a forked child leaves its parent's alone)."""
        if self.forked():
            return
        locks, self.locks = self.locks, {}
        for directory, fd in locks.items():
            with contextlib.suppress(OSError):
                _lock_file(directory, self.token).unlink()
            with contextlib.suppress(OSError):
                os.close(fd)

    def renew(self) -> None:
        """In a forked child: a new token, the parent's lock files let go of."""
        locks, self.locks = self.locks, {}
        for fd in locks.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.token = _new_token()

    def forked(self) -> bool:
        """Whether this is a forked child still using its parent's token."""
        return self.token.split("x")[0] != str(os.getpid())


OWNER: Final = Owner()


def alive(directory: Path, token: str) -> bool:
    """Whether the process of ``token`` still runs (its lock file is held)."""
    if token == OWNER.token:
        return True
    path = _lock_file(directory, token)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()  # its owner is gone
    return False


def token_of(name: str) -> str:
    """The writer token in ``seg-<stamp>-<token>-<counter>.jsonl...``."""
    parts = name.split("-")
    return parts[2] if len(parts) > 3 else ""
