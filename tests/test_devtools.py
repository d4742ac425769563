"""The devtools bridge against TanStack's real event bus and event client, run by node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from aievents import (
    EventClient,
    ImageRequestCompletedEvent,
    ImageRequestStartedEvent,
    ImageUsage,
    ImageUsageEvent,
    InputTokensDetails,
)
from aievents.devtools import BusEvent, DevtoolsListener, DevtoolsTransport
from aievents.events import BaseEvent
from aievents.sinks import ForwardSink
from aievents.wire import COMPUTED_COST_MARK, to_json

from helpers import gateway_priced, gateway_usage

HERE = Path(__file__).parent / "tanstack"


@pytest.fixture(name="node_modules", scope="session")
def _node_modules() -> Path:
    """TanStack's packages, installed from the npm registry by the lock file here."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed in CI for the devtools bridge tests")
        pytest.skip("node and npm are not installed")
    installed = HERE / "node_modules" / "@tanstack" / "devtools-event-bus"
    if not installed.exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            check=True,
            timeout=600,
            capture_output=True,
        )
    return HERE / "node_modules"


class Bus:
    """``node bus.mjs``: the bus, and a TypeScript EventClient in its process."""

    def __init__(self, port: int = 0) -> None:
        self._process = subprocess.Popen(
            ["node", str(HERE / "bus.mjs"), str(port)],
            cwd=HERE,
            env={**os.environ, "NODE_ENV": "development"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.heard: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self.port = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert self.wait(lambda: self.port > 0, 30), "the bus did not start"

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            message = json.loads(line)
            with self._changed:
                if "ready" in message:
                    self.port = int(message["ready"])
                if "heard" in message:
                    self.heard.append(message["heard"])
                self._changed.notify_all()

    def wait(self, condition: Callable[[], bool], timeout: float = 30) -> bool:
        """Wait for what the bus printed to satisfy ``condition``."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    def tell(self, **command: Any) -> None:
        """A command for bus.mjs (``emit=..., payload=...`` or ``raw=...``)."""
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()

    def stop(self) -> None:
        """Stop the bus's process (its clients lose their connections)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(30)
        self._reader.join(30)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture(name="bus")
def _bus(node_modules: Path) -> Iterator[Bus]:
    bus = Bus()
    yield bus
    bus.stop()


def request_events(index: int) -> list[BaseEvent]:
    """The three events of one image request, as the instrumentation emits them."""
    common: dict[str, Any] = {
        "request_id": f"req-{index}",
        "provider": "openai",
        "model": "gpt-image-1",
        "size": "1024x1024",
        "user_id": "user-42",
    }
    usage = ImageUsage(
        input_tokens=50,
        output_tokens=1056,
        total_tokens=1106,
        input_tokens_details=InputTokensDetails(text_tokens=50, image_tokens=0),
    )
    return [
        ImageRequestStartedEvent(prompt="a lighthouse", number_of_images=1, **common),
        ImageRequestCompletedEvent(duration=812.5, images=1, **common),
        ImageUsageEvent(usage=usage, images=1, **common),
    ]


def envelope(event: BaseEvent) -> dict[str, Any]:
    """The envelope the bus should carry for an event, as JSON would give it."""
    return dict(json.loads(to_json(event, form="envelope")))


@pytest.mark.parametrize("mode", ["ws", "post"])
def test_python_to_typescript(bus: Bus, mode: Any) -> None:
    """Every event a Python EventClient emits reaches the TypeScript client, exactly."""
    sent = [event for index in range(5) for event in request_events(index)]
    with EventClient() as client:
        sink = ForwardSink(DevtoolsTransport("127.0.0.1", bus.port, mode=mode), max_delay=0.05)
        client.add_sink(sink)
        for event in sent:
            client.emit(event)
        report = sink.flush(30)
        assert report.pending == 0
        assert bus.wait(lambda: len(bus.heard) >= len(sent))
    assert bus.heard == [envelope(event) for event in sent]
    assert {e["type"] for e in bus.heard} == {
        "tanstack-ai-devtools:image:request:started",
        "tanstack-ai-devtools:image:request:completed",
        "tanstack-ai-devtools:image:usage",
    }


def test_panel_costs(bus: Bus) -> None:
    """The TypeScript client hears usage.cost, billed and costDetails; its re-emit reads back.

    One request priced by aievents with no cost reported (usage.cost shows the
    computed one, marked), one whose gateway reported its cost and what it
    billed (shown as reported). What TypeScript emits again comes back to a
    listener as the very events sent.
    """
    computed, reported = request_events(0)[2], request_events(1)[2]
    assert isinstance(computed, ImageUsageEvent)
    assert isinstance(reported, ImageUsageEvent)
    computed = attrs.evolve(computed, cost=gateway_priced())
    reported = attrs.evolve(reported, usage=gateway_usage(), cost=gateway_priced())
    with EventClient() as client:
        sink = ForwardSink(DevtoolsTransport("127.0.0.1", bus.port), max_delay=0.05)
        client.add_sink(sink)
        client.emit(computed)
        client.emit(reported)
        assert sink.flush(30).pending == 0
        assert bus.wait(lambda: len(bus.heard) >= 2)
    first, second = (heard["payload"] for heard in bus.heard)
    assert (first["usage"]["cost"], first[COMPUTED_COST_MARK]) == (0.04249, True)
    assert second["usage"]["cost"] == 0.0431
    assert COMPUTED_COST_MARK not in second
    assert second["usage"]["billed"] == {"quantity": 1, "unit": "images"}
    assert second["usage"]["costDetails"] == {"upstreamCost": 0.04249}

    received: list[BaseEvent] = []
    both = threading.Event()

    def hear(event: BaseEvent) -> None:
        received.append(event)
        if len(received) == 2:
            both.set()

    with EventClient() as client:
        client.on(ImageUsageEvent, hear)
        with DevtoolsListener(client, host="127.0.0.1", port=bus.port, mode="ws") as listener:
            assert listener.wait_connected(30)
            bus.tell(emit="image:usage", payload=first)
            bus.tell(emit="image:usage", payload=second)
            assert both.wait(30)
    assert received == [computed, reported]


@pytest.mark.parametrize("mode", ["ws", "sse"])
def test_typescript_to_python(bus: Bus, mode: Any) -> None:
    """What a TypeScript service emits arrives typed; unknown types generic; junk counted."""
    received: list[BaseEvent] = []
    done = threading.Event()
    with EventClient() as client:
        client.on_all(received.append)
        client.on("devtools:event", lambda event: done.set())
        listener = DevtoolsListener(client, host="127.0.0.1", port=bus.port, mode=mode)
        with listener:
            assert listener.wait_connected(30)
            payload = {
                "requestId": "ts-1",
                "model": "gpt-image-1",
                "timestamp": 1730419200123,
                "userId": "user-7",
                "images": 2,
                "usage": {"inputTokens": 40, "outputTokens": 2112, "totalTokens": 2152},
            }
            bus.tell(emit="image:usage", payload=payload)
            bus.tell(raw="not an envelope")
            bus.tell(raw={"type": "tanstack-ai-devtools:image:usage", "payload": {"model": 5}})
            bus.tell(emit="text:usage", payload={"requestId": "ts-2", "promptTokens": 12})
            assert done.wait(30)
            client.flush(10)
        stats = listener.stats()
    usage = [e for e in received if isinstance(e, ImageUsageEvent)]
    assert len(usage) == 1
    assert (usage[0].request_id, usage[0].user_id, usage[0].images) == ("ts-1", "user-7", 2)
    assert (usage[0].timestamp, usage[0].usage.output_tokens) == (1730419200123, 2112)
    assert envelope(usage[0])["payload"] == {**payload, **envelope(usage[0])["payload"]}
    generic = [e for e in received if isinstance(e, BusEvent)]
    assert [(e.name, e.plugin_id, e.payload) for e in generic] == [
        ("text:usage", "tanstack-ai-devtools", {"requestId": "ts-2", "promptTokens": 12})
    ]
    assert stats["malformed"] == 2, stats
    assert stats["emitted"] == 2


def test_bus_restart_loses_nothing(node_modules: Path, tmp_path: Path) -> None:
    """The bus stops and comes back mid-run: with a spill, every event arrives."""
    first = Bus()
    port = first.port
    transport = DevtoolsTransport("127.0.0.1", port, timeout=2.0)
    sink = ForwardSink(
        transport,
        max_delay=0.02,
        batch_size=20,
        overflow="spill",
        spill_dir=tmp_path / "spill",
        backoff=0.05,
        max_backoff=0.5,
        max_retries=2,
    )
    heard: list[dict[str, Any]] = []
    with EventClient() as client:
        client.add_sink(sink)
        for index in range(100):
            client.emit(request_events(index)[2])
        assert sink.flush(30).pending == 0
        first.wait(lambda: len(first.heard) >= 100)
        first.stop()
        heard += first.heard
        for index in range(100, 200):
            client.emit(request_events(index)[2])
        sink.flush(3)  # the bus is away: retried, then spilled
        second = Bus(port)
        try:
            for index in range(200, 250):
                client.emit(request_events(index)[2])
            ids = {f"req-{index}" for index in range(250)}
            sink.flush(30)  # the new events, then the spilled ones, go to the new bus

            def all_heard() -> bool:
                return {e["payload"]["requestId"] for e in heard + second.heard} >= ids

            assert second.wait(all_heard, 60), sink.stats()
            heard += second.heard
        finally:
            second.stop()
        report = sink.close(10)
    assert {e["payload"]["requestId"] for e in heard} == ids
    assert report.dropped == {}
    assert (report.spilled, report.replayed) == (100, 100)


@pytest.mark.parametrize("mode", ["ws", "sse"])
def test_listener_reconnects(node_modules: Path, mode: Any) -> None:
    """The listener comes back to a restarted bus and hears what follows."""
    first = Bus()
    received: list[BaseEvent] = []
    heard = threading.Event()
    with EventClient() as client:
        client.on("image:request:started", lambda event: (received.append(event), heard.set()))
        listener = DevtoolsListener(
            client, host="127.0.0.1", port=first.port, mode=mode, backoff=0.05, max_backoff=0.2
        )
        with listener:
            assert listener.wait_connected(30)
            first.stop()
            second = Bus(first.port)
            try:
                payload = {
                    "requestId": "after",
                    "timestamp": 1730419200000,
                    "provider": "openai",
                    "model": "m",
                    "prompt": "p",
                }
                # Emitted until the listener is back: the bus keeps nothing for it.
                for _ in range(150):
                    second.tell(emit="image:request:started", payload=payload)
                    if heard.wait(0.2):
                        break
            finally:
                second.stop()
        assert listener.stats()["connections"] >= 2
    assert received[0].request_id == "after"


def test_ipv6_hosts_in_brackets() -> None:
    """An IPv6 host is written in brackets in the URLs."""
    assert DevtoolsTransport("::1", 4206).url == "ws://[::1]:4206/__devtools/ws"
    assert DevtoolsListener(host="::1", mode="sse").url == "http://[::1]:4206/__devtools/sse"
