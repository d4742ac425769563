"""Following an answer the caller reads after the call returned: a stream, or a body.

A :class:`Watch` is a request still open (:mod:`aievents._unfinished`): the
path that ends it first claims it, so it is reported once, however it ends
(read to its end, failed, closed, collected, the process ending). A
:class:`StreamWatch` follows a stream through :func:`follow` (or
:func:`follow_async`): a generator that passes the SDK's items through
untouched while the watch sees each one, and that learns how the reading
ended:

- at the stream's end, or as it raised: :meth:`StreamWatch.end` reports it;
- let go of part-way (the generator closed or collected: ``GeneratorExit``,
  perhaps inside the garbage collector): noted (:meth:`Watch.collected`),
  and reported on the next normal path by :meth:`Watch.abandon`.

Each provider's watch says what an item means (``see``) and how the request
ends (``end``, ``abandon``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, TypeVar

from aievents import _unfinished as unfinished
from aievents.instrument._request import ImageRequest, moment, report_failure

__all__ = ["StreamWatch", "Watch", "follow", "follow_async"]

T = TypeVar("T")


class Watch:
    """A request whose end the caller has yet to show: open until claimed, once."""

    def __init__(self, request: ImageRequest) -> None:
        self.request = request
        #: When the answer (its headers, or the stream) arrived.
        self.arrived = moment()
        #: Whether the caller began to read the answer.
        self.began = False
        unfinished.track(self)

    def claim(self) -> bool:
        """Whether this caller is the one to report the request (true once)."""
        return unfinished.claim(self)

    def following(self) -> bool:
        """Whether the answer is still wanted (the request is not reported yet)."""
        return unfinished.is_open(self)

    def abandon(self) -> None:
        """The caller let go of the answer before its end: book the request (once)."""
        raise NotImplementedError

    def collected(self) -> None:
        """From a finalizer: the answer is gone; report it on the next normal path."""
        unfinished.collected(self)


class StreamWatch(Watch):
    """Follows a stream read through :func:`follow`: each item seen, its end reported once."""

    #: What a failure to report is logged as (the provider's name).
    what = "instrumentation"

    def see(self, item: Any) -> None:
        """One item of the stream, as the SDK yields it."""
        raise NotImplementedError

    def end(self, error: BaseException | None = None) -> None:
        """Report the request as the stream left it (once): ended, or failed with ``error``."""
        raise NotImplementedError

    def __enter__(self) -> StreamWatch:
        """The caller begins to read the stream."""
        self.began = True
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        """The reading ended: the error (if any) goes on to the caller unchanged.

        At the stream's end, or as it failed: reported. Closed unfinished
        (``GeneratorExit``: collected, perhaps inside the garbage collector,
        or finalized by the event loop): noted, reported on a normal path.
        """
        if error is None:
            self.safe(self.end)
        elif isinstance(error, GeneratorExit):
            self.collected()
        else:
            self.failed(error)

    def observe(self, item: Any) -> None:
        """:meth:`see`, its failure logged, never raised into the stream."""
        try:
            self.see(item)
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the stream
            report_failure(self.what, exc)

    def failed(self, error: BaseException) -> None:
        """The stream raised ``error``: reported (a failure to report it is logged)."""
        self.safe(functools.partial(self.end, error))

    def safe(self, step: Any) -> None:
        """Run one reporting step; a failure is logged, never raised into the stream."""
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the stream
            report_failure(self.what, exc)


def follow(inner: Iterator[T], watch: StreamWatch) -> Iterator[T]:
    """``inner``'s items, each seen by ``watch``; the reading's end reported by it."""
    with watch:
        for item in inner:
            watch.observe(item)
            yield item


async def follow_async(inner: AsyncIterator[T], watch: StreamWatch) -> AsyncGenerator[T, None]:
    """:func:`follow` for an async stream."""
    with watch:
        async for item in inner:
            watch.observe(item)
            yield item
