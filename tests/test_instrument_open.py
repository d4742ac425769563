"""The open requests of a provider (instrument/_open.py): held by id, reported once, bounded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any

from aievents import _unfinished as unfinished
from aievents.instrument._open import Held, OpenRequests
from aievents.instrument._request import ImageRequest


class Booked(Held):
    """A held request that notes its booking in ``booked``."""

    def __init__(self, requests: OpenRequests[Any], key: str, booked: list[str]) -> None:
        super().__init__(requests, key, ImageRequest(provider="test", model="m"))
        self.booked = booked

    def book(self) -> None:
        self.booked.append(self.key)


def _held(requests: OpenRequests[Any], key: str, booked: list[str] | None = None) -> Booked:
    held = Booked(requests, key, [] if booked is None else booked)
    requests.hold(held)
    return held


class TestHeld:
    """A held request is found by its id until one path ends it; that path alone reports."""

    def test_found_then_taken(self) -> None:
        """find() gives it; take() is true once and it is no longer open."""
        requests: OpenRequests[Booked] = OpenRequests(cap=10)
        held = _held(requests, "a")
        assert requests.find("a") is held
        assert requests.find(None) is None
        assert held.take()
        assert not held.take()
        assert requests.find("a") is None
        assert len(requests) == 0

    def test_taken_once_among_threads(self) -> None:
        """Sixteen threads end the same request: one of them reports it."""
        requests: OpenRequests[Booked] = OpenRequests(cap=10)
        held = _held(requests, "a")
        start = threading.Barrier(16)
        won: list[bool] = []

        def end() -> None:
            start.wait()
            won.append(held.take())

        threads = [threading.Thread(target=end) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won) == [False] * 15 + [True]

    def test_cap_books_the_oldest(self) -> None:
        """Past the cap the oldest is booked (once); the others stay open."""
        booked: list[str] = []
        requests: OpenRequests[Booked] = OpenRequests(cap=2)
        first, *_ = (_held(requests, key, booked) for key in "abc")
        assert booked == ["a"]
        assert not first.take()
        assert len(requests) == 2

    def test_booked_at_exit(self) -> None:
        """Still open when the process ends: booked by the exit hook."""
        booked: list[str] = []
        requests: OpenRequests[Booked] = OpenRequests(cap=10)
        _held(requests, "a", booked)
        unfinished.report_all()
        assert booked == ["a"]
        assert len(requests) == 0

    def test_dropped(self) -> None:
        """Dropped (reported elsewhere): neither open nor booked at exit."""
        booked: list[str] = []
        requests: OpenRequests[Booked] = OpenRequests(cap=10)
        _held(requests, "a", booked)
        requests.drop("a")
        requests.drop("never held")
        unfinished.report_all()
        assert booked == []
        assert requests.find("a") is None


def test_forked_child_starts_empty() -> None:
    """In a forked child the parent's open requests are the parent's: the child has none."""
    script = textwrap.dedent(
        """
        import os
        from aievents.instrument._open import Held, OpenRequests
        from aievents.instrument._request import ImageRequest

        class Quiet(Held):
            def book(self):
                print("booked", os.getpid() == parent, flush=True)

        parent = os.getpid()
        requests = OpenRequests(cap=10)
        requests.hold(Quiet(requests, "a", ImageRequest(provider="test", model="m")))
        child = os.fork()
        if child == 0:
            print("child", len(requests), requests.find("a"), flush=True)
            os._exit(0)
        os.waitpid(child, 0)
        print("parent", len(requests), flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == ["child 0 None", "parent 1", "booked True"]
