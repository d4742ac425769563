"""``aievents demo``: the real openai SDK, instrumented, against a local image server.

A mix of generations, edits and variations across models, sizes,
qualities, users and projects (three of them failing: a rate limit, a bad
request and a server error; one of a model the price table does not know)
is logged to the console by LogSink and stored by StoreSink in a SQLite
file; then the usage and cost reports are printed from the store, the
unpriced call counted with its cost unknown. Everything runs on 127.0.0.1,
offline, in seconds.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from aievents._extras import require_extra
from aievents.client import EventClient
from aievents.context import context
from aievents.testing import ImageServer

__all__ = ["run_demo"]

#: A PNG signature and some bytes: what the edit and variation calls upload.
_PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(200)

#: (user, project, API key, call, arguments, scripted failure or None)
_CALLS: list[tuple[str, str, str, str, dict[str, Any], tuple[int, str] | None]] = [
    ("alice", "proj_web", "key_web", "generate",
     {"model": "gpt-image-1", "prompt": "a lighthouse at dusk", "size": "1024x1024",
      "quality": "medium"}, None),
    ("alice", "proj_web", "key_web", "generate",
     {"model": "gpt-image-1", "prompt": "the same, as a poster", "size": "1024x1536",
      "quality": "high", "n": 2}, None),
    ("bob", "proj_web", "key_web", "generate",
     {"model": "gpt-image-1-mini", "prompt": "a paper boat", "size": "1024x1024",
      "quality": "low"}, None),
    ("bob", "proj_app", "key_app", "edit",
     {"model": "gpt-image-1", "prompt": "add a red scarf", "size": "1024x1024"}, None),
    ("carol", "proj_app", "key_app", "generate",
     {"model": "dall-e-3", "prompt": "a fox in the snow", "size": "1024x1792",
      "quality": "hd"}, None),
    ("carol", "proj_app", "key_app", "generate",
     {"model": "dall-e-3", "prompt": "a fox in the rain", "size": "1024x1024",
      "quality": "standard"}, None),
    ("dave", "proj_app", "key_app", "variation",
     {"model": "dall-e-2", "size": "512x512", "n": 2}, None),
    ("dave", "proj_web", "key_web", "generate",
     {"model": "dall-e-2", "prompt": "an icon of a bell", "size": "256x256"}, None),
    ("erin", "proj_web", "key_web", "generate",  # a model without a price: cost unknown
     {"model": "seedream-4.5", "prompt": "a kite over the dunes", "size": "1024x1024"}, None),
    ("alice", "proj_web", "key_web", "generate",
     {"model": "gpt-image-1", "prompt": "one more lighthouse", "size": "1536x1024",
      "quality": "low"}, (429, "Rate limit reached for images per minute")),
    ("bob", "proj_app", "key_app", "generate",
     {"model": "gpt-image-1", "prompt": "a wide banner", "size": "1024x1024"},
     (400, "Invalid value for 'size'")),
    ("carol", "proj_app", "key_app", "generate",
     {"model": "dall-e-3", "prompt": "a fox at night", "size": "1024x1024"},
     (500, "The server had an error while processing your request")),
]  # fmt: skip


class _Lines:
    """The demo's log lines on their way to ``out``; a reader gone away is noted, not logged.

    LogSink reports a sink that raises (as it must in a host program); the
    demo instead stops, as every command does when its reader goes away.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.gone = False

    def write(self, text: str) -> None:
        if not self.gone:
            try:
                self._out.write(text)
            except BrokenPipeError:
                self.gone = True

    def flush(self) -> None:
        if not self.gone:
            try:
                self._out.flush()
            except BrokenPipeError:
                self.gone = True


def _logger(lines: _Lines) -> Any:
    """A structlog logger printing readable lines to ``lines``."""
    import structlog

    return structlog.wrap_logger(
        structlog.PrintLogger(lines),  # type: ignore[arg-type]
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )


def run_demo(db: str | None, out: TextIO, now: float) -> int:
    """Run the demo, storing into the SQLite file ``db`` (a temporary one when ``None``).

    ``now`` is the run's clock: the reports cover its UTC day, up to the
    end of the calls.

    The reports go to ``out``. Every package the demo needs is imported
    first: a missing one is named (the ``cli`` extra) before any call.
    """
    require_extra("aievents demo", "cli", ("rich", "openai", "sqlalchemy"))
    if db is None:
        with tempfile.TemporaryDirectory(prefix="aievents-demo-") as folder:
            return _demo(str(Path(folder) / "demo.db"), out, now)
    return _demo(db, out, now)


def _demo(db: str, out: TextIO, now: float) -> int:
    import openai

    from aievents.cli._render import note_unpriced, write_pages
    from aievents.instrument import instrument_openai
    from aievents.sinks import LogSink, StoreSink

    started = int(now)
    store = StoreSink(f"sqlite:///{db}")
    failed = 0
    with ImageServer() as server, EventClient() as events:
        print(f"aievents demo: an OpenAI-compatible image server at {server.base_url}", file=out)
        print(f"events are logged below and stored in {db}\n", file=out)
        lines = _Lines(out)
        events.add_sink(LogSink(_logger(lines)))
        events.add_sink(store)
        client = openai.OpenAI(
            base_url=server.base_url, api_key="sk-demo-local-not-a-key", max_retries=0
        )
        instrument_openai(client, events=events)
        for user, project, key, call, arguments, failure in _CALLS:
            if failure is not None:
                server.fail_next(*failure)
            with context(user_id=user, project_id=project, api_key_id=key):
                try:
                    if call == "generate":
                        client.images.generate(**arguments)
                    elif call == "edit":
                        client.images.edit(image=("photo.png", _PICTURE, "image/png"), **arguments)
                    else:
                        client.images.create_variation(
                            image=("photo.png", _PICTURE, "image/png"), **arguments
                        )
                except openai.APIError:
                    failed += 1
            events.flush(10)
            if lines.gone:  # the reader went away (| head): stop, as every command does
                raise BrokenPipeError
        events.flush(10)
    store.flush(30)
    print(
        f"\n{len(_CALLS)} image calls, {failed} failed; {store.stats()['written']} stored\n",
        file=out,
    )
    start = started - started % 86_400
    end = int(time.time()) + 1  # after the calls: the reports hold every one
    write_pages(store.usage(start, end, bucket_width="1d", group_by=["model", "size"]), "table",
                out, kind="usage", title="Usage today by model and size")  # fmt: skip
    print(file=out)
    write_pages(store.usage(start, end, group_by=["user_id", "project_id"]), "table", out,
                kind="usage", title="Usage today by user and project")  # fmt: skip
    print(file=out)
    write_pages(store.costs(start, end, group_by=["line_item"]), "table", out, kind="costs",
                title="Costs today by line item")  # fmt: skip
    note_unpriced(store, (start, end), {}, out, now=end)
    store.close(10)
    return 0
