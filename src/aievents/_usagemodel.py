"""The usage model's classes: what :mod:`aievents.usage` exports, defined below it.

:class:`ImageUsage` and its details live here so that the provider adapters
(:mod:`aievents.adapters`), which build them, do not import
:mod:`aievents.usage`: that module serves the adapters' functions under their
old names (``aievents.usage.from_openai``), and the two would otherwise ask
for each other. Everything here is public in :mod:`aievents.usage`, and is
documented and imported from there; the library's own modules import it
from there too, but for the adapters.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import attrs

from aievents import _validate as v

__all__ = [
    "ImageUsage",
    "InputTokensDetails",
    "OutputTokensDetails",
    "split_tokens",
]


@attrs.frozen(kw_only=True, slots=True)
class InputTokensDetails:
    """Breakdown of the input tokens of a request.

    Attributes:
        text_tokens: Tokens of the text prompt.
        image_tokens: Tokens of the input images (edits, references).
        cached_tokens: Input tokens served from the provider's cache (a
            subset of the input, billed at the cached rate).
    """

    text_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    image_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    cached_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)


@attrs.frozen(kw_only=True, slots=True)
class OutputTokensDetails:
    """Breakdown of the output tokens of a request.

    Attributes:
        text_tokens: Text the model produced (reasoning included, when the
            provider counts it as output).
        image_tokens: Tokens of the produced images.
    """

    text_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    image_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)


_INPUT_DETAILS_HINT: Final = "an InputTokensDetails"
_OUTPUT_DETAILS_HINT: Final = "an OutputTokensDetails"


@attrs.frozen(kw_only=True, slots=True)
class ImageUsage:
    """Token usage of one image request, and optionally its cost.

    Every count is optional: a provider that reports no tokens (DALL-E,
    Imagen, Stability) leaves them ``None``, which is different from ``0``.
    The totals cover every image of the request: they are never multiplied by
    the number of images again.

    Attributes:
        input_tokens: Tokens of the input (text and images).
        output_tokens: Tokens of the output (images and text).
        total_tokens: As reported by the provider, or input + output.
        input_tokens_details: Breakdown of the input.
        output_tokens_details: Breakdown of the output.
        cost: Cost in USD as a ``Decimal``; floats, ints and numeric strings
            are converted (floats through their shortest ``repr``).
        split: Read-only, worked out when the usage is built: the tokens by
            how they are billed, one count per name of :data:`SPLIT_FIELDS`
            (see :func:`token_split`). Pricing and every sink read it, the
            compiled tally (``aievents._speedups``) included: this slot, its
            name and its order are the contract with it.
    """

    input_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    output_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    total_tokens: int | None = attrs.field(default=None, validator=v.OPT_COUNT)
    input_tokens_details: InputTokensDetails | None = attrs.field(
        default=None,
        validator=v.optional(v.instance_of(InputTokensDetails, _INPUT_DETAILS_HINT)),
    )
    output_tokens_details: OutputTokensDetails | None = attrs.field(
        default=None,
        validator=v.optional(v.instance_of(OutputTokensDetails, _OUTPUT_DETAILS_HINT)),
    )
    cost: Decimal | None = attrs.field(default=None, converter=v.to_decimal, validator=v.OPT_MONEY)
    split: tuple[int, int, int, int, int, int] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "split", split_tokens(self))

    @property
    def input_text_tokens(self) -> int | None:
        """Text tokens of the input, when reported."""
        details = self.input_tokens_details
        return None if details is None else details.text_tokens

    @property
    def input_image_tokens(self) -> int | None:
        """Image tokens of the input, when reported."""
        details = self.input_tokens_details
        return None if details is None else details.image_tokens

    @property
    def input_cached_tokens(self) -> int | None:
        """Cached input tokens, when reported."""
        details = self.input_tokens_details
        return None if details is None else details.cached_tokens

    @property
    def output_text_tokens(self) -> int | None:
        """Text tokens of the output, when reported."""
        details = self.output_tokens_details
        return None if details is None else details.text_tokens

    @property
    def output_image_tokens(self) -> int | None:
        """Image tokens of the output, when reported.

        When the provider gives no breakdown, the output of an image request
        is its images, so this is ``output_tokens``.
        """
        details = self.output_tokens_details
        if details is None or details.image_tokens is None:
            return self.output_tokens if details is None else None
        return details.image_tokens


def split_tokens(usage: ImageUsage) -> tuple[int, int, int, int, int, int]:
    """The tokens of ``usage`` by how they are billed (``aievents.usage.SPLIT_FIELDS``)."""
    text = image = 0
    details = usage.input_tokens_details
    if details is not None:
        text = details.text_tokens or 0
        image = details.image_tokens or 0
        cached = details.cached_tokens or 0
        if details.text_tokens is None and details.image_tokens is None:
            text = usage.input_tokens or 0
    else:
        text = usage.input_tokens or 0
        cached = 0
    cached_text = cached if cached <= text else text
    cached_image = min(cached - cached_text, image)
    out = usage.output_tokens_details
    if out is None:
        return text, image, cached_text, cached_image, usage.output_tokens or 0, 0
    return text, image, cached_text, cached_image, out.image_tokens or 0, out.text_tokens or 0
