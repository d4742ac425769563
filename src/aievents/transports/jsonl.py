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
from aievents.wire import to_envelope, to_json

__all__ = ["JsonlTransport"]

Fsync = Literal["never", "batch", "always"]
Shape = Literal["dict", "envelope"]
SHAPES: Final = ("dict", "envelope")
_DUMPS: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, allow_nan=False
).encode
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


def encode(event: BaseEvent, shape: Shape) -> str:
    """One event, its secrets scrubbed, as one line of compact JSON (no newline).

    The dict shape is written by a compiled encoder (the same JSON as
    ``to_dict``, without building the dict); the envelope goes through
    ``to_envelope``.

    Raises:
        ValueError: a value JSON cannot write (NaN, infinity, a loop).
        TypeError: a value of a type JSON cannot write.
    """
    event = outbound(event)
    if shape == "dict":
        return to_json(event)
    return _DUMPS(to_envelope(event))


def utf8(text: str) -> bytes:
    """JSON text as UTF-8; a lone surrogate (which UTF-8 cannot hold) as its ``\\u`` escape.

    JSON text holds surrogates only inside strings, where the escape stands
    for the same character: nothing is lost.
    """
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


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


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class JsonlTransport:
    """Appends each event as one JSON line to ``path``.

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
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._lock = threading.Lock()
        self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _rotate(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
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
        """Append the batch, one line per event.

        Raises:
            UnencodableError: some events cannot be encoded (nothing written).
            TransportError: the file cannot be written.
        """
        lines = encode_lines(batch, self.shape)
        with self._lock:
            try:
                fd = self._open()
                chunk: list[bytes] = []
                size = 0
                for line in lines:
                    if self._size + size + len(line) > self.max_bytes and (self._size or size):
                        self._write(fd, chunk, size)
                        self._rotate()
                        fd = self._open()
                        chunk, size = [], 0
                    chunk.append(line)
                    size += len(line)
                self._write(fd, chunk, size)
                if self.fsync == "batch":
                    os.fsync(fd)
            except OSError as exc:
                raise TransportError(f"cannot write {self.path}: {exc}", retryable=True) from exc

    def _write(self, fd: int, chunk: list[bytes], size: int) -> None:
        """Write ``chunk`` (``size`` bytes in all)."""
        if not chunk:
            return
        if self.fsync == "always":
            for line in chunk:
                write_all(fd, line)
                os.fsync(fd)
        else:
            write_all(fd, b"".join(chunk))
        self._size += size

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
