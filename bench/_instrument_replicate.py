"""Replicate rows of bench_instrument: ``predictions.create`` bare and instrumented.

The real replicate SDK talks to an in-process transport (its ``httpx`` client
given an ``httpx.MockTransport``): a create answered finished at once (as
``replicate.run``'s ``Prefer: wait`` gets it), a create answered ``starting``
then a ``reload`` that finds it finished, and a text model's create. The
instrumentation wraps the SDK's classes, so the bare rows call the SDK's own
methods, kept from before it did.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import replicate
from replicate.prediction import Prediction, Predictions

from aievents import EventClient
from aievents.instrument import instrument_replicate

VERSION = "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637"
TEXT_VERSION = "8e6975e5ed6174911a6ff3d60540dfd4844201974602551e10e9e87ab143d81e"
PREDICTION: dict[str, Any] = {
    "id": "rbench",
    "model": "black-forest-labs/flux-schnell",
    "version": VERSION,
    "input": {"prompt": "a fox"},
    "logs": "",
    "output": ["https://replicate.delivery/rbench/out-0.webp"],
    "error": None,
    "status": "succeeded",
    "metrics": {"predict_time": 0.75, "total_time": 1.0},
    "created_at": "2026-01-01T00:00:00Z",
    "started_at": "2026-01-01T00:00:00Z",
    "completed_at": "2026-01-01T00:00:01Z",
    "urls": {"get": "https://api.replicate.com/v1/predictions/rbench"},
}
STARTING = dict(PREDICTION, status="starting", output=None, metrics={}, completed_at=None)
TEXT = dict(
    PREDICTION, model="meta/meta-llama-3-8b-instruct", version=TEXT_VERSION, output=["Hi", "!"]
)


def _answer(request: httpx.Request) -> httpx.Response:
    """A finished prediction; ``starting`` for a create that does not wait; text for llama."""
    if request.method == "POST":
        body = json.loads(request.content)
        if body.get("version") == TEXT_VERSION:
            payload = TEXT
        else:
            payload = PREDICTION if "prefer" in request.headers else STARTING
    else:
        payload = PREDICTION
    return httpx.Response(201, json=payload)


def make_replicate(instrumented: bool, events: EventClient) -> replicate.Client:
    """A replicate client whose HTTP answers come from memory."""
    client = replicate.Client(
        api_token="r8_bench", base_url="http://127.0.0.1", transport=httpx.MockTransport(_answer)
    )
    return instrument_replicate(client, events=events) if instrumented else client


def rows(
    number: int, quiet: EventClient, listening: EventClient
) -> tuple[dict[str, Any], dict[str, tuple[str, int]], list[tuple[str, str]]]:
    """The names the statements use, the rows, and their (instrumented, bare) pairs."""
    names = {
        # The SDK's own methods, before the instrumentation wraps its classes.
        "replicate_create": Predictions.create,
        "replicate_reload": Prediction.reload,
        "replicate_bare": make_replicate(False, quiet),
        "replicate_listened": make_replicate(True, listening),
    }
    done = f"version={VERSION!r}, input={{'prompt': 'a fox'}}, wait=True"
    later = f"version={VERSION!r}, input={{'prompt': 'a fox'}}"
    text = f"version={TEXT_VERSION!r}, input={{'prompt': 'hi'}}, wait=True"
    bare = "replicate_create(replicate_bare.predictions, "
    listened = "replicate_listened.predictions.create("
    table = {
        "replicate create, bare SDK": (f"{bare}{done})", number),
        "replicate create, instrumented, one sink": (
            f"{listened}{done}); sink.clear()",
            number,
        ),
        "replicate create+reload, bare SDK": (f"replicate_reload({bare}{later}))", number),
        "replicate create+reload, instrumented, one sink": (
            f"{listened}{later}).reload(); sink.clear()",
            number,
        ),
        "replicate text model, bare SDK": (f"{bare}{text})", number),
        "replicate text model, instrumented": (f"{listened}{text}); sink.clear()", number),
    }
    pairs = [
        (
            "replicate create, instrumented, one sink",
            "replicate create, bare SDK",
        ),
        (
            "replicate create+reload, instrumented, one sink",
            "replicate create+reload, bare SDK",
        ),
        ("replicate text model, instrumented", "replicate text model, bare SDK"),
    ]
    return names, table, pairs
