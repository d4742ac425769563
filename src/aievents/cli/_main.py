"""``main``: one run of the command, its exit statuses and its streams.

The work is in the sibling modules, imported when a command needs them;
none of them imports this one.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Final, TextIO

from aievents.exceptions import AieventsError, message

if TYPE_CHECKING:
    from aievents.pricing import PriceBook

__all__ = ["BROKEN_PIPE", "main"]

#: The exit status when the reader of stdout went away, as a shell shows SIGPIPE's.
BROKEN_PIPE: Final = 141


def main(
    argv: Sequence[str] | None = None,
    *,
    now: float | None = None,
    prices: PriceBook | None = None,
) -> int:
    """Entry point of the ``aievents`` command; returns the exit status.

    Args:
        argv: The arguments (``sys.argv[1:]`` by default).
        now: The run's clock in seconds since the epoch, read once (now by
            default): the default window, relative times and the window's
            end all come from it.
        prices: The :class:`~aievents.pricing.PriceBook` that prices the
            events read that carry no cost (``usage`` and ``costs --events``,
            ``ingest``), the prices ``reprice`` starts from and the table
            ``prices`` shows; the process default book when omitted.

    A wrong command line exits (``SystemExit``, status 2) as argparse does.
    The streams are left open; while the command runs, ``sys.stdout`` and
    ``sys.stderr`` write characters their encoding lacks as backslash escapes.
    """
    now = time.time() if now is None else now
    out, errors = sys.stdout, sys.stderr
    with _tolerant(out, errors):
        return _main(sys.argv[1:] if argv is None else argv, now, out, errors, prices)


def _main(
    argv: Sequence[str], now: float, out: TextIO, errors: TextIO, prices: PriceBook | None
) -> int:
    from aievents.cli._parser import parse
    from aievents.cli._terminal import command_logging, say

    try:
        parser, args = parse(argv, now)
        with command_logging(errors):
            status = _run(parser, args, out, errors, now, prices=prices)
        out.flush()  # a reader gone away is told here, not at exit
        return status
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        _silence(out, errors)
        return BROKEN_PIPE
    except KeyboardInterrupt:
        say(errors, "interrupted")
        return 130
    except (AieventsError, ImportError, OSError) as error:
        say(errors, f"error: {message(error)}")
        return 1
    except Exception as error:
        from aievents.cli._commands import database_error

        if database_error(error):
            say(errors, f"error: the database: {message(error)}")
            return 1
        if os.environ.get("AIEVENTS_DEBUG"):
            raise
        say(errors, f"error: unexpected {type(error).__name__}: {message(error)}")
        return 1


def _run(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    out: TextIO,
    errors: TextIO,
    now: float,
    *,
    prices: PriceBook | None,
) -> int:
    if args.command == "demo":
        from aievents.cli._demo import run_demo

        return run_demo(args.db, out, now)
    if args.command in ("usage", "costs"):
        from aievents.cli._commands import query

        return query(args.command, args, out, errors, now, prices=prices)
    if args.command == "spend":
        from aievents.cli._spend import spend

        return spend(args, out, errors, now, prices=prices)
    if args.command == "ingest":
        from aievents.cli._commands import ingest

        progress = not args.no_progress
        return ingest(args.file, args.store, out, errors, progress=progress, prices=prices)
    if args.command == "reprice":
        from aievents.cli._reprice import reprice

        return reprice(args, out, errors, prices=prices)
    if args.command == "serve":
        from aievents.cli._serve import serve

        return serve(args, out, errors, prices=prices)
    if args.command == "prices":
        from aievents.cli._prices import check, show

        if args.check is not None:
            return check(args.check, args.format, out, errors)
        return show(args, out, errors, now, prices=prices)
    parser.print_help(errors)
    return 2


@contextmanager
def _tolerant(*streams: TextIO) -> Iterator[None]:
    """While the block runs, characters a stream's encoding lacks are backslash escapes.

    Each stream's own setting is put back after the block.
    """
    changed = []
    for stream in streams:
        if isinstance(stream, io.TextIOWrapper) and stream.errors != "backslashreplace":
            with suppress(OSError, ValueError):
                before = stream.errors
                stream.reconfigure(errors="backslashreplace")
                changed.append((stream, before))
    try:
        yield
    finally:
        for stream, before in changed:
            with suppress(OSError, ValueError):  # a broken pipe cannot take a flush
                stream.reconfigure(errors=before)


def _silence(*streams: TextIO) -> None:
    """Point each stream whose reader went away at ``/dev/null``, its buffer with it.

    What the stream still buffers would otherwise fail again when it is
    flushed at exit. A stream that flushes (a caller's own) is left as it is.
    """
    for stream in streams:
        try:
            stream.flush()
        except BrokenPipeError:
            with suppress(OSError, ValueError):
                nowhere = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(nowhere, stream.fileno())
                finally:
                    os.close(nowhere)
        except (OSError, ValueError):
            pass
