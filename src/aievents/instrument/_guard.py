"""One report per call: the outermost instrumented call reports, those inside it pass through.

A client instrumented on its own and also through its SDK's classes, a
gateway's instrumented call that makes an instrumented SDK call, an
``image_request`` block around an instrumented call: each is one request,
reported once. The wrapper that starts first claims the call for this
context (thread or task); a wrapper reached while the claim is held calls
straight through::

    token = claim()
    if token is None:
        return original(*args, **kwargs)  # an outer wrapper reports this call
    try:
        ...  # report the call
    finally:
        release(token)
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Final

__all__ = ["claim", "claimed", "release"]

_CLAIMED: Final[ContextVar[bool]] = ContextVar("aievents_call_claimed", default=False)


def claimed() -> bool:
    """Whether an instrumented call of this context is already being reported."""
    return _CLAIMED.get()


def claim() -> Token[bool] | None:
    """Claim the call for reporting: a token for :func:`release`, or None when already claimed."""
    if _CLAIMED.get():
        return None
    return _CLAIMED.set(True)


def release(token: Token[bool]) -> None:
    """Give back a claim made by :func:`claim` (in a ``finally``, in the same context)."""
    _CLAIMED.reset(token)
