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
- ``aievents prices``: the price table (a table or JSON), filtered by
  ``--provider`` and ``--model``, with each model's lifecycle status today;
  ``aievents prices --check FILE`` lists every problem of a price file.
- ``aievents serve``: OpenAI's usage and costs endpoints over HTTP
  (:mod:`aievents.serve`), from a store (``--store URL``) or a JSONL file
  (``--events FILE``), on 127.0.0.1 unless a bearer key is given
  (``--key`` or ``AIEVENTS_SERVE_KEY``), until Ctrl-C or SIGTERM (status 0).

A cost that is not known (a model without a price) is never printed as a
dollar figure: tables say ``unknown`` (or the priced part ``+ unknown``),
JSON and CSV leave it null or empty, and one line on stderr names the
models without a price and how to add one.

Only the data goes to stdout; every message and log line goes to stderr,
one line each, with values shown literally (no markup, no control
characters). A character the output's encoding lacks is written as a
backslash escape. Exit status: 0; 2 for a wrong command line; 1 for
anything else; 130 when interrupted; 141 when the reader of stdout went
away (``| head``), quietly, as a program that SIGPIPE ends.

The modules: ``_main`` (``main``: the run, its exit statuses and streams),
``_parser`` (the command line and its checks), ``_times``
(``--start``/``--end``), ``_commands`` (usage, costs, ingest), ``_prices``
(prices), ``_serve`` (serve), ``_render``
(table, JSON, CSV), ``_terminal`` (literal text, log lines on stderr),
``_eventfile`` (reading JSON Lines of events), ``_demo``.
"""

from __future__ import annotations

from aievents.cli._main import main

__all__ = ["main"]
