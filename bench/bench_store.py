"""StoreSink: ingest 1M events into SQLite, a 1d usage query; writer scaling on PostgreSQL.

The events (four GPT image models, three sizes, 100 users in 10 projects,
over 30 days, each priced as the instrumentation prices it) are built in
chunks outside the timings; each chunk is written with ``StoreSink.write``,
one transaction per chunk, as ``aievents ingest`` writes. The query is
``usage(bucket_width="1d", group_by=["model", "size"])`` over the 30 days,
answered from the daily roll-up (the median of several runs).

Beside the ingest, the bare insert of the same rows: the rows the store
wrote, read back chunk by chunk and inserted with ``sqlite3``'s
``executemany`` into an empty copy of ``aievents_usage`` (its key and
indexes) in another file, one transaction per chunk. Their ratio is the
store's own part (scrubbing, pricing, building rows, finding duplicates,
the roll-ups), whatever the machine's speed; the 15 s bar is absolute.

Then writer scaling (:mod:`_store_scaling`): events per second into
PostgreSQL with 1, 2, 4 and 8 writer processes, printed as a curve with each
ratio to one writer (``--scaling-events 0`` leaves it out).

Run with the project's venv: ``make bench``; ``--events`` makes it shorter.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _events import MODELS, SIZES, priced_event
from _store_scaling import scaling
from aievents import ImageUsageEvent
from aievents.sinks import StoreSink

T0 = 1_794_960_000  # seconds: 2026-11-17 00:00 UTC
DAYS = 30


def build(index: int, total: int) -> ImageUsageEvent:
    """Event ``index`` of the stream: ``total`` events over 30 days."""
    return priced_event(
        index,
        model=MODELS[index % len(MODELS)],
        size=SIZES[index // 4 % len(SIZES)],
        user=index * 7 % 100,
        timestamp_ms=(T0 + index * DAYS * 86_400 // total) * 1000,
    )


def main(argv: list[str] | None = None) -> int:
    """Ingest, query, and print the figures against DESIGN section 8's bars."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=7)
    parser.add_argument(
        "--scaling-events", type=int, default=200_000, help="events per writer count; 0: none"
    )
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="aievents-bench-") as folder:
        store = StoreSink(f"sqlite:///{Path(folder) / 'usage.db'}", clock=lambda: T0 + 40 * 86_400)
        writing = building = 0.0
        for first in range(0, args.events, args.chunk):
            start = time.perf_counter()
            chunk = [
                build(i, args.events) for i in range(first, min(first + args.chunk, args.events))
            ]
            building += time.perf_counter() - start
            start = time.perf_counter()
            store.write(chunk)
            writing += time.perf_counter() - start
        assert store.stats()["written"] == args.events, store.stats()
        times = []
        for _ in range(args.queries):
            start = time.perf_counter()
            page = store.usage(T0, T0 + DAYS * 86_400, "1d", ["model", "size"], limit=31)
            times.append(time.perf_counter() - start)
        results = [r for bucket in page.data for r in bucket.results]
        got = sum(r.num_model_requests for r in results)
        assert got == args.events, (got, len(page.data), page.has_more)
        query = statistics.median(times)
        size = (Path(folder) / "usage.db").stat().st_size
        store.close(30)
        bare = bare_insert(Path(folder), args.chunk)
    scale = 1_000_000 / args.events
    print(f"built {args.events:,} events in {building:.1f} s (not counted)")
    print(
        f"{'ingest, s':<44} {writing:>8.2f}  ({args.events / writing:,.0f} events/s; "
        f"bar <= 15 s for 1M: {'ok' if writing * scale <= 15 else 'MISSED'})"
    )
    print(
        f"{'bare insert of the same rows, s':<44} {bare:>8.2f}  "
        f"(ingest / bare: {writing / bare:.2f}x)"
    )
    print(
        f"{'usage 1d x group_by model,size, s':<44} {query:>8.3f}  "
        f"({len(results)} results; bar <= 0.3 s: {'ok' if query <= 0.3 else 'MISSED'})"
    )
    print(f"{'database file, MiB':<44} {size / 2**20:>8.1f}")
    if args.scaling_events:
        scaling(args.scaling_events, chunk=1000)
    return 0


def bare_insert(folder: Path, chunk: int) -> float:
    """Seconds to insert the store's rows again with bare ``sqlite3`` (see the docstring)."""
    source = sqlite3.connect(folder / "usage.db")
    target = sqlite3.connect(folder / "bare.db", isolation_level=None)
    try:
        target.execute("PRAGMA journal_mode=WAL")
        target.execute("PRAGMA synchronous=NORMAL")  # as the store sets it
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'aievents_usage' AND sql IS NOT NULL"
        ):
            target.execute(sql)
        rows = source.execute("SELECT * FROM aievents_usage")
        width = len(rows.description)
        insert = f"INSERT INTO aievents_usage VALUES ({', '.join(['?'] * width)})"
        took = 0.0
        while part := rows.fetchmany(chunk):
            start = time.perf_counter()
            target.execute("BEGIN IMMEDIATE")
            target.executemany(insert, part)
            target.execute("COMMIT")
            took += time.perf_counter() - start
        return took
    finally:
        source.close()
        target.close()


if __name__ == "__main__":
    raise SystemExit(main())
