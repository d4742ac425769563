"""What ``import aievents`` costs: against its runtime dependencies, and what it loads.

Each round imports, in a fresh interpreter each, ``aievents`` and then its
four runtime dependencies together (structlog, attrs, cattrs, blinker); the
child times its own import, so the interpreter's start is not counted. The
ratio is the median over rounds of the ratio within a round (DESIGN section
8: <= 1.3x). Then one more child lists the heavy modules ``import aievents``
loaded (bar: none) and whether it registered an exit hook (the standard
library's ``logging``, imported first, registers one of its own).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

#: Packages ``import aievents`` must not load: the optional parts' own.
HEAVY = (
    "sqlalchemy",
    "psycopg",
    "httpx",
    "httpcore",
    "openai",
    "rich",
    "websockets",
    "opentelemetry",
    "google",
)
DEPENDENCIES = "import structlog, attrs, cattrs, blinker"
TIMED = (
    "import time\nstart = time.perf_counter()\n{statement}\nprint(time.perf_counter() - start)\n"
)
LOADED = (
    "import atexit, json, logging, sys  # logging registers a hook of its own\n"
    "hooks = atexit._ncallbacks()\n"
    "import aievents\n"
    "heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))\n"
    "print(json.dumps({{'heavy': heavy, 'hooks': atexit._ncallbacks() - hooks,"
    " 'modules': len(sys.modules)}}))\n"
)


def timed(statement: str) -> float:
    """Seconds ``statement`` takes in a fresh interpreter (its start not counted)."""
    code = TIMED.format(statement=statement)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return float(result.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures against the bars."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args(argv)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.rounds):
        ours.append(timed("import aievents"))
        theirs.append(timed(DEPENDENCIES))
    ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = json.loads(loaded.stdout)
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds, a fresh interpreter each")
    print(f"{'import aievents, ms':<52} {statistics.median(ours) * 1e3:>8.1f}")
    deps = statistics.median(theirs) * 1e3
    print(f"{'import structlog, attrs, cattrs, blinker, ms':<52} {deps:>8.1f}")
    print(f"{'ratio (median of per-round ratios), bar <= 1.3':<52} {ratio:>8.3f}  "
          f"{'ok' if ratio <= 1.3 else 'MISSED'}")  # fmt: skip
    heavy = ", ".join(found["heavy"]) or "none"
    print(f"{'heavy modules loaded (bar: none)':<52} {heavy}  "
          f"{'ok' if not found['heavy'] else 'MISSED'}")  # fmt: skip
    print(f"{'exit hooks registered (bar: none)':<52} {found['hooks']:>8}  "
          f"{'ok' if not found['hooks'] else 'MISSED'}")  # fmt: skip
    print(f"{'modules in sys.modules after import aievents':<52} {found['modules']:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
