"""Token usage of an image request, and adapters from every provider's shape.

:class:`ImageUsage` mirrors OpenAI's ``ImagesResponse.usage`` (the richest
shape in the field) with an optional cost. The adapters build it from what
providers actually return:

========================  ==============================================
:func:`from_openai`       ``ImagesResponse.usage`` (SDK object or dict),
                          and every shape with the same snake_case keys
:func:`from_orq`          orq.ai ``CreateImageUsage``,
                          ``CreateImageEditUsage``,
                          ``CreateImageVariationUsage`` (camelCase or snake_case)
:func:`from_tanstack`     TanStack AI's early ``ImageUsage`` and its
                          current ``TokenUsage``
:func:`from_gemini`       Gemini ``usageMetadata`` (REST or SDK spelling)
:func:`to_image_usage`    any of the above, recognised by its keys
========================  ==============================================

When a provider omits ``total_tokens`` it is derived from the parts it did
report; when it reports a total that does not add up, its total is kept.
Malformed payloads raise :class:`~aievents.exceptions.EventValidationError`
naming the field.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

from aievents import _validate as v
from aievents._redact import ScrubbedRepr
from aievents.exceptions import EventValidationError

__all__ = [
    "COST_BASES",
    "COST_COMPONENTS",
    "COST_SCALE",
    "ImageCost",
    "ImageUsage",
    "InputTokensDetails",
    "OutputTokensDetails",
    "billed_tokens",
    "cost_units",
    "from_gemini",
    "from_openai",
    "from_orq",
    "from_tanstack",
    "to_image_usage",
    "token_split",
    "units_to_usd",
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
    #: token_split()'s answer, worked out when the usage is built: pricing
    #: and every sink read it.
    _split: tuple[int, int, int, int, int, int] | None = attrs.field(
        default=None, init=False, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_split", _split_tokens(self))

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


#: How a cost was reached: from token usage, per image, or a per-image estimate.
COST_BASES: Final = ("tokens", "images", "estimate")
#: The parts of a cost, in the order of :meth:`ImageCost.breakdown`.
COST_COMPONENTS: Final = (
    "input_text",
    "input_image",
    "cached_input",
    "output_image",
    "output_text",
    "per_image",
)

_ZERO: Final = Decimal(0)
#: The decimal context cost sums are made in: exact, whatever the application set.
EXACT: Final = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[])
#: Sums of costs are kept as whole numbers of 10**-COST_SCALE USD.
COST_SCALE: Final = 15
_SCALING: Final = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])


def cost_units(amount: Decimal) -> int | None:
    """``amount`` (USD) in whole units of ``10**-COST_SCALE`` USD.

    ``None`` when it has finer digits than that (or is not finite): such an
    amount can only be summed as a ``Decimal``.
    """
    if not amount:
        return 0
    try:
        scaled = amount.scaleb(COST_SCALE, _SCALING)
    except (decimal.Inexact, decimal.InvalidOperation):
        return None
    units = int(scaled) if scaled.is_finite() else None
    return units if units == scaled else None


def units_to_usd(units: int) -> Decimal:
    """The exact USD amount of ``units`` (see :func:`cost_units`), without trailing zeros."""
    if not units:
        return _ZERO
    exponent = -COST_SCALE
    while exponent and not units % 10:
        units //= 10
        exponent += 1
    return Decimal(units).scaleb(exponent, EXACT)


def _component() -> Any:
    return attrs.field(default=_ZERO, converter=v.to_decimal, validator=v.money)


@attrs.frozen(kw_only=True, slots=True)
class ImageCost(ScrubbedRepr):
    """The cost of one image request in USD, with its breakdown.

    ``total`` is the exact sum of the components. Token-billed requests fill
    the token components; per-image requests fill ``per_image`` (price times
    images returned, never times ``n`` again).

    Attributes:
        total: The cost in USD.
        currency: Always ``"usd"``.
        basis: ``tokens`` (from usage), ``images`` (per-image price) or
            ``estimate`` (a per-image estimate for a token-billed model whose
            response reported no usage).
        input_text: Uncached text input tokens at the text rate.
        input_image: Uncached image input tokens at the image rate.
        cached_input: Cached input tokens at the cached rates.
        output_image: Image output tokens at the image output rate.
        output_text: Text output tokens at the text output rate.
        per_image: Images times the per-image price or estimate.
        price_version: Version of the price table used.
        priced_model: The price table entry used (a dated snapshot is priced
            as its base model).
        unpriced: Components that had tokens but no rate in the table; the
            total leaves them out.
    """

    total: Decimal = attrs.field(
        default=v.REQUIRED, converter=v.to_decimal, validator=v.required(v.money)
    )
    currency: str = attrs.field(default="usd", validator=v.choice(("usd",)))
    basis: str = attrs.field(default=v.REQUIRED, validator=v.required(v.choice(COST_BASES)))
    input_text: Decimal = _component()
    input_image: Decimal = _component()
    cached_input: Decimal = _component()
    output_image: Decimal = _component()
    output_text: Decimal = _component()
    per_image: Decimal = _component()
    price_version: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    priced_model: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    unpriced: tuple[str, ...] = attrs.field(default=(), converter=v.to_tuple, validator=v.strings)
    #: The components, then what the total has beyond them when they are all
    #: zero, in cost units (see :func:`cost_units`); ``None`` when one of them
    #: has finer digits. Worked out once here for every sink that sums costs.
    _units: tuple[int, ...] | None = attrs.field(
        default=None, init=False, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        parts = [cost_units(getattr(self, name)) for name in COST_COMPONENTS]
        parts.append(0 if any(parts) else cost_units(self.total))
        if None not in parts:
            object.__setattr__(self, "_units", tuple(parts))

    @property
    def complete(self) -> bool:
        """Whether every token had a rate (``unpriced`` is empty)."""
        return not self.unpriced

    def breakdown(self) -> dict[str, Decimal]:
        """The components that are not zero, by name."""
        return {name: value for name in COST_COMPONENTS if (value := getattr(self, name))}


def token_split(usage: ImageUsage) -> tuple[int, int, int, int, int, int]:
    """The tokens of a request by how they are billed.

    Returns ``(input text, input image, cached of the text, cached of the
    image, output image, output text)``. Without input details all input is
    text; without output details all output is image; cached tokens (a part
    of the input) are taken from the text first, then from the images.
    Pricing and aggregation both count by this one rule. The answer is kept
    on the (immutable) usage, worked out once when it is built.
    """
    split = usage._split
    if split is None:
        split = _split_tokens(usage)
        object.__setattr__(usage, "_split", split)
    return split


def billed_tokens(usage: ImageUsage) -> tuple[int, int, int, int, int]:
    """The tokens as OpenAI's usage API reports them, from :func:`token_split`.

    Returns ``(input text, input image, cached input, output image, output
    text)``: the input counts without their cached part, the cached tokens of
    both kinds together.
    """
    text, image, cached_text, cached_image, out_image, out_text = token_split(usage)
    return text - cached_text, image - cached_image, cached_text + cached_image, out_image, out_text


def _split_tokens(usage: ImageUsage) -> tuple[int, int, int, int, int, int]:
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


# --------------------------------------------------------------------------- adapters

_ABSENT: Final[Any] = object()


def _view(payload: Any) -> Any:
    """``payload``'s fields as a dict when it is a pydantic model or a dataclass.

    The SDKs' objects keep every field in ``__dict__``; reading it avoids a
    slow failed attribute lookup for each absent name.
    """
    kind = type(payload)
    if kind is not dict and (
        hasattr(kind, "__pydantic_fields__") or hasattr(kind, "__dataclass_fields__")
    ):
        fields = getattr(payload, "__dict__", None)
        if type(fields) is dict:
            return fields
    return payload


def _lookup(payload: Any, names: tuple[str, ...]) -> Any:
    """First of ``names`` present on ``payload`` (a mapping or an object)."""
    if type(payload) is not dict:
        payload = _view(payload)
        if not isinstance(payload, Mapping):
            for name in names:
                value = getattr(payload, name, _ABSENT)
                if value is not _ABSENT:
                    return value
            return _ABSENT
    for name in names:
        if name in payload:
            return payload[name]
    return _ABSENT


def _has_any(payload: Any, names: tuple[str, ...]) -> bool:
    return _lookup(payload, names) is not _ABSENT


class _Reader:
    """Reads token counts off one provider payload, naming fields in errors."""

    __slots__ = ("owner", "prefix")

    def __init__(self, owner: str, prefix: str = "") -> None:
        self.owner = owner
        self.prefix = prefix

    def nested(self, name: str) -> _Reader:
        return _Reader(self.owner, f"{self.prefix}{name}.")

    def error(self, field: str, value: Any, reason: str) -> EventValidationError:
        return EventValidationError(self.prefix + field, value, reason, owner=self.owner)

    def tokens(self, payload: Any, *names: str) -> int | None:
        value = _lookup(payload, names)
        if value is _ABSENT or value is None:
            return None
        if type(value) is int and value >= 0:
            return value
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
        raise self.error(names[0], value, "must be a non-negative integer count of tokens")

    def mapping(self, payload: Any, *names: str) -> Any:
        value = _lookup(payload, names)
        if value is _ABSENT or value is None:
            return None
        if isinstance(value, (str, bytes, int, float, list, tuple)):
            raise self.error(names[0], value, "must be an object")
        return value

    def require_object(self, payload: Any) -> None:
        if payload is None or isinstance(payload, (str, bytes, int, float, list, tuple)):
            raise EventValidationError(
                self.prefix.rstrip(".") or "usage", payload, "must be an object", owner=self.owner
            )


def _sum(*parts: int | None) -> int | None:
    known = [part for part in parts if part is not None]
    return sum(known) if known else None


def _assemble(
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    total_tokens: int | None,
    input_details: InputTokensDetails | None,
    output_details: OutputTokensDetails | None,
    cost: Any = None,
    owner: str,
) -> ImageUsage:
    if input_tokens is None and input_details is not None:
        input_tokens = _sum(input_details.text_tokens, input_details.image_tokens)
    if output_tokens is None and output_details is not None:
        output_tokens = _sum(output_details.text_tokens, output_details.image_tokens)
    if total_tokens is None:
        total_tokens = _sum(input_tokens, output_tokens)
    try:
        return ImageUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=total_tokens,
            input_tokens_details=input_details,
            output_tokens_details=output_details,
            cost=cost,
        )
    except EventValidationError as exc:
        raise exc.retarget(owner=owner) from None


def _input_details(read: _Reader, payload: Any, *names: str) -> InputTokensDetails | None:
    details = read.mapping(payload, *names)
    if details is None:
        return None
    sub = read.nested(names[0])
    return InputTokensDetails(
        text_tokens=sub.tokens(details, "text_tokens", "textTokens"),
        image_tokens=sub.tokens(details, "image_tokens", "imageTokens"),
        cached_tokens=sub.tokens(details, "cached_tokens", "cachedTokens"),
    )


def _output_details(read: _Reader, payload: Any, *names: str) -> OutputTokensDetails | None:
    details = read.mapping(payload, *names)
    if details is None:
        return None
    sub = read.nested(names[0])
    return OutputTokensDetails(
        text_tokens=sub.tokens(details, "text_tokens", "textTokens"),
        image_tokens=sub.tokens(details, "image_tokens", "imageTokens"),
    )


def _from_input_output(payload: Any, owner: str) -> ImageUsage:
    read = _Reader(owner)
    read.require_object(payload)
    payload = _view(payload)
    cost = _lookup(payload, ("cost",))
    return _assemble(
        input_tokens=read.tokens(payload, "input_tokens", "inputTokens"),
        output_tokens=read.tokens(payload, "output_tokens", "outputTokens"),
        total_tokens=read.tokens(payload, "total_tokens", "totalTokens"),
        input_details=_input_details(read, payload, "input_tokens_details", "inputTokensDetails"),
        output_details=_output_details(
            read, payload, "output_tokens_details", "outputTokensDetails"
        ),
        cost=None if cost is _ABSENT else cost,
        owner=owner,
    )


def from_openai(usage: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from OpenAI's ``ImagesResponse.usage``.

    Accepts the openai SDK's ``Usage`` object (or an image stream's completed
    event usage) and the same data as a plain dict, with or without
    ``output_tokens_details``.

    Raises:
        EventValidationError: ``usage`` is not an object, or a count is
            negative, fractional or not a number.
    """
    return _from_input_output(usage, "openai usage")


def from_orq(usage: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from orq.ai's image usage objects.

    Covers ``CreateImageUsage`` (every count optional, input details
    required), ``CreateImageEditUsage`` and ``CreateImageVariationUsage``
    (every field required), in their camelCase SDK spelling or their
    snake_case wire spelling. Counts sent as integral floats (``100.0``) are
    accepted; fractional counts are refused.
    """
    return _from_input_output(usage, "orq usage")


_TOKEN_USAGE_KEYS: Final = (
    "promptTokens",
    "completionTokens",
    "prompt_tokens",
    "completion_tokens",
)


def from_tanstack(usage: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from TanStack AI's usage shapes.

    The early ``ImageUsage`` (``inputTokens``, ``outputTokens``,
    ``totalTokens``, ``inputTokensDetails``) and the current ``TokenUsage``
    (``promptTokens``, ``completionTokens``, ``totalTokens``,
    ``promptTokensDetails``, ``completionTokensDetails``, ``cost``). Reasoning
    tokens of ``TokenUsage`` count as output text when no text count is given.
    """
    if not _has_any(usage, _TOKEN_USAGE_KEYS):
        return _from_input_output(usage, "tanstack usage")
    owner = "tanstack usage"
    read = _Reader(owner)
    read.require_object(usage)
    usage = _view(usage)  # an SDK object's fields, read once
    prompt = read.mapping(usage, "promptTokensDetails", "prompt_tokens_details")
    completion = read.mapping(usage, "completionTokensDetails", "completion_tokens_details")
    input_details = None
    if prompt is not None:
        sub = read.nested("promptTokensDetails")
        input_details = InputTokensDetails(
            text_tokens=sub.tokens(prompt, "textTokens", "text_tokens"),
            image_tokens=sub.tokens(prompt, "imageTokens", "image_tokens"),
            cached_tokens=sub.tokens(prompt, "cachedTokens", "cached_tokens"),
        )
    output_details = None
    if completion is not None:
        sub = read.nested("completionTokensDetails")
        text = sub.tokens(completion, "textTokens", "text_tokens")
        if text is None:
            text = sub.tokens(completion, "reasoningTokens", "reasoning_tokens")
        output_details = OutputTokensDetails(
            text_tokens=text, image_tokens=sub.tokens(completion, "imageTokens", "image_tokens")
        )
    cost = _lookup(usage, ("cost",))
    return _assemble(
        input_tokens=read.tokens(usage, "promptTokens", "prompt_tokens"),
        output_tokens=read.tokens(usage, "completionTokens", "completion_tokens"),
        total_tokens=read.tokens(usage, "totalTokens", "total_tokens"),
        input_details=input_details,
        output_details=output_details,
        cost=None if cost is _ABSENT else cost,
        owner=owner,
    )


_GEMINI_KEYS: Final = (
    "promptTokenCount",
    "prompt_token_count",
    "candidatesTokenCount",
    "candidates_token_count",
    "totalTokenCount",
    "total_token_count",
)


def _modalities(read: _Reader, payload: Any, *names: str) -> dict[str, int]:
    value = _lookup(payload, names)
    if value is _ABSENT or value is None:
        return {}
    if not isinstance(value, (list, tuple)):
        raise read.error(names[0], value, "must be a list of {modality, tokenCount}")
    found: dict[str, int] = {}
    for index, item in enumerate(value):
        sub = read.nested(f"{names[0]}[{index}]")
        sub.require_object(item)
        modality = _lookup(item, ("modality",))
        modality = None if modality is _ABSENT else getattr(modality, "value", modality)
        if not isinstance(modality, str):
            raise sub.error("modality", modality, "must be a modality name such as 'IMAGE'")
        tokens = sub.tokens(item, "tokenCount", "token_count") or 0
        key = modality.upper()
        found[key] = found.get(key, 0) + tokens
    return found


def from_gemini(usage_metadata: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from Gemini's ``usageMetadata``.

    Accepts the REST spelling (``promptTokenCount``,
    ``candidatesTokensDetails: [{modality: "IMAGE", tokenCount}]``) and the
    google-genai SDK's (``prompt_token_count``, enum modalities). Output image
    tokens are the ``IMAGE`` modality of the candidates; thinking tokens
    (``thoughtsTokenCount``) are output text, as Gemini bills them.
    """
    owner = "gemini usageMetadata"
    read = _Reader(owner)
    read.require_object(usage_metadata)
    payload = _view(usage_metadata)  # an SDK object's fields, read once
    prompt = read.tokens(payload, "promptTokenCount", "prompt_token_count")
    candidates = read.tokens(payload, "candidatesTokenCount", "candidates_token_count")
    thoughts = read.tokens(payload, "thoughtsTokenCount", "thoughts_token_count")
    cached = read.tokens(payload, "cachedContentTokenCount", "cached_content_token_count")
    prompt_parts = _modalities(read, payload, "promptTokensDetails", "prompt_tokens_details")
    output_parts = _modalities(
        read, payload, "candidatesTokensDetails", "candidates_tokens_details"
    )
    input_details = None
    if prompt_parts or cached is not None:
        input_details = InputTokensDetails(
            text_tokens=prompt_parts.get("TEXT"),
            image_tokens=prompt_parts.get("IMAGE"),
            cached_tokens=cached,
        )
    output_details = None
    if output_parts or thoughts is not None:
        text = _sum(output_parts.get("TEXT"), thoughts)
        output_details = OutputTokensDetails(
            text_tokens=text, image_tokens=output_parts.get("IMAGE")
        )
    return _assemble(
        input_tokens=prompt,
        output_tokens=_sum(candidates, thoughts) if candidates is not None else None,
        total_tokens=read.tokens(payload, "totalTokenCount", "total_token_count"),
        input_details=input_details,
        output_details=output_details,
        owner=owner,
    )


_INPUT_OUTPUT_KEYS: Final = (
    "input_tokens",
    "inputTokens",
    "output_tokens",
    "outputTokens",
    "total_tokens",
    "totalTokens",
    "input_tokens_details",
    "inputTokensDetails",
)


def to_image_usage(payload: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from any payload the adapters understand.

    Recognises, by their keys: an :class:`ImageUsage` (returned as is), a
    Gemini ``usageMetadata`` (or a response holding one), a TanStack
    ``TokenUsage``, and the OpenAI / orq / early TanStack input-output shape,
    as a mapping or an object. A response object or dict that carries the
    usage under ``usage`` (OpenAI's ``ImagesResponse``) is unwrapped.

    Raises:
        EventValidationError: nothing in ``payload`` looks like usage, or the
            usage is malformed.
    """
    if isinstance(payload, ImageUsage):
        return payload
    if payload is None or isinstance(payload, (str, bytes, int, float, list, tuple)):
        raise EventValidationError("usage", payload, "must be a usage object", owner="usage")
    if _has_any(payload, _GEMINI_KEYS):
        return from_gemini(payload)
    if _has_any(payload, _TOKEN_USAGE_KEYS):
        return from_tanstack(payload)
    if _has_any(payload, _INPUT_OUTPUT_KEYS):
        return _from_input_output(payload, "usage")
    for wrapper in ("usage_metadata", "usageMetadata", "usage"):
        inner = _lookup(payload, (wrapper,))
        if inner is not _ABSENT and inner is not None:
            return to_image_usage(inner)
    raise EventValidationError(
        "usage",
        payload,
        "is not a usage shape aievents knows (OpenAI, orq, TanStack or Gemini); "
        "build an ImageUsage yourself",
        owner="usage",
    )
