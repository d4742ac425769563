"""The on-disk spill of a ForwardSink: what the target could not take, kept for later.

Batches are appended, one event per JSON line, to segment files in one
directory. A segment is closed when it reaches ``segment_bytes``; the whole
spill never exceeds ``max_bytes`` (beyond, new batches are refused and the
caller counts them as dropped). Reading tolerates corruption: a torn or
garbled line (a process killed mid-write), or one that cannot be read back
for any reason, is skipped and counted, the rest of the segment is used.

A write that fails (a full disk, a file system turned read-only) leaves
nothing behind: the segment is cut back to where the batch began, or, when
even that fails, set aside with the whole events that made it reported to
the caller. Nothing here raises into the caller but the write of a batch;
a directory that cannot be changed any more only defers the sealing and
the replay of its segments.

Several processes may share a directory (a forked worker, the next run of
the program): each writes its own segments, named with its pid, and claims
a segment for replay by renaming it, so that no two processes replay the
same events.

Delivered events are acknowledged beside their segment (:mod:`._acks`), as
batches are delivered; whoever replays the segment later (this process,
or the next one after a crash) sends only the lines not acknowledged. An
acknowledgement is written after the delivery, so a crash in between sends
those events again (at least once). A segment and its acknowledgements go
together, when the segment was replayed in full (:meth:`Spill.release`) or,
in a journal, when its writer saw every event of it delivered.

A directory that cannot be used when the spill is made (read-only, not
there and not creatable) is not an error: every write and replay tries it
again, and a batch it cannot take is refused like any failed write.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from aievents._diag import RateLimitedLog
from aievents._files import ShortWriteError, write_all
from aievents._fork import after_fork
from aievents.encoding.jsonl import encode_lines
from aievents.events import BaseEvent
from aievents.sinks import _acks
from aievents.sinks._owner import OWNER, alive, token_of
from aievents.wire import from_dict

__all__ = ["PartialWriteError", "Spill"]

_SUFFIX: Final = ".jsonl"
_OPEN: Final = ".open"
_CLAIMED: Final = ".replaying"
_ACKS: Final = _acks.SUFFIX
_DIAG: Final = RateLimitedLog("spill")


class PartialWriteError(OSError):
    """A batch's write failed after ``kept`` of its events were written whole.

    Those events are in the spill (and will be replayed); the others are not.
    Internal, never raised to users: the sink counts the events spilled and
    dropped and works on (an ``OSError``, as every failed write of the spill).
    """

    def __init__(self, error: OSError, kept: int) -> None:
        super().__init__(error.errno, error.strerror)
        self.kept = kept


def _base(name: str) -> str:
    """A segment's sealed name, from its name in any state (open, claimed, acks)."""
    for mark in (_CLAIMED, _OPEN, _ACKS):
        name = name.split(mark, 1)[0]
    return name


class Spill:
    """Append-only segment files under ``directory``, bounded by ``max_bytes``.

    ``journal``: the segments are a durable sink's journal, whose writer
    acknowledges every event it delivers and deletes a segment (sealed) once
    all its events are acknowledged.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 256 * 2**20,
        segment_bytes: int = 4 * 2**20,
        journal: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.journal = journal
        self.corrupt_lines = 0
        self._lock = threading.Lock()
        self._counter = itertools.count()
        problems: list[tuple[str, OSError]] = []
        try:
            self._ready()
        except OSError as error:  # tried again at each write and replay
            problems.append(("spill_unavailable", error))
        self._bytes = self.size()
        self._fresh()
        after_fork(self)
        _report(problems)

    def _ready(self) -> None:
        """Make the directory if needed and hold this process's lock file in it.

        Raises:
            OSError: the directory cannot be used (yet).
        """
        if self.directory not in OWNER.locks:
            self.directory.mkdir(parents=True, exist_ok=True)
            OWNER.hold(self.directory)

    def _fresh(self) -> None:
        """No segment open, and nothing known about segments (at start, in a forked child)."""
        self._fd: int | None = None
        self._path: Path | None = None
        self._written = 0  # bytes in the open segment
        self._lines = 0  # events in the open segment
        #: Closed segments whose rename to their sealed name failed; retried.
        self._unsealed: list[Path] = []
        #: Claimed segments replayed in full that could not be deleted yet.
        self._replayed: set[Path] = set()
        #: Journal bookkeeping: events written to and acknowledged from each segment.
        self._events: dict[str, int] = {}
        self._acked: dict[str, int] = {}

    def _after_fork(self) -> None:
        """In a forked child: its own segments from now on, none of the parent's state."""
        if OWNER.forked():
            OWNER.renew()
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # the child's copy; the parent's stays open
        self._lock = threading.Lock()
        self._fresh()  # the child's lock file is made at its first write

    def _segment_name(self) -> str:
        """A new segment's sealed name; it is written under that name plus ``.open``."""
        stamp = f"{time.time_ns():020d}"
        return f"seg-{stamp}-{OWNER.token}-{next(self._counter):06d}{_SUFFIX}"

    def size(self) -> int:
        """Bytes held in every segment (closed, open and being replayed) and its acks."""
        total = 0
        for path in self.directory.glob("seg-*"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    # ------------------------------------------------------------------ writing

    def write(self, batch: Sequence[BaseEvent]) -> tuple[str, int] | None:
        """Append ``batch``; where it went, or None (nothing written) past ``max_bytes``.

        Returns the segment's sealed name and the line number of the batch's
        first event in it. The bytes reach the operating system before this
        returns: they survive the process being killed (not the machine
        losing power). The events are written with their secrets scrubbed,
        as every output writes them.

        Raises:
            UnencodableError: some events cannot be encoded (nothing written).
            OSError: nothing of the batch was written.
            PartialWriteError: only its first ``kept`` events were.
        """
        data = b"".join(encode_lines(batch, "dict"))
        problems: list[tuple[str, OSError]] = []
        try:
            with self._lock:
                return self._append(data, len(batch), problems)
        finally:
            _report(problems)

    def _append(
        self, data: bytes, count: int, problems: list[tuple[str, OSError]]
    ) -> tuple[str, int] | None:
        """Write ``data`` (``count`` events) to the open segment, the lock held."""
        if self._bytes + len(data) > self.max_bytes:
            self._bytes = self.size()  # others may have freed room
            if self._bytes + len(data) > self.max_bytes:
                return None
        if self._fd is None or self._written >= self.segment_bytes:
            self._close_segment(problems)
            self._ready()
            path = self.directory / (self._segment_name() + _OPEN)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._path, self._written, self._lines = path, 0, 0
        assert self._path is not None
        name = self._path.name[: -len(_OPEN)]
        try:
            write_all(self._fd, data)
        except ShortWriteError as error:
            kept = self._undo(error.written, data, problems)
            if kept:
                self._count(name, kept)
                raise PartialWriteError(error, kept) from error
            raise
        first = self._lines
        self._lines += count
        self._written += len(data)
        self._bytes += len(data)
        self._count(name, count)
        return name, first

    def _count(self, name: str, count: int) -> None:
        """A journal's bookkeeping: ``count`` more events written to segment ``name``."""
        if self.journal:
            self._events[name] = self._events.get(name, 0) + count

    def _undo(self, done: int, data: bytes, problems: list[tuple[str, OSError]]) -> int:
        """A write failed after ``done`` bytes: cut them off; the whole events left, if any.

        When the segment cannot be cut back, it is closed as it is (its last
        line may be torn: the reader skips it) and the next batch starts a new
        one, so that no line is ever written after a torn one.
        """
        if not done:
            return 0
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._written)
        except OSError as error:
            problems.append(("spill_truncate_failed", error))
        else:
            return 0
        self._bytes += done
        self._close_segment(problems)
        return data[:done].count(b"\n")

    def _close_segment(self, problems: list[tuple[str, OSError]]) -> None:
        """Seal the open segment: close it and drop its ``.open`` suffix.

        The descriptor is forgotten before it is closed (a failure later on
        must never leave a number that may be reused by someone else's file).
        A rename that fails is retried at the next seal.
        """
        fd, path = self._fd, self._path
        self._fd, self._path, self._written, self._lines = None, None, 0, 0
        if fd is not None:
            with contextlib.suppress(OSError):  # closed all the same
                os.close(fd)
        if path is not None:
            self._unsealed.append(path)
        for pending in list(self._unsealed):
            sealed = pending.with_name(pending.name[: -len(_OPEN)])
            try:
                pending.rename(sealed)
            except FileNotFoundError:
                pass
            except OSError as error:
                problems.append(("spill_seal_failed", error))
                continue
            self._unsealed.remove(pending)
            if sealed.name in self._acked:
                self._collect(sealed.name, problems)

    def seal(self) -> None:
        """Close the segment being written, so that it can be replayed."""
        problems: list[tuple[str, OSError]] = []
        with self._lock:
            self._close_segment(problems)
        _report(problems)

    # ------------------------------------------------------------------ acknowledging

    def ack(self, name: str, indexes: Sequence[int]) -> None:
        """The events at ``indexes`` (line numbers) of segment ``name`` were delivered.

        ``name`` is the segment's name in any state. The acknowledgement is
        appended to the segment's acks file, so that a later replay skips
        those events. A journal segment its writer no longer writes to, all
        of whose events were delivered, is deleted instead; a claimed segment
        (being replayed) never is: it goes, with its acks, when released.
        Never raises: an acknowledgement that cannot be written only means
        those events may be sent again.
        """
        if not indexes:
            return
        base = _base(name)
        problems: list[tuple[str, OSError]] = []
        try:
            with self._lock:
                if _CLAIMED not in name and base in self._events:
                    self._acked[base] = self._acked.get(base, 0) + len(indexes)
                    if self._collect(base, problems):
                        return
                try:
                    _acks.append(self.directory / (base + _ACKS), _acks.record(indexes))
                except OSError as error:
                    problems.append(("spill_ack_failed", error))
        finally:
            _report(problems)

    def _collect(self, name: str, problems: list[tuple[str, OSError]]) -> bool:
        """Delete a journal segment that is sealed and fully delivered; whether it is gone."""
        if self._path is not None and self._path.name == name + _OPEN:
            return False  # still being written
        if any(path.name == name + _OPEN for path in self._unsealed):
            return False  # not sealed yet
        if self._acked.get(name, 0) < self._events.get(name, 1):
            return False
        if not self._delete(self.directory / name, problems):
            return False
        self._acked.pop(name, None)
        self._events.pop(name, None)
        return True

    # ------------------------------------------------------------------ replaying

    def claim(self, *, own: bool = True) -> Path | None:
        """Take the oldest replayable segment, or None.

        A segment still being written (``.open``) is never taken while its
        writer runs. A sealed segment is complete and can be taken by any
        process, except that, with ``own`` false (a journal, whose sealed
        segments are still being sent from their writer's memory), only
        segments of writers that no longer run are taken. Taking renames the
        segment, so that no two processes replay the same events; in a
        directory that cannot be changed, nothing is taken.
        """
        problems: list[tuple[str, OSError]] = []
        try:
            self._ready()  # a claimed segment names this process: it must be seen running
        except OSError as error:
            problems.append(("spill_unavailable", error))
            _report(problems)
            return None
        try:
            return self._claim(own, problems)
        finally:
            _report(problems)

    def _claim(self, own: bool, problems: list[tuple[str, OSError]]) -> Path | None:
        """Take the oldest replayable segment (see :meth:`claim`)."""
        if self._replayed:
            for path in list(self._replayed):
                self._release(path, problems)
        paths = sorted(self.directory.glob("seg-*"))
        segments = {_base(path.name) for path in paths if not path.name.endswith(_ACKS)}
        for path in paths:
            name = path.name
            token = token_of(name)
            if name.endswith(_ACKS):
                if name[: -len(_ACKS)] not in segments:  # its segment is gone
                    with contextlib.suppress(OSError):
                        path.unlink()
                continue
            if _CLAIMED in name:
                if path in self._replayed:
                    continue
                claimer = name.rsplit("-", 1)[-1]
                if claimer == OWNER.token:
                    return path  # ours from an earlier, unfinished replay
                if alive(self.directory, claimer):
                    continue
                base = name.split(_CLAIMED, 1)[0]
            elif name.endswith(_OPEN):
                if alive(self.directory, token):
                    continue  # being written
                base = name[: -len(_OPEN)]
            elif name.endswith(_SUFFIX):
                if not own and alive(self.directory, token):
                    continue
                base = name
            else:
                continue
            target = path.with_name(f"{base}{_CLAIMED}-{OWNER.token}")
            try:
                path.rename(target)
            except FileNotFoundError:
                continue  # someone else claimed it first
            except OSError as error:
                problems.append(("spill_claim_failed", error))
                return None  # the directory cannot be changed now: replay later
            return target
        return None

    def pending(self, path: Path) -> list[tuple[int, BaseEvent]]:
        """The events of a claimed segment not acknowledged yet, with their line numbers.

        A line that cannot be read back, for whatever reason (torn, garbled,
        nested too deep, not an event), is skipped, counted in
        ``corrupt_lines`` and acknowledged, so that it is counted once.
        """
        base = _base(path.name)
        try:
            acked = _acks.parse((self.directory / (base + _ACKS)).read_bytes())
        except FileNotFoundError:
            acked = []
        except OSError as error:
            _report([("spill_acks_unreadable", error)])
            acked = []
        events: list[tuple[int, BaseEvent]] = []
        bad: list[int] = []
        ranges = iter(acked)
        skip = next(ranges, None)
        with path.open("rb") as handle:
            for index, raw in enumerate(handle):
                while skip is not None and skip[1] <= index:
                    skip = next(ranges, None)
                if skip is not None and skip[0] <= index:
                    continue  # delivered already
                line = raw.strip()
                if not line:
                    continue
                try:
                    events.append((index, from_dict(json.loads(line))))
                except Exception:  # noqa: BLE001 - any bad line is skipped and counted
                    bad.append(index)
        if bad:
            self.corrupt_lines += len(bad)
            self.ack(path.name, bad)
        return events

    def release(self, path: Path) -> None:
        """Delete a segment that was replayed in full (later, if it cannot be now)."""
        problems: list[tuple[str, OSError]] = []
        self._release(path, problems)
        _report(problems)

    def _release(self, path: Path, problems: list[tuple[str, OSError]]) -> None:
        """Delete a replayed segment, or keep it aside to delete later (never replayed again)."""
        with self._lock:
            if self._delete(path, problems):
                self._replayed.discard(path)
            else:
                self._replayed.add(path)  # never replayed again by this process

    def _delete(self, path: Path, problems: list[tuple[str, OSError]]) -> bool:
        """Delete a segment (in any state) and its acks, the lock held; whether it is gone."""
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            size = 0
        except OSError as error:
            problems.append(("spill_delete_failed", error))
            return False
        self._bytes -= size
        with contextlib.suppress(OSError):
            (self.directory / (_base(path.name) + _ACKS)).unlink(missing_ok=True)
        return True

    def close(self) -> None:
        """Close the open segment."""
        self.seal()


def _report(problems: list[tuple[str, OSError]]) -> None:
    """Log what the spill swallowed (outside its lock), rate-limited by kind."""
    for event, error in problems:
        _DIAG((event, error.errno), "warning", event, error=error)
