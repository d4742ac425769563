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
from aievents.transports.jsonl import encode
from aievents.wire import from_dict

__all__ = ["Spill"]

_SUFFIX: Final = ".jsonl"
_CLAIMED: Final = ".replaying"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        self._bytes = self.size()
        #: Journal bookkeeping: events written to and acknowledged from each segment.
        self._events: dict[str, int] = {}
        self._acked: dict[str, int] = {}
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: its own segments from now on, none of the parent's state."""
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
        stamp = f"{time.time_ns():020d}"
        return f"seg-{stamp}-{os.getpid()}-{next(self._counter):06d}{_SUFFIX}"

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
        the process being killed (not the machine losing power).
        """
        data = "".join(encode(event, "dict") + "\n" for event in batch).encode()
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                self._bytes = self.size()  # others may have freed room
                if self._bytes + len(data) > self.max_bytes:
                    return None
            if self._fd is None or self._written >= self.segment_bytes:
                self._close_segment()
                self._path = self.directory / self._segment_name()
                self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._written = 0
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self._written += len(data)
            self._bytes += len(data)
            assert self._path is not None
            name = self._path.name
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
        if self._path is not None and self._path.name == name:
            return  # still being written
        if self._acked.get(name, 0) >= self._events.get(name, 1):
            path = self.directory / name
            with contextlib.suppress(FileNotFoundError):
                self._bytes -= path.stat().st_size
                path.unlink()
            self._acked.pop(name, None)
            self._events.pop(name, None)

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        closed = self._path.name if self._path is not None else None
        self._fd = None
        self._path = None
        if closed is not None and closed in self._acked:
            self._collect(closed)

    def seal(self) -> None:
        """Close the segment being written, so that it can be replayed."""
        with self._lock:
            self._close_segment()

    def claim(self, *, own: bool = True) -> Path | None:
        """Take the oldest replayable segment for this process, or None.

        Segments of processes that no longer run can be claimed, and, when
        ``own``, this process's sealed segments (a journal passes False: its
        live segments are being sent from memory).
        """
        with self._lock:
            open_path = self._path
        candidates = sorted(self.directory.glob("seg-*"))
        for path in candidates:
            if path == open_path:
                continue
            name = path.name
            if name.endswith(_CLAIMED + f"-{os.getpid()}"):
                return path
            if _CLAIMED in name:
                owner = name.rsplit("-", 1)[-1]
                if owner.isdigit() and _alive(int(owner)):
                    continue
                base = name.split(_CLAIMED, 1)[0]
            else:
                if not name.endswith(_SUFFIX):
                    continue
                writer = name[: -len(_SUFFIX)].split("-")[-2]
                mine = writer == str(os.getpid())
                if (mine and not own) or (writer.isdigit() and not mine and _alive(int(writer))):
                    continue  # a live process may still be writing or sending it
                base = name
            target = path.with_name(f"{base}{_CLAIMED}-{os.getpid()}")
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
