"""The TanStack devtools bus's messages: events as envelopes of JSON text, and back.

A message is one envelope, ``{"type": "<pluginId>:<event name>", "payload":
{...camelCase...}, "pluginId": "<pluginId>"}``, as JSON text (WebSocket text
frames, ``POST`` bodies and SSE ``data:`` lines carry it).

TanStack's devtools panel shows the cost of a request from ``usage.cost``
alone, which is the provider's figure. So that the panel shows a cost when the
provider reported none, a message of an ``image:usage`` shows aievents'
computed cost there (when it priced every part), and marks the payload
``"usageCostComputed": true``; :func:`aievents.wire.from_envelope` (and so
:class:`aievents.devtools.DevtoolsListener`) takes it out again. Only these
messages do: the envelopes of JSON Lines files and HTTP bodies keep
``usage.cost`` the provider's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aievents.encoding import encode_each
from aievents.encoding.jsonl import encode, escape_surrogates
from aievents.events import BaseEvent
from aievents.wire import PLUGIN_ID

__all__ = ["encode_message", "encode_messages", "read_message"]


def encode_message(event: BaseEvent, *, plugin_id: str = PLUGIN_ID) -> str:
    """The event, its secrets scrubbed, as one envelope of JSON text (sendable as UTF-8).

    An ``image:usage`` shows its computed cost as ``usage.cost`` when the
    provider reported none (see above).

    Raises:
        ValueError: a value JSON cannot write.
        TypeError: a value of a type JSON cannot write.
    """
    return escape_surrogates(
        encode(event, "envelope", plugin_id=plugin_id, show_computed_cost=True)
    )


def encode_messages(batch: Sequence[BaseEvent], *, plugin_id: str = PLUGIN_ID) -> list[str]:
    """Each event of the batch as a message (see :func:`encode_message`).

    Raises:
        UnencodableError: naming the events that cannot be encoded.
    """
    return encode_each(batch, lambda event: encode_message(event, plugin_id=plugin_id))


def read_message(message: str) -> dict[str, Any]:
    """A message as its envelope: an object with a text ``type`` and an object ``payload``.

    Raises:
        ValueError: the message is not JSON, or not an envelope.
    """
    try:
        envelope = json.loads(message)
    except RecursionError:
        raise ValueError("nested too deep") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("type"), str):
        raise ValueError("not an envelope")
    if not isinstance(envelope.get("payload", {}), dict):
        raise ValueError("the payload is not an object")
    return envelope
