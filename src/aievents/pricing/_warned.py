"""What a price book has already warned about: each model and reason once."""

from __future__ import annotations

import threading
from typing import Final

from aievents._fork import after_fork

#: Models (and reasons) one book remembers warning about, at most.
_MAX_WARNED: Final = 10_000


class Warned:
    """The (model, reason) pairs already logged as unpriced: each is logged once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()
        after_fork(self)

    def first(self, model: str, reason: str) -> bool:
        """Whether this is the first time (and the bound is not reached): then remember it."""
        key = (model, reason)
        with self._lock:
            if key in self._seen or len(self._seen) >= _MAX_WARNED:
                return False
            self._seen.add(key)
            return True

    def clear(self) -> None:
        """Forget every warning given."""
        with self._lock:
            self._seen.clear()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it
