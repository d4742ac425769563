"""What a client delivers to besides plain handlers: sinks and async handler runs.

:class:`Outputs` keeps the attached sinks and the async runs of one client,
and waits for them, flushes and closes them: what the client's ``flush``,
``aflush`` and ``close`` do, and what they report when something did not
finish.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

from aievents import _unfinished
from aievents._asyncrun import AsyncRuns
from aievents._diag import RateLimitedLog
from aievents._failures import Failures
from aievents._subscription import Subscription
from aievents.protocols import Sink

__all__ = ["Outputs", "remaining"]

#: What a sink did wrong, told to the client: ``failed(sink, action, exc)``.
Failed = Callable[[object, str, Exception], None]


class Outputs:
    """The sinks of one client (each with the subscription that feeds it) and its async runs.

    Changes to the sinks are single dictionary operations (atomic under the
    GIL); the client serializes attaching.

    Args:
        diag: Where unfinished flushes and closes are logged.
        failures: Where what a sink raised goes (and async handlers' errors
            deferred for a strict client).
        runs: The client's async handler runs.
    """

    def __init__(self, diag: RateLimitedLog, failures: Failures, runs: AsyncRuns) -> None:
        self._diag = diag
        self._failures = failures
        self.runs = runs
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

    def flush(self, timeout: float | None, *, report: bool, strict: bool) -> bool:
        """Flush from this thread (and its event loop, if it runs one): the client's ``flush``.

        Answers collected unread are reported first (flush and close alike).
        """
        _unfinished.report_collected()
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        done = self._flush(timeout, besides=current, report=report, strict=strict)
        if current is not None and self.runs.pending.tasks_on(current):
            done = False
        return done

    async def aflush(self, timeout: float | None, *, strict: bool) -> bool:
        """The client's ``aflush``: async runs on the running loop too, then the rest."""
        _unfinished.report_collected()
        deadline = None if timeout is None else time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        while tasks := {t for t in self.runs.pending.tasks_on(loop) if t is not me}:
            _, still = await asyncio.wait(tasks, timeout=remaining(deadline))
            if still:
                return False
        flush = functools.partial(
            self._flush, remaining(deadline), besides=loop, report=True, strict=strict
        )
        return await loop.run_in_executor(None, flush)

    def _flush(
        self,
        timeout: float | None,
        *,
        besides: asyncio.AbstractEventLoop | None,
        report: bool,
        strict: bool,
    ) -> bool:
        """Wait for async runs (but those on ``besides``) and flush the sinks."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = self.runs.pending.wait(timeout, besides=besides)
        done = self.runs.report_lost() and done
        done = self._flush_sinks(deadline, report=report, strict=strict) and done
        if strict:
            self._failures.raise_deferred()
        return done

    def _flush_sinks(self, deadline: float | None, *, report: bool, strict: bool) -> bool:
        """Flush every sink by ``deadline``; whether all finished (a strict client re-raises)."""

        def failed(sink: object, action: str, exc: Exception) -> None:
            self._failures.sink(sink, action, exc, strict=strict)

        return self._each("flush", self.all(), deadline, failed, report=report)

    def close(self, deadline: float | None) -> bool:
        """Start no more async runs, close every sink and stop the loop thread, by ``deadline``.

        Whether all finished.
        """
        runner = self.runs.close()
        done = self._each("close", self.all(), deadline, self._failures.sink, report=True)
        if runner is not None:
            runner.stop(remaining(deadline))
        return done

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
