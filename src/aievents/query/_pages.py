"""The answer's shape: OpenAI's usage and costs pages, and how a totals vector renders in them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from aievents.query._scan import DIMENSIONS
from aievents.totals import FIELDS, cost_total
from aievents.usage import BILLED_PARTS, SPLIT_FIELDS, billed_from_split

__all__ = [
    "LINE_ITEMS",
    "Bucket",
    "CostsResult",
    "ImagesResult",
    "Page",
    "group_costs",
    "images_result",
    "line_items",
    "sort_key",
]

_ZERO: Final = Decimal(0)

#: Cost line items: (cost part, kind in the line item name, quantity unit). The
#: quantity is the part's count in :func:`_billed` (none for ``other``).
LINE_ITEMS: Final = (
    ("input_text", "input text tokens", "tokens"),
    ("input_image", "input image tokens", "tokens"),
    ("cached_input", "cached input tokens", "tokens"),
    ("output_image", "output image tokens", "tokens"),
    ("output_text", "output text tokens", "tokens"),
    ("per_image", "images", "images"),
    ("other", "other", None),
)


def _amount(value: Decimal) -> dict[str, Any]:
    return {"value": float(value), "currency": "usd"}


@attrs.frozen(kw_only=True)
class ImagesResult:
    """One group of one bucket of an images usage page (``organization.usage.images.result``)."""

    images: int
    num_model_requests: int
    source: str | None = None
    size: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_image_tokens: int = 0
    input_cached_tokens: int = 0
    output_image_tokens: int = 0
    output_text_tokens: int = 0
    unpriced_requests: int = 0
    cost: Decimal | None = _ZERO

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's JSON, with our token sums, ``unpriced_requests`` and ``cost`` beside its fields.

        ``cost`` is ``null`` when no request of the result is priced, and the
        priced part (a lower bound) when ``unpriced_requests`` is above 0.
        """
        return {
            "object": "organization.usage.images.result",
            "images": self.images,
            "num_model_requests": self.num_model_requests,
            "source": self.source,
            "size": self.size,
            "project_id": self.project_id,
            "user_id": self.user_id,
            "api_key_id": self.api_key_id,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "input_text_tokens": self.input_text_tokens,
            "input_image_tokens": self.input_image_tokens,
            "input_cached_tokens": self.input_cached_tokens,
            "output_image_tokens": self.output_image_tokens,
            "output_text_tokens": self.output_text_tokens,
            "unpriced_requests": self.unpriced_requests,
            "cost": None if self.cost is None else _amount(self.cost),
        }


@attrs.frozen(kw_only=True)
class CostsResult:
    """One group of one bucket of a costs page (``organization.costs.result``).

    Requests whose cost is unknown or incomplete are a result of their own:
    ``amount`` is ``None`` (no ``amount`` key in the JSON, which OpenAI's
    schema allows; a number would read as $0) and ``unpriced_requests``
    counts them.
    """

    amount: Decimal | None
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    quantity: int | None = None
    quantity_unit: str | None = None
    unpriced_requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's JSON (``amount.value`` is a number; the exact amount is ``self.amount``)."""
        out: dict[str, Any] = {"object": "organization.costs.result"}
        if self.amount is not None:
            out["amount"] = _amount(self.amount)
        out.update(
            line_item=self.line_item,
            project_id=self.project_id,
            api_key_id=self.api_key_id,
            quantity=self.quantity,
            quantity_unit=self.quantity_unit,
            unpriced_requests=self.unpriced_requests,
        )
        return out


@attrs.frozen(kw_only=True)
class Bucket:
    """One time bucket: ``[start_time, end_time)`` in epoch seconds, and its results."""

    start_time: int
    end_time: int
    results: tuple[ImagesResult | CostsResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's ``bucket`` JSON."""
        return {
            "object": "bucket",
            "start_time": self.start_time,
            "end_time": self.end_time,
            "results": [result.to_dict() for result in self.results],
        }


@attrs.frozen(kw_only=True)
class Page:
    """A page of buckets, as OpenAI's ``UsageResponse``."""

    data: tuple[Bucket, ...]
    has_more: bool
    next_page: str | None

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's ``page`` JSON."""
        return {
            "object": "page",
            "data": [bucket.to_dict() for bucket in self.data],
            "has_more": self.has_more,
            "next_page": self.next_page,
        }


def sort_key(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, value or "") for value in key)


def _billed(t: Mapping[str, Any]) -> dict[str, int]:
    """A totals row's counts by cost part, as OpenAI's completions results count.

    Text and image input are uncached; the cached tokens are counted apart
    (``input_tokens`` covers all three).
    """
    billed = billed_from_split([t[name] for name in SPLIT_FIELDS])
    return {**dict(zip(BILLED_PARTS, billed, strict=True)), "per_image": t["images"]}


def _priced(t: Mapping[str, Any], amount: Decimal) -> Decimal | None:
    """The priced amount of a totals row: ``None`` when nothing of it is priced.

    A row whose every request is unpriced and whose priced parts add up to
    nothing has no known cost; otherwise the amount is what is known (a
    lower bound while ``unpriced_requests`` is above 0).
    """
    if amount or t["unpriced_requests"] < t["num_model_requests"]:
        return amount
    return None


def images_result(key: tuple[str | None, ...], totals: Sequence[Any]) -> ImagesResult:
    t = dict(zip(FIELDS, totals, strict=True))
    billed = _billed(t)
    return ImagesResult(
        images=t["images"],
        num_model_requests=t["num_model_requests"],
        **dict(zip(DIMENSIONS, key, strict=True)),
        input_tokens=t["input_tokens"],
        output_tokens=t["output_tokens"],
        input_text_tokens=billed["input_text"],
        input_image_tokens=billed["input_image"],
        input_cached_tokens=billed["cached_input"],
        output_image_tokens=billed["output_image"],
        output_text_tokens=billed["output_text"],
        unpriced_requests=t["unpriced_requests"],
        cost=_priced(t, cost_total(totals)),
    )


def line_items(
    model: str | None, totals: Sequence[Any]
) -> Iterable[tuple[str, Decimal | None, int | None, str | None, int]]:
    """A model's line items: (name, amount, quantity, unit, unpriced requests)."""
    t = dict(zip(FIELDS, totals, strict=True))
    billed = _billed(t)
    unpriced = t["unpriced_requests"]
    name = model or "unknown model"
    for part, kind, unit in LINE_ITEMS:
        amount = t[f"cost_{part}"]
        quantity = billed.get(part)
        # Tokens at a rate of 0 show (amount 0); images show when billed per
        # image. Tokens without a rate are the unpriced line's, never a $0.
        if amount or (quantity and unit == "tokens" and not unpriced):
            yield f"{name}, {kind}", amount, quantity, unit, 0
    if unpriced:
        yield f"{name}, unpriced", None, unpriced, "requests", unpriced


def group_costs(
    totals: Sequence[Any], project: str | None, api_key: str | None
) -> Iterable[CostsResult]:
    """A group's costs: the priced amount, then its unpriced requests apart (no amount)."""
    t = dict(zip(FIELDS, totals, strict=True))
    amount = _priced(t, cost_total(totals))
    if amount is not None:
        yield CostsResult(amount=amount, project_id=project, api_key_id=api_key)
    if t["unpriced_requests"]:
        yield CostsResult(
            amount=None,
            project_id=project,
            api_key_id=api_key,
            unpriced_requests=t["unpriced_requests"],
        )
