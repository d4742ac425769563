"""One SDK's instrumentations: the process-wide one, and those of single clients.

Every ``instrument_x(client=None, ...)`` keeps the same books: at most one
process-wide :class:`~aievents.instrument._wrap.Installation` (the SDK's
classes or functions wrapped), and one per client, marked on the object
that holds the client's wrapped methods. :class:`Installs` keeps them under
one lock, so that racing calls install once, a second call only updates the
settings, and undoing is harmless when nothing was done::

    INSTALLS: Final = Installs[Settings]()

    def instrument_x(client=None, *, events=None, ...):
        settings = Settings(...)
        if client is None:
            INSTALLS.process_wide(settings, lambda installed: _wrap_classes(installed))
        else:
            INSTALLS.on_client(client, settings, lambda installed: _wrap_client(installed, client))
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

from aievents.instrument._settings import Settings
from aievents.instrument._wrap import Installation

__all__ = ["MARK", "Installs"]

S = TypeVar("S", bound=Settings)

#: The attribute that holds a client's own installation.
MARK: Final = "_aievents_instrumentation"


def _installed(settings: S, install: Callable[[Installation[S]], None]) -> Installation[S]:
    """A new installation, installed; what ``install`` did before failing is undone."""
    installed = Installation(settings)
    try:
        install(installed)
    except BaseException:
        installed.undo()
        raise
    return installed


class Installs(Generic[S]):
    """The process-wide installation and the per-client ones of one SDK."""

    def __init__(self) -> None:
        #: Held while instrumenting or undoing: the check and the wrapping are one step.
        self.lock = threading.Lock()
        self.process: Installation[S] | None = None

    def process_wide(self, settings: S, install: Callable[[Installation[S]], None]) -> None:
        """Install once with ``install(installed)``; later calls only update the settings."""
        with self.lock:
            if self.process is not None:
                self.process.settings = settings
                return
            self.process = _installed(settings, install)

    def on_client(
        self, holder: Any, settings: S, install: Callable[[Installation[S]], None]
    ) -> None:
        """Install on one client once (marked on ``holder``); later calls update the settings."""
        with self.lock:
            found = self.installed_on(holder)
            if found is not None and found.active:
                found.settings = settings
                return
            installed = _installed(settings, install)
            installed.patch(holder, MARK, installed)

    def undo_process_wide(self) -> None:
        """Undo the process-wide installation; harmless when there is none."""
        with self.lock:
            installed, self.process = self.process, None
            if installed is not None:
                installed.undo()

    def undo_on_client(self, holder: Any) -> None:
        """Undo the installation marked on ``holder``; harmless when there is none."""
        with self.lock:
            installed = self.installed_on(holder)
            if installed is not None:
                installed.undo()

    @staticmethod
    def installed_on(holder: Any) -> Installation[Any] | None:
        """The installation marked on ``holder``, if any."""
        found = getattr(holder, "__dict__", {}).get(MARK)
        return found if isinstance(found, Installation) else None

    def reports(self, holder: Any) -> bool:
        """Whether a client's calls are reported: ``holder`` is instrumented, or every client is."""
        return self.process is not None or self.installed_on(holder) is not None
