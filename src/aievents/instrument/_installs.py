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

An SDK whose classes are wrapped once for every installation (each call
then asks which installation it is reported under) passes ``shared``: it is
called, under the lock, with True when the first installation is made and
with False once none is left.
"""

from __future__ import annotations

import threading
import weakref
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

    def __init__(self, shared: Callable[[bool], None] | None = None) -> None:
        #: Held while instrumenting or undoing: the check and the wrapping are one step.
        self.lock = threading.Lock()
        self.process: Installation[S] | None = None
        self._shared = shared
        self._sharing = False
        self._clients: weakref.WeakSet[Installation[S]] = weakref.WeakSet()

    def _share(self) -> None:
        """Tell ``shared`` (under the lock) when the first installation came or the last went."""
        if self._shared is None:
            return
        wanted = self.process is not None or any(each.active for each in self._clients)
        if wanted != self._sharing:
            self._shared(wanted)
            self._sharing = wanted

    def process_wide(self, settings: S, install: Callable[[Installation[S]], None]) -> None:
        """Install once with ``install(installed)``; later calls only update the settings."""
        with self.lock:
            if self.process is not None:
                self.process.settings = settings
                return
            installed = _installed(settings, install)
            self.process = installed
            try:
                self._share()
            except BaseException:
                self.process = None
                installed.undo()
                raise

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
            self._clients.add(installed)
            try:
                self._share()
            except BaseException:
                self._clients.discard(installed)
                installed.undo()
                raise

    def undo_process_wide(self) -> None:
        """Undo the process-wide installation; harmless when there is none."""
        with self.lock:
            installed, self.process = self.process, None
            if installed is not None:
                installed.undo()
            self._share()

    def undo_on_client(self, holder: Any) -> None:
        """Undo the installation marked on ``holder``; harmless when there is none."""
        with self.lock:
            installed = self.installed_on(holder)
            if installed is not None:
                installed.undo()
                self._clients.discard(installed)
            self._share()

    @staticmethod
    def installed_on(holder: Any) -> Installation[Any] | None:
        """The installation marked on ``holder``, if any."""
        found = getattr(holder, "__dict__", {}).get(MARK)
        return found if isinstance(found, Installation) else None

    def reports(self, holder: Any) -> bool:
        """Whether a client's calls are reported: ``holder`` is instrumented, or every client is."""
        return self.process is not None or self.installed_on(holder) is not None
