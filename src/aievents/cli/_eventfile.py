"""Reading a JSON Lines file of events, whatever the file holds.

Used by ``aievents usage --events`` and ``aievents ingest``. Each line is
one event, as a dict (:func:`aievents.wire.to_dict`) or a TanStack envelope
(:func:`aievents.wire.to_envelope`), in UTF-8 (a BOM on the first line is
allowed); blank lines are ignored. What is read is bounded, whatever the
input:

- a line holds at most :data:`MAX_LINE` bytes; a longer one is skipped
  without being held in memory, and reported;
- a bad line (not UTF-8, not JSON, not an object, a lone surrogate, an
  integer outside 64 bits, NaN or an infinite number, an event field of the
  wrong kind) is skipped and reported as one line naming the file, the line
  number and the field: at most :data:`MAX_REPORTED` are reported one by
  one, the rest are counted;
- a NUL byte means the input is not text (``/dev/zero``, a compressed or
  binary file): reading stops there, with one line saying so;
- the file may be a regular file, a pipe or FIFO, or a character device
  (``-`` is standard input). A FIFO is waited for until a writer opens it
  (after a second, a line on stderr says so); a stream is read to its end.
  A directory or anything else is refused. Ctrl-C interrupts any wait.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Final

from aievents._threads import start
from aievents.events import ImageUsageEvent
from aievents.exceptions import EventFileError, FieldValueError, message

__all__ = ["MAX_LINE", "MAX_REPORTED", "EventFileError", "event_file"]

#: Longest line read, in bytes (an event is a few hundred).
MAX_LINE: Final = 1 << 20
#: Bad lines reported one by one; later ones are counted.
MAX_REPORTED: Final = 20
#: How long to wait for a FIFO's writer before saying that we wait.
_FIFO_NOTICE: Final = 1.0
_CHUNK: Final = 1 << 16
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1

Report = Callable[[str], None]


class _LineError(Exception):
    """Why one line is not an event (the message names the field when there is one)."""


# --------------------------------------------------------------------------- opening


def _why(error: OSError) -> str:
    return (error.strerror or type(error).__name__).lower()


def _open(path: str, report: Report) -> IO[bytes]:
    """The file opened for reading; a FIFO is waited for (say so after a second)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise EventFileError(f"cannot read {path}: {_why(error)}") from None
    except ValueError:  # a NUL in the name
        raise EventFileError(f"cannot read {path}: not a file name") from None
    if stat.S_ISDIR(mode):
        raise EventFileError(f"cannot read {path}: it is a directory")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        raise EventFileError(f"cannot read {path}: not a file, a pipe or a character device")
    opened = threading.Event()
    if stat.S_ISFIFO(mode):  # open() waits for a writer: say so if it takes a while

        def notice() -> None:
            if not opened.wait(_FIFO_NOTICE):
                report(f"{path}: waiting for a writer to open it (Ctrl-C stops)")

        # One of aievents' threads: Ctrl-C reaches this one, whose open() it cuts short.
        start(notice, name="aievents-fifo-notice")
    try:
        return open(path, "rb")
    except OSError as error:
        raise EventFileError(f"cannot read {path}: {_why(error)}") from None
    finally:
        opened.set()


class _BinaryError(Exception):
    """A NUL byte at line ``number``: the input is not text."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


def _lines(handle: IO[bytes], max_line: int) -> Iterator[tuple[int, bytes | None]]:
    """(number, line) of each line, ``None`` for one longer than ``max_line``.

    A longer line is read past in chunks, never held. A NUL byte stops it all.
    """
    number = 0
    while True:
        raw = handle.readline(max_line + 1)
        if not raw:
            return
        number += 1
        if b"\0" in raw:
            raise _BinaryError(number)
        if len(raw) <= max_line or raw.endswith(b"\n"):
            yield number, raw
            continue
        while True:  # too long: read past the rest of it
            chunk = handle.readline(_CHUNK)
            if b"\0" in chunk:
                raise _BinaryError(number)
            if not chunk or chunk.endswith(b"\n"):
                break
        yield number, None


# --------------------------------------------------------------------------- one line


class _Big:
    """An integer literal outside 64 bits, kept as its length (never converted)."""

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))

    def __repr__(self) -> str:
        return f"an integer of {self.digits} digits"


class _Constant:
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's JSON reads them, JSON has none."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class _Decoder:
    """JSON lines to dicts, with numbers JSON readers elsewhere can hold."""

    def __init__(self) -> None:
        self._odd = False
        self._json = json.JSONDecoder(
            parse_int=self._int, parse_float=self._float, parse_constant=self._constant
        )

    def _int(self, text: str) -> Any:
        if len(text) <= 20:  # never convert a long literal (Python limits int digits)
            value = int(text)
            if _INT_MIN <= value <= _INT_MAX:
                return value
        self._odd = True
        return _Big(text)

    def _float(self, text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            self._odd = True
        return value

    def _constant(self, name: str) -> _Constant:
        self._odd = True
        return _Constant(name)

    def decode(self, raw: bytes, first: bool) -> dict[str, Any] | None:
        """The line's object, ``None`` for a blank line; :class:`_LineError` otherwise."""
        try:
            text = raw.decode("utf-8-sig" if first else "utf-8")
        except UnicodeDecodeError as error:
            byte = raw[error.start]
            raise _LineError(
                f"not UTF-8 text (byte 0x{byte:02x} at column {error.start + 1})"
            ) from None
        if not text.strip():
            return None
        self._odd = False
        try:
            data = self._json.decode(text)
        except json.JSONDecodeError as error:
            raise _LineError(f"not JSON: {error.msg} at column {error.colno}") from None
        except RecursionError:
            raise _LineError("not JSON that can be read: nested too deeply") from None
        if not isinstance(data, dict):
            raise _LineError(f"a JSON {_kind(data)}, not an object")
        if self._odd or "\\u" in text:  # only then can a value below be wrong
            _check(data)
        return data


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def _text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(data: dict[str, Any]) -> None:
    """Refuse, naming the field, a lone surrogate, a number outside 64 bits, NaN, infinity."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        reason = None
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                where = f"{path}.{key}" if path else key
                if not _text(key):
                    raise _LineError(f"field {where!r}: the name holds a lone surrogate")
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, str) and not _text(value):
            shown = repr(value)
            shown = shown[:77] + "..." if len(shown) > 80 else shown
            reason = f"must be text, not a lone surrogate, got {shown}"
        elif isinstance(value, _Big):
            reason = f"must be an integer from -2**63 to 2**63-1 (64 bits), got {value!r}"
        elif isinstance(value, _Constant):
            reason = f"must be a number JSON allows, got {value!r}"
        elif isinstance(value, float) and not math.isfinite(value):
            reason = f"must be a finite number, got {value!r}"
        if reason is not None:
            raise _LineError(f"field {path!r} {reason}")


def _event(data: dict[str, Any]) -> Any:
    """The event of a decoded line (a dict, or an envelope: what has a ``payload``).

    Raises :class:`_LineError` when it is not an event.
    """
    from aievents.wire import from_data  # loads cattrs

    try:
        return from_data(data)
    except FieldValueError as error:
        raise _LineError(message(error)) from None
    except RecursionError:
        raise _LineError("not an event: nested too deeply") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as error:
        raise _LineError(f"not an event: {type(error).__name__}: {message(error)}") from None


# --------------------------------------------------------------------------- the file


@contextmanager
def event_file(
    path: str, report: Report, *, max_line: int = MAX_LINE
) -> Iterator[Iterator[ImageUsageEvent]]:
    """Open a JSON Lines file of events (``-``: stdin); the block reads its events.

    Opening raises :class:`EventFileError` when the file cannot be read (a
    FIFO is waited for). The iterator gives the ``image:usage`` events in
    order; each bad line is skipped and told to ``report`` as one line (the
    first :data:`MAX_REPORTED`; later ones are counted). It raises
    :class:`EventFileError` at a NUL byte, and at the end when any line was
    bad (``partial``: the good lines were used). The file is closed after
    the block.
    """
    handle = sys.stdin.buffer if path == "-" else _open(path, report)
    try:
        yield _events(handle, path, report, max_line)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _events(
    handle: IO[bytes], path: str, report: Report, max_line: int
) -> Iterator[ImageUsageEvent]:
    decoder = _Decoder()
    bad = good = 0
    try:
        for number, raw in _lines(handle, max_line):
            try:
                if raw is None:
                    raise _LineError(f"longer than {max_line:,} bytes")
                data = decoder.decode(raw, number == 1)
                if data is None:
                    continue
                event = _event(data)
            except _LineError as error:
                bad += 1
                if bad <= MAX_REPORTED:
                    report(f"{path}:{number}: skipped: {error}")
                if bad == MAX_REPORTED:
                    report(f"{path}: more bad lines are counted, not shown")
                continue
            good += 1
            if isinstance(event, ImageUsageEvent):
                yield event
    except _BinaryError as stop:
        raise EventFileError(
            f"{path}:{stop.number}: a NUL byte: not a text file of JSON lines; stopped reading",
            partial=good > 0,
        ) from None
    except OSError as error:  # a read error (EIO, a device that refuses reading)
        raise EventFileError(f"cannot read {path}: {_why(error)}", partial=good > 0) from None
    if bad:
        raise EventFileError(f"{path}: {bad:,} bad line(s) skipped", partial=True)
