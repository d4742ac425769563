"""AggregateSink's compiled tally and its pure Python twin: built, alike, exact at the edges."""

from __future__ import annotations

import gc
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import sysconfig
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aievents
from aievents import ImageUsage, ImageUsageEvent, InputTokensDetails, OutputTokensDetails
from aievents.pricing import cost_of
from aievents.query import QueryError
from aievents.sinks import AggregateSink
from aievents.usage import CostDetails

from helpers import priced_cost as cost
from helpers import usage_at as event

D = Decimal
T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC, seconds
COMPILED = importlib.util.find_spec("aievents._speedups") is not None
TWINS = [
    pytest.param(True, id="compiled", marks=pytest.mark.skipif(not COMPILED, reason="not built")),
    pytest.param(False, id="python"),
]


def totals(sink: AggregateSink, start: int = T0 - 86_400, days: int = 3) -> dict[str, Any]:
    """The one-bucket-per-day sums of everything the sink holds, as JSON."""
    page = sink.usage(start, start + days * 86_400, bucket_width="1d", limit=31)
    results = [r for bucket in page.to_dict()["data"] for r in bucket["results"]]
    keys = ("num_model_requests", "images", "input_tokens", "output_tokens")
    out: dict[str, Any] = {k: sum(r[k] for r in results) for k in keys}
    out["cost"] = sum((D(str(r["cost"]["value"])) for r in results), D(0))
    return out


def exact_cost(
    sink: AggregateSink, lanes: tuple[str, str | None] = ("cost_input_text", "cost_reported")
) -> Decimal:
    """The exact cost the sink holds, from its export: the computed one, or
    (``lanes=("cost_reported", None)``) the reported one."""
    state = sink.export()
    fields = state["fields"]
    first, end = (None if name is None else fields.index(name) for name in lanes)
    return sum((D(v) for _, _, row in state["series"] for v in row[first:end]), D(0))


class TestBuild:
    """The compiled tally is there where it can be built, and can be turned off."""

    def test_built_where_a_compiler_is(self) -> None:
        """With a C compiler at hand the package is installed with it."""
        compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
        if shutil.which(compiler) is None:
            pytest.skip(f"no C compiler ({compiler})")
        assert COMPILED
        assert AggregateSink(compiled=True).compiled

    def test_environment_turns_it_off(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """AIEVENTS_PURE_PYTHON picks the Python twin."""
        monkeypatch.setenv("AIEVENTS_PURE_PYTHON", "1")
        assert not AggregateSink().compiled

    def test_argument_turns_it_off(self) -> None:
        """compiled=False picks the Python twin, whatever is built."""
        assert not AggregateSink(compiled=False).compiled

    def test_default_takes_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """By default the compiled tally is used when it is built (events go into C), else not."""
        monkeypatch.delenv("AIEVENTS_PURE_PYTHON", raising=False)
        sink = AggregateSink()
        if not COMPILED:
            assert sink.compiled is False
            return
        assert sink.compiled is True
        assert inspect.isbuiltin(sink.handle)
        assert not inspect.isbuiltin(AggregateSink(compiled=False).handle)


ROOT = Path(__file__).resolve().parent.parent
#: Runs in a copy of the package whose compiled module was built from other sources.
STALE_RUN = """
import aievents
from aievents.sinks import AggregateSink
from helpers import usage_at

first, second = AggregateSink(clock=lambda: 1_730_419_260), AggregateSink()
first.handle(usage_at("r1", 1_730_419_200))
page = first.usage(1_730_419_200, 1_730_419_260)
print(first.compiled, second.compiled, page.data[0].results[0].num_model_requests)
try:
    AggregateSink(compiled=True)
except ImportError as error:
    print("required:", error)
"""


def build_speedups(folder: Path, abi: int, sources: str = "") -> Path:
    """Compile ``folder``'s C sources there: interface ``abi``, source digest ``sources``."""
    macros = [("SPEEDUPS_ABI", str(abi)), ("SPEEDUPS_SOURCES", f'"{sources}"')]
    c_files = [str(path) for path in sorted(folder.glob("*.c"))]  # as setup.py: every C file
    script = (
        "from setuptools import Extension, setup\n"
        f"setup(name='stale', script_args=['-q', 'build_ext', '--build-lib', {str(folder)!r},"
        f" '--build-temp', {str(folder / 'build')!r}], ext_modules=[Extension('_speedups',"
        f" sources={c_files!r}, define_macros={macros!r})])\n"
    )
    subprocess.run(
        [sys.executable, "-c", script], cwd=folder, check=True, capture_output=True, timeout=300
    )
    (built,) = folder.glob("_speedups*.so")
    return built


def run_stale(folder: Path) -> subprocess.CompletedProcess[str]:
    """STALE_RUN in a process importing the package copied into ``folder``."""
    env = {k: v for k, v in os.environ.items() if k != "AIEVENTS_PURE_PYTHON"}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT / "tests")])
    return subprocess.run(
        [sys.executable, "-c", STALE_RUN],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=folder,
    )  # fmt: skip


def run_refused(folder: Path) -> tuple[str, str]:
    """STALE_RUN where the build is not used: what compiled=True raised, and the one warning."""
    result = run_stale(folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "False False 1"
    (warning,) = result.stderr.splitlines()
    assert "speedups_stale" in warning
    return lines[1], warning


@pytest.fixture(name="package_copy")
def _package_copy(tmp_path: Path) -> Path:
    """A copy of the aievents package in ``tmp_path``, without its compiled module."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler})")
    package = Path(aievents.__file__).resolve().parent
    copy = tmp_path / "aievents"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    return copy


class TestStaleBuild:
    """A compiled module built from other sources is not used: the Python twin runs, said once."""

    def test_interface_matches(self) -> None:
        """The module built with these sources declares their interface and their digest."""
        if not COMPILED:
            pytest.skip("aievents._speedups was not built")
        from aievents import _speedups
        from aievents._compiled import ABI, source_digest

        assert _speedups.ABI == ABI
        assert source_digest(Path(_speedups.__file__).parent) == _speedups.SOURCES

    def test_stale_module_beside_the_sources(self, package_copy: Path) -> None:
        """A build declaring another interface: the sinks count in Python; one warning says why."""
        built = build_speedups(package_copy, abi=1)
        required, warning = run_refused(package_copy.parent)
        assert required.startswith(f"required: {built} was built from other sources")
        assert "(interface 1, these need" in warning
        assert "pip install -e ." in warning

    def test_sources_changed_since(self, package_copy: Path) -> None:
        """A build of the same interface, whose C sources changed since: not used either."""
        from aievents._compiled import ABI, source_digest

        build_speedups(package_copy, abi=ABI, sources=source_digest(package_copy))
        fresh = run_stale(package_copy.parent)
        assert fresh.returncode == 0, fresh.stderr
        assert fresh.stdout.splitlines() == ["True True 1"]
        assert fresh.stderr == ""
        with (package_copy / "_speedups.c").open("a") as source:
            source.write("/* a counting fixed since the build */\n")
        _, warning = run_refused(package_copy.parent)
        assert f"(the C sources in {package_copy} changed since" in warning

    def test_built_for_another_layout(self, package_copy: Path) -> None:
        """A build of these C sources, whose Python classes changed a tuple's order since."""
        from aievents._compiled import ABI, source_digest

        usage = package_copy / "usage.py"
        text = usage.read_text()
        order = '    "output_image_tokens",\n    "output_text_tokens",\n)'
        assert order in text
        usage.write_text(
            text.replace(order, '    "output_text_tokens",\n    "output_image_tokens",\n)', 1)
        )
        built = build_speedups(package_copy, abi=ABI, sources=source_digest(package_copy))
        required, warning = run_refused(package_copy.parent)
        assert required.startswith(f"required: {built} was built for another layout (split holds")
        assert "(split holds" in warning


@pytest.mark.skipif(not COMPILED, reason="aievents._speedups was not built")
class TestLayout:
    """A compiled module built for another totals layout is not used: the Python twin runs, said."""

    def test_built_for_this_layout(self) -> None:
        """The module carries the totals layout it was built for: aievents.totals.FIELDS."""
        from aievents import _speedups, totals

        assert _speedups.LAYOUT["totals"] == totals.FIELDS

    def test_other_layout_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A lane more or in another order: the sinks count in Python; a warning names both."""
        from aievents import totals

        monkeypatch.delenv("AIEVENTS_PURE_PYTHON", raising=False)
        moved = (*totals.FIELDS[:-2], totals.FIELDS[-1], totals.FIELDS[-2])
        monkeypatch.setattr(totals, "FIELDS", moved)
        with structlog.testing.capture_logs() as logs:
            sink = AggregateSink(clock=lambda: T0 + 60)
            with pytest.raises(ImportError, match="built for another layout"):
                AggregateSink(compiled=True)
        assert not sink.compiled
        (line,) = [line for line in logs if line["event"] == "speedups_stale"]
        assert "'cost_other', 'cost_reported')" in line["reason"]
        assert "'cost_reported', 'cost_other')" in line["reason"]
        sink.handle(event("a", T0))
        assert sink.events == 1


@pytest.mark.skipif(not COMPILED, reason="aievents._speedups was not built")
class TestTotals:
    """The compiled entry is indexed like the Python twin's list."""

    def new(self) -> Any:
        from aievents._speedups import Totals

        return Totals()

    def test_zero(self) -> None:
        """A new entry is 20 zero lanes and no extra."""
        assert list(self.new()) == [0] * 20 + [None]

    def test_lanes_past_long_long(self) -> None:
        """A lane set past 2**63 keeps every lane exact."""
        entry = self.new()
        entry[0] = 5
        entry[3] = 2**80 + 1
        entry[3] += 1
        entry[19] = 7
        assert list(entry) == [5, 0, 0, 2**80 + 2, *[0] * 15, 7, None]
        assert entry[-1] is None

    def test_extra(self) -> None:
        """The extra is None or a list."""
        entry = self.new()
        entry[20] = [D("1E-20")] * 8
        assert entry[20] == [D("1E-20")] * 8
        with pytest.raises(TypeError, match="None or a list"):
            entry[20] = D(1)

    def test_refusals(self) -> None:
        """Bad indexes and values are refused."""
        entry = self.new()
        with pytest.raises(IndexError):
            entry[21]
        with pytest.raises(TypeError, match="int"):
            entry[0] = "1"
        with pytest.raises(TypeError, match="deleted"):
            del entry[0]
        with pytest.raises(TypeError, match="no arguments"):
            type(entry)(1)


@pytest.mark.parametrize("compiled", TWINS)
class TestEdges:
    """Values and moments off the common path are counted exactly by both twins."""

    def test_counts_past_long_long(self, compiled: bool) -> None:
        """Token counts past 2**63 sum exactly."""
        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)
        sink.handle(event("a", T0, text=3))
        sink.handle(event("b", T0 + 1, text=2**70))
        sink.handle(event("c", T0 + 2, text=2**70))
        sink.handle(event("d", T0 + 3, text=4))
        assert totals(sink)["input_tokens"] == 2**71 + 7

    def test_counts_at_the_long_long_edge(self, compiled: bool) -> None:
        """A sum that lands one past 2**63 - 1 is exact."""
        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)
        for index, text in enumerate([2**63 - 10, 9, 1, 5]):
            sink.handle(event(f"r{index}", T0 + index, text=text))
        assert totals(sink)["input_tokens"] == 2**63 + 5

    def test_costs_past_long_long(self, compiled: bool) -> None:
        """Cost parts past what long long holds in cost units sum exactly, and go on."""
        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)
        big = cost(per_image="20000.000000000000001")
        prices = [cost(per_image="0.04"), big, cost(per_image="0.04"), cost(per_image="0.04")]
        for index, price in enumerate(prices):
            sink.handle(event(f"r{index}", T0 + index, price=price))
        assert exact_cost(sink) == D("20000.120000000000001")
        assert totals(sink)["num_model_requests"] == 4

    def test_costs_finer_than_units(self, compiled: bool) -> None:
        """Cost parts with more digits than cost units are summed as Decimals."""
        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)
        fine = cost(output_image="0.0000000000000000001")
        for index, price in enumerate([fine, fine, cost(output_image="0.01")]):
            sink.handle(event(f"r{index}", T0 + index, price=price))
        assert exact_cost(sink) == D("0.0100000000000000002")

    def test_reported_cost(self, compiled: bool) -> None:
        """A cost the provider reported is summed apart from the computed one (Python path)."""
        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)
        sink.handle(event("a", T0))  # opens the series
        tally = sink._table.tally
        sink.handle(event("b", T0 + 1))  # the tally's own path
        said = ImageUsage(input_tokens=10, output_tokens=100, cost="0.0123")
        sink.handle(event("c", T0 + 2, usage=said))  # declined: the table counts it
        sink.handle(event("d", T0 + 3, usage=attrs.evolve(said, cost="1E-19")))  # finer
        upstream = attrs.evolve(said, cost=None, cost_details=CostDetails(upstream_cost="0.002"))
        sink.handle(event("e", T0 + 4, usage=upstream))  # reported as the upstream's cost
        details = attrs.evolve(upstream, cost_details=CostDetails(upstream_input_cost="0.001"))
        sink.handle(event("f", T0 + 5, usage=details))  # details, but no cost reported
        assert tally.events == 1
        # computed: 6 x $0.00405 (10 input text tokens at $5/M + $0.004 of output image)
        assert exact_cost(sink) == D("0.0243")
        # reported: 0.0123 + 1E-19 + 0.002
        assert exact_cost(sink, ("cost_reported", None)) == D("0.0143000000000000001")
        page = sink.usage(T0, T0 + 86_400, cost="reported").to_dict()
        (result,) = page["data"][0]["results"]
        assert (result["reported_requests"], result["cost_source"]) == (3, "reported")
        assert result["cost"]["value"] == pytest.approx(0.0143)

    def test_late_event_after_roll_up(self, compiled: bool) -> None:
        """An event for a minute already rolled into its hour still counts."""
        now = [T0 + 120.0]
        sink = AggregateSink(
            compiled=compiled, minute_detail=600, hour_detail=7200, clock=lambda: now[0]
        )
        sink.handle(event("a", T0))
        sink.handle(event("b", T0 + 60))  # the series' latest entry: minute 1
        now[0] = T0 + 3600
        assert (
            sink.usage(T0, T0 + 86_400).to_dict()["data"][0]["results"][0]["num_model_requests"]
            == 2
        )  # both minutes are in their hour now
        sink.handle(event("c", T0 + 61))  # minute 1 again
        sink.handle(event("d", T0 + 62))
        assert totals(sink)["num_model_requests"] == 4

    def test_subclass_counted(self, compiled: bool) -> None:
        """A subclass of ImageUsageEvent takes the general path, and counts."""

        @attrs.frozen(kw_only=True, slots=True)
        class Tagged(ImageUsageEvent):
            tag: str = "x"

        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)
        plain = event("a", T0)
        sink.handle(plain)
        fields = {f.name: getattr(plain, f.name) for f in attrs.fields(ImageUsageEvent) if f.init}
        sink.handle(Tagged(**{**fields, "request_id": "b"}))
        sink.handle(Tagged(**{**fields, "request_id": "a"}))  # a duplicate, either path
        assert totals(sink)["num_model_requests"] == 2
        assert sink.duplicates == 1

    def test_closed_ignores(self, compiled: bool) -> None:
        """After close nothing more is counted, on either path."""
        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 3600)
        sink.handle(event("a", T0))
        sink.close()
        sink.handle(event("b", T0 + 1))
        sink.handle(event("c", T0 + 1, user_id="user_new"))
        assert sink.events == 1
        assert totals(sink)["num_model_requests"] == 1

    def test_close_during_a_collection(self, compiled: bool) -> None:
        """A close that runs inside the add (a finalizer in a collection) wins."""
        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 60)
        sink.handle(event("a", T0))
        late = event("b", T0 + 1)
        armed = [True]

        def collecting(phase: str, info: dict[str, Any]) -> None:
            if phase == "start" and armed[0]:
                armed[0] = False
                sink.close()

        threshold = gc.get_threshold()
        gc.collect()
        gc.callbacks.append(collecting)
        gc.set_threshold(1)
        try:
            sink.handle(late)
        finally:
            gc.set_threshold(*threshold)
            gc.callbacks.remove(collecting)
        assert sink.closed
        assert sink.events == 1

    def test_str_subclasses_kept_as_str(self, compiled: bool) -> None:
        """Dimensions and ids of a str subclass are kept as plain strs: no code runs later."""
        calls: list[str] = []

        class Loud(str):
            def __hash__(self) -> int:
                calls.append(str(self))
                return str.__hash__(self)

        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 600)
        sink.handle(event(Loud("a"), T0, user_id=Loud("user_1")))
        calls.clear()
        sink.handle(event("b", T0 + 120))
        sink.handle(event("c", T0 + 121))
        assert calls == []
        assert totals(sink)["num_model_requests"] == 3
        assert [dims[4] for _, dims, _ in sink.export()["series"]] == ["user_1", "user_1"]

    def test_merge_refuses_counters_past_ssize(self, compiled: bool) -> None:
        """A state whose counters do not fit is refused whole."""
        source = AggregateSink(compiled=compiled, clock=lambda: T0 + 60)
        source.handle(event("a", T0))
        state = source.export()
        sink = AggregateSink(compiled=compiled, clock=lambda: T0 + 60)
        with pytest.raises(QueryError, match="'events'"):
            sink.merge({**state, "events": sys.maxsize + 1})
        assert sink.events == 0
        assert sink.export()["series"] == []


@pytest.mark.skipif(not COMPILED, reason="aievents._speedups was not built")
def test_uninitialised_tally_refuses() -> None:
    """A Tally whose __init__ did not run raises rather than crashing."""
    from aievents._speedups import Tally

    bare = Tally.__new__(Tally)
    with pytest.raises(RuntimeError, match="__init__"):
        bare.handle(event("a", T0))
    with pytest.raises(RuntimeError, match="__init__"):
        bare.add(event("a", T0))


# ------------------------------------------------------------------ parity

USERS = ("u1", "u2", "u3", "u4", "u5")
PARTS = st.sampled_from(["0", "0.04", "0.0000125", "1E-19", "12345.678", "9300", "1E-7"])
COUNT = st.one_of(st.integers(0, 5000), st.sampled_from([2**63 - 1, 2**63, 2**64]), st.none())


@st.composite
def usages(draw: st.DrawFn) -> ImageUsage:
    """Usage with or without details, cached tokens, and counts past 2**63."""
    text, image, cached, out_image, out_text = (draw(COUNT) for _ in range(5))
    inputs = draw(st.booleans())
    outputs = draw(st.booleans())
    return ImageUsage(
        # what the provider reported: its cost, or its upstream's
        cost=draw(st.one_of(st.none(), st.none(), PARTS)),
        cost_details=draw(st.one_of(st.none(), st.builds(CostDetails, upstream_cost=PARTS))),
        input_tokens=draw(COUNT),
        output_tokens=draw(COUNT),
        input_tokens_details=InputTokensDetails(
            text_tokens=text, image_tokens=image, cached_tokens=cached
        )
        if inputs
        else None,
        output_tokens_details=OutputTokensDetails(image_tokens=out_image, text_tokens=out_text)
        if outputs
        else None,
    )


STEP = st.tuples(
    st.integers(0, 40),  # request id (repeats are duplicates)
    # minute of the event in three days, or five days before them (expired)
    st.one_of(st.integers(0, 3 * 1440), st.just(-5 * 1440)),
    st.sampled_from(USERS),
    usages(),
    st.one_of(st.none(), st.tuples(PARTS, PARTS)),  # none: priced from the table
    st.one_of(st.none(), st.integers(0, 4)),  # images
    st.integers(0, 600),  # seconds the clock moves on
    st.sampled_from(["priced", "priced", "partly", "no price"]),
)


@pytest.mark.skipif(not COMPILED, reason="aievents._speedups was not built")
class TestParity:
    """The compiled tally and the Python twin agree on every stream."""

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(STEP, max_size=120), st.booleans())
    def test_same_state(self, steps: list[tuple[Any, ...]], tight: bool) -> None:
        """Same events, same clock: same export and same pages, caps and roll-ups included."""
        now = [float(T0)]
        limits: dict[str, Any] = (
            {"max_series": 3, "max_entries": 12, "max_request_ids": 8}
            if tight
            else {"max_request_ids": 10_000}
        )
        sinks = [
            AggregateSink(
                compiled=compiled,
                minute_detail=1800,
                hour_detail=86_400,
                retention=2 * 86_400,
                clock=lambda: now[0],
                **limits,
            )
            for compiled in (True, False)
        ]
        unique: dict[str, ImageUsageEvent] = {}
        expired = 0
        for rid, minute, user, usage, parts, images, wait, kind in steps:
            built = event(
                f"r{rid}",
                T0 + minute * 60 + 7,
                user_id=user,
                usage=usage,
                images=images,
                price=cost(input_text=parts[0], output_image=parts[1]) if parts else None,
            )
            if parts is None:
                built = attrs.evolve(built, cost=None)
            if kind == "no price":
                built = attrs.evolve(built, model="acme-image-x", cost=None)
            elif kind == "partly" and built.cost is not None:
                built = attrs.evolve(built, cost=attrs.evolve(built.cost, unpriced=("other",)))
            if minute < 0:
                expired += 1
            else:
                unique.setdefault(built.request_id, built)
            now[0] += wait
            for sink in sinks:
                sink.handle(built)
        compiled, python = sinks
        assert compiled.export() == python.export()
        assert compiled.expired == python.expired == expired
        for width in ("1m", "1h", "1d"):
            args = (T0 - 86_400, T0 + 4 * 86_400)
            assert (
                compiled.usage(*args, bucket_width=width, group_by=["user_id"]).to_dict()
                == python.usage(*args, bucket_width=width, group_by=["user_id"]).to_dict()
            )
        for source in ("computed", "reported"):
            assert (
                compiled.costs(T0, group_by=["line_item"], cost=source).to_dict()
                == python.costs(T0, group_by=["line_item"], cost=source).to_dict()
            )
        assert (
            compiled.usage(T0, group_by=["user_id"], cost="reported").to_dict()
            == python.usage(T0, group_by=["user_id"], cost="reported").to_dict()
        )
        if not tight and now[0] < T0 + 2 * 86_400:  # nothing aged out: the exact sums
            held = compiled.export()
            assert held["events"] == len(unique)
            priced = [e.cost or cost_of(e) for e in unique.values()]
            assert exact_cost(compiled) == sum((c.total for c in priced if c), D(0))
            said = [c for e in unique.values() if (c := e.usage.reported_cost) is not None]
            assert exact_cost(compiled, ("cost_reported", None)) == sum(said, D(0))
            lane = held["fields"].index("reported_requests")
            assert sum(row[lane] for _, _, row in held["series"]) == len(said)
            lane = held["fields"].index("unpriced_requests")
            assert sum(row[lane] for _, _, row in held["series"]) == sum(
                1 for c in priced if c is None or c.unpriced
            )
            state_text = held["fields"].index("input_tokens")
            assert sum(row[state_text] for _, _, row in held["series"]) == sum(
                e.usage.input_tokens or 0 for e in unique.values()
            )
