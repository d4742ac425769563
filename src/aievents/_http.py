"""Posting a body to an HTTP endpoint, by a deadline, and reading what the answer means.

The one HTTP helper of the transports (HTTP, OTLP, the devtools bus's post
mode): :class:`Connections` holds a transport's httpx client (the
application's, or its own, with the transport's timeouts and TLS
verification, through the proxy the environment names) and ends every
request by its deadline (see :mod:`aievents._deadline`); :func:`post` sends
one body and turns the answer into :class:`~aievents.exceptions.TransportError`
or success: 2xx is delivered; 408, 425, 429 and 5xx are retryable, their
``Retry-After`` read (:func:`retry_after`); other statuses are not; a
timeout or a connection that fails is retryable. The target's URL appears in
errors only as :func:`aievents._redact.safe_url` shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx

from aievents._deadline import DEADLINE, DeadlineTransport, Watchdog
from aievents._fork import after_fork
from aievents._redact import safe_url
from aievents._validate import setting
from aievents.exceptions import TransportError
from aievents.policy import RETRYABLE_STATUSES, parse_retry_after

__all__ = ["Connections", "answer_error", "post"]

#: Bytes of an answer's body read (to keep the connection), at most.
_MAX_ANSWER: Final = 64 * 1024


class Connections:
    """A transport's httpx client: the application's, or its own.

    Every request ends by its deadline (``request_timeout``), however slowly
    the target trickles its answer. Its own client has the transport's
    timeouts and TLS verification, goes through the proxy the environment
    names (``HTTPS_PROXY``...), bounds each socket operation by the
    deadline, is replaced in a forked child (never the parent's sockets) and
    is closed with the transport. The application's client is used as given
    and left open; a request through it that is not over by the deadline is
    given up on (see :class:`Watchdog`).
    """

    def __init__(
        self,
        client: Any,
        connect_timeout: float,
        read_timeout: float,
        verify: bool | str,
        request_timeout: float,
    ) -> None:
        setting("connect_timeout", connect_timeout, positive=True, fraction=True)
        setting("read_timeout", read_timeout, positive=True, fraction=True)
        setting("request_timeout", request_timeout, positive=True, fraction=True)
        self._settings = (connect_timeout, read_timeout, verify)
        self.request_timeout = float(request_timeout)
        self._own = client is None
        self.client: httpx.Client = client or self._new()
        self._watchdog = Watchdog()
        after_fork(self)

    def _new(self) -> httpx.Client:
        """A client of the transport's own, on :class:`DeadlineTransport`."""
        connect, read, verify = self._settings
        timeout = httpx.Timeout(read, connect=connect)
        return httpx.Client(timeout=timeout, transport=DeadlineTransport(verify))

    def _after_fork(self) -> None:
        """In a forked child: a client of its own (when ours), no helper thread of the parent's."""
        self._watchdog = Watchdog()
        if self._own:
            self.client = self._new()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST ``body`` (see :func:`post`), within ``request_timeout``."""
        if self._own:
            post(self.client, url, body, headers, timeout=self.request_timeout)
            return

        def request(left: float, delivered: Callable[[], None]) -> None:
            post(self.client, url, body, headers, timeout=left, delivered=delivered)

        self._watchdog.run(request, safe_url(url), self.request_timeout)

    def close(self) -> None:
        """Close the client when it is ours."""
        if self._own:
            self.client.close()


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float | None = None,
    delivered: Callable[[], None] | None = None,
) -> None:
    """POST ``body``; raise :class:`TransportError` unless answered 2xx (the URL redacted).

    ``timeout`` bounds the whole request: connecting, sending the body and
    reading the answer (a timed-out request is retryable). Once the status
    line says 2xx the batch is delivered (``delivered()`` is called then):
    an answer body that trickles past the deadline, or is cut short, does
    not make it fail (a retry would only deliver it twice).
    """
    shown = safe_url(url)
    deadline = None if timeout is None else time.monotonic() + timeout
    outer, DEADLINE.at = DEADLINE.at, deadline
    try:
        with client.stream(
            "POST", url, content=body, headers=headers, timeout=_clipped(client.timeout, timeout)
        ) as response:
            status = response.status_code
            if 200 <= status < 300:
                if delivered is not None:
                    delivered()
                _drain(response, deadline)
                return
            wait = parse_retry_after(response.headers.get("retry-after"))
    except httpx.TimeoutException as exc:
        if deadline is not None and time.monotonic() >= deadline:
            message = f"{shown} took longer than {timeout:g} s"
        else:
            message = f"{shown} timed out: {type(exc).__name__}"
        raise TransportError(message, retryable=True) from exc
    except httpx.TransportError as exc:
        raise TransportError(f"cannot reach {shown}: {type(exc).__name__}", retryable=True) from exc
    finally:
        DEADLINE.at = outer
    raise answer_error(shown, status, wait)


def answer_error(shown: str, status: int, wait: float | None) -> TransportError:
    """The error of an answer that is not 2xx: retryable or not by its status.

    Args:
        shown: The target's URL, as it may be shown.
        status: The answer's HTTP status.
        wait: Seconds its ``Retry-After`` asked for, if any.
    """
    return TransportError(
        f"{shown} answered {status}",
        retryable=status in RETRYABLE_STATUSES,
        retry_after=wait,
        status=status,
    )


def _clipped(configured: httpx.Timeout, total: float | None) -> httpx.Timeout:
    """The client's timeouts, none longer than the whole request may take."""
    if total is None:
        return configured

    def clip(value: float | None) -> float:
        return total if value is None else min(value, total)

    return httpx.Timeout(
        connect=clip(configured.connect),
        read=clip(configured.read),
        write=clip(configured.write),
        pool=clip(configured.pool),
    )


def _drain(response: httpx.Response, deadline: float | None) -> None:
    """Read a delivered batch's answer, so that its connection serves the next request.

    Stops at the deadline, at ``_MAX_ANSWER`` bytes or at an error: the
    connection is then closed instead of kept.
    """
    read = 0
    try:
        for chunk in response.iter_raw():
            read += len(chunk)
            if read > _MAX_ANSWER or (deadline is not None and time.monotonic() >= deadline):
                return
    except httpx.HTTPError:
        return
