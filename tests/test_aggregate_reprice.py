"""AggregateSink.reprice: exact where the sums allow, every other series named and left alone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest

from aievents.money import ImageCost
from aievents.pricing import PriceBook, PriceTable
from aievents.sinks import AggregateSink
from aievents.usage import Billed, ImageUsage
from reprice_data import DAY, NEW, OLD, T0, request, requests, tokens

D = Decimal


@pytest.fixture(name="compiled", params=[False, True], ids=["python", "compiled"])
def _compiled(request: pytest.FixtureRequest) -> bool:
    """Which tally adds the events (both keep the same entries)."""
    if request.param:
        pytest.importorskip("aievents._speedups")
    return bool(request.param)


def sink(table: PriceTable, compiled: bool, events: list[Any]) -> AggregateSink:
    """An aggregate pricing with ``table``, minute detail kept, given ``events``."""
    found = AggregateSink(
        prices=PriceBook(table),
        minute_detail=400 * DAY,
        hour_detail=400 * DAY,
        retention=400 * DAY,
        clock=lambda: T0 + 3 * DAY,
        compiled=compiled,
    )
    for event in events:
        found.handle(event)
    return found


def answers(memory: AggregateSink, models: list[str]) -> list[Any]:
    """The usage and costs answers of some models over the three days."""
    return [
        memory.usage(
            T0, T0 + 3 * DAY, "1h", ["model", "user_id"], models=models, limit=72
        ).to_dict(),
        memory.usage(T0, T0 + 3 * DAY, "1d", ["model", "size"], models=models).to_dict(),
    ]


class TestExact:
    """Series priced by tokens, or per image by size, are repriced exactly."""

    def test_token_and_image_series(self, compiled: bool) -> None:
        """Repriced: the same totals as priced with the new table from the start."""
        old = sink(OLD, compiled, requests(PriceBook(OLD)))
        result = old.reprice(NEW)
        fresh = sink(NEW, compiled, requests(PriceBook(NEW)))
        repriced = ["tok-model", "img-model"]
        assert answers(old, repriced) == answers(fresh, repriced)
        assert (result.requests, result.changed, result.kept) == (6, 4, 1)
        by_model = {m.model: (m.old, m.new) for m in result.models}
        # See reprice_data.requests: 0.0405 + 0.0839125 + 0.165 -> 0.0306 + 0.064075 + 0.126,
        # and 0.08 + 0.08 -> 0.10 + 0.08.
        assert by_model["tok-model"] == (D("0.2894125"), D("0.220675"))
        assert by_model["img-model"] == (D("0.16"), D("0.18"))

    def test_many_requests_of_one_series(self, compiled: bool) -> None:
        """Token sums of many requests price as the requests one by one."""
        events = [
            request(
                f"t{i}", T0 + i * 7, "tok-model", usage=tokens(10 + i, 1000 + 3 * i, cached=i % 5)
            )
            for i in range(300)
        ]
        old = sink(OLD, compiled, events)
        old.reprice(NEW)
        assert answers(old, ["tok-model"]) == answers(sink(NEW, compiled, events), ["tok-model"])
        costs = old.costs(T0, T0 + DAY).data[0].results[0]
        assert (
            costs.amount
            == sink(NEW, compiled, events).costs(T0, T0 + DAY).data[0].results[0].amount
        )


def per_image_cost(total: str) -> ImageCost:
    """A per-image estimate, as instrumentation gives for a token model without usage."""
    return ImageCost(
        total=D(total),
        basis="estimate",
        per_image=D(total),
        price_version="old-1",
        priced_model="tok-model",
    )


class TestRefused:
    """A series whose sums cannot be priced again exactly is named, with why, and kept as it was."""

    def test_mixed_series(self, compiled: bool) -> None:
        """Token-priced and per-image-priced requests in one series: left alone."""
        mixed = request("est", T0 + 120, "tok-model", images=1)
        mixed = attrs.evolve(mixed, cost=per_image_cost("0.05"))
        memory = sink(
            OLD, compiled, [request("tok-a", T0 + 60, "tok-model", usage=tokens(100, 1000)), mixed]
        )
        before = memory.costs(T0, T0 + DAY).to_dict()
        result = memory.reprice(NEW)
        assert memory.costs(T0, T0 + DAY).to_dict() == before
        (refused,) = result.not_repriced
        assert refused.series["model"] == "tok-model"
        assert refused.requests == 2
        assert "mixes requests priced by tokens and requests priced per image" in refused.reason
        assert (result.changed, result.kept) == (0, 2)

    def test_unpriced_series(self, compiled: bool) -> None:
        """Requests unpriced when counted are not priced from sums."""
        memory = sink(OLD, compiled, [request("new-a", T0 + 60, "new-model", images=3)])
        result = memory.reprice(NEW)
        (refused,) = result.not_repriced
        assert "unpriced when counted" in refused.reason
        assert result.unpriced == 1

    def test_price_by_quality_unnamed(self, compiled: bool) -> None:
        """A new per-image price that depends on the quality, for a series of requests that
        named none: left alone."""
        by_quality = NEW.with_prices(
            [
                PriceBook(NEW).set_price(
                    "img-model",
                    provider="acme",
                    per_image=[{"quality": "high", "price": "0.09"}, {"price": "0.05"}],
                )
            ]
        )
        unnamed = attrs.evolve(request("img-a", T0 + 60, "img-model", images=2), quality=None)
        memory = sink(OLD, compiled, [unnamed])
        result = memory.reprice(by_quality)
        (refused,) = result.not_repriced
        assert "depends on the quality, which the series does not name" in refused.reason
        assert refused.series["quality"] is None
        # Still the old price: 2 * 0.04.
        assert memory.costs(T0, T0 + DAY).data[0].results[0].amount == D("0.08")


class TestByProviderAndQuality:
    """A series keeps its provider and quality: prices that depend on them are repriced."""

    def test_price_by_quality(self, compiled: bool) -> None:
        """Each quality's series is priced at that quality's new price, exactly."""
        by_quality = NEW.with_prices(
            [
                PriceBook(NEW).set_price(
                    "img-model",
                    provider="acme",
                    per_image=[{"quality": "high", "price": "0.09"}, {"price": "0.05"}],
                )
            ]
        )
        events = [
            request("img-a", T0 + 60, "img-model", images=2),  # quality high
            attrs.evolve(request("img-b", T0 + 120, "img-model", images=3), quality="low"),
        ]
        memory = sink(OLD, compiled, events)
        result = memory.reprice(by_quality)
        assert result.not_repriced == ()
        assert result.changed == 2
        fresh = sink(by_quality, compiled, events)
        query = {"group_by": ["quality"]}
        assert memory.usage(T0, T0 + DAY, **query).to_dict() == (
            fresh.usage(T0, T0 + DAY, **query).to_dict()
        )
        # 2 * 0.09 + 3 * 0.05
        assert memory.costs(T0, T0 + DAY).data[0].results[0].amount == D("0.33")

    def test_price_by_provider(self, compiled: bool) -> None:
        """A model priced by provider: each provider's series at its own provider's price."""
        two = NEW.with_prices(
            [
                PriceBook(NEW).set_price("img-model", provider="acme", per_image="0.07"),
                PriceBook(NEW).set_price("img-model", provider="other", per_image="0.02"),
            ]
        )
        events = [
            request("img-a", T0 + 60, "img-model", images=2),  # provider acme
            attrs.evolve(request("img-b", T0 + 120, "img-model", images=1), provider="other"),
        ]
        memory = sink(OLD, compiled, events)
        result = memory.reprice(two)
        assert result.not_repriced == ()
        fresh = sink(two, compiled, events)
        query = {"group_by": ["provider"]}
        assert memory.usage(T0, T0 + DAY, **query).to_dict() == (
            fresh.usage(T0, T0 + DAY, **query).to_dict()
        )
        # 2 * 0.07 + 0.02
        assert memory.costs(T0, T0 + DAY).data[0].results[0].amount == D("0.16")

    def test_export_of_before_names_neither(self, compiled: bool) -> None:
        """Series merged from a format 3 export (provider None) are not priced by provider."""
        two = NEW.with_prices(
            [
                PriceBook(NEW).set_price("img-model", provider="acme", per_image="0.07"),
                PriceBook(NEW).set_price("img-model", provider="other", per_image="0.02"),
            ]
        )
        state = sink(OLD, compiled, [request("img-a", T0 + 60, "img-model", images=2)]).export()
        old = {**state, "format": 3, "series": [[m, d[:6], t] for m, d, t in state["series"]]}
        memory = sink(OLD, compiled, [])
        memory.merge(old)
        result = memory.reprice(two)
        (refused,) = result.not_repriced
        assert "priced by provider, and the series does not name its provider" in refused.reason
        assert memory.costs(T0, T0 + DAY).data[0].results[0].amount == D("0.08")


def billed_by_megapixel(table: PriceTable) -> PriceTable:
    """``table`` with img-model also priced by what the provider billed: $0.03 a megapixel."""
    price = table.lookup("img-model")
    assert price is not None
    return table.with_prices([attrs.evolve(price, per_billed_unit=(("megapixels", D("0.03")),))])


class TestBilled:
    """A model priced by what the provider billed: the sums do not keep it, so it is left alone."""

    def test_billed_when_counted(self, compiled: bool) -> None:
        """Counted with a billed price: not repriced by the image count."""
        usage = ImageUsage(billed=Billed(quantity=D("2"), unit="megapixels"))
        event = request("bill-a", T0 + 60, "img-model", images=2, usage=usage)
        memory = sink(billed_by_megapixel(OLD), compiled, [event])
        # 2 megapixels * 0.03 = 0.06 (per image, 2 * 0.05 = 0.10, would be wrong).
        assert memory.costs(T0, T0 + DAY).data[0].results[0].amount == D("0.06")
        result = memory.reprice(NEW)
        (refused,) = result.not_repriced
        assert "billed" in refused.reason
        assert (result.changed, result.kept) == (0, 1)
        assert memory.costs(T0, T0 + DAY).data[0].results[0].amount == D("0.06")

    def test_billed_in_the_new_prices(self, compiled: bool) -> None:
        """The new prices price the model by what was billed: the series is left alone."""
        memory = sink(OLD, compiled, [request("img-a", T0 + 60, "img-model", images=2)])
        result = memory.reprice(billed_by_megapixel(NEW))
        (refused,) = result.not_repriced
        assert "billed" in refused.reason
        # Still the old price: 2 * 0.04.
        assert memory.costs(T0, T0 + DAY).data[0].results[0].amount == D("0.08")
