"""The library's own diagnostics: one way to say that something went wrong.

Every line aievents writes about itself (a handler that raised, events
dropped, a target that refused a batch, a price not found) goes through
:func:`log` or a :class:`RateLimitedLog`, which:

- never raise, whatever the logging configuration does;
- never run inside the caller's locks: call them after letting go (a logging
  processor that emits into the event client must not deadlock it);
- scrub every field (:func:`aievents._redact.scrub`) and never hand the
  logger an exception object or a traceback (a renderer that prints a
  frame's local variables would print the secrets in them): an error is
  written as its scrubbed first line, a traceback as scrubbed text;
- go to structlog when the application configured it, and otherwise to the
  standard library's ``logging`` (logger ``aievents.<area>``), which writes
  warnings to stderr when nothing is configured: never to stdout unless the
  application said so;
- do not recurse: a line logged while another is being logged on the same
  thread (a processor that emits an event whose handler fails) is counted
  as suppressed, not logged.

:class:`RateLimitedLog` logs a key at most once per interval and tells, with
the next line for that key, how many it held back (``suppressed``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback as _traceback
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Final, Literal

from aievents._fork import after_fork
from aievents._redact import scrub, scrub_text

__all__ = ["INTERVAL", "RateLimitedLog", "describe", "forget", "log"]

Level = Literal["debug", "info", "warning", "error"]

#: Seconds between two lines for one key of a :class:`RateLimitedLog`, by default.
INTERVAL: Final = 60.0
#: Keys a :class:`RateLimitedLog` remembers, at most (then it starts afresh).
_MAX_KEYS: Final = 10_000
_LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "error": 40}

_inside = threading.local()
_LIMITERS: Final[weakref.WeakSet[RateLimitedLog]] = weakref.WeakSet()


def describe(error: BaseException) -> str:
    """``"Type: first line of the message"``, scrubbed of secrets."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    name = type(error).__name__
    return scrub_text(f"{name}: {first}" if first else name)


def _traceback_text(error: BaseException) -> str:
    lines = _traceback.format_exception(type(error), error, error.__traceback__)
    return scrub_text("".join(lines).rstrip())


def log(
    area: str,
    level: Level,
    event: str,
    *,
    error: BaseException | str | None = None,
    traceback: bool = False,
    **fields: Any,
) -> bool:
    """Write one diagnostic line; returns whether it was written.

    Args:
        area: Where it comes from (``forward``, ``store``...): the logger is
            ``aievents.<area>``.
        level: ``debug``, ``info``, ``warning`` or ``error``.
        event: What happened, as a short snake_case name.
        error: An exception to describe (type and first line, scrubbed), or
            the description already made (scrubbed all the same).
        traceback: Add the exception's traceback, as scrubbed text.
        fields: More facts; scrubbed before they are written.
    """
    if getattr(_inside, "active", False):
        return False  # logging from inside logging: never recurse
    _inside.active = True
    try:
        facts = {key: scrub(value) for key, value in fields.items()}
        if isinstance(error, str):
            facts["error"] = scrub_text(error)
        elif error is not None:
            facts["error"] = describe(error)
            if traceback:
                facts["traceback"] = _traceback_text(error)
        name = f"aievents.{area}" if area else "aievents"
        # structlog is configured only by an application that imported it:
        # importing it here would load its renderers (and rich) for nothing.
        structlog = sys.modules.get("structlog")
        if structlog is not None and structlog.is_configured():
            getattr(structlog.get_logger(name), level)(event, **facts)
        else:
            logger = logging.getLogger(name)
            number = _LEVELS[level]
            if logger.isEnabledFor(number):
                text = " ".join([event, *(f"{key}={value!r}" for key, value in facts.items())])
                logger.log(number, "%s", text)
        return True
    except Exception:  # noqa: BLE001 - a broken logger must not break the host
        return False
    finally:
        _inside.active = False


class RateLimitedLog:
    """Diagnostics of one owner (a client, a sink), each key at most once per interval.

    The first line for a key is written at once; later ones within
    ``interval`` seconds are held back and counted, and the next line written
    for that key carries ``suppressed=N``. The bookkeeping takes a lock of
    its own for an instant; the logging happens outside it.
    """

    def __init__(
        self, area: str, *, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.area = area
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}
        after_fork(self)
        _LIMITERS.add(self)

    def due(self, key: Hashable) -> tuple[bool, int]:
        """Whether ``key`` may be logged now, and how many lines were held back."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] = self._held.get(key, 0) + 1
                return False, 0
            if len(self._last) >= _MAX_KEYS:
                self._last.clear()
                self._held.clear()
            self._last[key] = now
            return True, self._held.pop(key, 0)

    def __call__(
        self,
        key: Hashable,
        level: Level,
        event: str,
        *,
        error: BaseException | str | None = None,
        traceback: bool = False,
        **fields: Any,
    ) -> bool:
        """Log ``event`` unless ``key`` was logged within the interval; whether it was."""
        due, held = self.due(key)
        if not due:
            return False
        if held:
            fields["suppressed"] = held
        return log(self.area, level, event, error=error, traceback=traceback, **fields)

    def forget(self) -> None:
        """Forget what was logged: the next line for any key is written."""
        with self._lock:
            self._last.clear()
            self._held.clear()

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (the parent's may have been held)."""
        self._lock = threading.Lock()


def forget() -> None:
    """Make every :class:`RateLimitedLog` forget what it logged (for tests)."""
    for limiter in list(_LIMITERS):
        limiter.forget()
