"""fal's queue: a request submitted now, its result fetched later (or never).

``submit`` sends the request: it is announced then (``image:request:started``
with fal's queue ``request_id``, stamped with the time of the call) when it
is an image call by its endpoint or arguments, and kept as a
:class:`Submission` under that id until its end shows:

- its result fetched (``handle.get()``, ``result()``, ``subscribe``, in any
  thread or task): completed and usage (:meth:`FalCall.answered`);
- fal says it failed (``status()`` answers ``COMPLETED`` with an ``error``,
  or fetching the result answers 4xx/5xx): ``image:request:error``;
- cancelled (``handle.cancel()``, ``cancel()``, a ``subscribe`` past its
  ``client_timeout``) and fal took the cancellation: ``image:request:error``
  (``error_type`` ``cancelled``, no status code), nothing billed;
- never fetched (a webhook took the result, or the caller moved on): booked
  as :mod:`aievents._unfinished` books what the caller let go of, when the
  process ends (or when more than :data:`MAX_OPEN` are open: the oldest
  first): completed with the images asked for, priced from the table,
  stamped with the time fal took the request. A submission not announced
  (an endpoint not known to make images) is then dropped unreported.

A result fetched for an id this process did not submit (or already
reported) is not reported: the submitting process books it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Final

from aievents._fork import after_fork
from aievents.instrument._fal_call import FalCall, Heard
from aievents.instrument._watch import Watch

__all__ = ["MAX_OPEN", "Submission", "find", "open_count", "submitted"]

#: Submissions kept open at most; beyond, the oldest is booked as never fetched.
MAX_OPEN: Final = 10_000


class _Open:
    """The submissions still open, by fal's request id, oldest first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: OrderedDict[str, Submission] = OrderedDict()

    def _after_fork(self) -> None:
        """In a forked child: the parent's submissions are the parent's to report."""
        self.lock = threading.Lock()
        self.by_id = OrderedDict()


_OPEN: Final = _Open()
after_fork(_OPEN)


class Submission(Watch):
    """A queued request from its ``submit`` to its end: reported once, whichever ends it."""

    def __init__(self, call: FalCall, request_id: str) -> None:
        super().__init__(call.request)
        self.call = call
        self.request_id = request_id
        self.announced = call.asks_images()

    def _take(self) -> bool:
        """Claim the request for the path that ends it (true once); it is no longer open."""
        with _OPEN.lock:
            if _OPEN.by_id.get(self.request_id) is self:
                del _OPEN.by_id[self.request_id]
        return self.claim()

    def answered(self, result: Any, heard: Heard) -> None:
        """The result was fetched: report it (once)."""
        if self._take():
            self.call.answered(result, heard, announced=self.announced)

    def failed(self, error: BaseException, *, error_type: str | None = None) -> None:
        """fal says the request failed: report it (once)."""
        if self._take() and self.announced:
            self.call.failed(error, announced=True, error_type=error_type)

    def abandon(self) -> None:
        """Never fetched: book what was asked for (an announced request only)."""
        if not self._take() or not self.announced:
            return
        request = self.call.request
        request.answered(self.arrived)
        request.record_images(request.number_of_images or 1)
        request.complete()


def submitted(call: FalCall, request_id: str) -> None:
    """``submit`` returned ``request_id``: announce the request and keep it open."""
    submission = Submission(call, request_id)
    call.request.update(request_id=request_id)
    if submission.announced:
        call.request.start()
    oldest: list[Submission] = []
    with _OPEN.lock:
        _OPEN.by_id[request_id] = submission
        while len(_OPEN.by_id) > MAX_OPEN:
            oldest.append(_OPEN.by_id.popitem(last=False)[1])
    for each in oldest:
        each.abandon()


def find(request_id: Any) -> Submission | None:
    """The open submission of ``request_id``, if this process made it."""
    if not isinstance(request_id, str):
        return None
    return _OPEN.by_id.get(request_id)


def open_count() -> int:
    """How many submissions are open."""
    return len(_OPEN.by_id)
