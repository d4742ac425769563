"""Integrations with libraries that call image providers for you.

- :mod:`aievents.integrations.litellm`: LiteLLM's image calls, through a
  callback (:class:`~aievents.integrations.litellm.AieventsLogger`) and
  :func:`~aievents.integrations.litellm.instrument_litellm`.

Nothing here is imported until asked for: ``import aievents.integrations``
does not load LiteLLM.
"""

from typing import TYPE_CHECKING

from aievents._lazy import lazy

if TYPE_CHECKING:
    from aievents.integrations.litellm import (
        AieventsLogger,
        instrument_litellm,
        uninstrument_litellm,
    )

__all__ = ["AieventsLogger", "instrument_litellm", "uninstrument_litellm"]

_LITELLM = "aievents.integrations.litellm"

__getattr__, __dir__ = lazy(
    __name__,
    {"AieventsLogger": _LITELLM, "instrument_litellm": _LITELLM, "uninstrument_litellm": _LITELLM},
)
