"""The sinks attached to a client: flushing and closing them, and saying what they hold."""

from __future__ import annotations

import time
from collections.abc import Callable

from aievents._diag import RateLimitedLog
from aievents._subscription import Subscription
from aievents.sinks import Sink

__all__ = ["SinkSet", "remaining"]

#: What a sink did wrong, told to the client: ``failed(sink, action, exc)``.
Failed = Callable[[object, str, Exception], None]


class SinkSet:
    """The sinks of one client, each with the subscription that feeds it.

    Its changes are single dictionary operations (atomic under the GIL); the
    client serializes attaching.

    Args:
        diag: Where failures and unfinished flushes are logged.
        count_error: Called once per sink failure (the client's error count).
    """

    def __init__(self, diag: RateLimitedLog, count_error: Callable[[], None]) -> None:
        self._diag = diag
        self._count_error = count_error
        self._sinks: dict[Sink, Subscription] = {}

    @staticmethod
    def check(sink: object) -> None:
        """Raise TypeError when ``sink`` is not a sink."""
        missing = [
            name for name in ("handle", "flush", "close") if not callable(getattr(sink, name, None))
        ]
        if missing:
            raise TypeError(f"sink {sink!r} lacks {', '.join(missing)}(); see aievents.sinks.Sink")

    def __contains__(self, sink: object) -> bool:
        return sink in self._sinks

    def __len__(self) -> int:
        return len(self._sinks)

    def attach(self, sink: Sink, subscription: Subscription) -> None:
        """Remember ``sink``, fed by ``subscription``."""
        self._sinks[sink] = subscription

    def detach(self, subscription: Subscription) -> None:
        """Forget the sinks ``subscription`` fed (they are not closed)."""
        for sink, owner in list(self._sinks.items()):
            if owner is subscription:
                self._sinks.pop(sink, None)

    def all(self) -> tuple[Sink, ...]:
        """The sinks, in the order they were attached."""
        return tuple(self._sinks)

    def pending(self) -> dict[Sink, int]:
        """Events each sink that can tell still holds, by sink (those holding any)."""
        held = {}
        for sink in self.all():
            count = _count(getattr(sink, "pending", None))
            if count:
                held[sink] = count
        return held

    def flush(self, deadline: float | None, *, report: bool, strict: bool) -> bool:
        """Flush every sink by ``deadline``; whether all finished (a strict client re-raises)."""

        def failed(sink: object, action: str, exc: Exception) -> None:
            if strict:
                self._count_error()
                raise exc
            self._failed(sink, action, exc)

        return self._each("flush", self.all(), deadline, failed, report=report)

    def close(self, deadline: float | None) -> bool:
        """Close every sink by ``deadline``; whether all finished."""
        return self._each("close", self.all(), deadline, self._failed, report=True)

    def _each(
        self,
        action: str,
        sinks: tuple[Sink, ...],
        deadline: float | None,
        failed: Failed,
        *,
        report: bool,
    ) -> bool:
        """Call ``action`` (flush or close) on each sink; whether each finished."""
        done = True
        unfinished: list[tuple[Sink, object]] = []
        for sink in sinks:
            try:
                result = getattr(sink, action)(remaining(deadline))
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                failed(sink, action, exc)
                done = False
                continue
            if not _finished(result):
                unfinished.append((sink, result))
        if unfinished:
            done = False
            if report:
                self._report_unfinished(action, unfinished)
        return done

    def _report_unfinished(self, action: str, unfinished: list[tuple[Sink, object]]) -> None:
        """Warn which sinks did not finish a flush or close, and what each holds."""
        held = {
            label: _count(getattr(result, "pending", None))
            or _count(getattr(sink, "pending", None))
            for label, (sink, result) in zip(
                _labels([sink for sink, _ in unfinished]), unfinished, strict=True
            )
        }
        self._diag(
            (action, "unfinished"),
            "warning",
            f"{action}_incomplete",
            sinks=held,
            pending=sum(count or 0 for count in held.values()),
        )

    def _failed(self, sink: object, action: str, exc: Exception) -> None:
        self._count_error()
        self._diag(
            (action, type(sink)), "error", f"sink_{action}_failed", error=exc, sink=repr(sink)
        )


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (a ``time.monotonic()``), None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _finished(result: object) -> bool:
    """Whether a sink's flush or close result says it finished.

    ``None`` and ``True`` do; ``False`` does not; a report says so in ``done``.
    """
    done = getattr(result, "done", result)
    return done is None or bool(done)


def _count(value: object) -> int | None:
    """An event count a sink reported, or None when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _labels(sinks: list[Sink]) -> list[str]:
    """Names for sinks in a log line: the class, numbered when several share it."""
    names = [type(sink).__name__ for sink in sinks]
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if names.count(name) == 1 else f"{name}#{seen[name]}")
    return labels
