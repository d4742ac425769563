"""Dispatch benchmark: aievents emit against direct calls, blinker and pyee.

Run with the project's venv: ``make bench`` (or ``python bench/bench_dispatch.py``).
Every row is measured in the same process and run, with :mod:`timeit`; the
table gives the median time per operation over several repeats and the
ratios that DESIGN section 8 sets bars for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import blinker
from pyee import EventEmitter

from _timing import interleaved, ratio, rounds, table
from aievents import EventClient, ImageUsage, ImageUsageEvent, InputTokensDetails


def _noop1(event: Any) -> None:
    return None


def _noop2(event: Any) -> None:
    return None


def _noop3(event: Any) -> None:
    return None


def _receiver1(sender: Any) -> None:
    return None


def _receiver2(sender: Any) -> None:
    return None


def _receiver3(sender: Any) -> None:
    return None


def _usage() -> ImageUsage:
    return ImageUsage(
        input_tokens=50,
        output_tokens=1056,
        total_tokens=1106,
        input_tokens_details=InputTokensDetails(text_tokens=50, image_tokens=0),
    )


def _event(usage: ImageUsage) -> ImageUsageEvent:
    return ImageUsageEvent(
        request_id="req-1",
        provider="openai",
        model="gpt-image-1",
        operation="image.generation",
        size="1024x1024",
        quality="medium",
        images=1,
        user_id="user-42",
        project_id="proj_abc",
        usage=usage,
    )


def run(number: int, repeat: int) -> dict[str, list[float]]:
    """Measure every row; returns nanoseconds per operation by row name, one per round."""
    usage = _usage()
    event = _event(usage)

    client = EventClient()
    for handler in (_noop1, _noop2, _noop3):
        client.on("image:usage", handler)
    idle = EventClient()
    keeping = EventClient(replay=128)
    for handler in (_noop1, _noop2, _noop3):
        keeping.on("image:usage", handler)

    signal = blinker.Signal()
    for receiver in (_receiver1, _receiver2, _receiver3):
        signal.connect(receiver, weak=False)

    emitter = EventEmitter()
    for handler in (_noop1, _noop2, _noop3):
        emitter.on("image:usage", handler)

    ns: dict[str, Any] = {
        "event": event,
        "usage": usage,
        "emit": client.emit,
        "idle_emit": idle.emit,
        "keeping_emit": keeping.emit,
        "h1": _noop1,
        "h2": _noop2,
        "h3": _noop3,
        "send": signal.send,
        "pyee_emit": emitter.emit,
        "ImageUsageEvent": ImageUsageEvent,
    }
    rows: dict[str, tuple[str, int]] = {
        "emit, 3 no-op handlers": ("emit(event)", number),
        "emit, 3 handlers, replay buffer on": ("keeping_emit(event)", number),
        "3 direct calls": ("h1(event); h2(event); h3(event)", number),
        "blinker Signal.send, 3 receivers": ("send(event)", number),
        "pyee EventEmitter.emit, 3 listeners": ("pyee_emit('image:usage', event)", number),
        "emit, no subscriber": ("idle_emit(event)", number),
        "no-op call": ("h1(event)", number),
        "build ImageUsageEvent": (
            "ImageUsageEvent(request_id='req-1', provider='openai', model='gpt-image-1', "
            "operation='image.generation', size='1024x1024', quality='medium', images=1, "
            "user_id='user-42', project_id='proj_abc', usage=usage)",
            max(1, number // 20),
        ),
        "build dict, same keys": (
            "dict(request_id='req-1', provider='openai', model='gpt-image-1', "
            "operation='image.generation', size='1024x1024', quality='medium', images=1, "
            "user_id='user-42', project_id='proj_abc', usage=usage)",
            max(1, number // 20),
        ),
    }
    return interleaved(rows, ns, repeat)


BARS: list[tuple[str, str, str, float]] = [
    ("emit to 3 handlers / 3 direct calls", "emit, 3 no-op handlers", "3 direct calls", 2.0),
    (
        "emit to 3 handlers / blinker send",
        "emit, 3 no-op handlers",
        "blinker Signal.send, 3 receivers",
        0.25,
    ),
    ("emit, no subscriber / no-op call", "emit, no subscriber", "no-op call", 3.0),
]
INFO: list[tuple[str, str, str]] = [
    (
        "emit with replay buffer / 3 direct calls",
        "emit, 3 handlers, replay buffer on",
        "3 direct calls",
    ),
    (
        "emit to 3 handlers / pyee emit",
        "emit, 3 no-op handlers",
        "pyee EventEmitter.emit, 3 listeners",
    ),
    ("build ImageUsageEvent / build dict", "build ImageUsageEvent", "build dict, same keys"),
]


def report(samples: dict[str, list[float]], out: Callable[[str], None] = print) -> bool:
    """Print the table and the ratios; returns whether every bar is met."""
    table(samples, out)
    out("")
    out(f"{'ratio (median of per-round ratios)':<40} {'measured':>9} {'bar':>7}  verdict")
    ok = True
    for label, top, bottom, bar in BARS:
        measured = ratio(samples, top, bottom)
        met = measured <= bar
        ok &= met
        out(f"{label:<40} {measured:>9.3f} {'<= ' + str(bar):>7}  {'ok' if met else 'MISSED'}")
    for label, top, bottom in INFO:
        out(f"{label:<40} {ratio(samples, top, bottom):>9.3f} {'-':>7}  (information)")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; exit status 1 when a bar is missed."""
    number, repeat = rounds(__doc__, argv, number=50_000, repeat=25)
    return 0 if report(run(number, repeat)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
