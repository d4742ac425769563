"""aievents' threads leave the host's signals to its threads (Ctrl-C cuts its waits short)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from aievents import EventClient
from aievents._threads import HOST_SIGNALS
from aievents.sinks import ForwardSink
from aievents.sinks.prometheus import serve_metrics
from aievents.testing import ImageServer
from aievents.transports.jsonl import JsonlTransport

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")


def blocked(thread: threading.Thread) -> set[int]:
    """The signals ``thread`` blocks, read from the kernel's own record of it."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line[:7] == "SigBlk:"), 16)
    return {number for number in range(1, 65) if mask >> (number - 1) & 1}


def ours() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("aievents") and t.is_alive()]


@pytest.fixture(name="running")
def _running(tmp_path: Path) -> Iterator[list[threading.Thread]]:
    """A forward sink's worker, a metrics server that answered a scrape, async handlers."""
    client = EventClient()
    sink = ForwardSink(JsonlTransport(tmp_path / "events.jsonl"))
    client.add_sink(sink)

    async def handler(event: object) -> None:
        return None

    client.on("*", handler)
    server = serve_metrics(CollectorRegistry(), port=0)
    try:
        with urllib.request.urlopen(server.url, timeout=30) as answer:
            answer.read()
        yield ours()
    finally:
        server.close()
        client.close(5.0)


class TestMask:
    """Every thread aievents starts blocks the host's signals."""

    def test_library_threads(self, running: list[threading.Thread]) -> None:
        names = {thread.name for thread in running}
        assert {"aievents-metrics-server"} <= names
        assert len(running) >= 2
        for thread in running:
            assert {int(s) for s in HOST_SIGNALS} <= blocked(thread), thread.name

    def test_image_server_threads(self) -> None:
        with ImageServer():
            found = [t for t in ours() if t.name == "aievents-image-server"]
            assert found
            assert {int(s) for s in HOST_SIGNALS} <= blocked(found[0])

    def test_main_thread_untouched(self, running: list[threading.Thread]) -> None:
        assert not {int(s) for s in HOST_SIGNALS} & blocked(threading.main_thread())


CHILD = """
import os, sys
from aievents import EventClient
from aievents.sinks import ForwardSink
from aievents.transports.jsonl import JsonlTransport

client = EventClient()
client.add_sink(ForwardSink(JsonlTransport(sys.argv[2])))
try:
    print("waiting", flush=True)
    open(sys.argv[1], "rb")  # a FIFO nobody writes to: waits until Ctrl-C
except KeyboardInterrupt:
    print("interrupted", flush=True)
    client.close(5.0)
    sys.exit(0)
"""


class TestCtrlC:
    """A host blocked in open() of a FIFO, with aievents' worker running, stops on Ctrl-C."""

    def test_fifo_open_interrupted(self, tmp_path: Path) -> None:
        fifo = tmp_path / "in.fifo"
        os.mkfifo(fifo)
        with subprocess.Popen(
            [sys.executable, "-c", CHILD, str(fifo), str(tmp_path / "out.jsonl")],
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stdout is not None
            assert child.stdout.readline() == "waiting\n"
            child.send_signal(signal.SIGINT)
            try:
                out, _ = child.communicate(timeout=60)
            finally:
                if child.poll() is None:
                    child.kill()
        assert out == "interrupted\n"
        assert child.returncode == 0
