"""Installs: one SDK's process-wide and per-client installations, and the shared hook."""

from __future__ import annotations

import threading

import pytest

from aievents.instrument._installs import Installs
from aievents.instrument._settings import Settings
from aievents.instrument._wrap import Installation


class Holder:
    """An object a client's installation is marked on."""


def settings() -> Settings:
    """Default settings."""
    return Settings.given(None, None, capture_prompts=False, capture_outputs=False)


def nothing(installed: Installation[Settings]) -> None:
    """An install step that changes nothing."""


class TestShared:
    """``shared`` is told True at the first installation and False once none is left."""

    def test_first_and_last(self) -> None:
        """Process-wide and per client mixed: one True, then one False at the last undo."""
        told: list[bool] = []
        installs = Installs[Settings](told.append)
        one, two = Holder(), Holder()
        installs.on_client(one, settings(), nothing)
        installs.process_wide(settings(), nothing)
        installs.on_client(two, settings(), nothing)
        installs.on_client(two, settings(), nothing)  # again: only the settings
        assert told == [True]
        installs.undo_process_wide()
        installs.undo_on_client(one)
        assert told == [True]
        installs.undo_on_client(two)
        assert told == [True, False]
        installs.undo_on_client(two)  # nothing left: harmless, not told again
        installs.undo_process_wide()
        assert told == [True, False]
        installs.process_wide(settings(), nothing)
        assert told == [True, False, True]
        installs.undo_process_wide()
        assert told == [True, False, True, False]

    def test_hook_fails(self) -> None:
        """A hook that raises: nothing installed, the error goes to the caller."""

        def refuse(wanted: bool) -> None:
            raise RuntimeError("no")

        installs = Installs[Settings](refuse)
        holder = Holder()
        with pytest.raises(RuntimeError):
            installs.process_wide(settings(), nothing)
        with pytest.raises(RuntimeError):
            installs.on_client(holder, settings(), nothing)
        assert installs.process is None
        assert installs.installed_on(holder) is None

    def test_racing(self) -> None:
        """Threads installing on their own clients at once: the hook told True once."""
        told: list[bool] = []
        installs = Installs[Settings](told.append)
        holders = [Holder() for _ in range(8)]
        threads = [
            threading.Thread(target=installs.on_client, args=(each, settings(), nothing))
            for each in holders
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert told == [True]
        for each in holders:
            installs.undo_on_client(each)
        assert told == [True, False]
