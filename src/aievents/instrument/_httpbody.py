"""Following an httpx response's body as the caller reads it, without changing the response.

:func:`tap` puts a pass-through stream between a response and its network
stream (``response.stream``, which every way of reading the body pulls
from: ``read()``, ``iter_bytes()``, ``iter_text()``, ``iter_lines()``,
``iter_raw()`` and their async twins). The tap tells its watcher when the
response is closed, when it is collected, and, while the watcher wants
them, the bytes as they come and the end of the body. The response keeps its
class, attributes and pickling; only its ``stream`` attribute is the tap.

:class:`Body` keeps what a report needs of a JSON body: all of it while it
is small, then only its shape and short strings (a long string, such as an
image's base64 data, becomes ``""``), in constant memory however large
the body is; content codings (gzip, deflate, and what else the response's
library decodes) are undone on the way.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final, Protocol

from aievents.instrument._request import report_failure

__all__ = ["Body", "Watcher", "tap"]

#: A body up to this many bytes is kept whole; past it, only its shape.
KEEP_WHOLE: Final = 256 * 1024
#: Strings longer than this many bytes are not kept past :data:`KEEP_WHOLE`.
LONG_STRING: Final = 4096


class Watcher(Protocol):
    """What a tap tells about its response."""

    #: Whether the body's reading has begun (set by the tap).
    began: bool

    def following(self) -> bool:
        """Whether the body's bytes and end are wanted (checked when a read begins)."""

    def feed(self, data: bytes) -> None:
        """The next bytes of the body, as they came off the network (never raises)."""

    def ended(self) -> None:
        """The body was read to its end (on the reader's normal path)."""

    def closed(self) -> None:
        """The response was closed (by its reader, or as a reader was finalized)."""

    def collected(self) -> None:
        """The tap was collected with its response (inside a finalizer: note it only)."""


def tap(http: Any, watcher: Watcher) -> None:
    """Put a tap between ``http`` (an httpx response, body unread) and its network stream."""
    inner = http.stream
    http.stream = _tap_class(type(http), type(inner))(inner, watcher)


class _Tap:
    """A response's network stream, passed through; tells its watcher what happens to it."""

    def __init__(self, inner: Any, watcher: Watcher) -> None:
        self._inner = inner
        self._watcher = watcher

    def __iter__(self) -> Iterator[bytes]:
        if self._watcher.following():
            return _read(self._inner, self._watcher)
        return iter(self._inner)

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._watcher.following():
            return _read_async(self._inner, self._watcher)
        return aiter(self._inner)

    def close(self) -> None:
        """Close the network stream, then tell the watcher."""
        try:
            self._inner.close()
        finally:
            _told(self._watcher.closed)

    async def aclose(self) -> None:
        """Close the network stream, then tell the watcher."""
        try:
            await self._inner.aclose()
        finally:
            _told(self._watcher.closed)

    def __del__(self) -> None:
        # Perhaps inside the garbage collector: the watcher only notes it.
        with contextlib.suppress(Exception):  # at shutdown, modules may be gone
            self._watcher.collected()


def _told(step: Any) -> None:
    """Tell the watcher something; its failure is logged, never raised into the reader."""
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the read
        report_failure("openai response", exc)


def _read(inner: Any, watcher: Watcher) -> Iterator[bytes]:
    """The body's bytes, each also given to ``watcher``; its end told."""
    watcher.began = True
    feed = watcher.feed  # one lookup, not one per chunk
    for part in inner:
        feed(part)
        yield part
    _told(watcher.ended)


async def _read_async(inner: Any, watcher: Watcher) -> AsyncIterator[bytes]:
    """:func:`_read` for an async stream."""
    watcher.began = True
    feed = watcher.feed
    async with contextlib.aclosing(aiter(inner)) as parts:
        async for part in parts:
            feed(part)
            yield part
    _told(watcher.ended)


#: The tap class for each (response class, stream class), made once.
_TAPS: dict[tuple[type, type], type] = {}


def _tap_class(response: type, stream: type) -> type:
    """A subclass of :class:`_Tap` and of the stream kinds ``stream`` is (sync, async).

    httpx checks which kind a response's stream is before reading it or
    closing it; the tap is of the same kinds as the stream it wraps.
    """
    found = _TAPS.get((response, stream))
    if found is not None:
        return found
    library = importlib.import_module(response.__module__.partition(".")[0])
    bases = (getattr(library, "SyncByteStream", None), getattr(library, "AsyncByteStream", None))
    kinds = tuple(kind for kind in bases if isinstance(kind, type) and issubclass(stream, kind))
    made = type(f"Tapped{stream.__name__}", (_Tap, *kinds), {"__module__": __name__})
    return _TAPS.setdefault((response, stream), made)


# ---------------------------------------------------------------- the body


class Body:
    """What is kept of a JSON body as it arrives, to parse once it has all come.

    Args:
        whole: Keep the whole body, however large (outputs are captured).
    """

    def __init__(self, *, whole: bool = False) -> None:
        self.whole = whole
        self.parts: list[bytes] = []
        self.size = 0
        self.skim: Skim | None = None
        self.decoder: _Decoding | None = None
        #: Set when the body cannot be followed (a coding not decoded, a failure).
        self.lost = False

    def decode(self, http: Any) -> None:
        """Undo ``http``'s content codings on the way (before the first :meth:`feed`)."""
        encodings = _encodings(http)
        if encodings:
            try:
                self.decoder = _decoder(http, encodings)
            except Exception as exc:  # noqa: BLE001 - the read goes on; the body is lost
                self._lose(exc)

    def feed(self, data: bytes) -> None:
        """The next bytes of the body (never raises: a failure loses the body, logged)."""
        if self.lost:
            return
        try:
            if self.decoder is not None:
                data = self.decoder.decode(data)
            if self.skim is not None:
                self.skim.feed(data)
                return
            self.parts.append(data)
            self.size += len(data)
            if self.size > KEEP_WHOLE and not self.whole:
                self.skim = Skim()
                self.skim.feed(b"".join(self.parts))
                self.parts = []
        except Exception as exc:  # noqa: BLE001 - the caller's read goes on regardless
            self._lose(exc)

    def answer(self) -> Any:
        """The body parsed (long strings emptied past :data:`KEEP_WHOLE`), or None if lost."""
        decoder = self.decoder
        if decoder is not None:
            self.decoder = None
            try:
                self.feed(decoder.flush())
            except Exception as exc:  # noqa: BLE001 - truncated or corrupt coding
                self._lose(exc)
        if self.lost:
            return None
        text = self.skim.kept if self.skim is not None else b"".join(self.parts)
        self.parts, self.skim = [], None
        try:
            return json.loads(text)
        except Exception as exc:  # noqa: BLE001 - not JSON after all (or nested too deep)
            report_failure("openai body", exc)
            return None

    def _lose(self, exc: Exception) -> None:
        self.lost = True
        self.parts, self.skim = [], None
        report_failure("openai body", exc)


class Skim:
    """A JSON text kept without its long strings: its shape, facts and counts.

    Strings longer than :data:`LONG_STRING` bytes are kept as ``""``;
    everything else is kept as it was, so that the text parses to the same
    keys, lists and numbers (``len(data)`` is the image count, ``usage`` is
    whole). Fed chunk by chunk, in memory bounded by what is kept.
    """

    def __init__(self) -> None:
        #: The text kept so far.
        self.kept = bytearray()
        self.in_string = False
        #: Where the current string's content starts in ``kept``.
        self.start = 0
        #: Whether the current string is too long to keep.
        self.long = False
        #: Backslashes that ended the previous chunk, inside a string.
        self.backslashes = 0

    def feed(self, data: bytes) -> None:
        """The next bytes of the text (UTF-8: a quote byte is always a quote)."""
        kept = self.kept
        pos, end = 0, len(data)
        while pos < end:
            if not self.in_string:
                quote = data.find(b'"', pos)
                if quote < 0:
                    kept += data[pos:] if pos else data
                    return
                kept += data[pos : quote + 1]
                self.in_string, self.start, self.long, self.backslashes = True, len(kept), False, 0
                pos = quote + 1
                continue
            quote = self._closing(data, pos)
            stop = end if quote < 0 else quote
            if not self.long:
                kept += data[pos:stop]
                if len(kept) - self.start > LONG_STRING:
                    del kept[self.start :]
                    self.long = True
            if quote < 0:
                self.backslashes = _backslashes_before(data, pos, end, self.backslashes)
                return
            kept += b'"'
            self.in_string = False
            pos = quote + 1

    def _closing(self, data: bytes, pos: int) -> int:
        """Where the current string closes in ``data`` (searching from ``pos``), or -1."""
        quote = data.find(b'"', pos)
        while quote >= 0:
            if not _backslashes_before(data, pos, quote, self.backslashes) % 2:
                return quote
            quote = data.find(b'"', quote + 1)
        return -1


def _backslashes_before(data: bytes, start: int, end: int, carried: int) -> int:
    """Backslashes just before ``end`` in ``data[start:end]`` (plus ``carried`` if all are)."""
    index = end - 1
    while index >= start and data[index] == 0x5C:
        index -= 1
    run = end - 1 - index
    return run + carried if index < start else run


# ---------------------------------------------------------------- content codings


def _encodings(http: Any) -> list[str]:
    """The content codings of ``http``'s body, in the order applied (``identity`` left out)."""
    value = http.headers.get("content-encoding")
    if not value:
        return []
    codings = (coding.strip().lower() for coding in value.split(","))
    return [coding for coding in codings if coding and coding != "identity"]


def _decoder(http: Any, encodings: list[str]) -> _Decoding:
    """A decoder of ``encodings`` of our own, of the kinds ``http``'s library decodes with.

    Raises:
        LookupError: a coding the library cannot decode.
    """
    library = type(http).__module__.partition(".")[0]
    supported = importlib.import_module(f"{library}._decoders").SUPPORTED_DECODERS
    unknown = [coding for coding in encodings if coding not in supported]
    if unknown:
        raise LookupError(f"no decoder for content-encoding {unknown[0]!r}")
    return _Decoding([supported[coding]() for coding in reversed(encodings)])


def _bytes(decoded: Any) -> bytes:
    """What a decoder gave: bytes (httpx), or an iterator of bytes (its successor)."""
    return decoded if isinstance(decoded, bytes) else b"".join(decoded)


class _Decoding:
    """Content codings undone one after the other (the last applied first)."""

    def __init__(self, decoders: list[Any]) -> None:
        self.decoders = decoders

    def decode(self, data: bytes) -> bytes:
        """Decode the next bytes (decoded output may lag behind)."""
        for decoder in self.decoders:
            data = _bytes(decoder.decode(data))
        return data

    def flush(self) -> bytes:
        """The decoded bytes still held back at the end of the body."""
        data = b""
        for decoder in self.decoders:
            if data:
                data = _bytes(decoder.decode(data))
            data += _bytes(decoder.flush())
        return data
