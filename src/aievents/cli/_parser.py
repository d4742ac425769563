"""The command line of ``aievents``: its commands, options, help, and their checks.

Everything the command line can get wrong is refused here, before any file
is read or store opened, in one line naming the option and the value as
typed (status 2): a time that is not one or is out of range, ``--end`` not
after ``--start``, a ``--limit`` outside the width's range, a field that
cannot be grouped by, an empty list, a ``--page`` cursor that is not one.
Option names are never abbreviated (``--star`` is not ``--start``).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from typing import Any, Final, NoReturn

from aievents._version import __version__
from aievents.cli._eventfile import MAX_LINE
from aievents.cli._terminal import line
from aievents.cli._times import TIMES, iso8601, moment, rejoin_relative
from aievents.query import COST_EXTENSIONS, SINCE_NAMES, QueryError, costs, spend, usage

__all__ = ["COSTS_FILTERS", "SPEND_FILTERS", "USAGE_FILTERS", "parse"]

USAGE_FILTERS: Final = (
    "models",
    "sources",
    "sizes",
    "project_ids",
    "user_ids",
    "api_key_ids",
    "providers",
    "qualities",
)
#: The filters and groups beyond OpenAI's API (their help says so).
_EXTENSIONS: Final = frozenset({"providers", "qualities"})
#: The filter of each dimension costs groups by as an extension of OpenAI's.
_EXTENSION_FILTERS: Final = {"model": "models", "user_id": "user_ids", "provider": "providers"}
COSTS_FILTERS: Final = (
    "project_ids",
    "api_key_ids",
    *(_EXTENSION_FILTERS[name] for name in sorted(COST_EXTENSIONS)),
)
#: What ``spend`` narrows to: one value each.
SPEND_FILTERS: Final = ("user_id", "project_id", "api_key_id", "model") + (
    ("provider",) if "provider" in COST_EXTENSIONS else ()
)
#: The default window: the last 7 UTC days, today included.
DEFAULT_START: Final = "-6d"
_GROUPS: Final = {
    "usage": "model,size,source,project_id,user_id,api_key_id; and, an extension not in "
    "OpenAI's API, provider,quality",
    "costs": "project_id,line_item,api_key_id",
}
#: The option of each query parameter, for the messages.
_OPTIONS: Final = {
    "start_time": "--start",
    "end_time": "--end",
    "bucket_width": "--bucket-width",
    "group_by": "--group-by",
    "limit": "--limit",
    "page": "--page",
    "cost": "--cost",
    **{name: f"--{name.replace('_', '-')}" for name in (*USAGE_FILTERS, *COSTS_FILTERS)},
    **{name: f"--{name.replace('_', '-')}" for name in ("since", "until", *SPEND_FILTERS)},
}


class _Parser(argparse.ArgumentParser):
    """argparse, with its error shown literally (it may quote what was typed)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, line(f"{self.prog}: error: {message}") + "\n")


_EVENTS_HELP: Final = (
    "a JSON Lines file of events (dicts or TanStack envelopes), or a pipe, FIFO or "
    "character device read to its end ('-' is stdin; a FIFO waits for its writer; "
    "Ctrl-C stops). Lines are at most {max_line:,} bytes; a bad line is named and "
    "skipped; a NUL byte stops reading (not text); a directory is refused"
)


def _build(now: float) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and the parser of each command."""
    parser = _Parser(
        prog="aievents",
        allow_abbrev=False,
        description="AI usage telemetry: events, usage and cost.",
        epilog="Data goes to stdout, messages and log lines to stderr, one line each. Exit "
        "status: 0; 1 for an error; 2 for a wrong command line; 130 when interrupted; 141 "
        "when the reader of stdout went away (| head). AIEVENTS_DEBUG=1 shows the "
        "traceback of an unexpected error.",
    )
    parser.add_argument("--version", action="version", version=f"aievents {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        allow_abbrev=False,
        help="image calls through the instrumented openai SDK against a local server",
    )
    demo.add_argument("--db", help="the SQLite file to store into (a temporary one by default)")
    when = functools.partial(moment, now=now)
    queries: dict[str, argparse.ArgumentParser] = {}
    for kind, filters in (("usage", USAGE_FILTERS), ("costs", COSTS_FILTERS)):
        command = commands.add_parser(
            kind,
            allow_abbrev=False,
            help=f"{kind} like OpenAI's organization {kind} API",
            description=f"{kind.capitalize()} like OpenAI's organization {kind} API, from a "
            "store or a JSONL file. By default the last 7 UTC days, today included. JSON "
            "and CSV hold every bucket of the window, unless --limit or --page asks for one "
            "page; the table shows at most its first 1,000 rows.",
        )
        queries[kind] = command
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--store", metavar="URL", help="sqlite:///file.db or postgresql://...")
        where.add_argument("--events", metavar="FILE", help=_EVENTS_HELP.format(max_line=MAX_LINE))
        command.add_argument(
            "--start", type=when, metavar="TIME", help=f"start, included (default: -6d): {TIMES}"
        )
        command.add_argument(
            "--end", type=when, metavar="TIME", help="end, excluded (default: now); as --start"
        )
        widths = ["1m", "1h", "1d"] if kind == "usage" else ["1d"]
        command.add_argument("--bucket-width", choices=widths, default="1d")
        extensions = ""
        if kind == "costs":
            shown = ",".join(sorted(COST_EXTENSIONS))
            extensions = f"; and, an extension not in OpenAI's API, {shown}"
        command.add_argument(
            "--group-by", metavar="FIELDS", help=f"comma-separated: {_GROUPS[kind]}{extensions}"
        )
        for name in filters:
            extension = name in _EXTENSIONS or (
                kind == "costs" and name not in ("project_ids", "api_key_ids")
            )
            command.add_argument(
                _OPTIONS[name],
                metavar="VALUES",
                help=f"only these {name.replace('_', ' ')} (comma-separated)"
                + ("; an extension, not in OpenAI's API" if extension else ""),
            )
        command.add_argument(
            "--limit", type=int, help="buckets per page: print only this page (see --page)"
        )
        command.add_argument("--page", help="the next_page cursor of a previous answer")
        command.add_argument(
            "--cost",
            choices=["computed", "reported"],
            default="computed",
            help="the cost summed: computed from the prices (default), or what the providers "
            "and gateways reported; never both added up",
        )
        command.add_argument(
            "--format",
            choices=["table", "json", "csv"],
            default="table",
            help="a table (default), OpenAI's JSON page, or CSV (times in ISO 8601 UTC)",
        )
    feed = commands.add_parser(
        "ingest",
        allow_abbrev=False,
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
    again = commands.add_parser(
        "reprice",
        allow_abbrev=False,
        help="price a store's requests again with the current prices",
        description="Price a store's requests again, from what each row keeps (model, "
        "provider, size, quality, images, tokens, what was billed), and print what changed "
        "per model. Rows and roll-up are changed one batch per transaction. Costs that came "
        "with the events as amounts, and costs reported by providers, are kept.",
    )
    again.add_argument(
        "--store", metavar="URL", required=True, help="sqlite:///file.db or postgresql://..."
    )
    again.add_argument(
        "--since", type=when, metavar="TIME", help=f"only requests from this time on: {TIMES}"
    )
    again.add_argument(
        "--prices",
        metavar="FILE",
        help="a price file whose entries are added to the shipped prices (overriding the "
        "same models); a file that cannot be loaded changes nothing",
    )
    again.add_argument(
        "--dry-run", action="store_true", help="change nothing: print what would change"
    )
    again.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is one only when stderr is a terminal)",
    )
    _prices_parser(commands)
    queries["spend"] = _spend_parser(commands, when)
    _serve_parser(commands)
    return parser, queries


def _spend_parser(commands: Any, when: Any) -> argparse.ArgumentParser:
    """``aievents spend``: its options; the subparser (its errors show its usage)."""
    spend: argparse.ArgumentParser = commands.add_parser(
        "spend",
        allow_abbrev=False,
        help="what a user, project, key or model spent since a time (an extension)",
        description="What was spent since a time, summed from the usage (every request "
        "counted, priced or not): by default everything this UTC month. A cost not known "
        "is never $0: the amount is 'at least' one when some request has no price, and "
        "'unknown' when none has.",
    )
    where = spend.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", metavar="URL", help="sqlite:///file.db or postgresql://...")
    where.add_argument("--events", metavar="FILE", help=_EVENTS_HELP.format(max_line=MAX_LINE))
    for name in SPEND_FILTERS:
        spend.add_argument(
            _OPTIONS[name], metavar="VALUE", help=f"only this {name.replace('_', ' ')}"
        )
    spend.add_argument(
        "--since",
        metavar="TIME",
        type=functools.partial(_since, when=when),
        default="month",
        help="the first instant counted (default: month): today, week or month (the start "
        f"of the current UTC day, week from Monday, or month), or {TIMES}",
    )
    spend.add_argument(
        "--until",
        type=when,
        metavar="TIME",
        help="the first instant not counted (default: now), rounded up to a whole minute "
        f"as usage is counted: {TIMES}",
    )
    spend.add_argument(
        "--cost",
        choices=["computed", "reported"],
        default="computed",
        help="the cost summed: computed from the prices (default), or what the providers "
        "and gateways reported; never both added up",
    )
    spend.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="one line of text (default), or JSON (the exact amount as a string)",
    )
    return spend


def _since(text: str, when: Any) -> int | str:
    """``--since``: a calendar start by name (kept for the query), else a time."""
    word = text.strip().lower()
    if word in SINCE_NAMES:
        return word
    try:
        return int(when(text))
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error}; or week or month") from None


def _prices_parser(commands: Any) -> None:
    """``aievents prices``: its options."""
    prices = commands.add_parser(
        "prices",
        allow_abbrev=False,
        help="the price table: each model's unit, prices and lifecycle status",
        description="The price table the command prices with (the shipped one unless "
        "changed): each model's provider, unit, main prices, source date and lifecycle "
        "status today (current, deprecated, shutdown or upcoming, with the successor). "
        "With --check FILE, every problem of a price file instead, by path and value "
        "(exit status 1 when there is one).",
    )
    prices.add_argument("--provider", metavar="NAME", help="only this provider's models (any case)")
    prices.add_argument(
        "--model",
        metavar="TEXT",
        help="only models whose name or an alias contains TEXT (any case); with *, ? or [ "
        "a shell pattern the whole name matches, such as 'gpt-image-*'; the model TEXT is "
        "priced as (through an alias, a pattern or a snapshot date) is shown too",
    )
    prices.add_argument(
        "--prices",
        metavar="FILE",
        help="a price file whose entries are added to the table shown (overriding the "
        "same models), as the other commands load it",
    )
    prices.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="a table (default) or JSON (each entry in the price file's form, with its status)",
    )
    prices.add_argument(
        "--check",
        metavar="FILE",
        help="check a price file: every problem by path and value; exit status 1 if any",
    )


def _port(text: str) -> int:
    """A TCP port from 0 (any free one) to 65535."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    """A whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _serve_parser(commands: Any) -> None:
    """``aievents serve``: its options."""
    serve = commands.add_parser(
        "serve",
        allow_abbrev=False,
        help="OpenAI's usage and costs API over HTTP, from a store or a JSONL file",
        description="Answer GET /v1/organization/usage/images and /v1/organization/costs as "
        "OpenAI does, from a store or a JSONL file of events (read once, at start), until "
        "Ctrl-C or SIGTERM. Prints the URL it serves on stdout. Binds 127.0.0.1 by default; "
        "any other address needs a bearer key, which every request must then carry "
        "('Authorization: Bearer KEY').",
    )
    where = serve.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", metavar="URL", help="sqlite:///file.db or postgresql://...")
    where.add_argument("--events", metavar="FILE", help=_EVENTS_HELP.format(max_line=MAX_LINE))
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to bind (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=_port, default=8000, help="the port (default: 8000; 0 picks a free one)"
    )
    serve.add_argument(
        "--max-events",
        type=_count,
        default=1_000_000,
        help="with --events, the most events the file may hold (default: 1,000,000): every "
        "minute of them is kept in memory, up to about 600 bytes each; serve a larger file "
        "from a store (aievents ingest FILE --store URL)",
    )
    serve.add_argument(
        "--key",
        help="the bearer key every request must carry (default: the AIEVENTS_SERVE_KEY "
        "environment variable, which other users cannot read in the process list); needed "
        "for any host but a loopback one",
    )


def parse(argv: Sequence[str], now: float) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the checked arguments of a command line; ``now`` is the run's clock.

    For ``usage`` and ``costs``, ``args.start`` is set (the default window
    when not given) and the query's parameters are in ``args.query``.
    Exits with status 2, after one line on stderr, when something is wrong.
    """
    parser, queries = _build(now)
    args = parser.parse_args(rejoin_relative(argv))
    if args.command == "spend":
        _check_spend(queries["spend"], args, now)
    elif args.command in queries:
        _check_query(queries[args.command], args, now)
    if args.command == "prices" and args.check is not None and (args.provider or args.model):
        parser.error("argument --check: not with --provider or --model (it checks a whole file)")
    if args.command == "prices" and args.check is not None and args.prices is not None:
        parser.error("argument --check: not with --prices (it checks the file given)")
    return parser, args


def _names(option: str, text: str, parser: argparse.ArgumentParser) -> list[str]:
    """The comma-separated values of an option; none at all is an error naming it."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        parser.error(f"argument {option}: expected comma-separated values, got {text!r}")
    return names


def _check_query(parser: argparse.ArgumentParser, args: argparse.Namespace, now: float) -> None:
    """Check the query's parameters as the query will (on no data), naming the options."""
    if args.start is None:
        args.start = moment(DEFAULT_START, now)
    if args.end is not None and args.end <= args.start:
        parser.error(f"--end ({iso8601(args.end)}) must be after --start ({iso8601(args.start)})")
    query: dict[str, Any] = {
        "start_time": args.start,
        "end_time": args.end,
        "bucket_width": args.bucket_width,
        "group_by": _names("--group-by", args.group_by, parser) if args.group_by else None,
        "limit": args.limit,
        "page": args.page,
        "cost": args.cost,
    }
    for name in USAGE_FILTERS if args.command == "usage" else COSTS_FILTERS:
        value = getattr(args, name)
        if value is not None:
            query[name] = _names(_OPTIONS[name], value, parser)
    try:
        (usage if args.command == "usage" else costs)(_Nothing(), now=now, **query)
    except QueryError as error:
        parser.error(_message(error))
    args.query = query


def _check_spend(parser: argparse.ArgumentParser, args: argparse.Namespace, now: float) -> None:
    """Check spend's parameters as the query will (on no data); they go to ``args.query``."""
    query: dict[str, Any] = {name: getattr(args, name) for name in SPEND_FILTERS}
    query |= {"since": args.since, "until": args.until, "cost": args.cost}
    try:
        spend(_Nothing(), now=now, **query)
    except QueryError as error:
        parser.error(_message(error))
    args.query = query


class _Nothing:
    """A source without usage: the query checks its parameters on it."""

    def scan(self, scan: object) -> list[Any]:
        return []


def _message(error: QueryError) -> str:
    """A query's error in the command's terms: the option, and the value as typed."""
    option = _OPTIONS.get(error.field, error.field)
    width = " (see --bucket-width)" if error.field == "limit" else ""
    return f"argument {option}: {error.reason}{width}, got {error.value!r}"
