"""What a price book has already warned about: each model and reason once."""

from __future__ import annotations

import datetime
import threading
from typing import Final

from aievents._diag import log
from aievents._fork import after_fork
from aievents.pricing._entry import ModelPrice

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
        if key in self._seen:  # the usual answer, without the lock (a set is read whole)
            return False
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

    def lifecycle(self, price: ModelPrice, model: str, when: datetime.date | None) -> None:
        """Log, once per model, that ``price``'s model is retired or deprecated on ``when``.

        A model past its shutdown date is a warning (``model_retired``); a
        deprecated one, still served, an info line (``model_deprecated``).
        Both name the successor. ``when`` is today (UTC) when ``None``.
        """
        if price.shutdown is None and price.deprecated is None:
            return
        if when is None:
            when = datetime.datetime.now(datetime.timezone.utc).date()
        status = price.status(when)
        if status in {"shutdown", "deprecated"} and self.first(price.model, status):
            log(
                "pricing",
                "warning" if status == "shutdown" else "info",
                "model_retired" if status == "shutdown" else "model_deprecated",
                model=model,
                priced_as=price.model,
                provider=price.provider,
                shutdown=None if price.shutdown is None else price.shutdown.isoformat(),
                successor=price.successor,
            )
