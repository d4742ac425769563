"""What became of a send, and finding the events a target refuses by halving their batch.

A target may refuse a batch for some of its events only (or for its size):
:func:`isolate` splits such a batch in halves, down to single events, so
that the events refused cost only themselves and the rest is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from aievents.exceptions import TransportError

__all__ = ["DEFERRED", "FAILED", "REJECTED", "SENT", "Part", "Send", "isolate"]

#: What became of one batch's send: taken, failed (and not retried any more),
#: or not tried (the target asked to wait longer than the batch can, or the
#: sink is closing).
SENT: Final = "sent"
FAILED: Final = "failed"
DEFERRED: Final = "deferred"
#: ... or refused for good by the target (not worth a retry, nor a spill).
REJECTED: Final = "rejected"
#: Statuses with which a target may refuse a batch for some of its events (or
#: its size): such a batch is split to find them, the rest is sent.
_SPLIT: Final = frozenset({400, 413, 422})

#: One attempt at sending a batch: its outcome and error.
Send = Callable[[list[Any]], tuple[str, Exception | None]]
#: A part of a batch, with the outcome of its send and the error.
Part = tuple[str, list[Any], Exception | None]


def _splits(error: Exception | None) -> bool:
    """Whether a refusal may be for some events of the batch only (its status says so)."""
    return isinstance(error, TransportError) and error.status in _SPLIT


def isolate(batch: list[Any], send: Send) -> list[Part]:
    """``send(batch)``; when the target refuses it for some of its events, its halves.

    A batch refused with a status of ``_SPLIT`` (400, 413, 422) is split
    in two, each half sent on its own, and so on down to single events,
    so that the events refused cost only themselves (and a batch too
    large for the target gets through in smaller parts). Halvings in a
    row that deliver nothing are bounded (by twice the depth of the
    search): past that, the target is taken to refuse everything, and the
    parts left are sent as they are. A part that fails or is deferred
    ends it: the parts not tried yet come back with the same outcome.
    Returns each part, in order, with its outcome and error.
    """
    done: list[Part] = []
    todo = [batch]
    budget = most = 2 * len(batch).bit_length()
    while todo:
        part = todo.pop()
        outcome, error = send(part)
        if outcome == REJECTED and len(part) > 1 and budget and _splits(error):
            budget -= 1
            half = len(part) // 2
            todo += (part[half:], part[:half])  # the first half next
            continue
        if outcome == SENT:
            budget = most
        done.append((outcome, part, error))
        if outcome in (FAILED, DEFERRED):
            done += [(outcome, rest, error) for rest in reversed(todo)]
            break
    return done
