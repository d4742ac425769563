"""The on-disk spill of a ForwardSink: what the target could not take, kept for later.

Batches are appended, one event per JSON line, to segment files in one
directory. A segment is closed when it reaches ``segment_bytes``; the whole
spill never exceeds ``max_bytes`` (beyond, new batches are refused and the
caller counts them as dropped). Reading tolerates corruption: a torn or
garbled line (a process killed mid-write) is skipped and counted, the rest
of the segment is used.

Several processes may share a directory (a forked worker, the next run of
the program): each writes its own segments, named with its pid, and claims
a segment for replay by renaming it, so that no two processes replay the
same events.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from aievents._fork import after_fork
from aievents.events import BaseEvent
from aievents.exceptions import EventValidationError
from aievents.transports.jsonl import encode_texts, utf8, write_all
from aievents.wire import from_dict

__all__ = ["Spill"]

_SUFFIX: Final = ".jsonl"
_OPEN: Final = ".open"
_CLAIMED: Final = ".replaying"


class _Owner:
    """This process's identity in spill directories: a token and a held lock file.

    The token (pid and random bytes) survives pid reuse; the lock file, held
    with ``flock`` for the life of the process, tells other processes whether
    the token's owner still runs. A forked child gets a token of its own.
    """

    def __init__(self) -> None:
        self.token = f"{os.getpid()}x{os.urandom(4).hex()}"
        self.locks: dict[Path, int] = {}

    def hold(self, directory: Path) -> None:
        if directory in self.locks:
            return
        fd = os.open(directory / f"owner-{self.token}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.locks[directory] = fd

    def renew(self) -> None:
        """In a forked child: a new token, the parent's lock files let go of."""
        for fd in self.locks.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.__init__()  # type: ignore[misc]


_OWNER: Final = _Owner()


def _alive(directory: Path, token: str) -> bool:
    """Whether the process of ``token`` still runs (its lock file is held)."""
    if token == _OWNER.token:
        return True
    path = directory / f"owner-{token}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # its owner is gone
    return False


def _token_of(name: str) -> str:
    """The writer token in ``seg-<stamp>-<token>-<counter>.jsonl...``."""
    parts = name.split("-")
    return parts[2] if len(parts) > 3 else ""


class Spill:
    """Append-only segment files under ``directory``, bounded by ``max_bytes``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 256 * 2**20,
        segment_bytes: int = 4 * 2**20,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.corrupt_lines = 0
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._fd: int | None = None
        self._path: Path | None = None
        self._written = 0
        _OWNER.hold(self.directory)
        self._bytes = self.size()
        #: Journal bookkeeping: events written to and acknowledged from each segment.
        self._events: dict[str, int] = {}
        self._acked: dict[str, int] = {}
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: its own segments from now on, none of the parent's state."""
        if _OWNER.token.split("x")[0] != str(os.getpid()):
            _OWNER.renew()
        _OWNER.hold(self.directory)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # the child's copy; the parent's stays open
        self._lock = threading.Lock()
        self._fd = None
        self._path = None
        self._written = 0
        self._events = {}
        self._acked = {}

    def _segment_name(self) -> str:
        """A new segment's sealed name; it is written under that name plus ``.open``."""
        stamp = f"{time.time_ns():020d}"
        return f"seg-{stamp}-{_OWNER.token}-{next(self._counter):06d}{_SUFFIX}"

    def size(self) -> int:
        """Bytes held in every segment (closed, open and being replayed)."""
        total = 0
        for path in self.directory.glob("seg-*"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def write(self, batch: Sequence[BaseEvent]) -> str | None:
        """Append ``batch``; the segment's name, or None (nothing written) past ``max_bytes``.

        The bytes reach the operating system before this returns: they survive
        the process being killed (not the machine losing power). The events
        are written with their secrets scrubbed, as every output writes them.

        Raises:
            UnencodableError: some events cannot be encoded (nothing written).
            OSError: the segment could not be written.
        """
        data = utf8("".join(line + "\n" for line in encode_texts(batch, "dict")))
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                self._bytes = self.size()  # others may have freed room
                if self._bytes + len(data) > self.max_bytes:
                    return None
            if self._fd is None or self._written >= self.segment_bytes:
                self._close_segment()
                self._path = self.directory / (self._segment_name() + _OPEN)
                self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._written = 0
            write_all(self._fd, data)
            self._written += len(data)
            self._bytes += len(data)
            assert self._path is not None
            name = self._path.name[: -len(_OPEN)]
            self._events[name] = self._events.get(name, 0) + len(batch)
            return name

    def ack(self, name: str, count: int) -> None:
        """Journal use: ``count`` events of segment ``name`` were delivered.

        A segment no longer written to whose every event was delivered is deleted.
        """
        with self._lock:
            self._acked[name] = self._acked.get(name, 0) + count
            self._collect(name)

    def _collect(self, name: str) -> None:
        if self._path is not None and self._path.name == name + _OPEN:
            return  # still being written
        if self._acked.get(name, 0) >= self._events.get(name, 1):
            path = self.directory / name
            with contextlib.suppress(FileNotFoundError):
                self._bytes -= path.stat().st_size
                path.unlink()
            self._acked.pop(name, None)
            self._events.pop(name, None)

    def _close_segment(self) -> None:
        """Seal the open segment: close it and drop its ``.open`` suffix."""
        if self._fd is not None:
            os.close(self._fd)
        closed = None
        if self._path is not None:
            closed = self._path.name[: -len(_OPEN)]
            with contextlib.suppress(FileNotFoundError):
                self._path.rename(self.directory / closed)
        self._fd = None
        self._path = None
        if closed is not None and closed in self._acked:
            self._collect(closed)

    def seal(self) -> None:
        """Close the segment being written, so that it can be replayed."""
        with self._lock:
            self._close_segment()

    def claim(self, *, own: bool = True) -> Path | None:
        """Take the oldest replayable segment, or None.

        A segment still being written (``.open``) is never taken while its
        writer runs. A sealed segment is complete and can be taken by any
        process, except that, with ``own`` false (a journal, whose sealed
        segments are still being sent from their writer's memory), only
        segments of writers that no longer run are taken. Taking renames the
        segment, so that no two processes replay the same events.
        """
        for path in sorted(self.directory.glob("seg-*")):
            name = path.name
            token = _token_of(name)
            if _CLAIMED in name:
                claimer = name.rsplit("-", 1)[-1]
                if claimer == _OWNER.token:
                    return path  # ours from an earlier, unfinished replay
                if _alive(self.directory, claimer):
                    continue
                base = name.split(_CLAIMED, 1)[0]
            elif name.endswith(_OPEN):
                if _alive(self.directory, token):
                    continue  # being written
                base = name[: -len(_OPEN)]
            elif name.endswith(_SUFFIX):
                if not own and _alive(self.directory, token):
                    continue
                base = name
            else:
                continue
            target = path.with_name(f"{base}{_CLAIMED}-{_OWNER.token}")
            try:
                path.rename(target)
            except FileNotFoundError:
                continue  # someone else claimed it first
            return target
        return None

    def read(self, path: Path) -> Iterator[BaseEvent]:
        """The events of a claimed segment; bad lines are skipped and counted."""
        with path.open("rb") as handle:
            for raw in handle:
                line = raw.strip()
                if not line:
                    continue
                try:
                    yield from_dict(json.loads(line))
                except (ValueError, EventValidationError, TypeError):
                    self.corrupt_lines += 1

    def release(self, path: Path) -> None:
        """Delete a segment that was replayed in full."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                self._bytes -= path.stat().st_size
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the open segment."""
        self.seal()
