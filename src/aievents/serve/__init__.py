"""OpenAI's organization usage API over HTTP, from a store or any reports.

:func:`create_app` is an ASGI app (Starlette) answering
``GET /v1/organization/usage/images`` and ``GET /v1/organization/costs``
as OpenAI does: the same query parameters, parsed the same way (repeated
``group_by=model&group_by=size`` or ``group_by[]=model``), the same
defaults and limits, the same JSON (with aievents' fields beside OpenAI's),
and OpenAI's JSON error objects for a bad request. Tools written against
OpenAI's endpoints work against it unchanged. The extension
``GET /v1/aievents/spend`` answers :func:`aievents.query.spend`. At ``/`` it serves the
dashboard (:mod:`aievents.serve._dashboard`): spend, images and requests
drawn on the server from the same usage queries.

:func:`serve` runs it with uvicorn until Ctrl-C or SIGTERM (what
``aievents serve`` does); :func:`serving` runs it from a background thread
while a ``with`` block runs. Both bind ``127.0.0.1`` by default; any
address but a loopback one needs a bearer key, which every request must
then carry (``Authorization: Bearer <key>``). Without a key, only requests
whose ``Host`` is ``127.0.0.1``, ``localhost`` or ``[::1]`` are answered
(no DNS rebinding).

Needs the ``serve`` extra: ``pip install 'aievents[serve]'``; importing
this package without it raises an :class:`ImportError` naming the extra.
"""

from __future__ import annotations

from aievents.serve._app import COSTS_PATH, SPEND_PATH, USAGE_PATH, Reporting, create_app
from aievents.serve._run import is_loopback, serve, serving

__all__ = [
    "COSTS_PATH",
    "SPEND_PATH",
    "USAGE_PATH",
    "Reporting",
    "create_app",
    "is_loopback",
    "serve",
    "serving",
]
