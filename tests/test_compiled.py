"""aievents._compiled: the compiled tally is used only where it fits the Python classes it reads."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import pytest

from aievents._compiled import fitting, layout_mismatch
from aievents.events import ImageUsageEvent
from aievents.money import UNIT_FIELDS, ImageCost
from aievents.sinks import AggregateSink
from aievents.sinks import _tally as tally
from aievents.totals import FIELDS
from aievents.usage import SPLIT_FIELDS, ImageUsage

from helpers import usage_at

T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC, seconds
COMPILED = importlib.util.find_spec("aievents._speedups") is not None

CLASSES: dict[str, type] = {"event": ImageUsageEvent, "usage": ImageUsage, "cost": ImageCost}
#: The event's slots of the dimensions, in aievents.query.DIMENSIONS order.
DIMS = (
    "model", "size", "operation", "project_id", "user_id", "api_key_id", "provider", "quality",
)  # fmt: skip
ORDERS: dict[str, tuple[str, ...]] = {
    "dims": DIMS,
    "split": SPLIT_FIELDS,
    "units": UNIT_FIELDS,
    "totals": FIELDS,
}
#: What the compiled tally reads (the LAYOUT of a build of these sources).
READS: dict[str, tuple[str, ...]] = {
    "event": ("request_id", "timestamp", "usage", "cost", "images", *DIMS),
    "dims": DIMS,
    "usage": ("input_tokens", "output_tokens", "split", "cost", "cost_details"),
    "cost": ("units", "unpriced"),
    "split": SPLIT_FIELDS,
    "units": UNIT_FIELDS,
    "totals": FIELDS,
}  # fmt: skip


def changed(**parts: Any) -> dict[str, Any]:
    """READS with ``parts`` replaced (a part given as None is left out)."""
    layout = {**READS, **parts}
    return {key: value for key, value in layout.items() if value is not None}


class TestLayoutMismatch:
    """A layout description is checked against the classes: slot names, and orders item for item."""

    def test_these_sources_fit(self) -> None:
        """What the tally reads is what the classes hold."""
        assert layout_mismatch(READS, CLASSES, ORDERS) is None

    def test_what_a_build_of_these_sources_describes(self) -> None:
        """The compiled module describes the layout it was built for, and it fits."""
        if not COMPILED:
            pytest.skip("aievents._speedups was not built")
        from aievents import _speedups

        assert _speedups.LAYOUT == READS
        assert layout_mismatch(_speedups.LAYOUT, CLASSES, ORDERS) is None

    def test_a_slot_the_class_lacks(self) -> None:
        """A build that reads the usage's split under its former private name does not fit."""
        built = changed(usage=("input_tokens", "output_tokens", "_split"))
        assert layout_mismatch(built, CLASSES, ORDERS) == (
            "ImageUsage has no slot '_split' the build reads"
        )

    def test_a_property_is_no_slot(self) -> None:
        """A name the class has, but as a property, cannot be read at an offset."""
        built = changed(usage=("input_tokens", "input_text_tokens"))
        assert layout_mismatch(built, CLASSES, ORDERS) == (
            "ImageUsage has no slot 'input_text_tokens' the build reads"
        )

    def test_another_order(self) -> None:
        """A split in another order is a mismatch, naming both orders."""
        swapped = (*SPLIT_FIELDS[:4], SPLIT_FIELDS[5], SPLIT_FIELDS[4])
        reason = layout_mismatch(changed(split=swapped), CLASSES, ORDERS)
        assert reason == f"split holds {SPLIT_FIELDS} here, the build reads {swapped}"

    def test_dims_of_a_build_before_provider_and_quality(self) -> None:
        """A build keying series by OpenAI's six dimensions only does not fit: it names both."""
        reason = layout_mismatch(changed(dims=DIMS[:6]), CLASSES, ORDERS)
        assert reason == f"dims holds {DIMS} here, the build reads {DIMS[:6]}"

    def test_another_count(self) -> None:
        """Cost units of one part fewer are a mismatch."""
        reason = layout_mismatch(changed(units=UNIT_FIELDS[:-1]), CLASSES, ORDERS)
        assert reason is not None
        assert reason.startswith("units holds")

    @pytest.mark.parametrize(
        "built",
        [
            pytest.param(changed(units=None), id="a-part-missing"),
            pytest.param(changed(rows=("model",)), id="a-part-unknown"),
        ],
    )
    def test_other_parts(self, built: dict[str, Any]) -> None:
        """A build describing other parts than these sources does not fit."""
        reason = layout_mismatch(built, CLASSES, ORDERS)
        assert reason is not None
        assert reason.startswith(f"the build describes {sorted(built)}")

    @pytest.mark.parametrize("built", [None, ("usage",), "usage"])
    def test_no_description(self, built: Any) -> None:
        """A build from before layouts were described does not fit."""
        assert layout_mismatch(built, CLASSES, ORDERS) == "the build describes no layout"


@pytest.mark.skipif(not COMPILED, reason="aievents._speedups was not built")
class TestRefusedLayout:
    """A build made for another layout is not used: the Python twin counts; a warning says why."""

    @pytest.fixture(name="other_layout")
    def _other_layout(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The compiled module describing a layout these classes do not have."""
        from aievents import _speedups

        monkeypatch.delenv("AIEVENTS_PURE_PYTHON", raising=False)
        old = changed(usage=("input_tokens", "output_tokens", "_split"))
        monkeypatch.setattr(_speedups, "LAYOUT", old)
        tally._tell_stale.cache_clear()

    @pytest.mark.usefixtures("other_layout")
    def test_fitting_refuses(self) -> None:
        """fitting() answers no module, and why."""
        module, reason = fitting(CLASSES, ORDERS)
        assert module is None
        assert reason is not None
        assert "was built for another layout (ImageUsage has no slot '_split'" in reason
        assert "pip install -e ." in reason

    @pytest.mark.usefixtures("other_layout")
    def test_the_sink_counts_in_python(self, caplog: pytest.LogCaptureFixture) -> None:
        """AggregateSink() takes the Python twin and warns once; compiled=True refuses."""
        with caplog.at_level(logging.WARNING, logger="aievents.speedups"):
            first, second = AggregateSink(clock=lambda: T0 + 60), AggregateSink()
        assert not first.compiled
        assert not second.compiled
        first.handle(usage_at("r1", T0))
        assert first.usage(T0, T0 + 60).data[0].results[0].num_model_requests == 1
        (record,) = [r for r in caplog.records if r.name == "aievents.speedups"]
        assert "speedups_stale" in record.getMessage()
        assert "built for another layout" in record.getMessage()
        with pytest.raises(ImportError, match="built for another layout"):
            AggregateSink(compiled=True)

    def test_fits_again(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the layout it was built for, the compiled tally is used."""
        monkeypatch.delenv("AIEVENTS_PURE_PYTHON", raising=False)
        module, reason = fitting(CLASSES, ORDERS)
        assert (module is not None, reason) == (True, None)
        assert AggregateSink().compiled
