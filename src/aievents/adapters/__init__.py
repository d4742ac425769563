"""Adapters: :class:`~aievents.usage.ImageUsage` from what providers actually return.

One module per provider family:

=============================  ==============================================
:func:`from_openai`            ``ImagesResponse.usage`` (SDK object or dict),
                               and every shape with the same snake_case keys,
                               OpenRouter's ``cost`` and ``cost_details``
                               included (:mod:`aievents.adapters.openai`)
:func:`from_orq`               orq.ai ``CreateImageUsage``,
                               ``CreateImageEditUsage``,
                               ``CreateImageVariationUsage`` (camelCase or
                               snake_case; :mod:`aievents.adapters.orq`)
:func:`from_tanstack`          TanStack AI's early ``ImageUsage`` and its
                               current ``TokenUsage``, with ``billed``,
                               ``cost`` and ``costDetails``
                               (:mod:`aievents.adapters.tanstack`)
:func:`from_gemini`            Gemini ``usageMetadata``, REST or SDK spelling
                               (:mod:`aievents.adapters.google`)
:func:`from_fal`               fal's ``x-fal-billable-units`` response
                               header (:mod:`aievents.adapters.fal`)
:func:`to_image_usage`         any of the above, recognised by its keys
                               (:mod:`aievents.adapters.detect`)
=============================  ==============================================

A provider's whole answer (an SDK response, or its JSON body) tells more than
its usage: :func:`read_answer` reads it into an :class:`Answer` (images made
and held back, usage, model, request id, size, quality), asking one reader
per shape (:mod:`aievents.adapters.answers`): OpenAI's ``ImagesResponse``
(:mod:`~aievents.adapters.openai_images`), fal's result
(:mod:`~aievents.adapters.fal_result`), Bedrock's ``invoke_model`` body
(:mod:`~aievents.adapters.bedrock`), Replicate's prediction and output
(:mod:`~aievents.adapters.replicate`), Stability's answers
(:mod:`~aievents.adapters.stability`) and BFL's result
(:mod:`~aievents.adapters.bfl`). :func:`to_answer` also takes a bare usage
object, and refuses, naming its type, what nobody knows.

When a provider omits ``total_tokens`` it is derived from the parts it did
report; when it reports a total that does not add up, its total is kept.
What the provider or a gateway reported itself (``cost``, ``cost_details``,
``billed``) is kept on the usage as it was reported, beside the tokens.
Malformed payloads raise :class:`~aievents.exceptions.EventValidationError`
naming the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aievents._lazy import lazy
from aievents.adapters.detect import to_image_usage
from aievents.adapters.fal import from_fal
from aievents.adapters.google import from_gemini
from aievents.adapters.openai import from_openai
from aievents.adapters.orq import from_orq
from aievents.adapters.tanstack import from_tanstack

if TYPE_CHECKING:
    from aievents.adapters.answers import Answer, read_answer, to_answer

__all__ = [
    "Answer",
    "from_fal",
    "from_gemini",
    "from_openai",
    "from_orq",
    "from_tanstack",
    "read_answer",
    "to_answer",
    "to_image_usage",
]

#: The answer readers load when first asked for (``import aievents`` stays light).
__getattr__, __dir__ = lazy(
    __name__,
    dict.fromkeys(("Answer", "read_answer", "to_answer"), "aievents.adapters.answers"),
)
