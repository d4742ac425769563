"""What a provider's routes keep for one :class:`~aievents.testing.ImageServer`.

A provider's endpoints (``_fal.py``'s queue, ``_replicate.py``'s
predictions) keep state per server: :func:`server_state` makes it at first
use and gives the same object to every request the server answers; it goes
with the server.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = ["server_state"]

T = TypeVar("T")

_STATES: Final[weakref.WeakKeyDictionary[Any, dict[Callable[[], Any], Any]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK: Final = threading.Lock()


def server_state(server: Any, factory: Callable[[], T]) -> T:
    """``server``'s state made by ``factory``: made once per server (and factory), then shared."""
    with _LOCK:
        states = _STATES.get(server)
        if states is None:
            states = _STATES[server] = {}
        found = states.get(factory)
        if found is None:
            found = states[factory] = factory()
        return found
