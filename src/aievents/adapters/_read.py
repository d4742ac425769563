"""Reading token counts off providers' payloads: what every adapter shares.

A payload is a mapping or an object (an SDK's pydantic model or dataclass,
read through its ``__dict__`` and, for a pydantic model, the extra fields it
kept: the openai SDK keeps a gateway's ``cost`` there); counts are read under
any of their names (snake_case or camelCase) and checked, and a malformed one
raises :class:`~aievents.exceptions.EventValidationError` naming the field.
What the provider itself reported beside the tokens (its cost, a gateway's
upstream cost, what it billed) is read by :func:`reported`, for every shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar, cast

from aievents._sentinel import REQUIRED
from aievents._usagemodel import (
    Billed,
    CostDetails,
    ImageUsage,
    InputTokensDetails,
    OutputTokensDetails,
)
from aievents._validate import MONEY_LIMIT, bounded_problem, to_decimal
from aievents.exceptions import EventValidationError

ABSENT: Final[Any] = object()
Details = TypeVar("Details", InputTokensDetails, OutputTokensDetails)


def _pydantic_v1(kind: type) -> bool:
    """Whether ``kind`` is a pydantic v1 model (the replicate SDK's): its own ``__fields__``."""
    return "__fields__" in vars(kind)


def view(payload: Any) -> Any:
    """``payload``'s fields as a dict when it is a pydantic model (v2 or v1) or a dataclass.

    The SDKs' objects keep every declared field in ``__dict__``; reading it
    avoids a slow failed attribute lookup for each absent name. A pydantic
    model that allows extra fields (the openai SDK's do) keeps the fields it
    was not declared with apart (``model_extra``): they are read too, after
    the declared ones.
    """
    kind = type(payload)
    if kind is not dict and (
        hasattr(kind, "__pydantic_fields__")
        or hasattr(kind, "__dataclass_fields__")
        or _pydantic_v1(kind)
    ):
        fields = getattr(payload, "__dict__", None)
        if type(fields) is dict:
            extra = getattr(payload, "__pydantic_extra__", None)
            if type(extra) is dict and extra:
                return {**extra, **fields}
            return fields
    return payload


def lookup(payload: Any, names: tuple[str, ...]) -> Any:
    """First of ``names`` present on ``payload`` (a mapping or an object)."""
    if type(payload) is not dict:
        payload = view(payload)
        if not isinstance(payload, Mapping):
            for name in names:
                value = getattr(payload, name, ABSENT)
                if value is not ABSENT:
                    return value
            return ABSENT
    for name in names:
        if name in payload:
            return payload[name]
    return ABSENT


def has_any(payload: Any, names: tuple[str, ...]) -> bool:
    """Whether any of ``names`` is present on ``payload``."""
    return lookup(payload, names) is not ABSENT


class Reader:
    """Reads token counts off one provider payload, naming fields in errors."""

    __slots__ = ("owner", "prefix")

    def __init__(self, owner: str, prefix: str = "") -> None:
        self.owner = owner
        self.prefix = prefix

    def nested(self, name: str) -> Reader:
        """A reader of the object under ``name``, naming its fields ``name.field``."""
        return Reader(self.owner, f"{self.prefix}{name}.")

    def error(self, field: str, value: Any, reason: str) -> EventValidationError:
        """The error for ``field`` of this payload."""
        return EventValidationError(self.prefix + field, value, reason, owner=self.owner)

    def tokens(self, payload: Any, *names: str) -> int | None:
        """The count under any of ``names`` (an integral float is taken), or None."""
        value = lookup(payload, names)
        if value is ABSENT or value is None:
            return None
        if type(value) is int and value >= 0:
            return value
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
        raise self.error(names[0], value, "must be a non-negative integer count of tokens")

    def amount(self, payload: Any, *names: str) -> Decimal | None:
        """The amount of money under any of ``names`` as a ``Decimal``, or None.

        Numbers, numeric strings and ``Decimal`` are taken (floats through
        their shortest ``repr``); the error names the key the payload used.
        """
        for name in names:
            value = lookup(payload, (name,))
            if value is not ABSENT:
                break
        else:
            return None
        if value is None:
            return None
        amount = to_decimal(value)
        problem = bounded_problem(amount, MONEY_LIMIT, "amount", " USD")
        if problem:
            raise self.error(name, amount, problem)
        return cast("Decimal", amount)  # bounded_problem found it a Decimal

    def mapping(self, payload: Any, *names: str) -> Any:
        """The object under any of ``names``, or None."""
        value = lookup(payload, names)
        if value is ABSENT or value is None:
            return None
        if isinstance(value, (str, bytes, int, float, list, tuple)):
            raise self.error(names[0], value, "must be an object")
        return value

    def open(self, payload: Any) -> Any:
        """Refuse a payload that is not an object; else its fields (:func:`view`)."""
        self.require_object(payload)
        return view(payload)

    def require_object(self, payload: Any) -> None:
        """Refuse a payload that is not an object (a mapping or a model)."""
        if payload is None or isinstance(payload, (str, bytes, int, float, list, tuple)):
            raise EventValidationError(
                self.prefix.rstrip(".") or "usage", payload, "must be an object", owner=self.owner
            )


def known_sum(*parts: int | None) -> int | None:
    """The sum of the parts that are known; None when none is."""
    known = [part for part in parts if part is not None]
    return sum(known) if known else None


def assemble(
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    total_tokens: int | None,
    input_details: InputTokensDetails | None,
    output_details: OutputTokensDetails | None,
    cost: Decimal | None = None,
    billed: Billed | None = None,
    cost_details: CostDetails | None = None,
    owner: str,
) -> ImageUsage:
    """The :class:`ImageUsage` of what was read, deriving the totals a provider left out.

    A missing input or output count is the sum of its details, a missing
    total the sum of input and output; a total that does not add up is kept.
    """
    if input_tokens is None and input_details is not None:
        input_tokens = known_sum(input_details.text_tokens, input_details.image_tokens)
    if output_tokens is None and output_details is not None:
        output_tokens = known_sum(output_details.text_tokens, output_details.image_tokens)
    if total_tokens is None:
        total_tokens = known_sum(input_tokens, output_tokens)
    try:
        return ImageUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=total_tokens,
            input_tokens_details=input_details,
            output_tokens_details=output_details,
            cost=cost,
            billed=billed,
            cost_details=cost_details,
        )
    except EventValidationError as exc:
        raise exc.retarget(owner=owner) from None


#: The counts of each kind of details, by their snake_case and camelCase names.
_COUNTS: Final = {
    InputTokensDetails: (
        ("text_tokens", "textTokens"),
        ("image_tokens", "imageTokens"),
        ("cached_tokens", "cachedTokens"),
    ),
    OutputTokensDetails: (("text_tokens", "textTokens"), ("image_tokens", "imageTokens")),
}


def details(read: Reader, payload: Any, kind: type[Details], *names: str) -> Details | None:
    """The ``kind`` details under any of ``names`` (snake_case or camelCase counts), or None."""
    found = read.mapping(payload, *names)
    if found is None:
        return None
    sub = read.nested(names[0])
    return kind(**{spelled[0]: sub.tokens(found, *spelled) for spelled in _COUNTS[kind]})


#: The amounts of a gateway's upstream cost (:class:`CostDetails`), by every
#: spelling: TanStack's ``costDetails`` (camelCase), snake_case, and
#: OpenRouter's ``cost_details`` (``upstream_inference_*``, in both of its
#: generations of names, and camelCase as its TypeScript SDK spells them).
_UPSTREAM: Final = (
    (
        "upstream_cost",
        ("upstreamCost", "upstream_cost", "upstream_inference_cost", "upstreamInferenceCost"),
    ),
    (
        "upstream_input_cost",
        (
            "upstreamInputCost",
            "upstream_input_cost",
            "upstream_inference_input_cost",
            "upstream_inference_prompt_cost",
            "upstreamInferenceInputCost",
        ),
    ),
    (
        "upstream_output_cost",
        (
            "upstreamOutputCost",
            "upstream_output_cost",
            "upstream_inference_output_cost",
            "upstream_inference_completions_cost",
            "upstreamInferenceOutputCost",
        ),
    ),
)


def reported(read: Reader, payload: Any) -> dict[str, Any]:
    """What the provider reported beside the tokens, as :func:`assemble` takes it.

    ``cost`` (TanStack's and OpenRouter's), the upstream cost details
    (TanStack's ``costDetails``, OpenRouter's ``cost_details``) and
    ``billed {quantity, unit}`` (TanStack's), in either spelling; each left
    ``None`` when absent. A malformed one raises
    :class:`~aievents.exceptions.EventValidationError` naming its path.
    """
    found: dict[str, Any] = {"cost": read.amount(payload, "cost")}
    key = "costDetails" if has_any(payload, ("costDetails",)) else "cost_details"
    details = read.mapping(payload, key)
    if details is not None:
        sub = read.nested(key)
        amounts = {name: sub.amount(details, *spelled) for name, spelled in _UPSTREAM}
        found["cost_details"] = CostDetails(**amounts)
    billed = read.mapping(payload, "billed")
    if billed is not None:
        found["billed"] = _billed(read.nested("billed"), billed)
    return found


def _billed(read: Reader, payload: Any) -> Billed:
    """``billed {quantity, unit}``: both required, the unit one of ``BILLED_UNITS``."""
    quantity = lookup(payload, ("quantity",))
    unit = lookup(payload, ("unit",))
    try:
        return Billed(
            quantity=REQUIRED if quantity is ABSENT else quantity,
            unit=REQUIRED if unit is ABSENT else unit,
        )
    except EventValidationError as exc:
        raise exc.retarget(field=read.prefix + exc.field, owner=read.owner) from None
