"""Capped label values: high-cardinality dimensions (project, user) for metrics.

A metric labelled by user id grows one time series per user, without end.
:class:`CappedLabel` lets the first ``cap`` distinct values through and
maps every later one to one overflow value, counting how many it folded, so
that the series stay bounded and nothing is lost from the totals (the
overflow series holds the rest). Used by the OpenTelemetry and Prometheus
sinks alike.
"""

from __future__ import annotations

import threading
from typing import Final

from aievents._fork import after_fork
from aievents._validate import setting

__all__ = ["OVERFLOW_LABEL", "CappedLabel", "CappedSets"]

#: The label value every value past the cap is counted under.
OVERFLOW_LABEL: Final = "(overflow)"


class CappedLabel:
    """The first ``cap`` distinct values of one label, then ``overflow`` for the rest.

    Args:
        name: The label's name, for error messages.
        cap: Distinct values let through (at least 1).
        overflow: The value every later value is reported as.
        missing: The value reported for ``None`` (not counted against the cap).
    """

    def __init__(
        self, name: str, cap: int, *, overflow: str = OVERFLOW_LABEL, missing: str = ""
    ) -> None:
        setting(f"{name} cap", cap, positive=True)
        self.name = name
        self.cap = cap
        self.overflow = overflow
        self.missing = missing
        self._seen: dict[str, None] = {}
        self._lock = threading.Lock()
        after_fork(self)
        #: Values reported as ``overflow`` since the start (one per event).
        self.overflowed = 0

    def __call__(self, value: str | None) -> str:
        """The label value to report for ``value``."""
        if value is None:
            return self.missing
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.cap:
                self._seen[value] = None
                return value
            self.overflowed += 1
            return self.overflow

    def __len__(self) -> int:
        """Distinct values let through so far."""
        return len(self._seen)

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (a thread of the parent may have held it)."""
        self._lock = threading.Lock()


class CappedSets:
    """The first ``cap`` distinct label sets, then one all-``overflow`` set for the rest.

    Capping each label alone bounds each label's values, not their
    combinations (100 users times 100 projects times 1000 models). This caps
    the combinations: a label set past the cap is reported with every value
    ``overflow``, so the number of label sets stays at most ``cap`` plus one
    overflow set per length of set.

    Args:
        name: What is capped, for error messages.
        cap: Distinct label sets let through (at least 1).
        overflow: The value of every label of the overflow set.
    """

    def __init__(self, name: str, cap: int, *, overflow: str = OVERFLOW_LABEL) -> None:
        setting(name, cap, positive=True)
        self.name = name
        self.cap = cap
        self.overflow = overflow
        self._seen: dict[tuple[str, ...], None] = {}
        self._lock = threading.Lock()
        after_fork(self)
        #: Label sets reported as the overflow set since the start (one per event).
        self.overflowed = 0

    def __call__(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """The label set to report for ``labels``."""
        if labels in self._seen:
            return labels
        with self._lock:
            if labels in self._seen:
                return labels
            if len(self._seen) < self.cap:
                self._seen[labels] = None
                return labels
            self.overflowed += 1
            return (self.overflow,) * len(labels)

    def __len__(self) -> int:
        """Distinct label sets let through so far."""
        return len(self._seen)

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (a thread of the parent may have held it)."""
        self._lock = threading.Lock()
