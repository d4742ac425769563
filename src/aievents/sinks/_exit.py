"""Draining the batching sinks when the process ends: one mechanism for every one of them.

A sink with a :class:`~aievents.sinks._batch.BatchWorker` joins with
:func:`register` when it is made. When the process ends, every open sink is
closed, all of them at once: each worker is told to drain within the
sink's ``exit_timeout``, then they are waited for together, so the process
waits at most the longest ``exit_timeout`` (not their sum) and a hung
target never delays the others. What could not be drained then is counted
by each sink (spilled, or dropped with a reason) and logged here, once.

"When the process ends" covers:

- a normal interpreter exit (``atexit``);
- SIGTERM, for a sink made with ``handle_sigterm=True`` when the application
  has no SIGTERM handler of its own: SIGTERM then raises ``SystemExit(143)``
  in the main thread, so the program exits normally and drains; a second
  SIGTERM during the drain ends it at once;
- a ``multiprocessing`` child (fork, spawn or forkserver), which ends with
  ``os._exit`` and so skips ``atexit``: the drain runs among
  ``multiprocessing``'s own exit finalizers there.

Nothing is registered until the first sink joins: ``import aievents`` adds
no exit or signal hook.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import weakref
from contextlib import suppress
from typing import Any, Final, Protocol

from aievents import _unfinished
from aievents._diag import log
from aievents._fork import after_fork
from aievents.sinks._batch import BatchWorker
from aievents.sinks._owner import OWNER

__all__ = ["drain", "register"]

#: multiprocessing runs finalizers of higher priority first; ours come early.
_FINALIZER_PRIORITY: Final = 10


class Drained(Protocol):
    """What a sink gives the exit drain (beside the worker it registers)."""

    exit_timeout: float

    @property
    def closed(self) -> bool:
        """Whether the sink was closed already."""

    def close(self, timeout: float | None = None) -> object:
        """Finish within ``timeout`` seconds: what is left is spilled or counted."""


class _Registry:
    """The open batching sinks of this process, and which hooks are in place."""

    def __init__(self) -> None:
        # The worker by weak reference too: it refers to its sink, which would
        # then live as long as the process.
        self.sinks: weakref.WeakKeyDictionary[Any, weakref.ref[BatchWorker]] = (
            weakref.WeakKeyDictionary()
        )
        self.lock = threading.Lock()
        self.atexit = False
        #: Whether multiprocessing runs _in_child in its children (inherited by fork).
        self.forker = False
        #: The process whose exit finalizer is registered (a new child has none).
        self.finalizer_pid = 0

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own; its hooks are looked at again."""
        self.lock = threading.Lock()
        _hook()


_REGISTRY: Final = _Registry()


def register(sink: Drained, worker: BatchWorker, *, handle_sigterm: bool = False) -> None:
    """Drain ``sink`` (whose queue is ``worker``) when the process ends.

    Args:
        sink: The sink; closed with what is left of the deadline.
        worker: Its batch worker, told to drain at once when the process ends.
        handle_sigterm: Turn SIGTERM into a normal exit, unless the
            application handles SIGTERM itself (see the module docstring).
    """
    with _REGISTRY.lock:
        _REGISTRY.sinks[sink] = weakref.ref(worker)
    _hook()
    if handle_sigterm:
        _install_sigterm()


def _hook() -> None:
    """Put the exit hooks this process needs in place (once each)."""
    registry = _REGISTRY
    with registry.lock:
        if not registry.atexit:
            registry.atexit = True
            atexit.register(_at_exit)
            after_fork(registry)
        # multiprocessing is looked at only when the application loaded it.
        util = sys.modules.get("multiprocessing.util")
        process = sys.modules.get("multiprocessing.process")
        if util is None or process is None:
            return
        if not registry.forker:
            registry.forker = True
            # A child started by fork clears the finalizers it inherited, then
            # runs these: the drain is registered there again.
            util.register_after_fork(registry, _in_child)
        if registry.finalizer_pid != os.getpid() and process.parent_process() is not None:
            _finalize_here(util)


def _finalize_here(util: Any) -> None:
    """Drain among this multiprocessing child's exit finalizers (with the lock held)."""
    _REGISTRY.finalizer_pid = os.getpid()
    util.Finalize(None, _at_exit, exitpriority=_FINALIZER_PRIORITY)


def _in_child(registry: _Registry) -> None:
    """In a new multiprocessing child, whose inherited finalizers were just cleared."""
    with registry.lock:
        _finalize_here(sys.modules["multiprocessing.util"])


def _at_exit() -> None:
    """The process ends: drain every open sink within the longest exit_timeout.

    Requests still open (answers never read, or collected unread) are
    reported first, so that their events are in the queues that drain,
    whatever order the exit hooks run in (a multiprocessing child runs no
    ``atexit`` hook at all).
    """
    if threading.current_thread() is threading.main_thread():
        with suppress(ValueError, OSError):  # a second SIGTERM now ends the process
            if signal.getsignal(signal.SIGTERM) is _exit_on_sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with suppress(BaseException):  # exit must go on, whatever a report does
        _unfinished.report_all()
    with _REGISTRY.lock:
        found = [(sink, ref()) for sink, ref in _REGISTRY.sinks.items()]
    sinks = [(sink, worker) for sink, worker in found if worker is not None]
    with suppress(BaseException):  # exit must go on, whatever a sink does
        drain(sinks)
    with suppress(BaseException):
        OWNER.release()  # this process's spill lock files, gone with it


def drain(sinks: list[tuple[Drained, BatchWorker]]) -> dict[str, int]:
    """Close ``sinks`` together within the longest of their ``exit_timeout``.

    Every worker starts draining at once (each with its sink's own
    timeout); then they are waited for together, and each sink is closed
    with what is left of its time (it spills or counts what is still
    queued). Returns the events each sink could not drain in time (by sink,
    only those with any), which are also logged.
    """
    start = time.monotonic()
    entries = [
        (sink, worker, start + max(0.0, float(sink.exit_timeout)))
        for sink, worker in sinks
        if not sink.closed
    ]
    for _, worker, deadline in entries:
        worker.begin_close(deadline)
    for _, worker, deadline in entries:
        worker.wait(deadline)
    undrained: dict[str, int] = {}
    for sink, worker, deadline in entries:
        name = f"{type(sink).__name__}({worker.name})"
        left = worker.pending
        if left:
            undrained[name] = undrained.get(name, 0) + left
        try:
            sink.close(max(0.0, deadline - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - the others must still be closed
            log("exit", "error", "exit_close_failed", error=exc, sink=name)
    if undrained:
        log(
            "exit",
            "error",
            "exit_undrained",
            events=sum(undrained.values()),
            sinks=undrained,
            seconds=round(time.monotonic() - start, 3),
        )
    return undrained


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM becomes a normal exit (status 143), so the sinks drain at exit."""
    raise SystemExit(128 + signum)


def _install_sigterm() -> None:
    """Turn SIGTERM into SystemExit, unless the application handles SIGTERM itself.

    Python's default for SIGTERM ends the process without running exit
    handlers, which would lose the queued events. Only the main thread can
    set signal handlers: a sink made in another thread logs that SIGTERM
    will not drain it (``sigterm_not_handled``), once.
    """
    if threading.current_thread() is not threading.main_thread():
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            log(
                "exit",
                "warning",
                "sigterm_not_handled",
                reason="handle_sigterm=True needs the sink made in the main thread",
                thread=threading.current_thread().name,
            )
        return
    with suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
