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

Delivered events are acknowledged beside their segment, in
``<segment>.acks`` (lines of ``first stop``: a range of line numbers), as
batches are delivered; whoever replays the segment later (this process,
or the next one after a crash) sends only the lines not acknowledged. An
acknowledgement is written after the delivery, so a crash in between sends
those events again (at least once); a torn line is ignored, and every
appender starts on a fresh line, so a torn line never joins a later one.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from aievents._diag import RateLimitedLog
from aievents._fork import after_fork
from aievents.events import BaseEvent
from aievents.transports.jsonl import encode_texts, utf8
from aievents.wire import from_dict

__all__ = ["PartialWriteError", "Spill"]

_SUFFIX: Final = ".jsonl"
_OPEN: Final = ".open"
_CLAIMED: Final = ".replaying"
_ACKS: Final = ".acks"
_DIAG: Final = RateLimitedLog("spill")


class PartialWriteError(OSError):
    """A batch's write failed after ``kept`` of its events were written whole.

    Those events are in the spill (and will be replayed); the others are not.
    """

    def __init__(self, error: OSError, kept: int) -> None:
        super().__init__(error.errno, error.strerror)
        self.kept = kept


class _Owner:
    """This process's identity in spill directories: a token and a held lock file.

    The token (pid and random bytes) survives pid reuse; the lock file, held
    with ``flock`` for the life of the process, tells other processes whether
    the token's owner still runs. It is opened read-only: holding it does not
    keep its file system from being remounted read-only. A forked child gets
    a token of its own.
    """

    def __init__(self) -> None:
        self.token = f"{os.getpid()}x{os.urandom(4).hex()}"
        self.locks: dict[Path, int] = {}

    def hold(self, directory: Path) -> None:
        if directory in self.locks:
            return
        fd = os.open(directory / f"owner-{self.token}.lock", os.O_RDONLY | os.O_CREAT, 0o600)
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


def _token_of(name: str) -> str:
    """The writer token in ``seg-<stamp>-<token>-<counter>.jsonl...``."""
    parts = name.split("-")
    return parts[2] if len(parts) > 3 else ""


def _base(name: str) -> str:
    """A segment's sealed name, from its name in any state (open, claimed, acks)."""
    for mark in (_CLAIMED, _OPEN, _ACKS):
        name = name.split(mark, 1)[0]
    return name


def _ranges(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged ``[first, stop)`` ranges covering ``indexes``."""
    ranges: list[tuple[int, int]] = []
    for index in sorted(indexes):
        if ranges and index <= ranges[-1][1]:
            first, stop = ranges[-1]
            ranges[-1] = (first, max(stop, index + 1))
        else:
            ranges.append((index, index + 1))
    return ranges


def _parse_acks(data: bytes) -> list[tuple[int, int]]:
    """The ranges of an acks file, merged; torn or garbled lines are ignored."""
    found: list[tuple[int, int]] = []
    for line in data.split(b"\n"):
        parts = line.split(b" ")
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            first, stop = int(parts[0]), int(parts[1])
            if first < stop:
                found.append((first, stop))
    found.sort()
    merged: list[tuple[int, int]] = []
    for first, stop in found:
        if merged and first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((first, stop))
    return merged


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
        _OWNER.hold(self.directory)
        self._bytes = self.size()
        self._fresh()
        after_fork(self)

    def _fresh(self) -> None:
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
        if _OWNER.token.split("x")[0] != str(os.getpid()):
            _OWNER.renew()
        _OWNER.hold(self.directory)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # the child's copy; the parent's stays open
        self._lock = threading.Lock()
        self._fresh()

    def _segment_name(self) -> str:
        """A new segment's sealed name; it is written under that name plus ``.open``."""
        stamp = f"{time.time_ns():020d}"
        return f"seg-{stamp}-{_OWNER.token}-{next(self._counter):06d}{_SUFFIX}"

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
        data = utf8("".join(line + "\n" for line in encode_texts(batch, "dict")))
        problems: list[tuple[str, OSError]] = []
        try:
            with self._lock:
                return self._append(data, len(batch), problems)
        finally:
            _report(problems)

    def _append(
        self, data: bytes, count: int, problems: list[tuple[str, OSError]]
    ) -> tuple[str, int] | None:
        if self._bytes + len(data) > self.max_bytes:
            self._bytes = self.size()  # others may have freed room
            if self._bytes + len(data) > self.max_bytes:
                return None
        if self._fd is None or self._written >= self.segment_bytes:
            self._close_segment(problems)
            path = self.directory / (self._segment_name() + _OPEN)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._path, self._written, self._lines = path, 0, 0
        assert self._path is not None
        name = self._path.name[: -len(_OPEN)]
        done = 0
        try:
            view = memoryview(data)
            while done < len(data):
                done += os.write(self._fd, view[done:])
        except OSError as error:
            kept = self._undo(done, data, problems)
            if kept:
                self._events[name] = self._events.get(name, 0) + kept
                raise PartialWriteError(error, kept) from error
            raise
        first = self._lines
        self._lines += count
        self._written += len(data)
        self._bytes += len(data)
        self._events[name] = self._events.get(name, 0) + count
        return name, first

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
        those events. A journal segment no longer written to whose every
        event was delivered is deleted instead. Never raises: an
        acknowledgement that cannot be written only means those events may
        be sent again.
        """
        if not indexes:
            return
        base = _base(name)
        problems: list[tuple[str, OSError]] = []
        try:
            with self._lock:
                if base in self._events:
                    self._acked[base] = self._acked.get(base, 0) + len(indexes)
                    if self._collect(base, problems):
                        return
                record = "".join(f"{first} {stop}\n" for first, stop in _ranges(indexes))
                try:
                    self._append_acks(base, record.encode())
                except OSError as error:
                    problems.append(("spill_ack_failed", error))
        finally:
            _report(problems)

    def _append_acks(self, base: str, record: bytes) -> None:
        fd = os.open(self.directory / (base + _ACKS), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                record = b"\n" + record  # a torn line before: never continue it
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

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
            return self._claim(own, problems)
        finally:
            _report(problems)

    def _claim(self, own: bool, problems: list[tuple[str, OSError]]) -> Path | None:
        if self._replayed:
            for path in list(self._replayed):
                self._release(path, problems)
        paths = sorted(self.directory.glob("seg-*"))
        segments = {_base(path.name) for path in paths if not path.name.endswith(_ACKS)}
        for path in paths:
            name = path.name
            token = _token_of(name)
            if name.endswith(_ACKS):
                if name[: -len(_ACKS)] not in segments:  # its segment is gone
                    with contextlib.suppress(OSError):
                        path.unlink()
                continue
            if _CLAIMED in name:
                if path in self._replayed:
                    continue
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
            acked = _parse_acks((self.directory / (base + _ACKS)).read_bytes())
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
            self.ack(base, bad)
        return events

    def release(self, path: Path) -> None:
        """Delete a segment that was replayed in full (later, if it cannot be now)."""
        problems: list[tuple[str, OSError]] = []
        self._release(path, problems)
        _report(problems)

    def _release(self, path: Path, problems: list[tuple[str, OSError]]) -> None:
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
