"""Report the images made through LiteLLM as aievents events.

Register the callback, or let :func:`instrument_litellm` do it::

    import litellm
    from aievents.integrations.litellm import AieventsLogger, instrument_litellm

    instrument_litellm()  # or: litellm.callbacks = [AieventsLogger()]
    litellm.image_generation(model="openai/gpt-image-1", prompt="a fox")

Each image call (``image_generation``, ``aimage_generation``, ``image_edit``,
``aimage_edit``), success or failure, gives
``image:request:started`` (stamped with the call's start), then
``image:request:completed`` and ``image:usage``, or ``image:request:error``
with the HTTP status code, all with one request id: the upstream's
``x-request-id`` (LiteLLM's call id then kept as ``correlation_id``), or
LiteLLM's call id. The provider is the one LiteLLM routed to
(``custom_llm_provider``, in aievents' names: ``vertex_ai`` and ``gemini``
are ``google``), the model the upstream's. LiteLLM's own ``response_cost``
is the usage's provider-reported cost (``usage.reported_cost``, none when
LiteLLM reports 0, which it does when it cannot price the call), beside the
event's ``cost`` from aievents' price table. Completion, embedding and
other calls give no event.

A call through LiteLLM is reported once, by the logger, even when the
openai SDK is instrumented too (``instrument_openai()``): see
:mod:`aievents.instrument.litellm`.

Needs the ``litellm`` extra: ``pip install 'aievents[litellm]'``.
"""

from aievents.instrument.litellm import (
    AieventsLogger,
    instrument_litellm,
    is_instrumented,
    uninstrument_litellm,
)

__all__ = ["AieventsLogger", "instrument_litellm", "is_instrumented", "uninstrument_litellm"]
