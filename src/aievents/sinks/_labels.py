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
from typing import Final, Generic, TypeVar

from aievents._fork import after_fork
from aievents._validate import setting

__all__ = ["OVERFLOW_LABEL", "CappedLabel", "CappedSets"]

K = TypeVar("K", str, tuple[str, ...])

#: The label value every value past the cap is counted under.
OVERFLOW_LABEL: Final = "(overflow)"


class _FirstDistinct(Generic[K]):
    """The first ``cap`` distinct keys let through; the rest counted as folded.

    One rule for :class:`CappedLabel` (a label's values) and
    :class:`CappedSets` (whole label sets): a key seen before passes without
    the lock; a new key takes a place while there is one, else it is folded
    and counted in ``overflowed``.
    """

    def __init__(self, setting_name: str, name: str, cap: int, overflow: str) -> None:
        setting(setting_name, cap, positive=True)
        self.name = name
        self.cap = cap
        self.overflow = overflow
        self._seen: dict[K, None] = {}
        self._lock = threading.Lock()
        after_fork(self)
        #: Keys folded into the overflow since the start (one per event).
        self.overflowed = 0

    def _admit(self, key: K) -> bool:
        """Whether ``key`` is let through (counted as folded when it is not)."""
        if key in self._seen:
            return True
        with self._lock:
            if key in self._seen:
                return True
            if len(self._seen) < self.cap:
                self._seen[key] = None
                return True
            self.overflowed += 1
            return False

    def __len__(self) -> int:
        """Distinct keys let through so far."""
        return len(self._seen)

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own (a thread of the parent may have held it)."""
        self._lock = threading.Lock()


class CappedLabel(_FirstDistinct[str]):
    """The first ``cap`` distinct values of one label, then ``overflow`` for the rest.

    Args:
        name: The label's name, for error messages.
        cap: Distinct values let through (at least 1).
        overflow: The value every later value is reported as.
        missing: The value reported for ``None`` (not counted against the cap).

    ``overflowed`` counts the values reported as ``overflow`` (one per event).
    """

    def __init__(
        self, name: str, cap: int, *, overflow: str = OVERFLOW_LABEL, missing: str = ""
    ) -> None:
        super().__init__(f"{name} cap", name, cap, overflow)
        self.missing = missing

    def __call__(self, value: str | None) -> str:
        """The label value to report for ``value``."""
        if value is None:
            return self.missing
        return value if self._admit(value) else self.overflow


class CappedSets(_FirstDistinct[tuple[str, ...]]):
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

    ``overflowed`` counts the label sets reported as the overflow set (one
    per event).
    """

    def __init__(self, name: str, cap: int, *, overflow: str = OVERFLOW_LABEL) -> None:
        super().__init__(name, name, cap, overflow)

    def __call__(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """The label set to report for ``labels``."""
        return labels if self._admit(labels) else (self.overflow,) * len(labels)
