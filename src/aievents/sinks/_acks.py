"""Acknowledgements beside a spill segment: which of its lines were delivered.

A segment's acks file (``<segment>.acks``) holds lines of ``first stop``,
each a range ``[first, stop)`` of line numbers of the segment whose events
were delivered. It is only appended to. A line torn by a crash is ignored
when read, and every appender starts on a fresh line, so that a torn line
never joins the next one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from aievents._files import fresh_line, write_all

__all__ = ["SUFFIX", "append", "parse", "ranges", "record"]

SUFFIX: Final = ".acks"

Range = tuple[int, int]


def merged(found: Iterable[Range]) -> list[Range]:
    """``[first, stop)`` ranges sorted, the overlapping and touching ones joined."""
    out: list[Range] = []
    for first, stop in sorted(found):
        if out and first <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], stop))
        else:
            out.append((first, stop))
    return out


def ranges(indexes: Iterable[int]) -> list[Range]:
    """Sorted, merged ``[first, stop)`` ranges covering the line numbers ``indexes``."""
    return merged((index, index + 1) for index in indexes)


def record(indexes: Iterable[int]) -> bytes:
    """The lines that acknowledge the line numbers ``indexes``."""
    return "".join(f"{first} {stop}\n" for first, stop in ranges(indexes)).encode()


def parse(data: bytes) -> list[Range]:
    """The ranges of an acks file, merged; torn or garbled lines are ignored."""
    found: list[Range] = []
    for line in data.split(b"\n"):
        parts = line.split(b" ")
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            first, stop = int(parts[0]), int(parts[1])
            if first < stop:
                found.append((first, stop))
    return merged(found)


def append(path: Path, data: bytes) -> None:
    """Append ``data`` (from :func:`record`) to the acks file ``path``, on a fresh line.

    Raises:
        OSError: the file cannot be written.
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        write_all(fd, fresh_line(fd, os.fstat(fd).st_size) + data)
    finally:
        os.close(fd)
