"""bench_instrument's LiteLLM rows: ``litellm.image_generation`` bare, and with AieventsLogger.

LiteLLM is given the bench's in-memory openai client (``client=``), so the
rows measure LiteLLM plus aievents and nothing of a network. Each statement
first puts the callbacks it wants in place (nothing, a no-op callback, or
the logger through ``instrument_litellm``), which costs next to nothing once
done. LiteLLM does more work for a call once any callback is registered (the
logging payload, its cost): the no-op row shows that part, LiteLLM's own, so
that the logger's row can be read against both. LiteLLM calls the callbacks
on its logging thread after the call returns: on a busy machine that thread
competes with the caller's.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price list from the network

import litellm
from litellm.integrations.custom_logger import CustomLogger

from aievents import EventClient
from aievents.instrument.litellm import unregister
from aievents.integrations.litellm import instrument_litellm, uninstrument_litellm
from bench_instrument import make_client

BARE = "litellm, image_generation, bare"
NO_OP = "litellm, image_generation, no-op callback"
LOGGED = "litellm, image_generation, logger + one sink"


class NoOp(CustomLogger):
    """A callback that does nothing: what LiteLLM itself does for a registered callback."""

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        return


def callbacks(which: str, events: EventClient, no_op: NoOp) -> None:
    """Register only ``which``: ``bare`` (none), ``no-op`` or ``logger``."""
    if which == "no-op":
        if no_op not in litellm.callbacks:
            litellm.callbacks.append(no_op)
    else:
        unregister(no_op)
    if which == "logger":
        instrument_litellm(events=events)
    else:
        uninstrument_litellm()


def rows(
    number: int, quiet: EventClient, listening: EventClient
) -> tuple[dict[str, Any], dict[str, tuple[str, int]], list[tuple[str, str]]]:
    """The names the statements use, the rows, and the pairs to compare."""
    no_op = NoOp()
    names = {
        "litellm": litellm,
        "litellm_openai": make_client(False, quiet),
        "litellm_callbacks": lambda which: callbacks(which, listening, no_op),
    }
    call = (
        "litellm.image_generation(model='openai/gpt-image-1', prompt='a fox',"
        " client=litellm_openai, api_key='sk-bench')"
    )
    table = {
        BARE: (f"litellm_callbacks('bare'); {call}", number),
        NO_OP: (f"litellm_callbacks('no-op'); {call}", number),
        LOGGED: (f"litellm_callbacks('logger'); {call}; sink.clear()", number),
    }
    return names, table, [(LOGGED, BARE), (NO_OP, BARE), (LOGGED, NO_OP)]
