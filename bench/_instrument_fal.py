"""fal rows of bench_instrument: ``run`` bare and instrumented, against an in-process transport.

fal_client takes no transport setting: each ``SyncClient`` makes its httpx
client at first use and keeps it (a cached attribute). The rows' clients are
given theirs beforehand, an httpx client with a mock transport that answers
as fal does (a flux/dev result, ``x-fal-request-id`` and
``x-fal-billable-units``), so the rows measure the SDK plus aievents and
nothing of a network.

``instrument_fal()`` is process-wide: it is on for these rows, and the bare
row calls the SDK's own ``SyncClient.run`` (taken before instrumenting), so
it is not reported. The hook that hears fal's response headers is in place
for both rows (one context-variable read for the bare call).
"""

from __future__ import annotations

import json
import types
from typing import Any

import fal_client
import httpx

from aievents import EventClient
from aievents.instrument.fal import instrument_fal

RESULT = {
    "images": [
        {"url": "https://v3.fal.media/files/bench.png", "width": 1024, "height": 1024},
    ],
    "timings": {"inference": 0.5},
    "seed": 42,
    "has_nsfw_concepts": [False],
    "prompt": "a fox",
}
HEADERS = {
    "content-type": "application/json",
    "x-fal-request-id": "fal-bench",
    "x-fal-billable-units": "1",
}


def _client() -> fal_client.SyncClient:
    """A SyncClient whose HTTP answers come from memory."""
    body = json.dumps(RESULT).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=HEADERS, stream=httpx.ByteStream(body))

    client = fal_client.SyncClient(key="bench")
    vars(client)["_client"] = httpx.Client(transport=httpx.MockTransport(answer))
    return client


def rows(
    number: int, quiet: EventClient, listening: EventClient
) -> tuple[dict[str, Any], dict[str, tuple[str, int]], list[tuple[str, str]]]:
    """The fal rows: the names their statements use, the rows, the (instrumented, bare) pairs."""
    del quiet
    sdk_run = fal_client.SyncClient.run  # the SDK's own, before instrumenting
    instrument_fal(events=listening)
    names = {
        "fal_bare": types.MethodType(sdk_run, _client()),
        "fal_listened": _client(),
    }
    call = "('fal-ai/flux/dev', {'prompt': 'a fox', 'image_size': 'square_hd'})"
    bare, listened = "fal run flux/dev, bare SDK", "fal run flux/dev, instrumented, one sink"
    table = {
        bare: (f"fal_bare{call}", number),
        listened: (f"fal_listened.run{call}; sink.clear()", number),
    }
    return names, table, [(listened, bare)]
