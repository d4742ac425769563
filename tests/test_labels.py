"""CappedLabel and CappedSets: bounded label values and label sets, in forked children too."""

from __future__ import annotations

import os

import pytest

from aievents.sinks._labels import CappedLabel, CappedSets
from children import run_child


class TestCappedLabel:
    """The first values pass, later ones become the overflow value, counted."""

    def test_cap(self) -> None:
        """Two values pass; a third is (overflow); None is the missing value, not counted."""
        label = CappedLabel("user_id", 2)
        assert [label(v) for v in ("a", "b", "a", "c", None)] == ["a", "b", "a", "(overflow)", ""]
        assert len(label) == 2
        assert label.overflowed == 1

    def test_refused(self) -> None:
        """A cap below 1 names the setting."""
        with pytest.raises(ValueError, match="user_id cap must be a positive integer, got 0"):
            CappedLabel("user_id", 0)


class TestCappedSets:
    """The first label sets pass, later ones become one all-overflow set, counted."""

    def test_cap(self) -> None:
        """Two sets pass; a third folds into a set of the same length, all (overflow)."""
        sets = CappedSets("max_series", 2)
        assert sets(("a", "x")) == ("a", "x")
        assert sets(("b", "x")) == ("b", "x")
        assert sets(("a", "x")) == ("a", "x")
        assert sets(("a", "y")) == ("(overflow)", "(overflow)")
        assert sets(("a", "y", "")) == ("(overflow)",) * 3
        assert len(sets) == 2
        assert sets.overflowed == 2

    def test_refused(self) -> None:
        """A cap below 1 names the setting."""
        with pytest.raises(ValueError, match="max_series must be a positive integer, got -1"):
            CappedSets("max_series", -1)


FORKED = """
import os, signal, threading
from aievents.sinks._labels import {kind}

capped = {kind}("x", 1)
capped({first})
held, release = threading.Event(), threading.Event()

def hold():
    with capped._lock:  # a thread of the parent is inside the lock when the process forks
        held.set()
        release.wait()

thread = threading.Thread(target=hold)
thread.start()
held.wait()
pid = os.fork()
if pid == 0:
    signal.alarm(30)  # a child stuck on the lock ends here instead of hanging the test
    print("child", capped({second}), flush=True)  # a new value: takes the lock
    os._exit(0)
_, status = os.waitpid(pid, 0)
release.set()
thread.join()
print("parent", capped({second}), os.waitstatus_to_exitcode(status), flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    """A child forked while a thread of the parent held the lock does not deadlock."""

    def test_label(self) -> None:
        """The child takes a new value at once (before: it waited for ever on the lock)."""
        out, _ = run_child(FORKED, kind="CappedLabel", first="'a'", second="'b'")
        assert out.splitlines() == ["child (overflow)", "parent (overflow) 0"]

    def test_sets(self) -> None:
        """The same for label sets."""
        out, _ = run_child(FORKED, kind="CappedSets", first="('a',)", second="('b',)")
        assert out.splitlines() == ["child ('(overflow)',)", "parent ('(overflow)',) 0"]
