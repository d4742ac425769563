"""What a client's handlers and sinks raised: counted, then logged or, when strict, re-raised."""

from __future__ import annotations

import threading

from aievents._diag import RateLimitedLog
from aievents._subscription import handler_name, unwrap
from aievents.events import BaseEvent

__all__ = ["Failures"]


class Failures:
    """The error isolation of one client.

    Args:
        diag: Where failures are logged (rate-limited per handler and per
            sink class and action).
    """

    def __init__(self, diag: RateLimitedLog) -> None:
        self._diag = diag
        self._lock = threading.Lock()
        self._by_handler: dict[str, int] = {}
        #: Handler and sink errors so far.
        self.total = 0
        #: Errors of async handlers run by ``emit`` that a strict client re-raises later.
        self.deferred: list[Exception] = []

    def handler(
        self, handler: object, event: BaseEvent, exc: Exception, *, strict: bool, defer: bool
    ) -> None:
        """``handler`` raised ``exc`` for ``event``: count it, then log, defer or re-raise it."""
        name = handler_name(unwrap(handler))
        with self._lock:
            self.total += 1
            failures = self._by_handler[name] = self._by_handler.get(name, 0) + 1
        if strict:
            if defer:  # raised in a scheduled task: flush() re-raises it
                self.deferred.append(exc)
                return
            raise exc
        self._diag(
            name,
            "error",
            "handler_failed",
            error=exc,
            traceback=True,
            handler=name,
            event_type=event.event_type,
            failures=failures,
        )

    def sink(self, sink: object, action: str, exc: Exception, *, strict: bool = False) -> None:
        """A sink's ``action`` (flush, close) raised ``exc``: count it, then log or re-raise it."""
        with self._lock:
            self.total += 1
        if strict:
            raise exc
        self._diag(
            (action, type(sink)), "error", f"sink_{action}_failed", error=exc, sink=repr(sink)
        )

    def by_handler(self) -> dict[str, int]:
        """Handler errors per handler (by qualified name)."""
        with self._lock:
            return dict(self._by_handler)

    def raise_deferred(self) -> None:
        """Raise the first deferred error (noting how many more there were), if any."""
        if self.deferred:
            errors, self.deferred = self.deferred, []
            first = errors[0]
            if len(errors) > 1 and hasattr(first, "add_note"):
                first.add_note(f"{len(errors) - 1} more async handler error(s) were counted")
            raise first

    def after_fork(self) -> None:
        """In a forked child: a lock no thread of the parent holds, no parent's errors."""
        self._lock = threading.Lock()
        self.deferred = []
