"""JsonlTransport: events appended to a JSON Lines file, rotated by size.

The lines are :mod:`aievents.encoding.jsonl`'s; this module writes them,
whole batches or nothing (with :mod:`aievents._files`'s helpers, which the
spill's files use too).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from aievents._files import ShortWriteError, fresh_line, write_all
from aievents._fork import after_fork
from aievents._validate import option, setting
from aievents.encoding.jsonl import SHAPES, Shape, encode_lines
from aievents.events import BaseEvent
from aievents.exceptions import TransportError

__all__ = ["JsonlTransport"]

Fsync = Literal["never", "batch", "always"]


class _Span:
    """What one batch wrote to one file: its descriptor, its size before, the bytes written."""

    __slots__ = ("before", "fd", "written")

    def __init__(self, fd: int, before: int) -> None:
        self.fd = fd
        self.before = before
        self.written = 0


class JsonlTransport:
    """Appends each event as one JSON line to ``path``.

    A batch is written whole or not at all: when a write fails partway (a
    full disk), the file is cut back to where the batch began, so that a
    retry neither continues a torn line nor writes the batch's first events
    twice. When even that fails, the next write starts on a fresh line.

    Args:
        path: The file; its directory is created when missing.
        shape: ``dict`` (snake_case with ``type``) or ``envelope`` (TanStack).
        max_bytes: Rotate when the file would grow past this many bytes
            (``path`` becomes ``path.1``, ``path.1`` becomes ``path.2``...).
        backups: Rotated files kept; older ones are deleted.
        fsync: ``never`` (the OS writes when it likes: survives the process
            dying, not the machine), ``batch`` (after every batch) or
            ``always`` (after every line).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        shape: Shape = "dict",
        max_bytes: int = 100 * 2**20,
        backups: int = 5,
        fsync: Fsync = "never",
    ) -> None:
        option("shape", shape, SHAPES)
        option("fsync", fsync, ("never", "batch", "always"))
        setting("max_bytes", max_bytes, positive=True)
        setting("backups", backups)
        self.path = Path(path)
        self.shape: Shape = shape
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync: Fsync = fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: a lock and a file descriptor of its own."""
        self._lock = threading.Lock()
        self._forget()

    def _forget(self) -> None:
        """Let go of the file's descriptor: forgotten first, then closed.

        A descriptor number kept after its close may be reused by a file the
        application opens; this object must never write to nor close it.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _open(self, files: list[_Span]) -> int:
        """The file's descriptor (opened when needed), its span in ``files`` begun.

        A file that ends in a torn line gets a newline first.
        """
        fd = self._fd
        if fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                self._size = os.fstat(fd).st_size
                start = fresh_line(fd, self._size)
            except OSError:
                os.close(fd)
                raise
            self._fd = fd
            files.append(_Span(fd, self._size))
            if start:
                self._write(files[-1], [start])
        elif not files or files[-1].fd != fd:
            files.append(_Span(fd, os.fstat(fd).st_size))
        return fd

    def _rotate(self) -> None:
        """Move the file aside (its descriptor stays open until the batch is over)."""
        self._fd = None
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.path.exists():
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """Append the batch, one line per event: all of it, or none (see the class).

        Raises:
            UnencodableError: some events cannot be encoded (nothing written).
            TransportError: the file cannot be written (nothing of the batch
                is left in it, unless it could not even be cut back).
        """
        lines = encode_lines(batch, self.shape)
        with self._lock:
            files: list[_Span] = []
            try:
                self._append(lines, files)
            except OSError as exc:
                self._undo(files)
                raise TransportError(f"cannot write {self.path}: {exc}", retryable=True) from exc
            finally:
                for span in files:  # files rotated away during the batch, or given up on
                    if span.fd != self._fd:
                        with contextlib.suppress(OSError):
                            os.close(span.fd)

    def _append(self, lines: list[bytes], files: list[_Span]) -> None:
        """Write ``lines``, rotating where the file would grow past ``max_bytes``."""
        fd = self._open(files)
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if self._size + size + len(line) > self.max_bytes and (self._size or size):
                self._write(files[-1], chunk)
                self._rotate()
                fd = self._open(files)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self._write(files[-1], chunk)
        if self.fsync == "batch":
            os.fsync(fd)

    def _write(self, span: _Span, chunk: list[bytes]) -> None:
        """Write ``chunk`` to the file of ``span``, counting in it what reaches the file."""
        if not chunk:
            return
        fd = span.fd
        pieces = chunk if self.fsync == "always" else [b"".join(chunk)]
        for piece in pieces:
            try:
                write_all(fd, piece)
            except ShortWriteError as error:
                span.written += error.written
                raise
            span.written += len(piece)
            self._size += len(piece)
            if self.fsync == "always":
                os.fsync(fd)

    def _undo(self, files: list[_Span]) -> None:
        """A batch failed: cut every file it wrote to back to its size before the batch.

        A file some other writer appended to meanwhile is left as it is. The
        descriptor is let go of: the next batch opens the file again and, if
        it could not be cut back (its last line may be torn), starts on a
        fresh line.
        """
        for span in files:
            with contextlib.suppress(OSError):
                if span.written and os.fstat(span.fd).st_size == span.before + span.written:
                    os.ftruncate(span.fd, span.before)
        self._fd = None  # forgotten; closed with the batch's other files

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._forget()
