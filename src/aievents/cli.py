"""The ``aievents`` command (also ``python -m aievents``).

- ``aievents demo``: a local OpenAI-compatible image server on 127.0.0.1,
  the real ``openai`` SDK instrumented against it, a mix of image calls
  (some failing) logged to the console and stored in a SQLite file, then the
  usage and cost reports. Offline, in seconds.
- ``aievents usage`` and ``aievents costs``: OpenAI's usage and costs
  answers over a store (``--store URL``) or a JSONL file of events
  (``--events FILE``), as a table, JSON (OpenAI's page) or CSV.
- ``aievents ingest FILE --store URL``: JSONL events into a store.

Errors are one line on stderr and a non-zero exit status: 2 for a wrong
command line, 1 for anything else.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from aievents import __version__
from aievents.events import ImageUsageEvent
from aievents.exceptions import AieventsError, first_line
from aievents.query import Page

__all__ = ["main"]

_USAGE_FILTERS = ("models", "sources", "sizes", "project_ids", "user_ids", "api_key_ids")
_COSTS_FILTERS = ("project_ids", "api_key_ids")


class CommandError(AieventsError):
    """What the command reports on one line before it exits with status 1.

    ``partial`` says the good part of the input was used all the same.
    """

    def __init__(self, message: str, *, partial: bool = False) -> None:
        super().__init__(message)
        self.partial = partial


# --------------------------------------------------------------------------- inputs


def _time(text: str) -> int:
    """Unix seconds, or an ISO 8601 date or date-time (UTC unless it says)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not Unix seconds nor an ISO 8601 date or date-time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp())


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def read_events(path: str, errors: TextIO) -> Iterator[ImageUsageEvent]:
    """The ``image:usage`` events of a JSONL file (dicts or envelopes), in order.

    A line that is not an event is reported on ``errors`` with its number
    and skipped; :class:`CommandError` is raised at the end when any was.
    """
    from aievents.wire import from_data

    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None
    bad = 0
    with handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                if not line.strip():
                    continue
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                event = from_data(data)
            except (ValueError, TypeError, RecursionError, AieventsError) as error:
                bad += 1
                reason = first_line(error)
                print(f"aievents: {path}:{number}: skipped: {reason}", file=errors)
                continue
            if isinstance(event, ImageUsageEvent):
                yield event
    if bad:
        raise CommandError(f"{path}: {bad} malformed line(s) skipped", partial=True)


def _source(args: argparse.Namespace, errors: TextIO) -> tuple[Any, list[CommandError]]:
    """The store or the loaded JSONL file to query, and the file's deferred error."""
    if args.store:
        from aievents.sinks.store import StoreSink

        return StoreSink(args.store, create=False), []  # a query creates no store
    from aievents.sinks.aggregate import AggregateSink

    # Every event of the file is kept at minute detail, however old.
    forever = 100 * 366 * 86_400
    sink = AggregateSink(
        minute_detail=forever,
        hour_detail=forever,
        retention=forever,
        max_series=1_000_000,
        max_entries=10**8,
    )
    problems: list[CommandError] = []
    try:
        for event in read_events(args.events, errors):
            sink.handle(event)
    except CommandError as error:
        if not error.partial:
            raise
        problems.append(error)
    return sink, problems


# --------------------------------------------------------------------------- outputs


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _rows(page: Page) -> tuple[list[str], list[list[Any]]]:
    """The page as a header and rows: one row per result, its bucket first."""
    data = page.to_dict()["data"]
    results = [r for bucket in data for r in bucket["results"]]
    fields = [k for k in (results[0] if results else {}) if k != "object"]
    header = ["start_time", "end_time", *fields]
    rows = []
    for bucket in data:
        for result in bucket["results"]:
            values = [result[k] for k in fields]
            values = [v["value"] if isinstance(v, dict) and "value" in v else v for v in values]
            rows.append([bucket["start_time"], bucket["end_time"], *values])
    return header, rows


def _print(page: Page, form: str, title: str, out: TextIO) -> None:
    if form == "json":
        json.dump(page.to_dict(), out, indent=2)
        out.write("\n")
        return
    header, rows = _rows(page)
    if form == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    _table(page, title, out)


def _table(page: Page, title: str, out: TextIO) -> None:
    """A rich table of the page: the groups, then the sums that are not all zero."""
    from rich.console import Console
    from rich.table import Table

    data = page.to_dict()["data"]
    results = [r for bucket in data for r in bucket["results"]]
    costs = bool(results) and "amount" in results[0]
    groups = ["model", "size", "source", "project_id", "user_id", "api_key_id", "line_item"]
    shown = [g for g in groups if any(r.get(g) is not None for r in results)]
    sums = (
        ["amount", "quantity"]
        if costs
        else ["num_model_requests", "images", "input_tokens", "output_tokens", "cost"]
    )
    table = Table(title=title, title_justify="left")
    table.add_column("bucket (UTC)")
    for name in shown:
        table.add_column(name)
    for name in sums:
        table.add_column(name.replace("num_model_requests", "requests"), justify="right")
    for bucket in data:
        for result in bucket["results"]:
            cells = [_iso(bucket["start_time"])]
            cells += [str(result.get(name) or "") for name in shown]
            for name in sums:
                value = result.get(name)
                if isinstance(value, dict):
                    cells.append(f"${value['value']:,.6f}")
                else:
                    cells.append("" if value is None else f"{value:,}")
            table.add_row(*cells)
    if not results:
        table.caption = "no usage in this window"
    more = page.to_dict()
    if more.get("has_more"):
        table.caption = f"more: --page {more['next_page']}"
    Console(file=out, width=max(100, 20 * (len(shown) + len(sums)))).print(table)


# --------------------------------------------------------------------------- commands


def _query(kind: str, args: argparse.Namespace, out: TextIO, errors: TextIO) -> int:
    source, problems = _source(args, errors)
    try:
        filters = {
            name: _names(value)
            for name in (_USAGE_FILTERS if kind == "usage" else _COSTS_FILTERS)
            if (value := getattr(args, name, None)) is not None
        }
        start = args.start if args.start is not None else int(time.time()) - 7 * 86_400
        page = getattr(source, kind)(
            start,
            args.end,
            args.bucket_width,
            _names(args.group_by) if args.group_by else None,
            limit=args.limit,
            page=args.page,
            **filters,
        )
        _print(page, args.format, f"{kind} from {_iso(start)} UTC", out)
    finally:
        if hasattr(source, "close"):
            source.close(30)
    for problem in problems:
        raise problem
    return 0


def ingest(path: str, url: str, out: TextIO, errors: TextIO, *, progress: bool = True) -> int:
    """Write the events of a JSONL file into a store; good lines are kept."""
    from aievents.sinks.store import StoreSink

    if not Path(path).is_file():
        raise CommandError(f"cannot read {path}: no such file")
    store = StoreSink(url)
    written = duplicates = rejected = 0
    failure: CommandError | None = None
    batch: list[ImageUsageEvent] = []

    def write() -> None:
        nonlocal written, duplicates, rejected
        before = store.rejected
        done, again = store.write(batch)
        written += done
        duplicates += again
        rejected += store.rejected - before
        batch.clear()

    bar = _progress(out) if progress else None
    try:
        for event in read_events(path, errors):
            batch.append(event)
            if len(batch) >= 5000:
                write()
                if bar is not None:
                    bar(written + duplicates)
        if batch:
            write()
    except CommandError as error:
        if not error.partial:
            raise
        if batch:
            write()
        failure = error
    finally:
        if bar is not None:
            bar(None)
        store.close(30)
    refused = f", {rejected} rejected (see the warnings)" if rejected else ""
    print(
        f"{written} events written, {duplicates} already stored{refused}, into {store.url}",
        file=out,
    )
    if failure is not None:
        raise failure
    return 0


def _progress(out: TextIO) -> Callable[[int | None], None]:
    """A progress bar on ``out`` by events written (``None`` ends it)."""
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(file=out), transient=True)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aievents", description="AI usage telemetry: events, usage and cost."
    )
    parser.add_argument("--version", action="version", version=f"aievents {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="image calls through the instrumented openai SDK against a local server"
    )
    demo.add_argument("--db", help="the SQLite file to store into (a temporary one by default)")
    for kind, groups, filters in (
        ("usage", "model,size,source,project_id,user_id,api_key_id", _USAGE_FILTERS),
        ("costs", "project_id,line_item,api_key_id", _COSTS_FILTERS),
    ):
        command = commands.add_parser(kind, help=f"{kind} like OpenAI's organization {kind} API")
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--store", metavar="URL", help="sqlite:///file.db or postgresql://...")
        where.add_argument("--events", metavar="FILE", help="a JSONL file of events")
        command.add_argument("--start", type=_time, help="start (default: 7 days ago)")
        command.add_argument("--end", type=_time, help="end, excluded (default: now)")
        widths = ["1m", "1h", "1d"] if kind == "usage" else ["1d"]
        command.add_argument("--bucket-width", choices=widths, default="1d")
        command.add_argument("--group-by", metavar="FIELDS", help=f"comma-separated: {groups}")
        for name in filters:
            command.add_argument(f"--{name.replace('_', '-')}", metavar="VALUES")
        command.add_argument("--limit", type=int, help="buckets per page")
        command.add_argument("--page", help="the next_page cursor of a previous answer")
        command.add_argument("--format", choices=["table", "json", "csv"], default="table")
    feed = commands.add_parser("ingest", help="write a JSONL file of events into a store")
    feed.add_argument("file", help="a JSONL file of events (dicts or TanStack envelopes)")
    feed.add_argument("--store", metavar="URL", required=True)
    feed.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aievents`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    out, errors = sys.stdout, sys.stderr
    try:
        if args.command == "demo":
            from aievents._demo import run_demo

            if args.db:
                return run_demo(args.db, out)
            with tempfile.TemporaryDirectory(prefix="aievents-demo-") as folder:
                return run_demo(str(Path(folder) / "demo.db"), out)
        if args.command in ("usage", "costs"):
            return _query(args.command, args, out, errors)
        if args.command == "ingest":
            return ingest(args.file, args.store, out, errors, progress=not args.no_progress)
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        sys.stderr.close()
        return 0
    except (AieventsError, ImportError, OSError) as error:
        print(f"aievents: error: {first_line(error)}", file=errors)
        return 1
    except Exception as error:
        if not _database_error(error):
            raise
        print(f"aievents: error: the database: {first_line(error)}", file=errors)
        return 1
    parser.print_help(errors)
    return 2
