"""bench_instrument's LiteLLM rows: ``litellm.image_generation`` bare, and with AieventsLogger.

LiteLLM is given the bench's in-memory openai client (``client=``), so the
rows measure LiteLLM plus aievents and nothing of a network. The logger is
registered (``instrument_litellm``) or not at the start of each call's
statement, which costs next to nothing once done. LiteLLM calls the logger on
its logging thread after the call returns: the rows give what the caller's
thread pays (the claim around the call), not the report itself.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price list from the network

import litellm

from aievents import EventClient
from aievents.integrations.litellm import instrument_litellm, uninstrument_litellm
from bench_instrument import make_client

BARE = "litellm, image_generation, bare"
LOGGED = "litellm, image_generation, logger + one sink"


def rows(
    number: int, quiet: EventClient, listening: EventClient
) -> tuple[dict[str, Any], dict[str, tuple[str, int]], list[tuple[str, str]]]:
    """The names the statements use, the rows, and the (logged, bare) pair."""
    names = {
        "litellm": litellm,
        "litellm_openai": make_client(False, quiet),
        "instrument_litellm": instrument_litellm,
        "uninstrument_litellm": uninstrument_litellm,
    }
    call = (
        "litellm.image_generation(model='openai/gpt-image-1', prompt='a fox',"
        " client=litellm_openai, api_key='sk-bench')"
    )
    table = {
        BARE: (f"uninstrument_litellm(); {call}", number),
        LOGGED: (f"instrument_litellm(events=listening); {call}; sink.clear()", number),
    }
    return names, table, [(LOGGED, BARE)]
