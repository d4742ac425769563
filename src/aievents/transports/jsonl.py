"""JsonlTransport: events appended to a JSON Lines file, rotated by size."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

from aievents._fork import after_fork
from aievents._outbound import outbound
from aievents._validate import option, setting
from aievents.events import BaseEvent
from aievents.transports import TransportError, encode_each
from aievents.wire import PLUGIN_ID, to_envelope, to_json

__all__ = ["JsonlTransport"]

Fsync = Literal["never", "batch", "always"]
Shape = Literal["dict", "envelope"]
SHAPES: Final = ("dict", "envelope")
_DUMPS: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, allow_nan=False
).encode
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


def encode(event: BaseEvent, shape: Shape, *, plugin_id: str = PLUGIN_ID) -> str:
    """One event, its secrets scrubbed, as one line of compact JSON (no newline).

    The dict shape is written by a compiled encoder (the same JSON as
    ``to_dict``, without building the dict); the envelope goes through
    ``to_envelope`` (with ``plugin_id``).

    Raises:
        ValueError: a value JSON cannot write (NaN, infinity, a loop).
        TypeError: a value of a type JSON cannot write.
    """
    event = outbound(event)
    if shape == "dict":
        return to_json(event)
    return _DUMPS(to_envelope(event, plugin_id=plugin_id))


def escape_surrogates(text: str) -> str:
    """JSON text with each lone surrogate (which UTF-8 cannot hold) as its ``\\u`` escape.

    JSON text holds surrogates only inside strings, where the escape stands
    for the same character: nothing is lost.
    """
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def utf8(text: str) -> bytes:
    """JSON text as UTF-8, lone surrogates escaped (:func:`escape_surrogates`)."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return escape_surrogates(text).encode()


def encode_texts(batch: Sequence[BaseEvent], shape: Shape) -> list[str]:
    """Each event of ``batch`` as one line of JSON text (no newline), secrets scrubbed.

    Raises:
        UnencodableError: naming the events that cannot be encoded (the
            others are not lost: the caller sends them without these).
    """
    try:
        if shape == "dict":  # the hot path, without a call per event to encode()
            return [to_json(outbound(event)) for event in batch]
        return [encode(event, shape) for event in batch]
    except Exception:  # noqa: BLE001 - which events? Each on its own, to name them
        return encode_each(batch, lambda event: encode(event, shape))


def encode_lines(batch: Sequence[BaseEvent], shape: Shape) -> list[bytes]:
    """Each event of ``batch`` as one line of UTF-8 JSON ending in a newline, secrets scrubbed.

    Raises:
        UnencodableError: as :func:`encode_texts`.
    """
    texts = encode_texts(batch, shape)
    try:
        return [(text + "\n").encode() for text in texts]
    except UnicodeEncodeError:  # a lone surrogate somewhere: escaped
        return [utf8(text + "\n") for text in texts]


class ShortWriteError(OSError):
    """A write that failed after ``written`` bytes of its data reached the file."""

    def __init__(self, error: OSError, written: int) -> None:
        super().__init__(error.errno, error.strerror)
        self.written = written


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may take only part of it).

    Raises:
        ShortWriteError: a write failed; ``written`` says how much of
            ``data`` was written before it.
    """
    view = memoryview(data)
    written = 0
    try:
        while written < len(data):
            written += os.write(fd, view[written:])
    except OSError as error:
        raise ShortWriteError(error, written) from error


def fresh_line(fd: int, size: int) -> bytes:
    """``b"\\n"`` when the file of ``fd`` (``size`` bytes) ends in a torn line, else ``b""``.

    Whoever appends writes it first, so that a line cut short (by a full disk,
    a killed process) never runs into the next one.
    """
    return b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""


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
