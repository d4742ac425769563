"""aievents' own threads: they never take the signals meant for the host program.

A signal sent to the process (Ctrl-C's SIGINT, SIGTERM, SIGHUP...) is
delivered by the kernel to any one thread that does not block it. Python
runs its handler in the main thread in any case, but only the thread that
received the signal has its blocking call cut short: if a background thread
of aievents takes a SIGINT while the main thread waits in ``open()`` of a
FIFO, ``input()`` or ``accept()``, that wait goes on and Ctrl-C seems to do
nothing. So every thread aievents starts blocks these signals first; the
kernel then delivers them to the host's threads. Threads started from one
of ours (a server's connection threads) inherit the mask.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, Final

__all__ = ["HOST_SIGNALS", "Thread", "start"]

#: The signals left to the host program's threads (those this platform has).
HOST_SIGNALS: Final = frozenset(
    getattr(signal, name)
    for name in (
        "SIGINT",
        "SIGTERM",
        "SIGHUP",
        "SIGQUIT",
        "SIGUSR1",
        "SIGUSR2",
        "SIGALRM",
        "SIGCHLD",
        "SIGWINCH",
    )
    if hasattr(signal, name)
)


class Thread(threading.Thread):
    """A :class:`threading.Thread` that blocks :data:`HOST_SIGNALS` before it runs."""

    def run(self) -> None:
        if hasattr(signal, "pthread_sigmask"):  # not on Windows, where this does not arise
            signal.pthread_sigmask(signal.SIG_BLOCK, HOST_SIGNALS)
        super().run()


def start(
    target: Callable[..., object],
    *,
    name: str,
    args: tuple[Any, ...] = (),
    daemon: bool = True,
) -> Thread:
    """Start ``target(*args)`` on a new :class:`Thread` (a daemon unless told otherwise)."""
    thread = Thread(target=target, name=name, args=args, daemon=daemon)
    thread.start()
    return thread
