"""add_usage: two usages of one request added up, the provider's figures with the tokens."""

from __future__ import annotations

from decimal import Decimal

import structlog

from aievents import (
    Billed,
    CostDetails,
    EventClient,
    ImageUsage,
    ImageUsageEvent,
    InputTokensDetails,
    OutputTokensDetails,
)
from aievents.instrument import image_request
from aievents.testing import capture_events
from aievents.usage import add_usage

D = Decimal


class TestAddUsage:
    """Every figure is summed; one side's figure is kept; none stays None."""

    def test_every_field_summed(self) -> None:
        """Tokens, details, cost, cost details and billed (one unit) are added."""
        a = ImageUsage(
            cost="0.01",
            input_tokens=10,
            output_tokens=100,
            input_tokens_details=InputTokensDetails(text_tokens=6, image_tokens=4),
            output_tokens_details=OutputTokensDetails(image_tokens=100),
            billed=Billed(1, "images"),
            cost_details=CostDetails(upstream_cost="0.008", upstream_input_cost="0.001"),
        )
        b = ImageUsage(
            cost="0.02",
            input_tokens=5,
            output_tokens=50,
            total_tokens=60,
            input_tokens_details=InputTokensDetails(text_tokens=5, cached_tokens=2),
            output_tokens_details=OutputTokensDetails(image_tokens=40, text_tokens=10),
            billed=Billed(2, "images"),
            cost_details=CostDetails(upstream_cost="0.016", upstream_output_cost="0.015"),
        )
        assert add_usage(a, b) == ImageUsage(
            input_tokens=15,
            output_tokens=150,
            total_tokens=170,  # a's 10 + 100 (not reported), b's 60 as reported
            input_tokens_details=InputTokensDetails(
                text_tokens=11, image_tokens=4, cached_tokens=2
            ),
            output_tokens_details=OutputTokensDetails(image_tokens=140, text_tokens=10),
            cost=D("0.03"),
            billed=Billed(3, "images"),
            cost_details=CostDetails(
                upstream_cost=D("0.024"),
                upstream_input_cost=D("0.001"),
                upstream_output_cost=D("0.015"),
            ),
        )

    def test_one_sided_figures_kept(self) -> None:
        """A figure only one side reported is kept, whichever side it is."""
        reported = ImageUsage(
            cost="0.5",
            billed=Billed("1.5", "megapixels"),
            cost_details=CostDetails(upstream_cost=1),
        )
        assert add_usage(reported, ImageUsage()) == reported
        assert add_usage(ImageUsage(), reported) == reported

    def test_nothing_reported_stays_unknown(self) -> None:
        """Two usages that report nothing add up to one that reports nothing (None, never 0)."""
        total = add_usage(ImageUsage(), ImageUsage())
        assert total == ImageUsage()
        assert total.cost is None
        assert total.reported_cost is None


class TestBilledUnitsDiffer:
    """Billed quantities in two units have no sum: None, and a warning with both figures."""

    def test_none_and_logged_once(self) -> None:
        """The sum's billed is None; the warning names both, once for the pair of units."""
        a = ImageUsage(input_tokens=10, billed=Billed(2, "images"))
        b = ImageUsage(input_tokens=5, billed=Billed("1.5", "megapixels"))
        with structlog.testing.capture_logs() as logs:
            total = add_usage(a, b)
            add_usage(a, b)
        assert total.billed is None
        assert total.input_tokens == 15  # the rest is summed as ever
        (line,) = [entry for entry in logs if entry["event"] == "billed_units_differ"]
        assert line["log_level"] == "warning"
        assert (line["first"], line["second"]) == ("2 images", "1.5 megapixels")


class TestRequestAddsUp:
    """A request whose usage is recorded twice keeps the provider's figures, summed."""

    def test_billed_and_reported_cost_survive(self, client: EventClient) -> None:
        """Two partial results: billed, cost and cost details summed, priced by what was billed."""
        with (
            capture_events(client) as events,
            image_request(provider="fal", model="fal-ai/flux/dev", client=client) as req,
        ):
            req.record_usage(
                ImageUsage(
                    billed=Billed(1, "megapixels"),
                    cost="0.025",
                    cost_details=CostDetails(upstream_cost="0.02"),
                )
            )
            req.record_usage(
                ImageUsage(
                    billed=Billed(2, "megapixels"),
                    cost="0.05",
                    cost_details=CostDetails(upstream_cost="0.04"),
                )
            )
        usage = events[-1]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.usage.billed == Billed(3, "megapixels")
        assert usage.usage.cost == D("0.075")
        assert usage.usage.cost_details == CostDetails(upstream_cost=D("0.06"))
        assert usage.cost is not None
        # fal-ai/flux/dev: 0.025 per megapixel billed; 3 MP x 0.025 = 0.075
        assert usage.cost.basis == "billed"
        assert usage.cost.total == D("0.075")
