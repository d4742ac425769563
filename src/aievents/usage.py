"""Token usage of an image request: the usage model.

:class:`ImageUsage` mirrors OpenAI's ``ImagesResponse.usage`` (the richest
shape in the field) with what the provider itself reported beside the tokens:
its cost (``cost``, and a gateway's upstream share, :class:`CostDetails`) and
what it billed in its own unit (:class:`Billed`, one of
:data:`BILLED_UNITS`). :func:`token_split` is the one rule by which its
tokens are billed: pricing, aggregation, the store, the log and OTLP all
count by it. Build an :class:`ImageUsage` from a provider's own
shape with :mod:`aievents.adapters` (``to_image_usage``); the cost aievents
works out for a request from its price table is an
:class:`~aievents.money.ImageCost` (:mod:`aievents.money`), the event's
``cost``, kept apart from the provider's.

The money and adapter names that lived here before they had modules of their
own are still found here: ``aievents.usage.ImageCost`` is
:class:`aievents.money.ImageCost`, ``aievents.usage.from_openai`` is
:func:`aievents.adapters.from_openai`, and so on.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

# The classes are defined below this module, so that the adapters build them
# without importing it (it serves their old names); they are documented here.
from aievents._lazy import lazy
from aievents._usagemodel import (
    BILLED_UNITS,
    Billed,
    CostDetails,
    ImageUsage,
    InputTokensDetails,
    OutputTokensDetails,
    add_usage,
    split_tokens,
)

__all__ = [
    "BILLED_PARTS",
    "BILLED_UNITS",
    "FLAT_TOKEN_FIELDS",
    "SPLIT_FIELDS",
    "Billed",
    "CostDetails",
    "ImageUsage",
    "InputTokensDetails",
    "OutputTokensDetails",
    "add_usage",
    "billed_from_split",
    "billed_tokens",
    "flat_reported",
    "flat_token_counts",
    "flat_tokens",
    "token_split",
]

#: What :attr:`ImageUsage.split` and :func:`token_split` hold, in order: input
#: text, input image, the cached part of each, output image, output text. The
#: names are the token lanes of the usage totals (``aievents.totals.FIELDS``).
SPLIT_FIELDS: Final = (
    "input_text_tokens",
    "input_image_tokens",
    "input_cached_text_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
    "output_text_tokens",
)
#: The parts OpenAI's usage API bills tokens by, in the order of
#: :func:`billed_tokens` (the token components of
#: :data:`aievents.money.COST_COMPONENTS`).
BILLED_PARTS: Final = ("input_text", "input_image", "cached_input", "output_image", "output_text")
#: The flat token fields of :func:`flat_tokens`, in order.
FLAT_TOKEN_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "input_text_tokens",
    "input_image_tokens",
    "cached_tokens",
    "output_image_tokens",
    "output_text_tokens",
    "image_tokens",
)


def token_split(usage: ImageUsage) -> tuple[int, int, int, int, int, int]:
    """The tokens of a request by how they are billed (:attr:`ImageUsage.split`).

    Returns ``(input text, input image, cached of the text, cached of the
    image, output image, output text)`` (:data:`SPLIT_FIELDS`). Without input
    details all input is text; without output details all output is image;
    cached tokens (a part of the input) are taken from the text first, then
    from the images. Pricing and aggregation both count by this one rule. The
    answer is kept on the (immutable) usage, worked out once when it is built.
    """
    try:
        return usage.split
    except AttributeError:  # made without __init__
        split = split_tokens(usage)
        object.__setattr__(usage, "split", split)
        return split


def billed_from_split(split: Sequence[int]) -> tuple[int, int, int, int, int]:
    """The billed counts of a :func:`token_split` answer (or of summed ones).

    Returns ``(input text, input image, cached input, output image, output
    text)`` (:data:`BILLED_PARTS`): the input counts without their cached
    part, the cached tokens of both kinds together, as OpenAI's usage API
    reports them. Reports of summed totals count by this same rule.
    """
    text, image, cached_text, cached_image, out_image, out_text = split
    return text - cached_text, image - cached_image, cached_text + cached_image, out_image, out_text


def billed_tokens(usage: ImageUsage) -> tuple[int, int, int, int, int]:
    """The tokens as OpenAI's usage API reports them (:func:`billed_from_split`).

    Returns ``(input text, input image, cached input, output image, output
    text)``: the input counts without their cached part, the cached tokens of
    both kinds together.
    """
    return billed_from_split(token_split(usage))


def flat_tokens(usage: ImageUsage) -> dict[str, int]:
    """The usage as flat token counts (:data:`FLAT_TOKEN_FIELDS`), as logs and metrics carry it.

    The reported counts (``input_tokens``, ``output_tokens``,
    ``total_tokens``), the billed ones (:func:`billed_tokens`:
    ``input_text_tokens`` and ``input_image_tokens`` uncached,
    ``cached_tokens``, ``output_image_tokens``, ``output_text_tokens``) and
    ``image_tokens`` (input and output images). Counts the provider did not
    report are left out; a usage without input and output tokens (a provider
    that reports none) has no counts at all, rather than zeros.
    """
    counts = flat_token_counts(usage)
    if counts is None:
        return {}
    pairs = zip(FLAT_TOKEN_FIELDS, counts, strict=True)
    return {name: count for name, count in pairs if count is not None}


def flat_token_counts(usage: ImageUsage) -> tuple[int | None, ...] | None:
    """The counts of :func:`flat_tokens` as a tuple in :data:`FLAT_TOKEN_FIELDS` order.

    None for a count the provider did not report; None in all for a usage
    without input and output tokens. For callers that name the counts
    their own way (the OpenTelemetry attributes), without a dict between.
    """
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    split = token_split(usage)
    text, image, cached, out_image, out_text = billed_from_split(split)
    return (
        usage.input_tokens,
        usage.output_tokens,
        usage.total_tokens,
        text,
        image,
        cached,
        out_image,
        out_text,
        split[1] + out_image,
    )


def flat_reported(usage: ImageUsage) -> dict[str, Decimal | str]:
    """What the provider reported beside the tokens, as flat fields for logs and metrics.

    ``reported_cost_usd`` (:attr:`ImageUsage.reported_cost`),
    ``billed_quantity`` and ``billed_unit`` (:attr:`ImageUsage.billed`); what
    was not reported is left out.
    """
    flat: dict[str, Decimal | str] = {}
    reported = usage.reported_cost
    if reported is not None:
        flat["reported_cost_usd"] = reported
    billed = usage.billed
    if billed is not None:
        flat["billed_quantity"] = billed.quantity
        flat["billed_unit"] = billed.unit
    return flat


#: Where the names that used to live here are now.
_MOVED: Final = {
    **dict.fromkeys(
        (
            "COST_BASES",
            "COST_COMPONENTS",
            "COST_SCALE",
            "EXACT",
            "ImageCost",
            "cost_units",
            "units_to_usd",
        ),
        "aievents.money",
    ),
    **dict.fromkeys(
        ("from_gemini", "from_openai", "from_orq", "from_tanstack", "to_image_usage"),
        "aievents.adapters",
    ),
}


#: The money and adapter names, still found where they were before (see above).
__getattr__, __dir__ = lazy(__name__, _MOVED)
