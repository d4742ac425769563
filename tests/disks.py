"""Real file systems that fail: a tiny tmpfs (a full disk), a directory turned read-only.

Mounting needs root (or CAP_SYS_ADMIN): :meth:`Disks.check` raises
:class:`UnavailableError` when it is not permitted, and the tests that need it
skip with the reason (or fail when ``CI`` is set).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Disks", "UnavailableError"]


class UnavailableError(Exception):
    """Mounting file systems is not permitted here."""


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode:
        raise UnavailableError(f"{' '.join(command)}: {result.stderr.strip() or result.returncode}")


class Disks:
    """Mounts under ``root``, all undone by :meth:`cleanup`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._mounted: list[Path] = []

    def check(self) -> None:
        """Raise :class:`UnavailableError` unless a tmpfs can be mounted and unmounted."""
        probe = self.root / "probe"
        probe.mkdir()
        _run("mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(probe))
        _run("umount", str(probe))

    def full(self, name: str, size: str) -> Path:
        """A directory on a fresh tmpfs of ``size`` (such as ``32k``): it fills up fast."""
        path = self.root / name
        path.mkdir()
        _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
        self._mounted.append(path)
        return path

    @contextmanager
    def read_only(self, path: Path) -> Iterator[None]:
        """While inside, ``path`` is a bind mount of itself remounted read-only.

        Files already open keep their descriptors on the writable file system
        beneath; every operation by name (create, rename, delete) is refused
        with ``EROFS``. Leaving unmounts it: the directory is writable again.
        """
        _run("mount", "--bind", str(path), str(path))
        self._mounted.append(path)
        try:
            _run("mount", "-o", "remount,ro,bind", str(path))
            yield
        finally:
            self._unmount(path)

    def _unmount(self, path: Path) -> None:
        self._mounted.remove(path)
        try:
            _run("umount", str(path))
        except UnavailableError:  # busy (a descriptor still open in it): detach it
            _run("umount", "-l", str(path))

    def cleanup(self) -> None:
        """Undo every mount still in place, the latest first."""
        for path in reversed(list(self._mounted)):
            self._unmount(path)
