"""A program for the exit tests: it builds sinks, emits events through a client, then ends.

Run as ``python exit_child.py CONFIG``, CONFIG being JSON with:

- ``sinks``: a list of ``{"kind": "store" | "http" | "jsonl", "target": ...}``
  plus the sink's keyword arguments (``target``: a SQLite path, a URL, a
  JSONL path);
- ``count``: events to emit (request ids ``e0``, ``e1``...);
- ``wait``: after printing ``queued``, wait for a line on stdin (to be
  signalled meanwhile);
- ``own_sigterm``: install the program's own SIGTERM handler first (exit 7);
- ``process``: emit in a ``multiprocessing`` child started this way
  (``fork``, ``spawn``, ``forkserver``) instead; ``inherit``: build the
  sinks in the parent, before the child starts (``fork`` only).

The program never closes its client or its sinks: draining them is the
exit's job.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from helpers import usage_event


def build(specs: list[dict[str, Any]]) -> list[Any]:
    """The sinks the config asks for."""
    from aievents.sinks import ForwardSink, StoreSink
    from aievents.transports.http import HttpTransport
    from aievents.transports.jsonl import JsonlTransport

    sinks: list[Any] = []
    for spec in specs:
        options = dict(spec)
        kind, target = options.pop("kind"), options.pop("target")
        if kind == "store":
            sinks.append(StoreSink(f"sqlite:///{target}", **options))
        elif kind == "http":
            transport = HttpTransport(target, read_timeout=120, connect_timeout=5)
            sinks.append(ForwardSink(transport, **options))
        else:
            sinks.append(ForwardSink(JsonlTransport(target), **options))
    return sinks


def emit(sinks: list[Any], count: int) -> None:
    """Emit ``count`` usage events to ``sinks`` through a client that is never closed."""
    from aievents import EventClient

    client = EventClient()
    for sink in sinks:
        client.add_sink(sink)
    for index in range(count):
        client.emit(usage_event(f"e{index}"))
    _KEPT.append(client)


_KEPT: list[Any] = []


def child(config: dict[str, Any], sinks: list[Any] | None) -> None:
    """The multiprocessing child's work."""
    emit(sinks if sinks is not None else build(config["sinks"]), config["count"])


def main() -> None:
    config = json.loads(sys.argv[1])
    if config.get("own_sigterm"):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(7))
    method = config.get("process")
    if method is None:
        emit(build(config["sinks"]), config["count"])
        print("queued", flush=True)
        if config.get("wait"):
            sys.stdin.readline()
        return
    context = multiprocessing.get_context(method)
    inherited = build(config["sinks"]) if config.get("inherit") else None
    process = context.Process(target=child, args=(config, inherited))
    process.start()
    process.join(120)
    print("child", process.exitcode, flush=True)


if __name__ == "__main__":
    main()
