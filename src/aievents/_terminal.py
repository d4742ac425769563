"""What the ``aievents`` command writes to a terminal: data shown literally, logs on stderr.

- :func:`literal`: a value as text that a terminal shows as it is. Control
  characters (C0, DEL, C1, so ``ESC``), bidirectional overrides, line and
  paragraph separators and lone surrogates are written as escapes
  (``\\x1b``, ``\\u202e``), so that a model name cannot move the cursor,
  recolour the screen, reorder a line or make printing fail.
- :func:`command_logging`: while the command runs, every log line (the
  library's diagnostics, and anything else logging under ``aievents``) goes
  to stderr, one literal line each, never to stdout where the data is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Final, TextIO

import structlog

__all__ = ["command_logging", "literal"]

#: Longest line the command writes about one thing (a message, a log line).
MAX_MESSAGE: Final = 2000

_NAMED: Final = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
#: Formatting characters that reorder or hide text (Trojan Source, CVE-2021-42574).
_BIDI: Final = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _escape(code: int) -> str:
    if code in _NAMED:
        return _NAMED[code]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _table() -> dict[int, str]:
    codes = [*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, 0x2028, 0x2029]
    codes += range(0xD800, 0xE000)  # surrogates: a lone one cannot be written as UTF-8
    return {code: _escape(code) for code in codes}


_ESCAPES: Final = _table()


def literal(value: object, limit: int | None = None) -> str:
    """``value`` as text a terminal shows literally, at most ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():  # the common case costs one scan
        text = text.translate(_ESCAPES)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text


def _render(_logger: Any, level: str, event: MutableMapping[str, Any]) -> str:
    """A structlog event as ``aievents: warning: what key=value ...``, literal."""
    what = event.pop("event", "")
    event.pop("level", None)
    facts = " ".join(f"{key}={value!r}" for key, value in event.items())
    return literal(f"aievents: {level}: {what} {facts}".rstrip(), MAX_MESSAGE)


class _Literal(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"aievents: {record.levelname.lower()}: {record.getMessage()}"
        return literal(text, MAX_MESSAGE)


@contextmanager
def command_logging(errors: TextIO) -> Iterator[None]:
    """Send log lines to ``errors`` while the block runs, one literal line each.

    The library's diagnostics go to structlog when it is configured, else
    to the standard library's ``logging``; the command says for both where
    they go: structlog (unless something configured it already) and the
    ``aievents`` loggers write warnings and errors to ``errors``. Both are
    put back as they were after the block.
    """
    handler = logging.StreamHandler(errors)
    handler.setFormatter(_Literal())
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("aievents")
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # an application's root handler may print to stdout
    ours = not structlog.is_configured()
    if ours:
        structlog.configure(
            processors=[_render],
            logger_factory=structlog.PrintLoggerFactory(errors),
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            cache_logger_on_first_use=False,
        )
    try:
        yield
    finally:
        if ours:
            structlog.reset_defaults()
        logger.removeHandler(handler)
        logger.propagate = propagate
