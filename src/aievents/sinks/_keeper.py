"""Where a ForwardSink keeps what it cannot send now: its spill, its journal, and their replay.

The spill holds batches the target would not take (or that a full queue let
go); the journal, in durable mode, holds every event from the moment it is
queued until it is delivered, so that a killed process loses nothing. Both
are replayed, oldest first, when the target takes a batch again and when
the next process starts on the same directory; what is delivered is
acknowledged chunk by chunk, so that a replay cut short resumes with the rest.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from aievents.events import BaseEvent
from aievents.exceptions import UnencodableError
from aievents.sinks._accounts import Accounts
from aievents.sinks._halves import REJECTED, SENT, Send, isolate
from aievents.sinks._spill import PartialWriteError, Spill

__all__ = ["Keeper", "Slot"]

#: Where a journaled event lies: its segment and line number.
Slot = tuple[str, int]


class Keeper:
    """A ForwardSink's spill and journal (none without a directory).

    Args:
        spill_dir: The directory; ``None`` keeps nothing.
        max_bytes: Size of the spill (and of the journal), at most.
        durable: Journal every event before it is queued.
        accounts: The sink's counters.
    """

    def __init__(
        self,
        spill_dir: str | os.PathLike[str] | None,
        *,
        max_bytes: int,
        durable: bool,
        accounts: Accounts,
    ) -> None:
        if durable and spill_dir is None:
            raise ValueError("durable=True needs a spill_dir for its journal")
        self._accounts = accounts
        self.spill = Spill(spill_dir, max_bytes=max_bytes) if spill_dir is not None else None
        # The journal directory: written to when durable; read by every sink on
        # the same spill directory, which sends what dead processes journaled.
        self.journal_dir = (
            Spill(Path(spill_dir) / "journal", max_bytes=max_bytes, journal=True)
            if spill_dir is not None
            else None
        )
        self.journal = self.journal_dir if durable else None
        self._replaying = threading.Lock()

    def after_fork(self) -> None:
        """In a forked child: a replay lock of its own (the parent's may have been held)."""
        self._replaying = threading.Lock()

    @property
    def corrupt(self) -> int:
        """Spill lines that could not be read back."""
        return self.spill.corrupt_lines if self.spill is not None else 0

    # ------------------------------------------------------------------ keeping

    def journaled(self, items: list[tuple[BaseEvent, Slot | None]], reason: str) -> bool:
        """Durable mode, queue full (or closing): the events wait in the journal.

        Those that are not in the journal are counted as dropped, ``reason``.
        """
        kept = sum(1 for _, slot in items if slot is not None)
        self._accounts.add("journaled", kept)
        if kept < len(items):
            self._accounts.drop(reason, len(items) - kept)
        return True

    def acknowledge(self, items: list[tuple[BaseEvent, Slot | None]]) -> None:
        """Durable mode: these events were delivered (or spilled); the journal may let go."""
        journal = self.journal
        if journal is None:
            return
        lines: dict[str, list[int]] = {}
        for _, slot in items:
            if slot is not None:
                lines.setdefault(slot[0], []).append(slot[1])
        for segment, indexes in lines.items():
            journal.ack(segment, indexes)

    def spill_batch(self, batch: list[BaseEvent]) -> bool:
        """Spill ``batch``; whether it was kept (its unencodable events taken out, counted)."""
        spill = self.spill
        if spill is None:
            return False
        accounts = self._accounts
        try:
            written = accounts.encodable(spill.write, batch)
        except UnencodableError as exc:  # naming no event of the batch: nothing written
            accounts.log(("spill_failed", "unencodable"), "warning", "spill_failed", error=exc)
            accounts.drop("spill_failed", len(batch))
            return True  # accounted for
        except OSError as exc:  # disk full, read-only...: counted, never raised
            kept = exc.kept if isinstance(exc, PartialWriteError) else 0
            accounts.log(("spill_failed", exc.errno), "warning", "spill_failed", error=exc)
            if kept:
                accounts.add("spilled", kept)
            accounts.drop("spill_failed", len(batch) - kept)
            return True  # accounted for
        if not batch:
            return True  # every event was unencodable: counted
        if written is None:
            return False
        accounts.add("spilled", len(batch))
        return True

    # ------------------------------------------------------------------ replaying

    def replay(self, send: Send, batch_size: int) -> None:
        """Send spilled segments (and dead processes' journals), oldest first; never raises.

        ``send(batch)`` tries once, saying what became of it; a batch it
        does not send (failed, or deferred: a ``Retry-After``, the time is
        up) stops the replay, which resumes later.
        """
        if self.spill is None or not self._replaying.acquire(blocking=False):
            return
        failure: Exception | None = None
        try:
            self.spill.seal()
            for spill, own in ((self.spill, True), (self.journal_dir, False)):
                if spill is not None and not self._replay_from(spill, own, send, batch_size):
                    break
        except Exception as exc:  # noqa: BLE001 - what is left is replayed later
            failure = exc
        finally:
            self._replaying.release()
        if failure is not None:
            self._accounts.log(("replay", type(failure)), "warning", "replay_failed", error=failure)

    def _replay_from(self, spill: Spill, own: bool, send: Send, batch_size: int) -> bool:
        """Replay one directory; False when the target refused, asked to wait, or time ran out.

        What is delivered is acknowledged chunk by chunk: a replay cut short
        here, or in a killed process, resumes with the rest. Events the
        target refuses for good are counted (``rejected``), acknowledged and
        passed over, so that they never hold up the rest of the segment.
        """
        accounts = self._accounts
        while (segment := spill.claim(own=own)) is not None:
            events = spill.pending(segment)
            for start in range(0, len(events), batch_size):
                chunk = events[start : start + batch_size]
                parts = isolate([event for _, event in chunk], send)
                kept = {id(event) for _, part, _ in parts for event in part}
                lines = {id(event): index for index, event in chunk}
                done = [index for index, event in chunk if id(event) not in kept]  # unencodable
                stopped = False
                for outcome, part, error in parts:
                    if outcome == SENT:
                        accounts.add("sent", len(part))
                    elif outcome == REJECTED:
                        accounts.reject(len(part), error)
                    else:
                        stopped = True  # left claimed: replayed later
                        continue
                    accounts.add("replayed", len(part))
                    done += [lines[id(event)] for event in part]
                spill.ack(segment.name, done)
                if stopped:
                    return False
            spill.release(segment)
        return True

    def close(self) -> None:
        """Close the spill and the journal."""
        for spill in (self.spill, self.journal_dir):
            if spill is not None:
                spill.close()
