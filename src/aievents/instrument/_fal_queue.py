"""fal's queue: a request submitted now, its result fetched later (or never).

``submit`` sends the request: it is announced then (``image:request:started``
with fal's queue ``request_id``, stamped with the time of the call) when it
is an image call by its endpoint or arguments, and kept open as a
:class:`Submission` under that id (:mod:`aievents.instrument._open`) until
its end shows:

- its result fetched (``handle.get()``, ``result()``, ``subscribe``, in any
  thread or task): completed and usage (:meth:`FalCall.answered`), even
  after a cancellation (fal only signals a running request to stop: it may
  finish, and bill);
- fetching it answers fal's failure of the request (an ``error_type`` in
  fal's error, or any answer of fal's other than those below):
  ``image:request:error`` with that status code (``error_type``
  ``cancelled`` once the caller cancelled it);
- never fetched: booked as :mod:`aievents._unfinished` books what the
  caller let go of, when the process ends (or when more than
  :data:`MAX_OPEN` are open: the oldest first), stamped with the time fal
  took the request: error ``cancelled`` if the caller cancelled it, else
  an error with the last failure fal gave for it (a ``status()`` answering
  ``COMPLETED`` with an ``error``, a fetch that failed), else completed
  with the images asked for, priced from the table. A submission not
  announced (an endpoint not known to make images) is then dropped.

A fetch answer that says nothing of the request (401, 403, 404, 408, 409,
429, or 502-504 without fal's ``x-fal-request-id``: the key, a wrong
application, limits, a gateway) and a fetch that got no answer (a timeout)
leave it open: a later fetch ends it. A submission with a ``webhook_url``
is booked at once, its result going elsewhere. A result fetched for an id
this process did not submit (or already reported) is not reported: the
submitting process books it.
"""

from __future__ import annotations

from typing import Any, Final

from aievents.instrument._fal_call import REQUEST_ID_HEADER, FalCall, Heard
from aievents.instrument._open import Held, OpenRequests

__all__ = ["MAX_OPEN", "OPEN", "Submission", "ends_request", "submitted"]

#: Submissions kept open at most; beyond, the oldest is booked as never fetched.
MAX_OPEN: Final = 10_000
#: Fetch answers that say nothing of the request: the key, the application, limits.
_NOT_THE_REQUEST: Final = frozenset({401, 403, 404, 408, 409, 429})
#: Gateway answers: fal's own only when they carry its request id.
_GATEWAY: Final = frozenset({502, 503, 504})
#: What a cancelled request's error says.
CANCELLED: Final = "cancelled"


def ends_request(error: BaseException) -> bool:
    """Whether fetching a result that raised ``error`` tells that the request failed."""
    status = getattr(error, "status_code", None)
    if not isinstance(status, int) or status in _NOT_THE_REQUEST:
        return False
    if status in _GATEWAY:
        headers = getattr(error, "response_headers", None)
        lowered = (
            {str(k).lower(): v for k, v in headers.items()} if isinstance(headers, dict) else {}
        )
        return bool(lowered.get(REQUEST_ID_HEADER))
    return True


class Submission(Held):
    """A queued request from its ``submit`` to its end: reported once, whichever ends it."""

    def __init__(self, call: FalCall, request_id: str) -> None:
        super().__init__(OPEN, request_id, call.request)
        self.call = call
        self.announced = call.asks_images()
        #: The caller cancelled it (fal may still finish it).
        self.cancelling = False
        #: The last failure fal gave without ending it, and fal's error type for it.
        self.trouble: tuple[BaseException, str | None] | None = None

    def answered(self, result: Any, heard: Heard) -> None:
        """The result was fetched: report it (once)."""
        if self.take():
            self.call.answered(result, heard, announced=self.announced)

    def fetch_failed(self, error: BaseException) -> None:
        """Fetching the result raised ``error``: the request failed, or it is still open."""
        if not ends_request(error):
            if isinstance(getattr(error, "status_code", None), int):
                self.trouble = (error, None)
            return
        if self.take() and self.announced:
            kind = CANCELLED if self.cancelling else None
            if kind is None and not isinstance(getattr(error, "error_type", None), str):
                kind = self.trouble[1] if self.trouble else None  # what fal's status said
            self.call.failed(error, announced=True, error_type=kind)

    def said_failed(self, message: str, error_type: str) -> None:
        """fal's status says the request failed: kept, its result's answer to tell more."""
        self.trouble = (RuntimeError(message), error_type)

    def book(self) -> None:
        """Never fetched: cancelled, failed as fal last said, or completed as asked."""
        if not self.announced:
            return
        if self.cancelling:
            error = RuntimeError("cancelled by the caller")
            self.call.failed(error, announced=True, error_type=CANCELLED)
        elif self.trouble is not None:
            self.call.failed(self.trouble[0], announced=True, error_type=self.trouble[1])
        else:
            request = self.call.request
            request.answered(self.arrived)
            request.record_images(request.number_of_images or 1)
            request.complete()


#: The submissions still open, by fal's request id.
OPEN: Final[OpenRequests[Submission]] = OpenRequests(MAX_OPEN)


def submitted(call: FalCall, request_id: str, *, fetched_here: bool = True) -> None:
    """``submit`` returned ``request_id``: announce the request and keep it open.

    A request whose result is not ``fetched_here`` (a webhook takes it) is
    booked at once, as one never fetched.
    """
    submission = Submission(call, request_id)
    call.request.update(request_id=request_id)
    if submission.announced:
        call.request.start()
    if fetched_here:
        OPEN.hold(submission)
    else:
        submission.abandon()
