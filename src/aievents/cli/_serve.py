"""``aievents serve``: OpenAI's usage API over HTTP, until Ctrl-C or SIGTERM.

From a store (``--store URL``, opened as ``aievents usage`` opens it: an
existing store, read only: never created nor upgraded) or a JSON Lines file of events
(``--events FILE``, read once at start into an
:class:`~aievents.sinks.AggregateSink` that keeps minute detail of every
event, so that every width and window is answered exactly; its bad lines
are named and skipped; a file of more than ``--max-events`` events is
refused, its memory being about 600 bytes an event). The URL served goes to stdout, every message to
stderr; SIGINT and SIGTERM stop it with status 0, the store closed.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import time
from typing import TYPE_CHECKING, Any, Final, TextIO

from aievents._extras import require_extra
from aievents.cli._eventfile import EventFileError, event_file
from aievents.cli._readstore import read_store
from aievents.cli._terminal import literal, say
from aievents.exceptions import message

if TYPE_CHECKING:
    from aievents.pricing import PriceBook
    from aievents.sinks.aggregate import AggregateSink

__all__ = ["KEY_VARIABLE", "READ_TIMEOUT", "serve"]

#: The environment variable that holds the bearer key when ``--key`` is not given.
KEY_VARIABLE: Final = "AIEVENTS_SERVE_KEY"
#: Seconds a query of a PostgreSQL store may run before the database cancels it (a 503).
READ_TIMEOUT: Final = 60
#: Series (distinct model, size, source, project, user, key) summed from a file.
_MAX_SERIES: Final = 1_000_000


def serve(
    args: argparse.Namespace, out: TextIO, errors: TextIO, *, prices: PriceBook | None = None
) -> int:
    """Serve until a signal stops it; the exit status (0 when stopped by SIGINT or SIGTERM).

    Events of ``--events`` that carry no cost are priced by ``prices``.
    """
    require_extra("aievents serve", "serve", ("starlette", "uvicorn"))
    if args.store:
        require_extra("aievents serve --store", "store", ("sqlalchemy",))
    from aievents.serve import is_loopback
    from aievents.serve import serve as run

    key = args.key if args.key is not None else os.environ.get(KEY_VARIABLE) or None
    if key is None and not is_loopback(args.host):
        say(
            errors,
            f"error: --host {args.host} is not a loopback address: serving it needs a bearer "
            f"key (--key, or the {KEY_VARIABLE} environment variable)",
        )
        return 2
    source: Any
    if args.store:
        # Serving creates no store, upgrades none, and runs no query on past READ_TIMEOUT.
        store = read_store(args.store, errors, read_timeout=READ_TIMEOUT)
        if store is None:
            return 1
        source = store
        what = literal(store.url)
    else:
        source = _file_totals(args.events, errors, prices, args.max_events)
        if source is None:
            return 1
        what = literal(args.events)

    def started(url: str) -> None:
        print(url, file=out, flush=True)
        say(errors, f"serving usage and costs from {what} at {url} (Ctrl-C stops)")

    try:
        stopped = run(source, host=args.host, port=args.port, key=key, started=started)
    except ValueError as error:  # a bad key (not quoted), a name bound off loopback without one
        say(errors, f"error: {message(error)}")
        return 2
    except OSError as error:
        say(errors, f"error: cannot serve on {args.host} port {args.port}: {message(error)}")
        return 1
    finally:
        source.close(30)
    said = f" ({signal.Signals(stopped).name})" if stopped is not None else ""
    say(errors, f"stopped{said}")
    return 0


def _file_totals(
    path: str, errors: TextIO, prices: PriceBook | None, most: int
) -> AggregateSink | None:
    """Every event of the file, summed with minute detail; a bad line is named and skipped.

    Every minute is kept in memory (up to about 600 bytes an event): a file
    of more than ``most`` events is refused (None, said on ``errors``).
    """
    from aievents.sinks.aggregate import AggregateSink

    kept = int(time.time()) + 2 * 86_400  # every event since 1970 is within it
    sink = AggregateSink(
        minute_detail=kept,
        hour_detail=kept,
        retention=kept,
        max_series=_MAX_SERIES,
        max_entries=most,  # an entry per event at most: never rolled up, every minute kept
        prices=prices,
    )
    read = 0
    with event_file(path, functools.partial(say, errors)) as events:
        try:
            for event in events:
                read += 1
                if read > most:
                    say(
                        errors,
                        f"error: {literal(path)} holds more than {most:,} events (--max-events), "
                        "each kept in memory to the minute: write it into a store and serve "
                        f"that (aievents ingest {literal(path)} --store sqlite:///usage.db, then "
                        "aievents serve --store sqlite:///usage.db), or raise --max-events",
                    )
                    return None
                sink.handle(event)
        except EventFileError as error:
            if not error.partial:
                raise
            say(errors, f"warning: {message(error)}")
    if sink.overflowed:
        say(
            errors,
            f"warning: {sink.overflowed:,} events beyond {_MAX_SERIES:,} distinct series are "
            "summed as '(overflow)'",
        )
    return sink
