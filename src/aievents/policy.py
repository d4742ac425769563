"""Policies as values: how a sink queues its events, and how it tries again.

A :class:`Batching` says how a sink with a background worker batches and
bounds its queue; a :class:`Retry` says how often, and after how long, a
failed delivery is tried again. Both are frozen values: made once, shared by
any number of sinks, compared and shown like any value. Every sink that
queues takes ``batching=`` and every sink that retries takes ``retry=``; its
older keyword arguments (``batch_size=``, ``max_retries=``...) still work and
change the matching field of the value.

Each sink's defaults are named here, side by side, so that their differences
are plain to see: a store batches more, waits less and retries a lock until
it is closed; a forwarder gives up after a few retries (then spills); the
devtools listener reconnects for as long as it runs.

>>> from aievents import Retry
>>> Retry(max_retries=2, backoff=0.1).backoff_for(3)
0.4
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypedDict, TypeVar

import attrs

from aievents._validate import option, setting

__all__ = [
    "FORWARD_BATCHING",
    "FORWARD_RETRY",
    "LISTENER_RETRY",
    "OVERFLOW_POLICIES",
    "RETRYABLE_STATUSES",
    "STORE_BATCHING",
    "STORE_RETRY",
    "Batching",
    "BatchingOptions",
    "Options",
    "Overflow",
    "Retry",
    "RetryOptions",
    "parse_retry_after",
    "resolve",
]

T = TypeVar("T")

#: What a full queue does with a new event.
Overflow = Literal["drop_oldest", "drop_newest", "block", "spill"]
OVERFLOW_POLICIES: Final = ("drop_oldest", "drop_newest", "block", "spill")

#: HTTP statuses worth another try: a timeout, too early, too many requests,
#: and the server errors that pass (500, 502, 503, 504). The one table: the
#: transports mark their errors with it, and :class:`Retry` uses it by default.
RETRYABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Past this many doublings the backoff is at its cap anyway (and ``2 ** n``
#: would overflow a float).
_MAX_DOUBLINGS: Final = 64


def _changed(value: Any, given: dict[str, Any]) -> Any:
    """``value`` with the fields given (not None) changed."""
    changes = {name: setting for name, setting in given.items() if setting is not None}
    return attrs.evolve(value, **changes) if changes else value


@attrs.frozen(kw_only=True)
class Batching:
    """How a sink's worker batches events and bounds its queue.

    Attributes:
        batch_size: Events per batch, at most.
        max_delay: Seconds an event may wait for its batch to fill.
        max_queue: Events the queue holds, at most.
        overflow: What a full queue does with a new event: ``drop_oldest``,
            ``drop_newest``, ``block`` (wait up to ``block_timeout``, then
            drop the new event) or ``spill`` (move the oldest batch to the
            sink's spill; a sink without one refuses it). Every event let go
            is counted.
        block_timeout: Seconds ``block`` waits for room.

    Raises:
        ValueError: a setting out of range, naming it and the value.
    """

    batch_size: int = 512
    max_delay: float = 1.0
    max_queue: int = 10_000
    overflow: Overflow = "drop_oldest"
    block_timeout: float = 0.1

    def __attrs_post_init__(self) -> None:
        setting("batch_size", self.batch_size, positive=True)
        setting("max_delay", self.max_delay, fraction=True)
        setting("max_queue", self.max_queue, positive=True)
        option("overflow", self.overflow, OVERFLOW_POLICIES)
        setting("block_timeout", self.block_timeout, fraction=True)

    def updated(self, **fields: Any) -> Batching:
        """A copy with the fields given changed; a field given as None stays as it is."""
        return _changed(self, fields)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class Retry:
    """How a failed delivery is tried again: how often, after how long, for which failures.

    The wait before retry ``n`` (from 1) is ``backoff * 2 ** (n - 1)``, at
    most ``max_backoff``, of which up to a ``jitter`` fraction is taken off
    at random (so that many processes do not retry in step). A target's
    ``Retry-After`` is honoured when longer, up to ``max_retry_after``.

    Attributes:
        max_retries: Retries after the first attempt; None: no limit (the
            owner stops retrying when it closes).
        backoff: Seconds before the first retry.
        max_backoff: Longest wait between two attempts (a ``Retry-After``
            aside).
        jitter: The fraction of each wait that may be taken off at random,
            from 0 (none) to 1.
        respect_retry_after: Honour a ``Retry-After`` the target answers with.
        max_retry_after: Longest wait a ``Retry-After`` imposes, in seconds
            (``math.inf``: no limit): a longer one is cut to it, so that one
            answer cannot stop delivery for the rest of the process.
        statuses: The HTTP statuses worth another try.

    Raises:
        ValueError: a setting out of range, naming it and the value.
    """

    max_retries: int | None = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.5
    respect_retry_after: bool = True
    max_retry_after: float = 3600.0
    statuses: frozenset[int] = attrs.field(default=RETRYABLE_STATUSES, converter=frozenset)

    def __attrs_post_init__(self) -> None:
        if self.max_retries is not None:
            setting("max_retries", self.max_retries)
        setting("backoff", self.backoff, fraction=True)
        setting("max_backoff", self.max_backoff, fraction=True)
        setting("jitter", self.jitter, fraction=True, at_most=1)
        setting("max_retry_after", self.max_retry_after, fraction=True)

    def updated(self, **fields: Any) -> Retry:
        """A copy with the fields given changed; a field given as None stays as it is."""
        return _changed(self, fields)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ the schedule

    def exhausted(self, attempt: int) -> bool:
        """Whether failed attempt ``attempt`` (from 1) is past the retries allowed."""
        return self.max_retries is not None and attempt > self.max_retries

    def backoff_for(self, attempt: int) -> float:
        """The wait before retry ``attempt`` (from 1), without jitter."""
        doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
        return min(self.max_backoff, self.backoff * float(2**doublings))

    def asked_wait(self, error: BaseException | None) -> float | None:
        """The wait ``error``'s ``Retry-After`` asks for, cut to ``max_retry_after``; None: none.

        None too when ``respect_retry_after`` is off, or the value is not a
        positive number of seconds.
        """
        asked = getattr(error, "retry_after", None)
        if not self.respect_retry_after or not isinstance(asked, (int, float)) or not asked > 0:
            return None
        return min(float(asked), self.max_retry_after)

    def sleep_for(
        self,
        attempt: int,
        error: BaseException | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before retry ``attempt`` (from 1) after ``error``.

        The backoff with its jitter (``rand()`` gives a number in [0, 1)),
        or the target's ``Retry-After`` when that is longer.
        """
        delay = self.backoff_for(attempt) * (1.0 - self.jitter * rand())
        asked = self.asked_wait(error)
        return delay if asked is None else max(delay, asked)

    def retryable(self, error: BaseException) -> bool:
        """Whether another try may succeed after ``error``.

        An answer with an HTTP status is retryable when its status is one of
        ``statuses``; an error that says (``retryable``) is taken at its
        word; any other failure (a timeout, a refused connection, a bug in a
        transport) may pass.
        """
        status = getattr(error, "status", None)
        if isinstance(status, int) and not isinstance(status, bool):
            return status in self.statuses
        said = getattr(error, "retryable", None)
        return said if isinstance(said, bool) else True

    # ------------------------------------------------------------------ the loop

    def call(
        self,
        attempt: Callable[[], T],
        *,
        wait: Callable[[float], bool],
        retryable: Callable[[Exception], bool] | None = None,
        retrying: Callable[[int, Exception], None] | None = None,
    ) -> T:
        """``attempt()`` until it returns, trying again after each failure that may pass.

        Args:
            attempt: The work; what it returns is returned.
            wait: Waits the given seconds before a retry; returns False to
                give up now (a close's deadline, a stop), raising the last
                failure.
            retryable: Whether a failure is worth another try (default:
                :meth:`retryable`).
            retrying: Called as ``retrying(attempt, error)`` before each
                retry, once ``wait`` has returned (to count and log it).

        Raises:
            Exception: the first failure not worth a retry, or the last one
                once the retries are spent or ``wait`` gives up.
        """
        worth = self.retryable if retryable is None else retryable
        failed = 0
        while True:
            try:
                return attempt()
            except Exception as error:
                failed += 1
                if not worth(error) or self.exhausted(failed):
                    raise
                if not wait(self.sleep_for(failed, error)):
                    raise
                if retrying is not None:
                    retrying(failed, error)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), if valid.

    Seconds are ASCII digits only. A date without a zone (asctime's form, or
    ``-0000``) is UTC, as every HTTP date is; a date past is 0. The wait is
    not capped here (:class:`Retry` cuts it to ``max_retry_after``): a huge
    number may come back as ``inf``.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    import email.utils  # noqa: PLC0415 - only when a target sends a date: import stays light

    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


# ---------------------------------------------------------------------- keyword arguments


class BatchingOptions(TypedDict, total=False):
    """The fields of :class:`Batching`, as a sink's keyword arguments."""

    batch_size: int
    max_delay: float
    max_queue: int
    overflow: Overflow
    block_timeout: float


class RetryOptions(TypedDict, total=False):
    """The fields of :class:`Retry` a sink takes as keyword arguments."""

    max_retries: int | None
    backoff: float
    max_backoff: float
    max_retry_after: float


class Options(BatchingOptions, RetryOptions, total=False):
    """What a queueing sink takes as keyword arguments beside ``batching`` and ``retry``."""


_BATCHING_FIELDS: Final = frozenset(BatchingOptions.__annotations__)
_RETRY_FIELDS: Final = frozenset(RetryOptions.__annotations__)


def resolve(batching: Batching, retry: Retry, options: Mapping[str, Any]) -> tuple[Batching, Retry]:
    """``batching`` and ``retry`` with the fields ``options`` names changed.

    How a sink turns its keyword arguments (``batch_size=``,
    ``max_retries=``...) into its two values.

    Raises:
        TypeError: an option that is neither a Batching nor a Retry field.
        ValueError: a value out of range, naming it.
    """
    unknown = sorted(options.keys() - _BATCHING_FIELDS - _RETRY_FIELDS)
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    queue = {name: value for name, value in options.items() if name in _BATCHING_FIELDS}
    again = {name: value for name, value in options.items() if name in _RETRY_FIELDS}
    return (
        attrs.evolve(batching, **queue) if queue else batching,
        attrs.evolve(retry, **again) if again else retry,
    )


# ---------------------------------------------------------------------- each sink's defaults

#: ForwardSink: batches of 512 within a second; a bounded queue in memory.
FORWARD_BATCHING: Final = Batching()
#: ForwardSink: five retries from half a second, with jitter, then the spill
#: (or a drop); a ``Retry-After`` honoured up to an hour.
FORWARD_RETRY: Final = Retry()
#: StoreSink: larger batches, written sooner; room for a database's hiccup.
STORE_BATCHING: Final = Batching(
    batch_size=1000, max_delay=0.5, max_queue=100_000, block_timeout=0.05
)
#: StoreSink: a lock or a server away is waited out, quickly at first, until
#: the sink's close gives up (no jitter: one writer per sink).
STORE_RETRY: Final = Retry(max_retries=None, backoff=0.05, max_backoff=2.0, jitter=0.0)
#: DevtoolsListener: reconnect for as long as it runs, from 0.1 s up to 5 s.
LISTENER_RETRY: Final = Retry(max_retries=None, backoff=0.1, max_backoff=5.0, jitter=0.0)
