"""The answer's shape: OpenAI's usage and costs pages, and how a totals vector renders in them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from aievents.query._scan import DIMENSIONS
from aievents.totals import FIELDS, cost_total, reported_total
from aievents.usage import BILLED_PARTS, SPLIT_FIELDS, billed_from_split

__all__ = [
    "COST_SOURCES",
    "LINE_ITEMS",
    "Bucket",
    "CostsResult",
    "ImagesResult",
    "Page",
    "costs_result",
    "group_costs",
    "images_result",
    "line_items",
    "sort_key",
    "unknown_counts",
]

_ZERO: Final = Decimal(0)
#: What a report can sum as the cost: the cost aievents computed from its
#: prices, or the cost providers and gateways reported.
COST_SOURCES: Final = ("computed", "reported")

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
    """One group of one bucket of an images usage page (``organization.usage.images.result``).

    ``provider`` and ``quality`` are an extension (OpenAI's results have no
    such fields): set when the page is grouped by them, else ``None``.
    """

    images: int
    num_model_requests: int
    source: str | None = None
    size: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    provider: str | None = None
    quality: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_image_tokens: int = 0
    input_cached_tokens: int = 0
    output_image_tokens: int = 0
    output_text_tokens: int = 0
    unpriced_requests: int = 0
    reported_requests: int = 0
    cost: Decimal | None = _ZERO
    cost_source: str = "computed"

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's JSON, with our dimensions, token sums, counts, ``cost`` and ``cost_source``
        beside it (``provider`` and ``quality`` are ``null`` when not grouped by).

        ``cost`` is the sum ``cost_source`` names. Computed: ``null`` when no
        request of the result is priced, and the priced part (a lower bound)
        when ``unpriced_requests`` is above 0. Reported: ``null`` when no
        request reported a cost, and a lower bound when ``reported_requests``
        is below ``num_model_requests``.
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
            "provider": self.provider,
            "quality": self.quality,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "input_text_tokens": self.input_text_tokens,
            "input_image_tokens": self.input_image_tokens,
            "input_cached_tokens": self.input_cached_tokens,
            "output_image_tokens": self.output_image_tokens,
            "output_text_tokens": self.output_text_tokens,
            "unpriced_requests": self.unpriced_requests,
            "reported_requests": self.reported_requests,
            "cost": None if self.cost is None else _amount(self.cost),
            "cost_source": self.cost_source,
        }

    @property
    def partial(self) -> bool:
        """Whether some request's cost is missing from ``cost`` (a lower bound, or None)."""
        if self.cost_source == "reported":
            return self.reported_requests < self.num_model_requests
        return self.unpriced_requests > 0


@attrs.frozen(kw_only=True)
class CostsResult:
    """One group of one bucket of a costs page (``organization.costs.result``).

    Requests whose cost is unknown or incomplete are a result of their own:
    ``amount`` is ``None`` (no ``amount`` key in the JSON, which OpenAI's
    schema allows; a number would read as $0). Summing the computed cost,
    ``unpriced_requests`` counts them (requests without a price). Summing
    the reported cost (``cost_source`` ``reported``), they are the requests
    whose provider reported no cost, counted by ``unreported_requests``;
    ``unpriced_requests`` is then 0, as such a page does not look at prices
    (``unpriced_requests`` means "no price" on every page).

    ``model``, ``user_id`` and ``provider`` are extensions (OpenAI's costs
    are grouped by project, line item and key only): the group's value when
    the page is grouped by that field, ``None`` otherwise.
    """

    amount: Decimal | None
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    user_id: str | None = None
    provider: str | None = None
    quantity: int | None = None
    quantity_unit: str | None = None
    unpriced_requests: int = 0
    unreported_requests: int = 0
    cost_source: str = "computed"

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's JSON (``amount.value`` is a number; the exact amount is ``self.amount``).

        Our fields beside OpenAI's: ``model``, ``user_id``, ``provider`` (the
        extension groups, ``null`` when not grouped by), the counts of
        requests of unknown cost, and ``cost_source``.
        """
        out: dict[str, Any] = {"object": "organization.costs.result"}
        if self.amount is not None:
            out["amount"] = _amount(self.amount)
        out.update(
            line_item=self.line_item,
            project_id=self.project_id,
            api_key_id=self.api_key_id,
            model=self.model,
            user_id=self.user_id,
            provider=self.provider,
            quantity=self.quantity,
            quantity_unit=self.quantity_unit,
            unpriced_requests=self.unpriced_requests,
            unreported_requests=self.unreported_requests,
            cost_source=self.cost_source,
        )
        return out

    @property
    def partial(self) -> bool:
        """Whether this result counts requests whose cost is not in an amount."""
        return bool(self.unpriced_requests or self.unreported_requests)


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
    """A page of buckets, as OpenAI's ``UsageResponse``, and which cost it sums.

    ``kind`` is the query that answered it: ``usage`` or ``costs`` (``None``
    when not known); ``group_by`` the fields it was grouped by (the table
    shows them, even where a value is null). Neither is in :meth:`to_dict`.
    In Jupyter a page shows as a table (``_repr_html_``);
    :meth:`to_pandas` makes a DataFrame of it.
    """

    data: tuple[Bucket, ...]
    has_more: bool
    next_page: str | None
    cost_source: str = "computed"
    kind: str | None = None
    group_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's ``page`` JSON, with ``cost_source``."""
        return {
            "object": "page",
            "data": [bucket.to_dict() for bucket in self.data],
            "has_more": self.has_more,
            "next_page": self.next_page,
            "cost_source": self.cost_source,
        }

    def to_pandas(self) -> Any:
        """A pandas DataFrame: one row per result (an extension; needs the ``pandas`` extra).

        Columns: ``start_time`` and ``end_time`` of the result's bucket (UTC
        timestamps), then every field of the result as :meth:`to_dict` names
        them, then ``partial`` (bool): whether the row's cost is unknown or a
        lower bound. The cost (``cost`` of usage, ``amount`` of costs) is the
        exact :class:`~decimal.Decimal` in an ``object`` column, ``None``
        where it is unknown (never 0). Buckets without results have no row.

        Raises:
            ImportError: pandas is not installed; the message names the extra.
        """
        from aievents.query._display import frame  # noqa: PLC0415 - pandas only when asked

        kind = self._kind()
        return frame(self, None if kind is None else _TEMPLATES[kind])

    def _repr_html_(self) -> str:
        """The page as an HTML table, as Jupyter shows it (no pandas needed)."""
        from aievents.query._display import html_table  # noqa: PLC0415 - only in notebooks

        return html_table(self, self._kind())

    def _kind(self) -> str | None:
        """``usage`` or ``costs``: as the page says, or as its first result is."""
        if self.kind in _TEMPLATES:
            return self.kind
        for bucket in self.data:
            for result in bucket.results:
                return "usage" if isinstance(result, ImagesResult) else "costs"
        return None


#: An empty result of each kind of page: its fields are a DataFrame's columns.
_TEMPLATES: Final[Mapping[str, ImagesResult | CostsResult]] = {
    "usage": ImagesResult(images=0, num_model_requests=0),
    "costs": CostsResult(amount=_ZERO),
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


def _priced(t: Mapping[str, Any], totals: Sequence[Any], source: str) -> Decimal | None:
    """The known amount of a totals row, of the cost ``source`` names; ``None`` when unknown.

    Computed: a row whose every request is unpriced and whose priced parts
    add up to nothing has no known cost; otherwise the amount is what is
    known (a lower bound while ``unpriced_requests`` is above 0). Reported:
    the sum of the reported costs, ``None`` when no request reported one.
    """
    if source == "reported":
        return reported_total(totals) if t["reported_requests"] else None
    amount = cost_total(totals)
    if amount or t["unpriced_requests"] < t["num_model_requests"]:
        return amount
    return None


def _unknown(t: Mapping[str, Any], source: str) -> int:
    """The requests of a totals row whose cost ``source`` does not know."""
    if source == "reported":
        return int(t["num_model_requests"] - t["reported_requests"])
    return int(t["unpriced_requests"])


def images_result(
    key: tuple[str | None, ...], totals: Sequence[Any], source: str = "computed"
) -> ImagesResult:
    """A usage result of a group's totals, its cost the one ``source`` names."""
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
        reported_requests=t["reported_requests"],
        cost=_priced(t, totals, source),
        cost_source=source,
    )


def unknown_counts(count: int, source: str) -> tuple[int, int]:
    """A costs result's ``(unpriced_requests, unreported_requests)`` of ``count`` unknown.

    Computed: they are unpriced (no price). Reported: unreported (no
    reported cost), and the page does not count prices.
    """
    return (0, count) if source == "reported" else (count, 0)


def line_items(
    model: str | None, totals: Sequence[Any], source: str = "computed"
) -> Iterable[tuple[str, Decimal | None, int | None, str | None, int]]:
    """A model's line items: (name, amount, quantity, unit, requests of unknown cost).

    Computed: one a cost part, then ``<model>, unpriced`` (the requests
    without a price). Reported: one of the reported amount (its quantity
    the requests that reported it), then ``<model>, not reported`` (the
    requests whose provider reported no cost). Those last have no amount.
    """
    t = dict(zip(FIELDS, totals, strict=True))
    name = model or "unknown model"
    unpriced = _unknown(t, source)
    if source == "reported":
        if t["reported_requests"]:
            amount = reported_total(totals)
            yield f"{name}, reported", amount, t["reported_requests"], "requests", 0
    else:
        billed = _billed(t)
        for part, kind, unit in LINE_ITEMS:
            amount = t[f"cost_{part}"]
            quantity = billed.get(part)
            # Tokens at a rate of 0 show (amount 0); images show when billed per
            # image. Tokens without a rate are the unpriced line's, never a $0.
            if amount or (quantity and unit == "tokens" and not unpriced):
                yield f"{name}, {kind}", amount, quantity, unit, 0
    if unpriced:
        what = "not reported" if source == "reported" else "unpriced"
        yield f"{name}, {what}", None, unpriced, "requests", unpriced


def costs_result(named: Mapping[str, str | None], **fields: Any) -> CostsResult:
    """A costs result of a group (its fields by name, ``project_id``, ``model``, ...)."""
    return CostsResult(**{**named, **fields})


def group_costs(
    totals: Sequence[Any], named: Mapping[str, str | None], source: str = "computed"
) -> Iterable[CostsResult]:
    """A group's costs: the known amount, then the requests of unknown cost apart (no amount).

    ``named`` holds the group's fields (``project_id``, ``model``, ...) by name.
    """
    t = dict(zip(FIELDS, totals, strict=True))
    amount = _priced(t, totals, source)
    if amount is not None:
        yield costs_result(named, amount=amount, cost_source=source)
    unpriced = _unknown(t, source)
    if unpriced:
        yield costs_result(
            named,
            amount=None,
            unpriced_requests=unknown_counts(unpriced, source)[0],
            unreported_requests=unknown_counts(unpriced, source)[1],
            cost_source=source,
        )
