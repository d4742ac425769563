"""The fault suite's ledger: what each fault scenario sent, what arrived, what was counted.

A fault test calls :func:`record` once it knows its numbers; the table of
every scenario run is printed at the end of the test session. ``lost`` is
what was sent, did not arrive and was not counted by any counter: the
reliability contract says it is always 0, and :func:`record` asserts so.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import attrs

from aievents.events import BaseEvent

__all__ = ["Scenario", "book", "record", "recorded", "table"]


@attrs.frozen
class Scenario:
    """One fault scenario's books."""

    name: str
    sent: int
    received: int
    counted: int
    note: str = ""

    @property
    def lost(self) -> int:
        """Sent, not received, not counted."""
        return self.sent - self.received - self.counted


_LOCK = threading.Lock()
_SCENARIOS: list[Scenario] = []


def record(name: str, *, sent: int, received: int, counted: int, note: str = "") -> Scenario:
    """Book a scenario's numbers; fails the test when anything was lost."""
    scenario = Scenario(name, sent, received, counted, note)
    with _LOCK:
        _SCENARIOS.append(scenario)
    assert scenario.lost == 0, f"{name}: {scenario.lost} events lost ({scenario})"
    return scenario


class Receiver(Protocol):
    """Where events arrive (a collector): the event ids it received."""

    def ids(self) -> list[str]:
        """The event ids received, duplicates included."""
        ...


def book(
    name: str, sent: Sequence[BaseEvent], receiver: Receiver, counted: int, note: str
) -> Scenario:
    """Record a scenario: received are the distinct events of ``sent`` that arrived."""
    ids = {event.event_id for event in sent}
    received = ids & set(receiver.ids())
    return record(name, sent=len(ids), received=len(received), counted=counted, note=note)


def recorded() -> list[Scenario]:
    """The scenarios booked so far, in order."""
    with _LOCK:
        return list(_SCENARIOS)


def table(scenarios: list[Scenario]) -> str:
    """A Markdown table of the scenarios."""
    lines = [
        "| scenario | sent | received | counted | lost | how counted |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for s in scenarios:
        lines.append(f"| {s.name} | {s.sent} | {s.received} | {s.counted} | {s.lost} | {s.note} |")
    return "\n".join(lines)
