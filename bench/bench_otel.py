"""OtelSink and PrometheusSink per event against the bare SDK calls they make.

Each part (``_bench_otelsink``, ``_bench_prometheus``) gives pairs of rows:
the sink's ``handle`` for a stream of events, and the same calls into the
OpenTelemetry SDK or ``prometheus_client`` written out by hand (the same
span and attributes, the same instrument calls and labels). The ratio is
what the mapping adds on top of the SDK's own cost; the bar for each pair
is 1.2x. Rows are timed in interleaved rounds (see ``_timing``).

Run with the project's venv: ``make bench``.
"""

from __future__ import annotations

import importlib
import statistics
from collections.abc import Callable
from typing import Any

from _timing import difference, interleaved, ratio, rounds

#: The modules that give the pairs: ``pairs()`` returns a list of
#: ``(label, ours, bare)``, each a callable that handles the next event of
#: its stream, one per call.
PARTS: tuple[str, ...] = ("_bench_otelsink", "_bench_prometheus")
#: The most a sink may take per event, as a multiple of its bare calls.
BAR = 1.2

Pair = tuple[str, Callable[[], None], Callable[[], None]]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    number, repeat = rounds(__doc__, argv, number=2000, repeat=15)
    namespace: dict[str, Any] = {}
    rows: dict[str, tuple[str, int]] = {}
    pairs: list[tuple[str, str]] = []
    for part in PARTS:
        module = importlib.import_module(part)
        for label, ours, bare in module.pairs():
            top, bottom = f"{label}: aievents", f"{label}: bare SDK calls"
            namespace[f"f{len(namespace)}"] = ours
            rows[top] = (f"f{len(namespace) - 1}()", number)
            namespace[f"f{len(namespace)}"] = bare
            rows[bottom] = (f"f{len(namespace) - 1}()", number)
            pairs.append((top, bottom))
    samples = interleaved(rows, namespace, repeat)
    print(f"{'row':<64} {'us/event':>9} {'added us':>9} {'ratio':>7}  bar {BAR}x")
    failed = 0
    for top, bottom in pairs:
        per_event = statistics.median(samples[top]) / 1000
        added = difference(samples, top, bottom) / 1000
        share = ratio(samples, top, bottom)
        verdict = "ok" if share <= BAR else "OVER"
        failed += share > BAR
        print(f"{top:<64} {per_event:>9.2f} {added:>9.2f} {share:>7.3f}  {verdict}")
    print(f"{failed} pair(s) over the bar" if failed else "every pair within the bar")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
