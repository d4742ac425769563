"""StoreSink writer scaling on PostgreSQL: events per second with 1, 2, 4 and 8 writer processes.

Each count of writers gets a fresh database and the same number of events
in all, shared out evenly. Each writer's events cover the same 30 days and
the same series (models, sizes, users), so that the writers go through the
days together, adding to the same roll-up rows at once, as hosts writing
now do; their request ids differ. A writer writes in chunks, each one
transaction (``StoreSink.write``, as ``aievents ingest`` writes), after it
built its events and opened its sink; the time is taken from the moment
every writer is told to go until the last one is done.

The PostgreSQL server: ``AIEVENTS_TEST_POSTGRES`` (a URL on which databases
may be created), else a throwaway server started from Debian's binaries as
the tests start one (``tests/postgres_server.py``).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _events import MODELS, SIZES, priced_event

T0 = 1_794_960_000  # seconds: 2026-11-17 00:00 UTC
DAYS = 30
#: The bar on this 2-core machine: 4 writers give at least this many times one writer's rate.
BAR = 1.5
TESTS = Path(__file__).resolve().parent.parent / "tests"


@contextmanager
def server() -> Iterator[str]:
    """A PostgreSQL server's URL (see the module's docstring)."""
    sys.path.insert(0, str(TESTS))
    try:
        from postgres_server import running
    finally:
        sys.path.remove(str(TESTS))
    with running() as url:
        yield url


def fresh_database(url: str) -> str:
    """A new, empty database on the server; its URL."""
    import psycopg

    name = f"aievents_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{url.rpartition('/')[0]}/{name}"


def drop_database(server_url: str, url: str) -> None:
    import psycopg

    name = url.rpartition("/")[2]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def writer(
    url: str, index: int, *, writers: int, total: int, chunk: int, ready: Any, go: Any
) -> None:
    """One writer process: build its events, open the sink, wait for go, write them."""
    from aievents.sinks import StoreSink

    count = total // writers
    events = [
        priced_event(
            index * count + i,  # the request id
            model=MODELS[i % len(MODELS)],
            size=SIZES[i // 4 % len(SIZES)],
            user=i * 7 % 100,
            timestamp_ms=(T0 + i * DAYS * 86_400 // count) * 1000,
        )
        for i in range(count)
    ]
    store = StoreSink(url)
    ready.release()
    go.wait()
    for first in range(0, len(events), chunk):
        store.write(events[first : first + chunk])
    assert store.stats()["written"] == len(events), store.stats()
    store.close(30)


def rate(server_url: str, writers: int, total: int, chunk: int) -> float:
    """Events per second into a fresh database with ``writers`` processes."""
    url = fresh_database(server_url)
    try:
        from aievents.sinks import StoreSink

        StoreSink(url).close(10)  # the tables, made before the clock starts
        spawn = multiprocessing.get_context("spawn")
        ready, go = spawn.Semaphore(0), spawn.Event()
        processes = [
            spawn.Process(
                target=writer,
                args=(url, n),
                kwargs={
                    "writers": writers,
                    "total": total,
                    "chunk": chunk,
                    "ready": ready,
                    "go": go,
                },
            )
            for n in range(writers)
        ]
        for process in processes:
            process.start()
        for _ in processes:
            ready.acquire()
        start = time.perf_counter()
        go.set()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - start
        assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
        return total // writers * writers / elapsed
    finally:
        drop_database(server_url, url)


def scaling(total: int, chunk: int, counts: tuple[int, ...] = (1, 2, 4, 8)) -> None:
    """Print the curve: events/s per count of writers, and its ratio to one writer."""
    with server() as url:
        rates = {n: rate(url, n, total, chunk) for n in counts}
    print(f"PostgreSQL writer scaling, {total:,} events in chunks of {chunk:,}:")
    for n, value in rates.items():
        print(
            f"{f'  {n} writer processes, events/s':<44} {value:>8,.0f}  ({value / rates[1]:.2f}x)"
        )
    if 4 in rates:
        ratio = rates[4] / rates[1]
        verdict = "ok" if ratio >= BAR else "MISSED"
        print(f"{'  4 writers / 1 writer':<44} {ratio:>8.2f}  (bar >= {BAR}x: {verdict})")
