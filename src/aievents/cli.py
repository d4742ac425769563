"""The ``aievents`` command (also ``python -m aievents``).

- ``aievents demo``: a local OpenAI-compatible image server on 127.0.0.1,
  the real ``openai`` SDK instrumented against it, a mix of image calls
  (some failing) logged to the console and stored in a SQLite file, then the
  usage and cost reports. Offline, in seconds.
- ``aievents usage`` and ``aievents costs``: OpenAI's usage and costs
  answers over a store (``--store URL``) or a JSONL file of events
  (``--events FILE``), as a table, JSON (OpenAI's page) or CSV. By default
  the last 7 UTC days, today included, every page of them.
- ``aievents ingest FILE --store URL``: JSONL events into a store.

A cost that is not known (a model without a price) is never printed as a
dollar figure: tables say ``unknown`` (or the priced part ``+ unknown``),
JSON and CSV leave it null or empty, and one line on stderr names the
models without a price and how to add one.

Only the data goes to stdout; every message and log line goes to stderr,
one line each, with values shown literally (no markup, no control
characters). Errors exit with status 2 for a wrong command line, 1 for
anything else, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, NoReturn, TextIO

from aievents import __version__
from aievents._eventfile import MAX_LINE, EventFileError, event_file
from aievents._extras import require_extra
from aievents._terminal import MAX_MESSAGE, command_logging, literal
from aievents.exceptions import AieventsError, first_line
from aievents.query import COSTS_LIMITS, LIMITS, CostsResult, ImagesResult, Page

__all__ = ["main"]

_USAGE_FILTERS = ("models", "sources", "sizes", "project_ids", "user_ids", "api_key_ids")
_COSTS_FILTERS = ("project_ids", "api_key_ids")
_DAY: Final = 86_400
#: The default window: the last 7 UTC days, today included.
_DEFAULT_START: Final = "-6d"
_RELATIVE: Final = re.compile(r"-(\d{1,7})([mhd])")
_UNITS: Final = {"m": 60, "h": 3600, "d": _DAY}
_TIMES: Final = (
    "today, yesterday, -7d (00:00 UTC seven days before today), -12h, -30m, "
    "an ISO 8601 date or date-time (UTC unless it says), or Unix seconds"
)


def _say(errors: TextIO, text: str) -> None:
    """One line on stderr, shown literally."""
    print(f"aievents: {literal(text, MAX_MESSAGE)}", file=errors, flush=True)


# --------------------------------------------------------------------------- times


def moment(text: str, now: float) -> int:
    """Unix seconds of a ``--start``/``--end`` value (see ``_TIMES``), ``now`` being now.

    Relative days, hours and minutes are whole ones: ``-7d`` is 00:00 UTC
    seven days before today, ``-12h`` the start of the hour twelve hours ago.
    """
    try:
        seconds = _seconds(text.strip(), int(now))
    except (ValueError, OverflowError):
        seconds = -1
    if seconds < 0:
        shown = repr(text[:40]) + ("..." if len(text) > 40 else "")
        raise argparse.ArgumentTypeError(f"{shown} is not a time: use {_TIMES}")
    return seconds


def _seconds(text: str, now: int) -> int:
    word = text.lower()
    if word in ("today", "yesterday"):
        return now - now % _DAY - (_DAY if word == "yesterday" else 0)
    relative = _RELATIVE.fullmatch(word)
    if relative:
        unit = _UNITS[relative[2]]
        return now - now % unit - int(relative[1]) * unit
    if re.fullmatch(r"\d{1,12}", word):
        return int(word)
    if word.endswith("z"):  # Python 3.10 reads no "Z"
        text = text[:-1] + "+00:00"
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp())


def _relative_values(argv: Sequence[str]) -> list[str]:
    """``--start -7d`` as ``--start=-7d``: argparse takes a lone ``-7d`` for an option."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in ("--start", "--end") and _RELATIVE.fullmatch(arg.lower()):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def _iso(seconds: int) -> str:
    """A bucket's start as the table shows it."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _iso8601(seconds: int) -> str:
    """ISO 8601 UTC, as CSV writes times."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- inputs


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _source(
    args: argparse.Namespace, errors: TextIO, start: int
) -> tuple[Any, list[EventFileError]]:
    """The store or the loaded JSONL file to query, and the file's deferred error."""
    if args.store:
        from aievents.sinks.store import StoreSink

        return StoreSink(args.store, create=False), []  # a query creates no store
    from aievents.sinks.aggregate import AggregateSink

    # Every event of the window is kept at minute detail, however old.
    forever = 100 * 366 * _DAY
    sink = AggregateSink(
        minute_detail=forever,
        hour_detail=forever,
        retention=forever,
        max_series=1_000_000,
        max_entries=10**8,
    )
    # Only the window's events are held: an endless stream stays in bounded memory.
    first = start * 1000
    last = None if args.end is None else args.end * 1000
    problems: list[EventFileError] = []
    with event_file(args.events, functools.partial(_say, errors)) as events:
        try:
            for event in events:
                if first <= event.timestamp and (last is None or event.timestamp < last):
                    sink.handle(event)
        except EventFileError as error:
            if not error.partial:
                raise
            problems.append(error)
    return sink, problems


# --------------------------------------------------------------------------- outputs


def _cell(name: str, value: Any) -> str:
    """One value of a result as the table shows it, literally."""
    if isinstance(value, dict) and "value" in value:  # an amount
        return f"${value['value']:,.6f}"
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return literal(value)


def _sum_cell(name: str, result: Mapping[str, Any]) -> str:
    """A sum of a result as the table shows it: a cost never as a made-up figure.

    A cost not known is ``unknown``; a cost of which a part is not known is
    the priced part ``+ unknown``; no unpriced request is an empty cell.
    """
    value = result.get(name)
    if name in ("amount", "cost"):
        if not isinstance(value, dict):
            return "unknown"
        figure = _cell(name, value)
        return f"{figure} + unknown" if result.get("unpriced_requests") else figure
    if name == "unpriced_requests" and not value:
        return ""
    return _cell(name, value)


#: Models named, at most, in the line about models without a price.
_NAMED: Final = 5


def note_unpriced(
    source: Any, start: int, end: int | None, filters: Mapping[str, Any], errors: TextIO
) -> None:
    """One line on ``errors`` naming the models without a price in the window, if any."""
    counts: dict[str, int] = {}
    cursor = None
    while True:
        page = source.usage(start, end, "1d", ["model"], limit=31, page=cursor, **filters)
        for bucket in page.data:
            for result in bucket.results:
                if result.unpriced_requests:
                    model = result.model or "(no model)"
                    counts[model] = counts.get(model, 0) + result.unpriced_requests
        cursor = page.next_page
        if cursor is None:
            break
    if not counts:
        return
    named = sorted(counts, key=lambda m: (-counts[m], m))
    listed = ", ".join(
        f"{m!r} ({counts[m]} request{'s' if counts[m] > 1 else ''})" for m in named[:_NAMED]
    )
    more = f" and {len(named) - _NAMED} more" if len(named) > _NAMED else ""
    _say(
        errors,
        f"no price for {listed}{more}: cost unknown (not $0). Add one where the events are "
        f"recorded: aievents.pricing.set_price({named[0]!r}, per_image=... or tokens={{...}}) "
        "or aievents.pricing.load_prices(FILE)",
    )


def _csv_value(value: Any) -> Any:
    """One value of a result as CSV writes it: numbers plain, text literally."""
    if isinstance(value, dict) and "value" in value:  # an amount
        return value["value"]
    if isinstance(value, str):
        return literal(value)
    return value


def _gather(pages: Iterable[Page]) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], Page]:
    """(bucket, result) of every result of the pages, in order, and the last page."""
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    last = None
    for last in pages:
        for bucket in last.to_dict()["data"]:
            found.extend((bucket, result) for result in bucket["results"])
    assert last is not None, "a query answers one page at least"
    return found, last


def _write_json(pages: Iterable[Page], out: TextIO) -> Page:
    """One OpenAI page holding every bucket of ``pages``, written as they come."""
    answers = iter(pages)
    first = next(answers)  # a bad query fails here, before anything is written
    out.write('{\n  "object": "page",\n  "data": [')
    count = 0
    last = first
    for last in itertools.chain([first], answers):
        for bucket in last.data:
            text = json.dumps(bucket.to_dict(), indent=2).replace("\n", "\n    ")
            out.write(f"{',' if count else ''}\n    {text}")
            count += 1
    out.write("\n  ]" if count else "]")
    more = json.dumps(last.next_page)
    out.write(f',\n  "has_more": {json.dumps(last.has_more)},\n  "next_page": {more}\n}}\n')
    return last


def _write_csv(pages: Iterable[Page], kind: str, out: TextIO) -> Page:
    """A header, then a row per bucket and group; times in ISO 8601 UTC."""
    found, last = _gather(pages)
    rows: list[dict[str, Any]] = []
    empty = (
        ImagesResult(images=0, num_model_requests=0)
        if kind == "usage"
        else CostsResult(amount=Decimal(0))
    )
    header = dict.fromkeys(["start_time", "end_time", *empty.to_dict()])
    del header["object"]
    for bucket, result in found:
        row = {"start_time": _iso8601(bucket["start_time"])}
        row["end_time"] = _iso8601(bucket["end_time"])
        row.update((k, _csv_value(v)) for k, v in result.items() if k != "object")
        header.update(dict.fromkeys(row))
        rows.append(row)
    writer = csv.DictWriter(out, list(header), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return last


def _table(pages: Iterable[Page], title: str, out: TextIO) -> Page:
    """A rich table of the pages: the groups, then the sums that are not all zero."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    found, last = _gather(pages)
    results = [result for _, result in found]
    costs = bool(results) and results[0]["object"] == "organization.costs.result"
    groups = ["model", "size", "source", "project_id", "user_id", "api_key_id", "line_item"]
    shown = [g for g in groups if any(r.get(g) is not None for r in results)]
    sums = (
        ["amount", "quantity"]
        if costs
        else ["num_model_requests", "images", "input_tokens", "output_tokens", "cost"]
    )
    if any(r.get("unpriced_requests") for r in results):
        sums.append("unpriced_requests")
    table = Table(title=Text(literal(title)), title_justify="left")
    table.add_column("bucket (UTC)")
    for name in shown:
        table.add_column(name)
    for name in sums:
        label = {"num_model_requests": "requests", "unpriced_requests": "unpriced"}.get(name, name)
        table.add_column(label, justify="right")
    for bucket, result in found:
        cells = [_iso(bucket["start_time"])]
        cells += [_cell(name, result.get(name)) for name in shown]
        cells += [_sum_cell(name, result) for name in sums]
        table.add_row(*(Text(cell) for cell in cells))  # Text: never read as markup
    if not results:
        table.caption = Text("no usage in this window")
    if last.has_more:
        table.caption = Text(f"more: --page {last.next_page}")
    console = Console(
        file=out,
        width=max(100, 20 * (len(shown) + len(sums))),
        markup=False,
        emoji=False,
        highlight=False,
    )
    console.print(table)
    return last


def _print(
    pages: Page | Iterable[Page], form: str, title: str, out: TextIO, *, kind: str = "usage"
) -> Page:
    """Write ``pages`` (every bucket of them) to ``out``; the last page."""
    every = [pages] if isinstance(pages, Page) else pages
    if form == "json":
        return _write_json(every, out)
    if form == "csv":
        return _write_csv(every, kind, out)
    return _table(every, title, out)


# --------------------------------------------------------------------------- commands


def _filters(kind: str, args: argparse.Namespace) -> dict[str, list[str]]:
    """The query's filters given on the command line."""
    return {
        name: _names(value)
        for name in (_USAGE_FILTERS if kind == "usage" else _COSTS_FILTERS)
        if (value := getattr(args, name, None)) is not None
    }


def _pages(source: Any, kind: str, args: argparse.Namespace, start: int) -> Iterator[Page]:
    """The pages of the query: every one, unless ``--page`` or ``--limit`` asks for one."""
    filters = _filters(kind, args)
    every = args.page is None and args.limit is None
    widest = LIMITS[args.bucket_width][1] if kind == "usage" else COSTS_LIMITS[1]
    cursor = args.page
    while True:
        page: Page = getattr(source, kind)(
            start,
            args.end,
            args.bucket_width,
            _names(args.group_by) if args.group_by else None,
            limit=widest if every else args.limit,
            page=cursor,
            **filters,
        )
        yield page
        if not every or page.next_page is None:
            return
        cursor = page.next_page


def _query(kind: str, args: argparse.Namespace, out: TextIO, errors: TextIO) -> int:
    if args.format == "table":
        require_extra(f"aievents {kind} --format table", "cli", ("rich",))
    if args.store:
        require_extra(f"aievents {kind} --store", "cli", ("sqlalchemy",))
    start = args.start if args.start is not None else moment(_DEFAULT_START, time.time())
    source, problems = _source(args, errors, start)
    try:
        end = "" if args.end is None else f" to {_iso(args.end)}"
        title = f"{kind} from {_iso(start)}{end} UTC"
        last = _print(_pages(source, kind, args, start), args.format, title, out, kind=kind)
        note_unpriced(source, start, args.end, _filters(kind, args), errors)
    finally:
        if hasattr(source, "close"):
            source.close(30)
    if args.format == "csv" and last.has_more:
        _say(errors, f"more buckets: --page {last.next_page}")
    for problem in problems:
        raise problem
    return 0


def ingest(path: str, url: str, out: TextIO, errors: TextIO, *, progress: bool = True) -> int:
    """Write the events of a JSONL file into a store; good lines are kept.

    Ctrl-C stops reading: what was read is written, then the command exits
    with status 130.
    """
    require_extra("aievents ingest", "cli", ("sqlalchemy",))
    progress = progress and errors.isatty()
    if progress:
        require_extra("aievents ingest's progress bar", "cli", ("rich",))
    from aievents.sinks.store import StoreSink

    written = duplicates = rejected = 0
    failure: BaseException | None = None
    batch: list[Any] = []
    with event_file(path, functools.partial(_say, errors)) as events:
        store = StoreSink(url)

        def write() -> None:
            nonlocal written, duplicates, rejected
            before = store.rejected
            done, again = store.write(batch)
            written += done
            duplicates += again
            rejected += store.rejected - before
            batch.clear()

        bar = _progress(errors) if progress else None
        try:
            try:
                for event in events:
                    batch.append(event)
                    if len(batch) >= 5000:
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


def _progress(errors: TextIO) -> Callable[[int | None], None]:
    """A progress bar on ``errors`` by events written (``None`` ends it)."""
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(file=errors), transient=True)
    task = progress.add_task("ingesting", total=None)
    progress.start()

    def update(count: int | None) -> None:
        if count is None:
            progress.stop()
        else:
            progress.update(task, completed=count, description=f"ingesting: {count:,} events")

    return update


def _database_error(error: BaseException) -> bool:
    """Whether ``error`` comes from the database (SQLAlchemy or its driver)."""
    try:
        import sqlalchemy
    except ImportError:
        return False
    if isinstance(error, sqlalchemy.exc.SQLAlchemyError):
        return True
    module = type(error).__module__.split(".")[0]
    return module in ("sqlite3", "psycopg", "psycopg2")


# --------------------------------------------------------------------------- the parser


class _Parser(argparse.ArgumentParser):
    """argparse, with its error shown literally (it may quote what was typed)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {literal(message, MAX_MESSAGE)}\n")


_EVENTS_HELP: Final = (
    "a JSON Lines file of events (dicts or TanStack envelopes), or a pipe, FIFO or "
    "character device read to its end ('-' is stdin; a FIFO waits for its writer; "
    "Ctrl-C stops). Lines are at most {max_line:,} bytes; a bad line is named and "
    "skipped; a NUL byte stops reading (not text); a directory is refused"
)


def _parser(now: float) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aievents",
        description="AI usage telemetry: events, usage and cost.",
        epilog="Data goes to stdout, messages and log lines to stderr, one line each. Exit "
        "status: 0; 1 for an error; 2 for a wrong command line; 130 when interrupted. "
        "AIEVENTS_DEBUG=1 shows the traceback of an unexpected error.",
    )
    parser.add_argument("--version", action="version", version=f"aievents {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="image calls through the instrumented openai SDK against a local server"
    )
    demo.add_argument("--db", help="the SQLite file to store into (a temporary one by default)")
    when = functools.partial(moment, now=now)
    for kind, groups, filters in (
        ("usage", "model,size,source,project_id,user_id,api_key_id", _USAGE_FILTERS),
        ("costs", "project_id,line_item,api_key_id", _COSTS_FILTERS),
    ):
        command = commands.add_parser(
            kind,
            help=f"{kind} like OpenAI's organization {kind} API",
            description=f"{kind.capitalize()} like OpenAI's organization {kind} API, from a "
            "store or a JSONL file. By default the last 7 UTC days, today included. The "
            "table, JSON and CSV hold every bucket of the window, unless --limit or --page "
            "asks for one page.",
        )
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--store", metavar="URL", help="sqlite:///file.db or postgresql://...")
        where.add_argument("--events", metavar="FILE", help=_EVENTS_HELP.format(max_line=MAX_LINE))
        command.add_argument(
            "--start", type=when, metavar="TIME", help=f"start, included (default: -6d): {_TIMES}"
        )
        command.add_argument(
            "--end", type=when, metavar="TIME", help="end, excluded (default: now); as --start"
        )
        widths = ["1m", "1h", "1d"] if kind == "usage" else ["1d"]
        command.add_argument("--bucket-width", choices=widths, default="1d")
        command.add_argument("--group-by", metavar="FIELDS", help=f"comma-separated: {groups}")
        for name in filters:
            command.add_argument(
                f"--{name.replace('_', '-')}",
                metavar="VALUES",
                help=f"only these {name.replace('_', ' ')} (comma-separated)",
            )
        command.add_argument(
            "--limit", type=int, help="buckets per page: print only this page (see --page)"
        )
        command.add_argument("--page", help="the next_page cursor of a previous answer")
        command.add_argument(
            "--format",
            choices=["table", "json", "csv"],
            default="table",
            help="a table (default), OpenAI's JSON page, or CSV (times in ISO 8601 UTC)",
        )
    feed = commands.add_parser(
        "ingest",
        help="write a JSONL file of events into a store",
        description="Write a JSONL file of events into a store (created if need be). Bad "
        "lines are named and skipped; the good ones are written. Ctrl-C stops reading "
        "and writes what was read.",
    )
    feed.add_argument("file", help=_EVENTS_HELP.format(max_line=MAX_LINE))
    feed.add_argument(
        "--store", metavar="URL", required=True, help="sqlite:///file.db or postgresql://..."
    )
    feed.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is one only when stderr is a terminal)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aievents`` command; returns the exit status."""
    parser = _parser(time.time())
    args = parser.parse_args(_relative_values(sys.argv[1:] if argv is None else argv))
    out, errors = sys.stdout, sys.stderr
    try:
        with command_logging(errors):
            return _run(parser, args, out, errors)
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        _say(errors, "interrupted")
        return 130
    except (AieventsError, ImportError, OSError) as error:
        _say(errors, f"error: {first_line(error)}")
        return 1
    except Exception as error:
        if _database_error(error):
            _say(errors, f"error: the database: {first_line(error)}")
            return 1
        if os.environ.get("AIEVENTS_DEBUG"):
            raise
        _say(errors, f"error: unexpected {type(error).__name__}: {first_line(error)}")
        return 1


def _run(
    parser: argparse.ArgumentParser, args: argparse.Namespace, out: TextIO, errors: TextIO
) -> int:
    if args.command == "demo":
        from aievents._demo import run_demo

        return run_demo(args.db, out)
    if args.command in ("usage", "costs"):
        return _query(args.command, args, out, errors)
    if args.command == "ingest":
        return ingest(args.file, args.store, out, errors, progress=not args.no_progress)
    parser.print_help(errors)
    return 2
