"""Forward events to a collector from a background worker.

A JSON Lines file stands for the collector here, so this runs offline;
``HttpTransport(url)`` or ``OtlpTransport(endpoint)`` send the same batches
over the network, with retries, backoff and an on-disk spill.

Run: python examples/forwarding.py
Extras: none (the core package alone)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from aievents import EventClient, ForwardSink, ImageUsage, ImageUsageEvent
from aievents.transports.jsonl import JsonlTransport


def main() -> None:
    """Ten events forwarded; the report says what was sent."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        sink = ForwardSink(JsonlTransport(path), max_delay=0.1)
        with EventClient() as events:
            events.add_sink(sink)
            for index in range(10):
                events.emit(
                    ImageUsageEvent(
                        request_id=f"req-{index}", model="gpt-image-2", images=1, usage=ImageUsage()
                    )
                )
            report = sink.flush(5)
        print(f"sent={report.sent} pending={report.pending} dropped={report.dropped}")
        print(len(path.read_text().splitlines()), "lines in", path.name)


if __name__ == "__main__":
    main()
