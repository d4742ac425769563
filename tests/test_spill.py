"""The spill's mechanisms, directly: owners' lock files, claims, acks, torn writes, fork.

Other processes are real ones (:mod:`children`): a live owner holds its lock
file in its own process; a dead one was killed with SIGKILL.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aievents.sinks import _acks
from aievents.sinks._owner import OWNER, Owner, alive, token_of
from aievents.sinks._spill import PartialWriteError, Spill
from children import HANG, run_child, spawn
from disks import Disks

from helpers import usage_event

#: A token of a process that does not run (no lock file is held for it).
DEAD: str = "999999999x0badc0de"

HOLDER = """
import sys
sys.path.insert(0, {tests!r})
from helpers import usage_event
from aievents.sinks._owner import OWNER
from aievents.sinks._spill import Spill

spill = Spill({directory!r})
spill.write([usage_event("child-0"), usage_event("child-1")])
if {how!r} in ("sealed", "claimed", "acked"):
    spill.seal()
if {how!r} in ("claimed", "acked"):
    claimed = spill.claim()
    if {how!r} == "acked":
        spill.ack(claimed.name, [0])  # child-0 delivered; killed before the rest
    print(claimed.name, flush=True)
print(OWNER.token, flush=True)
sys.stdin.readline()  # held until told
"""


class Holder:
    """Another process writing to a spill directory, holding its lock file until it ends."""

    def __init__(self, directory: Path, how: str) -> None:
        self.process = spawn(HOLDER, directory=str(directory), how=how)
        assert self.process.stdout is not None
        first = self.process.stdout.readline().strip()
        claims = how in ("claimed", "acked")
        self.claimed = first if claims else None
        self.token = self.process.stdout.readline().strip() if claims else first
        assert re.fullmatch(r"\d+x[0-9a-f]{8}", self.token), self.process.stderr

    def kill(self) -> None:
        """End it with SIGKILL: no exit code of its runs, its lock is let go by the kernel."""
        self.process.kill()
        self.process.communicate(timeout=HANG)

    def end(self) -> None:
        """Let it end (if it still runs)."""
        if self.process.poll() is None:
            self.process.communicate("\n", timeout=HANG)


@pytest.fixture(name="holders")
def _holders() -> Iterator[list[Holder]]:
    made: list[Holder] = []
    yield made
    for holder in made:
        holder.end()


def hold(holders: list[Holder], directory: Path, how: str) -> Holder:
    """Start a :class:`Holder` and have it ended after the test."""
    holder = Holder(directory, how)
    holders.append(holder)
    return holder


def segment(
    directory: Path, token: str, suffix: str = "", *, stamp: int = 1, count: int = 2
) -> Path:
    """A segment of ``count`` events, named as the process of ``token`` names it."""
    path = directory / f"seg-{stamp:020d}-{token}-000000.jsonl{suffix}"
    writer = Spill(directory / ".writer")
    name, _ = writer.write([usage_event(f"{token[:6]}-{i}") for i in range(count)]) or ("", 0)
    writer.seal()
    (directory / ".writer" / name).rename(path)
    return path


def names(directory: Path) -> list[str]:
    """The spill files of ``directory`` (segments and acks), sorted."""
    return sorted(path.name for path in directory.glob("seg-*"))


class TestLockFiles:
    """Each process holds ``owner-<token>.lock``; a token is the pid and random bytes."""

    def test_token(self) -> None:
        """A token is ``<pid>x<8 hex digits>``, new for each owner (unlike a reused pid)."""
        first, second = Owner(), Owner()
        assert re.fullmatch(rf"{os.getpid()}x[0-9a-f]{{8}}", first.token)
        assert first.token != second.token
        assert not first.forked()

    def test_token_of_segment_names(self) -> None:
        """The writer's token is read from a segment's name in every state; else empty."""
        base = f"seg-00000000000000000001-{DEAD}-000003.jsonl"
        for name in (base, base + ".open", f"{base}.replaying-1x00000000", base + ".acks"):
            assert token_of(name) == DEAD
        assert token_of("owner-1x00.lock") == ""
        assert token_of("seg-only") == ""

    def test_spill_holds_a_lock_file(self, tmp_path: Path) -> None:
        """Making a spill holds this process's lock file there (private); its segments name it."""
        spill = Spill(tmp_path)
        lock = tmp_path / f"owner-{OWNER.token}.lock"
        assert lock.exists()
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        name, first = spill.write([usage_event()]) or ("", -1)
        assert token_of(name) == OWNER.token
        assert first == 0
        spill.close()

    def test_hold_and_release(self, tmp_path: Path) -> None:
        """A held lock file tells the owner runs; released, it is gone and the owner is not."""
        owner = Owner()
        owner.hold(tmp_path)
        owner.hold(tmp_path)  # once
        lock = tmp_path / f"owner-{owner.token}.lock"
        assert list(owner.locks) == [tmp_path]
        assert alive(tmp_path, owner.token)  # flock: another descriptor cannot take it
        assert lock.exists()
        owner.release()
        assert not lock.exists()
        assert owner.locks == {}
        assert not alive(tmp_path, owner.token)

    def test_stale_lock_files_cleared(self, tmp_path: Path) -> None:
        """Holding a lock removes those of ended processes and keeps those held."""
        stale = tmp_path / f"owner-{DEAD}.lock"
        stale.touch()
        other = Owner()
        other.hold(tmp_path)
        mine = Owner()
        mine.hold(tmp_path)
        assert not stale.exists()
        assert (tmp_path / f"owner-{other.token}.lock").exists()
        other.release()
        mine.release()

    def test_alive_is_a_real_process(self, tmp_path: Path, holders: list[Holder]) -> None:
        """A process holding its lock runs; killed, it does not: its lock file goes."""
        holder = hold(holders, tmp_path, "open")
        lock = tmp_path / f"owner-{holder.token}.lock"
        assert alive(tmp_path, holder.token)
        assert lock.exists()
        holder.kill()
        assert lock.exists()  # nobody ran to remove it
        assert not alive(tmp_path, holder.token)
        assert not lock.exists()  # the first to see it dead removes it
        assert not alive(tmp_path, DEAD)  # no lock file at all

    def test_this_process_is_alive(self, tmp_path: Path) -> None:
        """This process's own token is alive without a lock file."""
        assert alive(tmp_path / "nowhere", OWNER.token)


class TestClaim:
    """A segment is claimed by renaming it; never one a live process writes or replays."""

    def test_own_sealed_segment(self, tmp_path: Path) -> None:
        """A sealed segment is renamed ``.replaying-<token>``; an unfinished one is ours again."""
        spill = Spill(tmp_path)
        name, _ = spill.write([usage_event("a"), usage_event("b")]) or ("", 0)
        assert spill.claim() is None  # still open: not replayable
        spill.seal()
        claimed = spill.claim()
        assert claimed is not None
        assert claimed.name == f"{name}.replaying-{OWNER.token}"
        assert [e.request_id for _, e in spill.pending(claimed)] == ["a", "b"]
        assert spill.claim() == claimed  # not released: taken up again
        spill.release(claimed)
        assert spill.claim() is None
        assert names(tmp_path) == []

    def test_oldest_first(self, tmp_path: Path) -> None:
        """Segments are claimed oldest first (by the time in their names)."""
        late = segment(tmp_path, DEAD, stamp=2)
        early = segment(tmp_path, DEAD, stamp=1)
        spill = Spill(tmp_path)
        first = spill.claim()
        assert first is not None
        spill.release(first)
        second = spill.claim()
        assert second is not None
        assert first.name.startswith(early.name)
        assert second.name.startswith(late.name)

    def test_open_segment_of_a_dead_writer(self, tmp_path: Path) -> None:
        """A segment left open by a writer that died is claimed whole."""
        left = segment(tmp_path, DEAD, ".open")
        spill = Spill(tmp_path)
        claimed = spill.claim()
        assert claimed is not None
        assert claimed.name == f"{left.name[: -len('.open')]}.replaying-{OWNER.token}"
        assert len(spill.pending(claimed)) == 2

    def test_open_segment_of_a_live_writer(self, tmp_path: Path, holders: list[Holder]) -> None:
        """A segment a live process still writes is left alone; once it is killed, it is taken."""
        holder = hold(holders, tmp_path, "open")
        spill = Spill(tmp_path)
        assert spill.claim() is None
        assert [token_of(n) for n in names(tmp_path)] == [holder.token]
        holder.kill()
        claimed = spill.claim()
        assert claimed is not None
        assert token_of(claimed.name) == holder.token
        assert [e.request_id for _, e in spill.pending(claimed)] == ["child-0", "child-1"]

    def test_sealed_segment_of_a_live_writer(self, tmp_path: Path, holders: list[Holder]) -> None:
        """A live writer's sealed segment: taken by a spill, left by a journal until it dies."""
        holder = hold(holders, tmp_path, "sealed")
        spill = Spill(tmp_path)
        assert spill.claim(own=False) is None
        holder.kill()
        assert spill.claim(own=False) is not None

    def test_sealed_segment_taken_from_a_live_writer(
        self, tmp_path: Path, holders: list[Holder]
    ) -> None:
        """Without ``own=False`` a sealed segment is complete: any process may replay it."""
        holder = hold(holders, tmp_path, "sealed")
        claimed = Spill(tmp_path).claim()
        assert claimed is not None
        assert token_of(claimed.name) == holder.token

    def test_replay_of_a_live_claimer(self, tmp_path: Path, holders: list[Holder]) -> None:
        """A segment a live process replays is left to it; after it dies, it is taken over."""
        holder = hold(holders, tmp_path, "claimed")
        assert holder.claimed is not None
        assert holder.claimed.endswith(f".replaying-{holder.token}")
        spill = Spill(tmp_path)
        assert spill.claim() is None
        holder.kill()
        claimed = spill.claim()
        assert claimed is not None
        assert claimed.name == f"{holder.claimed.split('.replaying-')[0]}.replaying-{OWNER.token}"
        assert [e.request_id for _, e in spill.pending(claimed)] == ["child-0", "child-1"]

    def test_orphan_acks_removed(self, tmp_path: Path) -> None:
        """An acks file whose segment is gone is deleted when claiming."""
        orphan = tmp_path / f"seg-{1:020d}-{DEAD}-000000.jsonl.acks"
        orphan.write_bytes(b"0 2\n")
        assert Spill(tmp_path).claim() is None
        assert not orphan.exists()

    def test_two_processes_never_claim_one_segment(self, tmp_path: Path) -> None:
        """Two processes claiming at once share the segments out: each is taken exactly once."""
        for stamp in range(40):
            segment(tmp_path, DEAD, stamp=stamp, count=1)
        script = """
import sys
from aievents.sinks._spill import Spill
spill = Spill({directory!r})
sys.stdin.readline()
taken = []
while (path := spill.claim()) is not None:
    taken.append(path.name)
    spill.release(path)  # as a replay does: the next claim looks further
print(" ".join(taken), flush=True)
"""
        others = [spawn(script, directory=str(tmp_path)) for _ in range(2)]
        for child in others:  # both start at once
            assert child.stdin is not None
            child.stdin.write("\n")
            child.stdin.flush()
        outs = [child.communicate(timeout=HANG)[0].split() for child in others]
        spill = Spill(tmp_path)
        mine = []
        while (path := spill.claim()) is not None:
            mine.append(path.name)
            spill.release(path)
        taken = [name.split(".replaying-")[0] for name in [*outs[0], *outs[1], *mine]]
        assert sorted(taken) == sorted(set(taken))
        assert len(taken) == 40


class TestAcks:
    """Delivered lines are acknowledged beside their segment and skipped by any later replay."""

    def test_ranges_and_records(self) -> None:
        """Line numbers become sorted ``first stop`` ranges, touching ones joined."""
        assert _acks.ranges([7, 1, 3, 2, 8, 10]) == [(1, 4), (7, 9), (10, 11)]
        assert _acks.record([2, 0, 1]) == b"0 3\n"
        assert _acks.record([]) == b""

    def test_parse_skips_garbage(self) -> None:
        """Torn, garbled and empty ranges are ignored; the rest are merged."""
        data = b"0 2\n5 3\nx y\n1 2 3\n2 4\n\n-1 2\n9 1"
        assert _acks.parse(data) == [(0, 4)]
        assert _acks.parse(b"") == []

    def test_append_after_a_torn_line(self, tmp_path: Path) -> None:
        """An append starts on a fresh line when the file ends mid-line."""
        path = tmp_path / "x.acks"
        _acks.append(path, b"0 1\n")
        path.write_bytes(path.read_bytes() + b"4")  # torn: "4 5\n" cut short
        _acks.append(path, _acks.record([7]))
        assert path.read_bytes() == b"0 1\n4\n7 8\n"
        assert _acks.parse(path.read_bytes()) == [(0, 1), (7, 8)]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_next_replay_skips_acknowledged(self, tmp_path: Path) -> None:
        """Acknowledged lines are written beside the segment and skipped by its next reader."""
        spill = Spill(tmp_path)
        spill.write([usage_event(f"e{i}") for i in range(6)])
        spill.seal()
        claimed = spill.claim()
        assert claimed is not None
        spill.ack(claimed.name, [0, 1, 4])
        acks = tmp_path / (claimed.name.split(".replaying-")[0] + ".acks")
        assert acks.read_bytes() == b"0 2\n4 5\n"
        again = Spill(tmp_path).claim()  # another sink of this process, the replay unfinished
        assert again == claimed
        assert [e.request_id for _, e in Spill(tmp_path).pending(again)] == ["e2", "e3", "e5"]

    def test_replayer_killed_mid_replay(self, tmp_path: Path, holders: list[Holder]) -> None:
        """A replayer killed after acknowledging some lines: the next one sends only the rest."""
        holder = hold(holders, tmp_path, "acked")
        spill = Spill(tmp_path)
        assert spill.claim() is None  # its replay, while it runs
        holder.kill()
        claimed = spill.claim()
        assert claimed is not None
        assert [e.request_id for _, e in spill.pending(claimed)] == ["child-1"]

    def test_released_with_its_segment(self, tmp_path: Path) -> None:
        """Releasing a replayed segment deletes its acks too."""
        spill = Spill(tmp_path)
        spill.write([usage_event("a"), usage_event("b")])
        spill.seal()
        claimed = spill.claim()
        assert claimed is not None
        spill.ack(claimed.name, [0])
        assert len(names(tmp_path)) == 2
        spill.release(claimed)
        assert names(tmp_path) == []

    def test_journal_segment_goes_when_all_delivered(self, tmp_path: Path) -> None:
        """A journal segment, every event acknowledged, goes once sealed (not while written)."""
        journal = Spill(tmp_path, journal=True)
        name, first = journal.write([usage_event("a"), usage_event("b")]) or ("", -1)
        journal.ack(name, [first, first + 1])
        assert names(tmp_path) == [f"{name}.acks", f"{name}.open"]  # still being written
        journal.seal()
        assert names(tmp_path) == []

    def test_journal_segment_stays_until_all_delivered(self, tmp_path: Path) -> None:
        """A sealed journal segment with events not acknowledged stays, with its acks."""
        journal = Spill(tmp_path, journal=True)
        name, _ = journal.write([usage_event("a"), usage_event("b")]) or ("", -1)
        journal.seal()
        journal.ack(name, [0])
        assert names(tmp_path) == [name, f"{name}.acks"]
        journal.ack(name, [1])
        assert names(tmp_path) == []


class TestTornWrites:
    """A write cut short leaves no torn line behind; one found on reading is skipped once."""

    def test_torn_and_garbled_lines_skipped(self, tmp_path: Path) -> None:
        """Bad lines are skipped, counted and acknowledged: counted once, the rest used."""
        spill = Spill(tmp_path)
        spill.write([usage_event("a"), usage_event("b")])
        spill.seal()
        (path,) = tmp_path.glob("seg-*.jsonl")
        data = path.read_bytes()
        first, second = data.splitlines(keepends=True)
        path.write_bytes(first + b"{not json\n" + b'{"event_type": "nothing"}\n' + second[:20])
        claimed = spill.claim()
        assert claimed is not None
        assert [(i, e.request_id) for i, e in spill.pending(claimed)] == [(0, "a")]
        assert spill.corrupt_lines == 3
        assert [(i, e.request_id) for i, e in spill.pending(claimed)] == [(0, "a")]
        assert spill.corrupt_lines == 3  # acknowledged: not counted again

    def test_over_max_bytes_refused(self, tmp_path: Path) -> None:
        """A batch that would pass ``max_bytes`` is refused whole: nothing written."""
        spill = Spill(tmp_path, max_bytes=2000)
        assert spill.write([usage_event("a")]) is not None
        before = spill.size()
        assert spill.write([usage_event(f"b{i}") for i in range(20)]) is None
        assert spill.size() == before

    def test_full_disk_cut_back(self, disks: Disks) -> None:
        """A batch the disk fills up under is cut off: the segment keeps whole batches only."""
        directory = disks.full("spill", "64k")
        spill = Spill(directory)
        kept = [usage_event(f"kept-{i}") for i in range(3)]
        assert spill.write(kept) is not None
        fill(directory, leave=8192)
        with pytest.raises(OSError, match="No space left") as failed:
            spill.write([usage_event(f"lost-{i}") for i in range(200)])
        assert failed.value.errno == errno.ENOSPC
        assert not isinstance(failed.value, PartialWriteError)
        (directory / "filler").unlink()
        spill.seal()
        claimed = spill.claim()
        assert claimed is not None
        assert [e.request_id for _, e in spill.pending(claimed)] == [e.request_id for e in kept]
        assert spill.corrupt_lines == 0

    def test_cannot_cut_back(self, disks: Disks, monkeypatch: pytest.MonkeyPatch) -> None:
        """The cut fails too: the whole events written are reported kept, the segment closed."""
        directory = disks.full("spill", "64k")
        spill = Spill(directory)
        assert spill.write([usage_event("first")]) is not None
        fill(directory, leave=8192)

        def refused(fd: int, length: int) -> None:
            raise OSError(errno.EIO, "cannot truncate")

        monkeypatch.setattr(os, "ftruncate", refused)
        with pytest.raises(PartialWriteError) as failed:
            spill.write([usage_event(f"part-{i}") for i in range(200)])
        monkeypatch.undo()
        (directory / "filler").unlink()
        assert 0 < failed.value.kept < 200
        assert not list(directory.glob("*.open"))  # closed: nothing is written after a torn line
        assert spill.write([usage_event("next")]) is not None  # into a new segment
        spill.seal()
        ids: list[str] = []
        while (claimed := spill.claim()) is not None:
            ids += [e.request_id for _, e in spill.pending(claimed)]
            spill.release(claimed)
        assert ids == ["first", *(f"part-{i}" for i in range(failed.value.kept)), "next"]
        assert spill.corrupt_lines <= 1  # the torn last line, if the cut fell inside one


def fill(directory: Path, *, leave: int) -> None:
    """Fill the file system of ``directory`` with a file ``filler``, but for ``leave`` bytes."""
    status = os.statvfs(directory)
    (directory / "filler").write_bytes(b"x" * (status.f_bavail * status.f_frsize - leave))


FORK = """
import json, os, sys
sys.path.insert(0, {tests!r})
from helpers import usage_event
from aievents.sinks._owner import OWNER, alive
from aievents.sinks._spill import Spill

spill = Spill({directory!r})
spill.write([usage_event("parent-0")])
parent = OWNER.token
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    child = {{}}
    spill.write([usage_event("child-0")])
    spill.seal()
    child.update(token=OWNER.token, forked=OWNER.forked())
    child.update(parent_alive=alive(spill.directory, parent))
    OWNER.release()  # as at exit: the child's lock file, not the parent's
    os.write(write, json.dumps(child).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as pipe:
    child = json.load(pipe)
os.waitpid(pid, 0)
spill.write([usage_event("parent-1")])
print(json.dumps({{"parent": parent, "child": child, "token": OWNER.token}}), flush=True)
sys.stdin.readline()
"""


class TestFork:
    """A forked child is an owner of its own; the parent's lock and segment stay the parent's."""

    def test_child_has_its_own_token(self, tmp_path: Path) -> None:
        """The child writes its own segment under a new token; the parent still holds its lock."""
        process = spawn(FORK, directory=str(tmp_path))
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            self.check(tmp_path, json.loads(line))
        finally:
            process.communicate("\n", timeout=HANG)

    def check(self, tmp_path: Path, seen: dict[str, Any]) -> None:
        """What the parent and child said, against the directory, the parent still running."""
        parent, child = seen["parent"], seen["child"]
        assert seen["token"] == parent  # the parent's token did not change
        assert child["token"] != parent
        assert child["token"].split("x")[0] != parent.split("x")[0]  # the child's own pid
        assert not child["forked"]  # renewed: the child is no longer using the parent's token
        assert child["parent_alive"]
        assert alive(tmp_path, parent)  # the child's exit let go of nothing of the parent's
        assert not (tmp_path / f"owner-{child['token']}.lock").exists()
        assert (tmp_path / f"owner-{parent}.lock").exists()
        by_writer: dict[str, list[str]] = {}
        for name in names(tmp_path):
            by_writer.setdefault(token_of(name), []).append(name)
        assert sorted(by_writer) == sorted([parent, child["token"]])
        assert all(n.endswith(".open") for n in by_writer[parent])  # still the parent's
        assert all(n.endswith(".jsonl") for n in by_writer[child["token"]])  # sealed by the child

    def test_child_leaves_the_parents_lock(self, tmp_path: Path) -> None:
        """A forked child that still has its parent's token releases nothing at its exit."""
        out, _ = run_child(
            """
import os
from pathlib import Path
from aievents.sinks._owner import Owner

owner = Owner()
owner.hold(Path({directory!r}))
pid = os.fork()
if pid == 0:
    code = 0 if owner.forked() else 3
    owner.release()  # what the child's exit hook does
    os._exit(code)
_, status = os.waitpid(pid, 0)
lock = Path({directory!r}) / f"owner-{{owner.token}}.lock"
print(os.waitstatus_to_exitcode(status), lock.exists(), owner.forked())
""",
            directory=str(tmp_path),
        )
        assert out.split() == ["0", "True", "False"]


class TestLockRace:
    """A lock file taken as stale while its owner is between creating and locking it."""

    def test_unlinked_before_locked(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Another process removes the new lock file just before it is locked: it is made again.

        Otherwise the owner would hold a lock on a file no one can see, and
        every other process would take it for dead and claim its segments.
        """
        import fcntl

        from aievents.sinks import _owner

        owner = Owner()
        real = fcntl.flock
        raced: list[bool] = []
        other = threading.local()

        def late(fd: int, operation: int) -> None:
            if not raced and not getattr(other, "running", False):
                other.running = True  # the other process runs first: the file is there, unlocked
                raced.append(alive(tmp_path, owner.token))
            real(fd, operation)

        monkeypatch.setattr(_owner.fcntl, "flock", late)
        owner.hold(tmp_path)
        monkeypatch.undo()
        assert raced == [False]  # the other process did take it for stale, and removed it
        assert (tmp_path / f"owner-{owner.token}.lock").exists()
        assert alive(tmp_path, owner.token)
        owner.release()
