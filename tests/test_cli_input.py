"""Whatever a file of events holds, usage and ingest answer in one line per problem.

Lines have a bounded length; each bad line is named (file, line, field) and
skipped; non-regular files and endless streams are read in bounded memory
and can be interrupted; never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aievents.cli._commands import _interrupt_after
from aievents.wire import to_json
from test_store import T0

from helpers import usage_at, wait_until

#: Address space the command may use in the memory tests (it needs about 200 MiB).
MEMORY = 512 << 20
#: A good event line, and a window around it.
GOOD = to_json(usage_at("good-1", T0 + 60))
WINDOW = ["--start", str(T0), "--end", str(T0 + 86_400)]
#: What each command's stderr may hold: its own one-line messages only.
LINE = re.compile(r"aievents: .+")


#: ``python -m aievents`` with at most MEMORY of address space.
LIMITED = (
    "import resource, runpy, sys; "
    "resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory})); "
    "runpy.run_module('aievents', run_name='__main__', alter_sys=True)"
)


def command(*args: str, memory: int = MEMORY) -> list[str]:
    """The command line of the command with args, in ``memory`` bytes of address space."""
    return [sys.executable, "-c", LIMITED.format(memory=memory), *args]


def run(*args: str, stdin: Any = None) -> subprocess.CompletedProcess[str]:
    """Run the command with bounded memory."""
    return subprocess.run(
        command(*args), capture_output=True, text=True, timeout=120, check=False, stdin=stdin
    )


def one_line_each(stderr: str) -> list[str]:
    """The lines of stderr, each checked to be one of the command's own."""
    lines = stderr.splitlines()
    for line in lines:
        assert LINE.fullmatch(line), stderr
        assert "Traceback" not in line
    return lines


def line_with(good: str, old: str, new: str) -> str:
    """``good`` with ``old`` replaced (which must be there)."""
    assert old in good
    return good.replace(old, new, 1)


#: (line, what its one message must say), line numbers from 2 (line 1 is GOOD).
BAD_LINES: list[tuple[bytes, str]] = [
    (line_with(GOOD, '"model":"gpt-image-1"', '"model":"\\ud800x"').encode(),
     "field 'model' must be text, not a lone surrogate"),
    (line_with(GOOD, '"input_tokens":10', '"input_tokens":' + "9" * 5000).encode(),
     "field 'usage.input_tokens' must be an integer from -2**63 to 2**63-1"),
    (line_with(GOOD, '"input_tokens":10', f'"input_tokens":{2**64}').encode(),
     "field 'usage.input_tokens' must be an integer from -2**63 to 2**63-1"),
    (line_with(GOOD, '"images":1', '"images":1.5').encode(),
     "field 'images' must be a non-negative integer, got 1.5"),
    (line_with(GOOD, '"images":1', '"images":1e999').encode(),
     "field 'images' must be a finite number"),
    (line_with(GOOD, '"request_id":"good-1"', '"request_id":"r","options":{"k":NaN}').encode(),
     "field 'options.k' must be a number JSON allows, got NaN"),
    (b"\xff\xfe" + GOOD.encode(), "not UTF-8 text (byte 0xff at column 1)"),
    (b"[1, 2]", "a JSON array, not an object"),
    (b"{not json", "not JSON"),
    (b"[" * 200_000, "nested too deeply"),
    (b'{"type": "image:usage", "model": ' + b"7" * (2 << 20) + b"}", "longer than 1,048,576 bytes"),
]  # fmt: skip


@pytest.fixture(name="bad_file")
def _bad_file(tmp_path: Path) -> Path:
    """A good line, each bad line, and a good line again."""
    path = tmp_path / "bad.jsonl"
    last = to_json(usage_at("good-2", T0 + 120)).encode()
    path.write_bytes(b"\n".join([GOOD.encode(), *(line for line, _ in BAD_LINES), last]) + b"\n")
    return path


class TestBadLines:
    """Each bad line: one line naming the file, the line and the field; the rest is used."""

    def check(self, path: Path, stderr: str) -> None:
        lines = one_line_each(stderr)
        for number, (_, message) in enumerate(BAD_LINES, 2):
            (said,) = [line for line in lines if line.startswith(f"aievents: {path}:{number}: ")]
            assert message in said
            assert len(said) < 400
        assert lines[-1] == f"aievents: error: {path}: {len(BAD_LINES)} bad line(s) skipped"

    def test_usage(self, bad_file: Path) -> None:
        """usage prints the page of the good lines, then exits 1."""
        result = run("usage", "--events", str(bad_file), *WINDOW, "--format", "json")
        assert result.returncode == 1
        self.check(bad_file, result.stderr)
        page = json.loads(result.stdout)
        assert sum(r["num_model_requests"] for b in page["data"] for r in b["results"]) == 2

    def test_ingest(self, bad_file: Path, tmp_path: Path) -> None:
        """ingest writes the good lines, then exits 1."""
        url = f"sqlite:///{tmp_path / 'store.db'}"
        result = run("ingest", str(bad_file), "--store", url, "--no-progress")
        assert result.returncode == 1
        self.check(bad_file, result.stderr)
        assert result.stdout.startswith("2 events written, 0 already stored")

    def test_many_bad_lines(self, tmp_path: Path) -> None:
        """Past 20, bad lines are counted, not told one by one."""
        path = tmp_path / "noise.jsonl"
        path.write_text("noise\n" * 1000 + GOOD + "\n")
        result = run("usage", "--events", str(path), *WINDOW, "--format", "csv")
        assert result.returncode == 1
        lines = one_line_each(result.stderr)
        assert len(lines) == 22
        assert lines[-2] == f"aievents: {path}: more bad lines are counted, not shown"
        assert lines[-1] == f"aievents: error: {path}: 1,000 bad line(s) skipped"


class TestNotAFile:
    """Devices, directories, FIFOs and streams: one clear line, bounded memory."""

    @pytest.mark.parametrize("kind", ["usage", "ingest"])
    def test_dev_zero(self, kind: str, tmp_path: Path) -> None:
        """NUL bytes are not text: reading stops at once."""
        args = (
            ["usage", "--events", "/dev/zero"]
            if kind == "usage"
            else ["ingest", "/dev/zero", "--store", f"sqlite:///{tmp_path / 's.db'}"]
        )
        result = run(*args)
        assert result.returncode == 1
        assert one_line_each(result.stderr) == [
            "aievents: error: /dev/zero:1: a NUL byte: not a text file of JSON lines; "
            "stopped reading"
        ]

    def test_directory(self, tmp_path: Path) -> None:
        """A directory is refused by name."""
        result = run("usage", "--events", str(tmp_path))
        assert result.returncode == 1
        assert one_line_each(result.stderr) == [
            f"aievents: error: cannot read {tmp_path}: it is a directory"
        ]

    def test_endless_line(self) -> None:
        """A line of 1 GiB (no newline) is read past in bounded memory; the next one is used."""
        writes = (
            "import sys; out = sys.stdout.buffer; chunk = b'x' * (1 << 20)\n"
            "for _ in range(1024): out.write(chunk)\n"
            f"out.write(b'\\n' + {GOOD.encode()!r} + b'\\n')"
        )
        with subprocess.Popen([sys.executable, "-c", writes], stdout=subprocess.PIPE) as writer:
            result = run(
                "usage", "--events", "/dev/stdin", *WINDOW, "--format", "json", stdin=writer.stdout
            )
        assert writer.returncode == 0
        assert result.returncode == 1, result.stderr
        assert one_line_each(result.stderr)[0] == (
            "aievents: /dev/stdin:1: skipped: longer than 1,048,576 bytes"
        )
        page = json.loads(result.stdout)
        assert sum(r["num_model_requests"] for b in page["data"] for r in b["results"]) == 1

    def test_fifo_without_writer(self, tmp_path: Path) -> None:
        """Waiting for a writer is said, and Ctrl-C ends it in one line (status 130)."""
        fifo = tmp_path / "events.fifo"
        os.mkfifo(fifo)
        with subprocess.Popen(
            command("usage", "--events", str(fifo), "--format", "json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stderr is not None
            try:
                first = read_line(process.stderr, deadline=60)
                assert (
                    first == f"aievents: {fifo}: waiting for a writer to open it (Ctrl-C stops)\n"
                )
                process.send_signal(signal.SIGINT)
                out, err = process.communicate(timeout=60)
            finally:
                if process.poll() is None:  # still waiting: the test failed
                    process.kill()
        assert process.returncode == 130
        assert out == ""
        assert one_line_each(err) == ["aievents: interrupted"]

    def test_fifo_with_writer(self, tmp_path: Path) -> None:
        """A FIFO is read to its end like a file (the writer never waits past the command)."""
        fifo = tmp_path / "events.fifo"
        os.mkfifo(fifo)
        writer = threading.Thread(target=lambda: fifo.write_text(GOOD + "\n"), daemon=True)
        writer.start()
        try:
            result = run("usage", "--events", str(fifo), *WINDOW, "--format", "json")
        finally:
            release(fifo, writer)
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        assert sum(r["num_model_requests"] for b in page["data"] for r in b["results"]) == 1

    def test_endless_stream_interrupted(self, tmp_path: Path) -> None:
        """ingest - of a stream that never ends: Ctrl-C writes what was read, then says so."""
        store = tmp_path / "store.db"
        with subprocess.Popen(
            command("ingest", "-", "--store", f"sqlite:///{store}", "--no-progress"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            stop = threading.Event()
            feeder = threading.Thread(target=feed, args=(process, stop))
            feeder.start()
            try:
                stored = wait_for_rows(store, process, deadline=120)
                process.send_signal(signal.SIGINT)
                out, err = process.communicate(timeout=120)
            finally:
                stop.set()
                feeder.join()
        assert process.returncode == 130, err
        assert one_line_each(err) == ["aievents: interrupted"]
        written = int(out.split()[0])
        assert written >= stored
        assert written == rows(store)


#: Writes EVENTS events to stdout: six days from T0, a thousand users, spread over the minutes.
MANY = f"""
import sys
line = {GOOD!r}.replace('"timestamp":{(T0 + 60) * 1000}', '"timestamp":%d')
line = line.replace('"user_id":"user_1"', '"user_id":"u%d"').replace('"good-1"', '"m%d"')
write = sys.stdout.write
for i in range(int(sys.argv[1])):
    write(line % (({T0} + i * 104_729 % (6 * 86_400)) * 1000, i % 1000, i) + "\\n")
"""


class TestMemory:
    """usage --events holds the window's buckets, not its events."""

    def test_many_events_in_bounded_memory(self) -> None:
        """150,000 events over six days, a thousand users, in daily buckets: 128 MiB suffice.

        Minute detail kept for every event took about 1 KiB an event (300
        MB for 300,000); only the days are kept now.
        """
        events = 150_000
        window = ["--start", str(T0), "--end", str(T0 + 7 * 86_400)]
        with subprocess.Popen(
            [sys.executable, "-c", MANY, str(events)], stdout=subprocess.PIPE
        ) as writer:
            result = subprocess.run(
                command("usage", "--events", "-", *window, "--format", "json", memory=128 << 20),
                stdin=writer.stdout, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
        assert writer.returncode == 0
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        counts = [sum(r["num_model_requests"] for r in b["results"]) for b in page["data"]]
        assert sum(counts) == events
        assert counts[-1] == 0  # the seventh day is empty


def release(fifo: Path, writer: threading.Thread) -> None:
    """End a FIFO's writer thread, whether or not the command opened the FIFO.

    A writer blocks in ``open`` until a reader comes: if the command failed
    before it opened the FIFO, open it here (without blocking) and read it out.
    """
    if writer.is_alive():
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            writer.join(60)
        finally:
            os.close(reader)
    writer.join(60)
    assert not writer.is_alive(), "the FIFO's writer is stuck"


def read_line(stream: IO[str], deadline: float) -> str:
    """The next line of ``stream``, waited for at most ``deadline`` seconds."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(deadline)
    assert got, "no line in time"
    return got[0]


def feed(process: subprocess.Popen[str], stop: threading.Event) -> None:
    """Write distinct events to the process until told to stop or it goes away."""
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        for index in range(10**9):
            if stop.is_set():
                break
            process.stdin.write(to_json(usage_at(f"s{index}", T0 + index % 86_400)) + "\n")


def rows(store: Path) -> int:
    """Events in the store."""
    with contextlib.closing(sqlite3.connect(store)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM aievents_usage").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


def wait_for_rows(store: Path, process: subprocess.Popen[str], deadline: float) -> int:
    """Wait until the store holds events (at most ``deadline`` seconds); how many.

    Fails at once when the command ended first.
    """
    counted: list[int] = []

    def stored_or_ended() -> bool:
        counted.append(rows(store) if store.exists() else 0)
        return bool(counted[-1]) or process.poll() is not None

    assert wait_until(stored_or_ended, deadline), "nothing was stored in time"
    assert counted[-1], "the command ended before storing anything"
    return counted[-1]


# --------------------------------------------------------------------------- random input


@contextlib.contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """The command's stdout and stderr, in process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


#: Any JSON value, small.
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from([2**63 - 1, -1, 0])
    | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
FIELDS = sorted({*json.loads(GOOD), "options", "outputs", "cost", "pluginId", "payload"})


@st.composite
def near_events(draw: st.DrawFn) -> bytes:
    """GOOD with one to three fields (top level or usage) set to any value, maybe enveloped."""
    data = json.loads(GOOD)
    usage = data["usage"]
    for _ in range(draw(st.integers(1, 3))):
        where = usage if draw(st.booleans()) else data
        where[draw(st.sampled_from([*FIELDS, *usage]))] = draw(VALUES)
    if draw(st.booleans()):
        data = {"type": data.get("type"), "pluginId": "tanstack-ai-devtools", "payload": data}
    return json.dumps(data).encode()


LINES = st.one_of(
    st.binary(max_size=200),
    st.just(GOOD.encode()),
    near_events(),
    st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.sampled_from(FIELDS), VALUES)),
)


class TestRandomInput:
    """Random bytes and random JSON: exit status 0 or 1, one-line messages, no traceback."""

    @settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(LINES, max_size=8))
    def test_usage(self, tmp_path: Path, lines: list[bytes]) -> None:
        """usage --events answers a JSON page or one line per problem."""
        from aievents.cli import main

        path = tmp_path / "random.jsonl"
        path.write_bytes(b"\n".join(lines))
        with captured() as (out, err):
            status = main(["usage", "--events", str(path), *WINDOW, "--format", "json"])
        assert status in (0, 1)
        for line in err.getvalue().splitlines():
            assert LINE.fullmatch(line), err.getvalue()
            assert "unexpected" not in line
        if status == 0 or out.getvalue():  # nothing at all when nothing could be read
            json.loads(out.getvalue())

    @settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(LINES, max_size=8))
    def test_ingest(self, tmp_path: Path, lines: list[bytes]) -> None:
        """ingest writes what it can and says the rest in one line each."""
        from aievents.cli import main

        path = tmp_path / "random.jsonl"
        path.write_bytes(b"\n".join(lines))
        url = f"sqlite:///{tmp_path / 'store.db'}"
        with captured() as (out, err):
            status = main(["ingest", str(path), "--store", url, "--no-progress"])
        assert status in (0, 1)
        for line in err.getvalue().splitlines():
            assert LINE.fullmatch(line), err.getvalue()
            assert "unexpected" not in line
        assert re.fullmatch(r"\d+ events written, \d+ already stored.*\n", out.getvalue())


class TestInterruptAfterBatch:
    """Ctrl-C during a batch's write waits for the batch to be stored and counted."""

    def test_held_back_then_raised(self) -> None:
        """The signal arrives inside the block: the block finishes, then it is raised."""
        done: list[str] = []

        def batch() -> None:
            with _interrupt_after():
                os.kill(os.getpid(), signal.SIGINT)
                done.append("stored")
                done.append("counted")

        with pytest.raises(KeyboardInterrupt):
            batch()
        assert done == ["stored", "counted"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def test_no_signal(self) -> None:
        """Without a signal the block runs as it is and the handler is put back."""
        with _interrupt_after():
            pass
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
