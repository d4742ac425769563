"""Interleaved timing shared by the benchmarks.

Every row of a benchmark is timed once per round, for many rounds; the rows
of one round run under the same machine load, so the ratios taken within a
round are steady even when the machine is not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from typing import Any


def rounds(
    description: str | None, argv: list[str] | None, *, number: int, repeat: int
) -> tuple[int, int]:
    """The ``--number`` (operations per round) and ``--repeat`` options; prints the run's header."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--number", type=int, default=number, help="operations per round")
    parser.add_argument("--repeat", type=int, default=repeat, help="rounds; medians are kept")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {args.repeat} rounds x {args.number} operations")
    return args.number, args.repeat


def interleaved(
    rows: dict[str, tuple[str, int] | tuple[str, int, str]],
    namespace: dict[str, Any],
    repeat: int,
) -> dict[str, list[float]]:
    """Time every row (``stmt``, operations per round) once per round: ns per operation.

    A row may have a third item, a ``setup`` statement run (untimed) before
    each of its rounds.
    """
    timers = {
        name: (timeit.Timer(row[0], setup=row[2] if len(row) > 2 else "pass", globals=namespace),
               row[1])
        for name, row in rows.items()
    }  # fmt: skip
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeat):
        for name, (timer, n) in timers.items():
            samples[name].append(timer.timeit(n) / n * 1e9)
    return samples


def ratio(samples: dict[str, list[float]], top: str, bottom: str) -> float:
    """Median over rounds of the ratio measured within each round."""
    return statistics.median(t / b for t, b in zip(samples[top], samples[bottom], strict=True))


def difference(samples: dict[str, list[float]], top: str, bottom: str) -> float:
    """Median over rounds of the difference measured within each round (ns)."""
    return statistics.median(t - b for t, b in zip(samples[top], samples[bottom], strict=True))


def table(samples: dict[str, list[float]], out: Callable[[str], None] = print) -> None:
    """Print the median of every row."""
    out(f"{'operation':<44} {'median ns/op':>14}")
    for name, values in samples.items():
        out(f"{name:<44} {statistics.median(values):>14.1f}")
