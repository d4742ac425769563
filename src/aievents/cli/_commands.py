"""The commands that read usage: ``usage``, ``costs`` and ``ingest``.

``usage --events`` sums the file's events of the window in an
:class:`~aievents.sinks.AggregateSink` that keeps detail only down to the
bucket width asked for (minutes for ``1m``, hours for ``1h``, days
otherwise): its memory grows with the window's buckets times the series,
never with the number of events read. It takes the events a store would
count for the same window (those of its minutes), so a window that starts
or ends inside a bucket is answered exactly, as from a store.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, TextIO

from aievents._extras import require_extra
from aievents.cli._eventfile import EventFileError, event_file
from aievents.cli._parser import USAGE_FILTERS
from aievents.cli._readstore import read_store
from aievents.cli._render import note_unpriced, write_pages
from aievents.cli._terminal import literal, say
from aievents.cli._times import DAY, minute
from aievents.query import COSTS_LIMITS, LIMITS, Page, Source, costs, minute_up, usage

if TYPE_CHECKING:
    from aievents.pricing import PriceBook

__all__ = ["file_totals", "ingest", "progress_bar", "query"]

#: Events written to a store at a time by ``ingest``.
_BATCH: Final = 5000
#: Series (distinct model, size, source, project, user, key) summed from a file.
_MAX_SERIES: Final = 1_000_000


def query(
    kind: str,
    args: argparse.Namespace,
    out: TextIO,
    errors: TextIO,
    now: float,
    *,
    prices: PriceBook | None = None,
) -> int:
    """``usage`` or ``costs``: every page asked for, written to ``out``; the exit status.

    Events of ``--events`` that carry no cost are priced by ``prices``.
    """
    if args.format == "table":
        require_extra(f"aievents {kind} --format table", "cli", ("rich",))
    if args.store:
        require_extra(f"aievents {kind} --store", "store", ("sqlalchemy",))
    problems: list[EventFileError] = []
    source: Any
    if args.store:
        store = read_store(args.store, errors)  # a query creates no store, upgrades none
        if store is None:
            return 1
        source = store
    else:
        source = file_totals(args, errors, now, problems, prices)
    try:
        end = "" if args.end is None else f" to {minute(args.end)}"
        title = f"{kind} from {minute(args.start)}{end} UTC, {args.cost} cost"
        pages = _pages(source, kind, args.query, now)
        last = write_pages(pages, args.format, out, kind=kind, title=title)
        filters = {name: args.query[name] for name in USAGE_FILTERS if name in args.query}
        filters["cost"] = args.cost
        note_unpriced(source, (args.start, args.end), filters, errors, now=now)
    finally:
        source.close(30)
    if args.format == "csv" and last.has_more:
        say(errors, f"more buckets: --page {last.next_page}")
    overflowed = getattr(source, "overflowed", 0)
    if overflowed:
        say(
            errors,
            f"warning: {overflowed:,} events beyond {_MAX_SERIES:,} distinct series are "
            "summed as '(overflow)': narrow the window or --events file",
        )
    for problem in problems:
        raise problem
    return 0


def _pages(source: Source, kind: str, asked: Mapping[str, Any], now: float) -> Iterator[Page]:
    """The pages of the query: every one, unless ``--page`` or ``--limit`` asks for one."""
    ask: Callable[..., Page] = usage if kind == "usage" else costs
    every = asked["page"] is None and asked["limit"] is None
    params = dict(asked)
    if every:
        params["limit"] = LIMITS[asked["bucket_width"]][1] if kind == "usage" else COSTS_LIMITS[1]
    while True:
        page = ask(source, now=now, **params)
        yield page
        if not every or page.next_page is None:
            return
        params["page"] = page.next_page


def file_totals(
    args: argparse.Namespace,
    errors: TextIO,
    now: float,
    problems: list[EventFileError],
    prices: PriceBook | None,
) -> Any:
    """The window's events of ``--events``, summed; a bad line's error goes to ``problems``.

    The sink's clock stands at the window's end: every event of the window
    is then as old as it gets, and detail finer than the buckets is rolled
    up as soon as it is booked.
    """
    from aievents.sinks.aggregate import AggregateSink

    end = args.end if args.end is not None else int(now) + 1  # as the query ends it
    kept = end + 2 * DAY  # longer than any event of the window is old
    width = args.bucket_width
    sink = AggregateSink(
        minute_detail=kept if width == "1m" else 1,
        hour_detail=kept if width in ("1m", "1h") else 1,
        retention=kept,
        max_series=_MAX_SERIES,
        max_entries=10**12,  # never rolled up early: each bucket is part of the answer
        clock=lambda: end,
        prices=prices,
    )
    # The minutes the query counts, as a store counts them.
    first, last = minute_up(args.start) * 1000, minute_up(end) * 1000
    with event_file(args.events, functools.partial(say, errors)) as events:
        try:
            for event in events:
                if first <= event.timestamp < last:
                    sink.handle(event)
        except EventFileError as error:
            if not error.partial:
                raise
            problems.append(error)
    return sink


def ingest(
    path: str,
    url: str,
    out: TextIO,
    errors: TextIO,
    *,
    progress: bool = True,
    prices: PriceBook | None = None,
) -> int:
    """Write the events of a JSONL file into a store; good lines are kept.

    Events that carry no cost are priced by ``prices`` as they are written.

    Ctrl-C stops reading: what was read is written, then the command exits
    with status 130.
    """
    require_extra("aievents ingest", "store", ("sqlalchemy",))
    progress = progress and errors.isatty()
    if progress:
        require_extra("aievents ingest's progress bar", "cli", ("rich",))
    from aievents.sinks.store import StoreSink

    written = duplicates = rejected = 0
    failure: BaseException | None = None
    batch: list[Any] = []
    with event_file(path, functools.partial(say, errors)) as events:
        store = StoreSink(url, prices=prices)

        def write() -> None:
            nonlocal written, duplicates, rejected
            with _interrupt_after():  # a batch is stored and counted, or neither
                before = store.rejected
                done, again = store.write(batch)
                written += done
                duplicates += again
                rejected += store.rejected - before
                batch.clear()

        bar = progress_bar(errors) if progress else None
        try:
            try:
                for event in events:
                    batch.append(event)
                    if len(batch) >= _BATCH:
                        write()
                        if bar is not None:
                            bar(written + duplicates)
            except EventFileError as error:  # what was read before is kept all the same
                failure = error
            except KeyboardInterrupt as stop:  # keep what was read
                failure = stop
            if batch:
                write()
        finally:
            if bar is not None:
                bar(None)
            store.close(30)
    refused = f", {rejected} rejected (see the warnings)" if rejected else ""
    print(
        f"{written} events written, {duplicates} already stored{refused}, "
        f"into {literal(store.url)}",
        file=out,
    )
    if failure is not None:
        raise failure
    return 0


@contextlib.contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold Ctrl-C back while the block runs; it is raised when the block ends.

    A batch interrupted between its commit and its count would be stored
    but not counted, then written again and counted as already stored.
    Only the main thread receives signals: elsewhere the block just runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and callable(previous):
        previous(signal.SIGINT, None)


def progress_bar(
    errors: TextIO, doing: str = "ingesting", unit: str = "events"
) -> Callable[..., None]:
    """A progress bar on ``errors``: ``update(count, total=None)``; ``update(None)`` ends it."""
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(file=errors), transient=True)
    task = progress.add_task(doing, total=None)
    progress.start()

    def update(count: int | None, total: int | None = None) -> None:
        if count is None:
            progress.stop()
        else:
            said = f"{doing}: {count:,} {unit}"
            progress.update(task, completed=count, total=total, description=said)

    return update


def database_error(error: BaseException) -> bool:
    """Whether ``error`` comes from the database (SQLAlchemy or its driver)."""
    try:
        import sqlalchemy
    except ImportError:
        return False
    if isinstance(error, sqlalchemy.exc.SQLAlchemyError):
        return True
    module = type(error).__module__.split(".")[0]
    return module in ("sqlite3", "psycopg", "psycopg2")
