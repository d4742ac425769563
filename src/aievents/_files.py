"""Appending to files whole: the writes the JSON Lines transport and the spill share.

:func:`write_all` writes all of its data or says how much reached the file
(:class:`ShortWriteError`), so a writer can cut a failed batch back;
:func:`fresh_line` keeps a line cut short (a full disk, a killed process) from
running into the next one.
"""

from __future__ import annotations

import os

__all__ = ["ShortWriteError", "fresh_line", "write_all"]


class ShortWriteError(OSError):
    """A write that failed after ``written`` bytes of its data reached the file.

    Internal, never raised to users: the JSON Lines transport turns it into a
    :class:`~aievents.exceptions.TransportError`, the spill into its
    ``PartialWriteError``, the acks file into an ``OSError`` its sink counts.
    """

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
