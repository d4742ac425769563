"""ForwardSink: cost on the caller's thread, throughput to JSONL and to loopback HTTP.

1. Caller cost: ``handle`` per event while the worker drains to JSONL.
2. Throughput to a JSONL file: events from ``handle`` to disk, per second.
3. Throughput to an HTTP collector on 127.0.0.1 (a separate process that
   answers 200 to every POST), per second.
4. Worst ``handle`` latency while the collector hangs (the queue fills and
   the overflow policy acts; the caller must not wait on the network).

Run with the project's venv: ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from aievents import ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.sinks import ForwardSink
from aievents.transports.http import HttpTransport
from aievents.transports.jsonl import JsonlTransport

SERVER = textwrap.dedent(
    """
    import sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    hang = float(sys.argv[1])
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *args): pass
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if hang:
                time.sleep(hang)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def events(count: int) -> list[ImageUsageEvent]:
    """Usage events as the instrumentation makes them."""
    usage = ImageUsage(
        input_tokens=50,
        output_tokens=1056,
        total_tokens=1106,
        input_tokens_details=InputTokensDetails(text_tokens=50, image_tokens=0),
    )
    return [
        ImageUsageEvent(
            request_id=f"req-{i}",
            provider="openai",
            model="gpt-image-1",
            size="1024x1024",
            operation="image.generation",
            images=1,
            user_id="user-1",
            project_id="proj_1",
            usage=usage,
        )
        for i in range(count)
    ]


def collector(hang: float) -> tuple[subprocess.Popen[str], str]:
    """A collector process on 127.0.0.1; returns it and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(hang)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/ingest"


def throughput(sink: ForwardSink, batch: list[ImageUsageEvent]) -> tuple[float, float]:
    """(caller ns per event, events per second from first handle to last delivery)."""
    start = time.perf_counter()
    for event in batch:
        sink.handle(event)
    queued = time.perf_counter()
    report = sink.close(120.0)
    end = time.perf_counter()
    assert report.sent == len(batch), report
    return (queued - start) / len(batch) * 1e9, len(batch) / (end - start)


def main(argv: list[str] | None = None) -> int:
    """Run the four measurements and print them with their bars."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args(argv)
    batch = events(args.events)
    print(f"python {sys.version.split()[0]}, {args.events:,} events")
    with tempfile.TemporaryDirectory() as directory:
        jsonl = JsonlTransport(Path(directory) / "events.jsonl")
        sink = ForwardSink(jsonl, batch_size=1024, max_queue=args.events, max_delay=0.05)
        caller, rate = throughput(sink, batch)
    print(f"{'caller cost per event (JSONL target), ns':<50} {caller:>10.0f}  bar <= 2000")
    print(f"{'throughput to JSONL, events/s':<50} {rate:>10.0f}  bar >= 200000")
    process, url = collector(0.0)
    try:
        sink = ForwardSink(
            HttpTransport(url, format="ndjson"),
            batch_size=1024,
            max_queue=args.events,
            max_delay=0.05,
        )
        caller, rate = throughput(sink, batch)
    finally:
        process.kill()
        process.wait()
    print(f"{'caller cost per event (HTTP target), ns':<50} {caller:>10.0f}  bar <= 2000")
    print(f"{'throughput to loopback HTTP, events/s':<50} {rate:>10.0f}  bar >= 50000")
    process, url = collector(30.0)
    try:
        sink = ForwardSink(
            HttpTransport(url, read_timeout=60.0),
            batch_size=512,
            max_queue=10_000,
            max_delay=0.01,
        )
        latencies = []
        for event in batch[:50_000]:
            start = time.perf_counter_ns()
            sink.handle(event)
            latencies.append(time.perf_counter_ns() - start)
        report = sink.stats()
        sink.close(0.5)
    finally:
        process.kill()
        process.wait()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(
        f"{'handle while the collector hangs, median/p99/max ns':<50} "
        f"{statistics.median(latencies):>10.0f} / {p99:.0f} / {latencies[-1]:.0f}"
        f"  (dropped {sum(report.dropped.values()):,} by drop_oldest, pending {report.pending:,})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
