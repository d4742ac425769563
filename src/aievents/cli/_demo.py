"""``aievents demo``: the real openai and google-genai SDKs, instrumented, against a local server.

A mix of generations and an edit on today's models, across sizes,
qualities, users and projects, is logged to the console by LogSink and
stored by StoreSink in a SQLite file; then the usage and cost reports are
printed from the store. The SDKs are instrumented process-wide
(``instrument_openai()``, ``instrument_google_genai()``) and their clients
made as a program makes them; the calls:

- ``gpt-image-2`` (one by its dated snapshot name) and
  ``gpt-image-2.5-flare`` through an ``OpenAI`` client for
  ``https://api.openai.com/v1`` (provider ``openai``), and one image made by
  the Responses API's ``image_generation`` tool;
- an Azure OpenAI deployment (``contoso-images``) through an ``AzureOpenAI``
  client (provider ``azure``), reported under its name and priced as the
  model it runs (``deployments=``);
- a Gemini image (``gemini-3.1-flash-image``) through google-genai
  (provider ``google``), its token usage by modality (text in, image out);
- a model the price table does not know (``seedream-4.5``, through an
  OpenAI-compatible gateway, named by its host): counted, its cost
  unknown, never $0;
- three failures: a rate limit, a bad request and a server error.

The OpenAI clients keep their real base URLs and get
:meth:`ImageServer.http_client <aievents.testing.ImageServer.http_client>`,
google-genai the server's URL: everything runs on 127.0.0.1, offline, in
seconds. The instrumentation is undone when the demo ends.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Final, TextIO

from aievents._extras import require_extra
from aievents.client import EventClient
from aievents.context import context
from aievents.testing import ImageServer

__all__ = ["run_demo"]

#: A PNG signature and some bytes: what the edit call uploads.
_PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(200)

#: The Azure OpenAI resource the demo calls: its deployment, and the model it runs.
_DEPLOYMENTS: Final = {"contoso-images": "gpt-image-2"}

#: Where the clients send their calls (all of them reach the local server).
_OPENAI: Final = "https://api.openai.com/v1"
_AZURE: Final = "https://contoso.openai.azure.com"
_GATEWAY: Final = "https://gateway.example.com/v1"

#: (user, project, API key, call, arguments, scripted failure or None). The
#: calls: ``generate``, ``edit`` and ``respond`` (OpenAI: the Images API, and
#: the Responses API's image tool), ``azure`` (an Azure deployment),
#: ``gateway`` (an OpenAI-compatible gateway), ``gemini`` (google-genai).
_CALLS: list[tuple[str, str, str, str, dict[str, Any], tuple[int, str] | None]] = [
    ("alice", "proj_web", "key_web", "generate",
     {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "size": "1024x1024",
      "quality": "medium"}, None),
    ("alice", "proj_web", "key_web", "generate",
     {"model": "gpt-image-2", "prompt": "the same, as a poster", "size": "1024x1536",
      "quality": "high", "n": 2}, None),
    ("bob", "proj_web", "key_web", "generate",
     {"model": "gpt-image-2.5-flare", "prompt": "a paper boat", "size": "1024x1024",
      "quality": "low"}, None),
    ("bob", "proj_app", "key_app", "edit",
     {"model": "gpt-image-2", "prompt": "add a red scarf", "size": "1024x1024",
      "quality": "medium"}, None),
    ("carol", "proj_app", "key_app", "generate",
     {"model": "gpt-image-2.5-flare", "prompt": "a fox in the snow", "size": "1536x1024",
      "quality": "medium"}, None),
    ("carol", "proj_app", "key_app", "azure",
     {"model": "contoso-images", "prompt": "a fox in the rain", "size": "1024x1024",
      "quality": "high"}, None),
    ("dave", "proj_web", "key_web", "generate",  # a dated snapshot, priced as its model
     {"model": "gpt-image-2-2026-04-21", "prompt": "an icon of a bell", "size": "1024x1024",
      "quality": "low"}, None),
    ("dave", "proj_app", "key_app", "gemini",
     {"model": "gemini-3.1-flash-image", "prompt": "a watercolor map of the harbour",
      "tier": "1K"}, None),
    ("dave", "proj_web", "key_web", "respond",  # the image_generation tool of the Responses API
     {"model": "gpt-5", "input": "draw the harbour at night",
      "tools": [{"type": "image_generation", "model": "gpt-image-2", "size": "1536x1024",
                 "quality": "medium"}]}, None),
    ("erin", "proj_web", "key_web", "gateway",  # a model without a price: cost unknown
     {"model": "seedream-4.5", "prompt": "a kite over the dunes", "size": "1024x1024"}, None),
    ("alice", "proj_web", "key_web", "generate",
     {"model": "gpt-image-2", "prompt": "one more lighthouse", "size": "1536x1024",
      "quality": "low"}, (429, "Rate limit reached for images per minute")),
    ("bob", "proj_app", "key_app", "generate",
     {"model": "gpt-image-2.5-flare", "prompt": "a wide banner", "size": "1024x1024"},
     (400, "Invalid value for 'size'")),
    ("carol", "proj_app", "key_app", "azure",
     {"model": "contoso-images", "prompt": "a fox at night", "size": "1024x1024"},
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
    require_extra("aievents demo", "cli", ("rich", "openai", "google.genai", "sqlalchemy"))
    if db is None:
        with tempfile.TemporaryDirectory(prefix="aievents-demo-") as folder:
            return _demo(str(Path(folder) / "demo.db"), out, now)
    return _demo(db, out, now)


def _call(clients: Any, call: str, arguments: dict[str, Any]) -> None:
    """Make one of the demo's calls with its client."""
    if call == "generate":
        clients.openai.images.generate(**arguments)
    elif call == "edit":
        clients.openai.images.edit(image=("photo.png", _PICTURE, "image/png"), **arguments)
    elif call == "respond":
        clients.openai.responses.create(**arguments)
    elif call == "azure":
        clients.azure.images.generate(**arguments)
    elif call == "gateway":
        clients.gateway.images.generate(**arguments)
    else:
        from google.genai import types

        clients.gemini.models.generate_content(
            model=arguments["model"],
            contents=arguments["prompt"],
            config=types.GenerateContentConfig(
                response_modalities=["IMAGE"],
                image_config=types.ImageConfig(image_size=arguments["tier"]),
            ),
        )


class _Clients:
    """The demo's SDK clients, each as a program makes it, all reaching ``server``."""

    def __init__(self, server: ImageServer) -> None:
        import openai
        from google import genai
        from google.genai import types

        common: dict[str, Any] = {"max_retries": 0}
        self.openai = openai.OpenAI(
            base_url=_OPENAI, api_key="sk-demo-local-not-a-key",
            http_client=server.http_client(), **common,
        )  # fmt: skip
        self.azure = openai.AzureOpenAI(
            azure_endpoint=_AZURE, api_key="demo-local-not-a-key",
            api_version="2025-04-01-preview", http_client=server.http_client(), **common,
        )  # fmt: skip
        self.gateway = openai.OpenAI(
            base_url=_GATEWAY, api_key="demo-local-not-a-key",
            http_client=server.http_client(), **common,
        )  # fmt: skip
        self.gemini = genai.Client(
            api_key="demo-local-not-a-key", vertexai=False,
            http_options=types.HttpOptions(base_url=server.url),
        )  # fmt: skip

    def close(self) -> None:
        self.openai.close()
        self.azure.close()
        self.gateway.close()
        self.gemini.close()


def _demo(db: str, out: TextIO, now: float) -> int:
    import openai
    from google.genai import errors

    from aievents.cli._render import note_unpriced, write_pages
    from aievents.instrument import (
        instrument_google_genai,
        instrument_openai,
        uninstrument_google_genai,
        uninstrument_openai,
    )
    from aievents.sinks import LogSink, StoreSink

    started = int(now)
    store = StoreSink(f"sqlite:///{db}")
    failed = 0
    with ImageServer(deployments=_DEPLOYMENTS) as server, EventClient() as events:
        print(f"aievents demo: a local image server at {server.url} answers for OpenAI,", file=out)
        print("Azure OpenAI, Gemini and a gateway; nothing leaves this machine", file=out)
        print(f"events are logged below and stored in {db}\n", file=out)
        lines = _Lines(out)
        events.add_sink(LogSink(_logger(lines)))
        events.add_sink(store)
        instrument_openai(events=events, deployments=_DEPLOYMENTS)  # every openai client
        instrument_google_genai(events=events)  # every genai client
        clients = _Clients(server)
        try:
            for user, project, key, call, arguments, failure in _CALLS:
                if failure is not None:
                    server.fail_next(*failure)
                with context(user_id=user, project_id=project, api_key_id=key):
                    try:
                        _call(clients, call, arguments)
                    except (openai.APIError, errors.APIError):
                        failed += 1
                events.flush(10)
                if lines.gone:  # the reader went away (| head): stop, as every command does
                    raise BrokenPipeError
            events.flush(10)
        finally:
            clients.close()
            uninstrument_openai()
            uninstrument_google_genai()
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
