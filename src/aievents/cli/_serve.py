"""``aievents serve``: OpenAI's usage API over HTTP, until Ctrl-C or SIGTERM.

From a store (``--store URL``, opened as ``aievents usage`` opens it: an
existing store, never created) or a JSON Lines file of events
(``--events FILE``, read once at start into an
:class:`~aievents.sinks.AggregateSink` that keeps minute detail of every
event, so that every width and window is answered exactly; its bad lines
are named and skipped). The URL served goes to stdout, every message to
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
from aievents.cli._terminal import literal, say
from aievents.exceptions import message

if TYPE_CHECKING:
    from aievents.pricing import PriceBook

__all__ = ["KEY_VARIABLE", "serve"]

#: The environment variable that holds the bearer key when ``--key`` is not given.
KEY_VARIABLE: Final = "AIEVENTS_SERVE_KEY"
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
        from aievents.sinks.store import StoreSink

        source = StoreSink(args.store, create=False)  # serving creates no store
        what = literal(source.url)
    else:
        source = _file_totals(args.events, errors, prices)
        what = literal(args.events)

    def started(url: str) -> None:
        print(url, file=out, flush=True)
        say(errors, f"serving usage and costs from {what} at {url} (Ctrl-C stops)")

    try:
        stopped = run(source, host=args.host, port=args.port, key=key, started=started)
    except ValueError as error:  # a key that cannot be one (the message does not quote it)
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


def _file_totals(path: str, errors: TextIO, prices: PriceBook | None) -> Any:
    """Every event of the file, summed with minute detail; a bad line is named and skipped."""
    from aievents.sinks.aggregate import AggregateSink

    kept = int(time.time()) + 2 * 86_400  # every event since 1970 is within it
    sink = AggregateSink(
        minute_detail=kept,
        hour_detail=kept,
        retention=kept,
        max_series=_MAX_SERIES,
        max_entries=10**12,  # never rolled up: every minute may be asked for
        prices=prices,
    )
    with event_file(path, functools.partial(say, errors)) as events:
        try:
            for event in events:
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
