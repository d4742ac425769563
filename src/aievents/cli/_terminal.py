"""What the ``aievents`` command writes to a terminal: data shown literally, logs on stderr.

- :func:`literal`: a value as text that a terminal shows as it is, and
  that tells apart any two different values. Every character Python does
  not call printable (control characters such as ``ESC``, format
  characters such as bidi overrides, zero-width spaces and tag characters,
  private-use and unassigned code points, separators other than the space,
  lone surrogates) is written as an escape (``\\x1b``, ``\\u200b``,
  ``\\U000e0041``), and a backslash as ``\\\\``: a model name cannot move
  the cursor, recolour the screen, reorder a line, pass for another name or
  make printing fail, and the escaping can be undone.
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

__all__ = ["MAX_MESSAGE", "command_logging", "console", "line", "literal", "say"]

#: Longest line the command writes about one thing (a message, a log line).
MAX_MESSAGE: Final = 2000

_NAMED: Final = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x5C: "\\\\"}


def _escape(char: str) -> str:
    code = ord(char)
    if code in _NAMED:
        return _NAMED[code]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def literal(value: object, limit: int | None = None, *, reversible: bool = True) -> str:
    """``value`` as text a terminal shows literally, at most ``limit`` characters.

    The result is printable (``str.isprintable``): every other character is
    an escape. ``reversible`` (for data) escapes backslashes too, so that
    no two values look alike; a message, whose quoted values are ``repr``s
    already, leaves them. A text that needs no escape is returned as it is.
    """
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable() or (reversible and "\\" in text):  # the common case: two scans
        text = "".join(
            char if char.isprintable() and (char != "\\" or not reversible) else _escape(char)
            for char in text
        )
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text


def line(text: str) -> str:
    """A message or log line as a terminal shows it literally, at most :data:`MAX_MESSAGE`."""
    return literal(text, MAX_MESSAGE, reversible=False)


def say(errors: TextIO, text: str) -> None:
    """One line of the command's own on ``errors`` (stderr), shown literally."""
    print(line(f"aievents: {text}"), file=errors, flush=True)


def console(out: TextIO, width: int) -> Any:
    """A rich console writing to ``out`` whose broken pipe is a ``BrokenPipeError``.

    It reads no markup, emoji or highlighting in what it prints. rich's own
    answer to a broken pipe is to exit with status 1; the command ends every
    format alike instead (see :func:`aievents.cli.main`).
    """
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    return _Console(file=out, width=width, markup=False, emoji=False, highlight=False)


def _render(_logger: Any, level: str, event: MutableMapping[str, Any]) -> str:
    """A structlog event as ``aievents: warning: what key=value ...``, literal."""
    what = event.pop("event", "")
    event.pop("level", None)
    facts = " ".join(f"{key}={value!r}" for key, value in event.items())
    return line(f"aievents: {level}: {what} {facts}".rstrip())


class _Literal(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"aievents: {record.levelname.lower()}: {record.getMessage()}"
        return line(text)


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
