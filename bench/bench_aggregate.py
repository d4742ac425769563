"""AggregateSink against OpenTelemetry's SDK, and its memory under load.

1. Cost per event: ``AggregateSink.handle`` of an ``image:usage`` event
   (dedupe, series, tokens, images, exact cost) against OpenTelemetry's
   ``counter.add`` + ``histogram.record`` with the same eight attributes
   (the sink's dimensions: OpenAI's six, then provider and quality)
   (pre-built dicts: OpenTelemetry's best case), in interleaved rounds over
   freshly built events. The two take turns going first, since the second
   finds the dimension strings they share warmer in the cache. Events are
   built as the instrumentation builds them: the usage's token split and
   the cost's units are worked out then, once, for every sink. The sink's
   pure Python twin (``compiled=False``) is timed too, on events of its own.
2. Memory: resident memory growth while 10M events go into 1k series over
   a whole day of event time (every event built on the fly, one at a time),
   the sink's clock at the end of that day, so that roll-ups and the entry
   cap are at work.

Run with the project's venv: ``make bench`` (the memory part takes a few
minutes; ``--events`` makes it shorter).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from _events import MODELS, SIZES, priced_event
from _timing import ratio
from aievents import ImageUsageEvent
from aievents.sinks import AggregateSink

T0 = 1_795_000_000_000  # ms
QUALITIES = ("low", "medium", "high")


def build(index: int, series: int, spread_ms: int, total: int) -> ImageUsageEvent:
    """Event ``index`` of ``total`` over ``series`` series and ``spread_ms`` of event time."""
    slot = index % series
    return priced_event(
        index,
        model=MODELS[slot % len(MODELS)],
        size=SIZES[slot % len(SIZES)],
        quality=QUALITIES[slot % len(QUALITIES)],
        user=slot,
        timestamp_ms=T0 + index * spread_ms // max(total, 1),
    )


def attributes(event: ImageUsageEvent) -> dict[str, Any]:
    """The same eight dimensions as OpenTelemetry attributes."""
    return {
        "gen_ai.request.model": event.model,
        "aievents.size": event.size,
        "aievents.source": event.operation,
        "aievents.project_id": event.project_id,
        "enduser.id": event.user_id,
        "aievents.api_key_id": event.api_key_id,
        "gen_ai.provider.name": event.provider,
        "aievents.quality": event.quality,
    }


def time_handle(handle: Any, events: list[ImageUsageEvent]) -> float:
    """ns per event of ``handle`` over ``events``."""
    start = time.perf_counter_ns()
    for event in events:
        handle(event)
    return (time.perf_counter_ns() - start) / len(events)


def time_otel(add: Any, record: Any, dims: list[dict[str, Any]], tokens: list[int | None]) -> float:
    """ns per event of OpenTelemetry's ``counter.add`` + ``histogram.record``."""
    start = time.perf_counter_ns()
    for attrs, count in zip(dims, tokens, strict=True):
        add(1, attrs)
        record(count, attrs)
    return (time.perf_counter_ns() - start) / len(dims)


def per_event(rounds: int, chunk: int) -> dict[str, list[float]]:
    """ns per event for each, one sample per round of ``chunk`` fresh events."""
    sink = AggregateSink(clock=lambda: T0 / 1000 + 3600)
    twin = AggregateSink(clock=lambda: T0 / 1000 + 3600, compiled=False)
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("bench")
    counter = meter.create_counter("gen_ai.client.image.count")
    histogram = meter.create_histogram("gen_ai.client.token.usage")
    samples: dict[str, list[float]] = {"aievents": [], "opentelemetry": [], "python": []}
    for round_ in range(rounds):
        events = [build(round_ * chunk + i, 1000, 60_000, rounds * chunk) for i in range(chunk)]
        dims = [attributes(e) for e in events]
        tokens = [e.usage.output_tokens for e in events]
        gc.collect()
        # Each goes first every other round: the second finds the shared
        # dimension strings warmer in the cache.
        order = ("aievents", "opentelemetry") if round_ % 2 == 0 else ("opentelemetry", "aievents")
        for name in order:
            if name == "aievents":
                samples[name].append(time_handle(sink.handle, events))
            else:
                samples[name].append(time_otel(counter.add, histogram.record, dims, tokens))
        own = [build(round_ * chunk + i, 1000, 60_000, rounds * chunk) for i in range(chunk)]
        gc.collect()
        samples["python"].append(time_handle(twin.handle, own))
    return samples


def rss_bytes() -> int:
    """Resident memory of this process (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


DAY_MS = 86_400_000


def memory(total: int, series: int) -> tuple[int, int, float]:
    """(RSS growth in bytes, series held, seconds) for ``total`` events into ``series``."""
    sink = AggregateSink(clock=lambda: (T0 + DAY_MS) / 1000)
    for index in range(series):  # warm: every series exists before measuring
        sink.handle(build(index, series, DAY_MS, total))
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    for index in range(series, total):
        sink.handle(build(index, series, DAY_MS, total))
    seconds = time.perf_counter() - start
    gc.collect()
    return rss_bytes() - before, sink.series_count, seconds


def main(argv: list[str] | None = None) -> int:
    """Run both parts and print the figures and the bars of DESIGN section 8."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=1000)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}")
    samples = per_event(args.rounds, args.chunk)
    ours, theirs, python = (
        statistics.median(samples[k]) for k in ("aievents", "opentelemetry", "python")
    )
    share = ratio(samples, "aievents", "opentelemetry")
    kind = "compiled" if AggregateSink().compiled else "pure Python: not built"
    print(f"{f'AggregateSink.handle ({kind}), ns/event':<52} {ours:>10.0f}")
    print(f"{'OpenTelemetry counter.add + histogram.record':<52} {theirs:>10.0f}")
    verdict = "ok" if share <= 0.05 else "MISSED"
    print(f"{'ratio (median of per-round ratios), bar <= 0.05':<52} {share:>10.3f}  {verdict}")
    twin = ratio(samples, "python", "opentelemetry")
    print(f"{'AggregateSink.handle (compiled=False), ns/event':<52} {python:>10.0f}")
    print(f"{'  its ratio to OpenTelemetry':<52} {twin:>10.3f}")
    if args.events:
        growth, held, seconds = memory(args.events, args.series)
        mib = growth / 2**20
        print(
            f"{args.events:,} events into {held:,} series over a day: "
            f"RSS +{mib:.1f} MiB ({'ok' if mib <= 50 else 'MISSED'}, bar <= 50 MB), "
            f"{seconds:.0f} s with event construction"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
