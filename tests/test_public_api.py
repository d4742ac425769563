"""The public API: re-exports, docstrings, typing marker."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import aievents

SRC = Path(aievents.__file__).parent
#: What ``import aievents`` may load beside the internal toolbox (``aievents._*``).
CORE = frozenset(
    {
        "aievents",
        "aievents.client",
        "aievents.context",
        "aievents.events",
        "aievents.exceptions",
        "aievents.money",
        "aievents.protocols",
        "aievents.usage",
        "aievents.wire",
    }
)

MODULES = [
    "aievents",
    "aievents.client",
    "aievents.context",
    "aievents.devtools",
    "aievents.encoding",
    "aievents.encoding.devtools",
    "aievents.encoding.jsonl",
    "aievents.encoding.otlp",
    "aievents.events",
    "aievents.exceptions",
    "aievents.pricing",
    "aievents.protocols",
    "aievents.query",
    "aievents.serve",
    "aievents.sinks.aggregate",
    "aievents.sinks.log",
    "aievents.sinks.prometheus",
    "aievents.sinks.otel",
    "aievents.sinks.store",
    "aievents.instrument",
    "aievents.sinks.forward",
    "aievents.transports",
    "aievents.transports.http",
    "aievents.transports.jsonl",
    "aievents.transports.otlp",
    "aievents.sinks",
    "aievents.testing",
    "aievents.usage",
    "aievents.money",
    "aievents.adapters",
    "aievents.adapters.detect",
    "aievents.adapters.fal",
    "aievents.adapters.google",
    "aievents.adapters.openai",
    "aievents.adapters.orq",
    "aievents.adapters.tanstack",
    "aievents.wire",
]


def runtime_imports(path: Path, package: str) -> list[str]:
    """The modules of ``package`` that ``path`` imports when it runs (not for type checkers)."""
    found = []
    for node in ast.parse(path.read_text()).body:  # module level; TYPE_CHECKING blocks are ifs
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return [name for name in found if name == package or name.startswith(package + ".")]


class TestPublicAPI:
    """Every public name is exported, sorted, importable and documented."""

    def test_all_sorted(self) -> None:
        """aievents.__all__ is sorted and has no duplicates."""
        assert aievents.__all__ == sorted(set(aievents.__all__))

    def test_init_only_reexports(self) -> None:
        """Everything in aievents.__all__ is defined in a submodule."""
        for name in aievents.__all__:
            obj = getattr(aievents, name)
            module = getattr(obj, "__module__", None)
            if module is not None and (inspect.isclass(obj) or inspect.isfunction(obj)):
                assert module != "aievents", name

    @pytest.mark.parametrize("module_name", MODULES)
    def test_documented(self, module_name: str) -> None:
        """Each public module, class, function and method has a docstring."""
        module = importlib.import_module(module_name)
        assert inspect.getdoc(module), module_name
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            assert inspect.getdoc(obj), f"{module_name}.{name}"
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not inspect.isfunction(member):
                        continue
                    assert inspect.getdoc(member), f"{module_name}.{name}.{attr}"

    def test_wire_functions_at_top_level(self) -> None:
        """Every way to write or read an event is ``aievents.<name>``, as the docs use them."""
        from aievents import wire

        names = [name for name in wire.__all__ if name.startswith(("to_", "from_"))]
        assert "from_data" in names
        for name in names:
            assert name in aievents.__all__, name
            assert getattr(aievents, name) is getattr(wire, name)

    def test_typed(self) -> None:
        """The package ships py.typed."""
        assert (Path(aievents.__file__).parent / "py.typed").is_file()


class TestLightImport:
    """``import aievents`` loads no optional dependency and hooks nothing into exit."""

    def test_no_optional_module(self) -> None:
        """No database driver, HTTP client, SDK, websocket library or log renderer is imported."""
        import subprocess
        import sys

        code = (
            "import sys, atexit, aievents\n"
            "heavy = ('sqlalchemy', 'psycopg', 'httpx', 'openai', 'websockets',"
            " 'opentelemetry', 'google', 'structlog', 'rich')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        assert result.stdout.strip() == "[]"
        assert aievents.StoreSink.__name__ == "StoreSink"

    def test_core_modules_only(self, tmp_path: Path) -> None:
        """``import aievents`` loads the core and the internal toolbox, no sink nor transport."""
        import json
        import subprocess
        import sys

        code = (
            "import json, sys, aievents\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('aievents'))))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        loaded = set(json.loads(result.stdout))
        toolbox = {name for name in loaded if re.fullmatch(r"aievents\._\w+(?:\.\w+)*", name)}
        adapters = {name for name in loaded if name.startswith("aievents.adapters")}
        assert loaded - toolbox - adapters <= CORE, sorted(loaded - toolbox - adapters - CORE)
        assert "aievents.protocols" in loaded

    def test_sinks_when_asked(self, tmp_path: Path) -> None:
        """Asking for a sink imports its module, and registers no exit hook until one is made."""
        import subprocess
        import sys

        code = f"""
import atexit, logging, sys
import sqlalchemy, sqlalchemy.pool  # SQLAlchemy's own exit hook
before = atexit._ncallbacks()
import aievents, aievents.sinks
assert "aievents.sinks.forward" not in sys.modules
assert "ForwardSink" in dir(aievents) and "StoreSink" in dir(aievents.sinks)
sink_class = aievents.ForwardSink
from aievents import StoreSink
from aievents.sinks import ForwardReport, ModelRepricing, NotRepriced, Repricing
assert (ModelRepricing.__name__, NotRepriced.__name__) == ("ModelRepricing", "NotRepriced")
from aievents.sinks.aggregate import Repricing as answer
assert Repricing is answer
assert sink_class is aievents.sinks.forward.ForwardSink
assert "aievents.sinks.forward" in sys.modules and "aievents.sinks.store" in sys.modules
assert atexit._ncallbacks() == before, "asking for a sink registered an exit hook"
from aievents.transports import JsonlTransport
sink = sink_class(JsonlTransport({str(tmp_path / "events.jsonl")!r}))
assert atexit._ncallbacks() == before + 1, "the first sink registers the exit drain"
sink.close(5.0)
print("ok")
"""
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.stdout == "ok\n", result.stderr

    def test_optional_parts_when_asked(self) -> None:
        """Transports, devtools, instrumentation, the Prometheus sink import when asked for."""
        import subprocess
        import sys

        code = """
import sys, aievents
parts = ("aievents.transports.http", "aievents.transports.jsonl", "aievents.transports.otlp",
         "aievents.devtools", "aievents.instrument", "aievents.sinks.prometheus", "httpx",
         "websockets", "openai", "prometheus_client")
assert not [m for m in parts if m in sys.modules], [m for m in parts if m in sys.modules]
assert {"HttpTransport", "instrument_openai", "DevtoolsTransport"} <= set(dir(aievents))
from aievents import JsonlTransport, image_request, instrument_openai, uninstrument_openai
from aievents.transports.jsonl import JsonlTransport as direct
from aievents.instrument import instrument_openai as instrument
assert JsonlTransport is direct and instrument_openai is instrument
assert "aievents.transports.http" not in sys.modules, "one transport loads only itself"
from aievents import PrometheusSink, serve_metrics
from aievents.sinks.prometheus import PrometheusSink as sink_class, serve_metrics as serve
assert PrometheusSink is sink_class and serve_metrics is serve
assert "PrometheusSink" not in aievents.__all__  # a star import would need the extra
print("ok")
"""
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.stdout == "ok\n", result.stderr

    def test_unknown_name(self) -> None:
        """A name neither module has is an AttributeError naming it."""
        import aievents.sinks

        with pytest.raises(AttributeError, match="NoSuchSink"):
            aievents.NoSuchSink  # noqa: B018
        with pytest.raises(AttributeError, match="NoSuchSink"):
            aievents.sinks.NoSuchSink  # noqa: B018


class TestProtocols:
    """Sink and Transport live in a leaf module, re-exported where they were."""

    def test_same_everywhere(self) -> None:
        """aievents, aievents.sinks and aievents.transports export the protocols' own classes."""
        import aievents.sinks
        import aievents.transports
        from aievents import protocols

        assert aievents.Sink is aievents.sinks.Sink is protocols.Sink
        assert aievents.Transport is aievents.transports.Transport is protocols.Transport

    def test_leaf(self) -> None:
        """The protocols' module imports nothing of aievents when it runs."""
        assert not runtime_imports(SRC / "protocols.py", "aievents")

    def test_client_needs_no_sink_package(self) -> None:
        """The client imports the protocol, not the sinks."""
        assert not runtime_imports(SRC / "client.py", "aievents.sinks")

    def test_structural(self, tmp_path: Path) -> None:
        """Any object with the methods is a Sink or a Transport; others are not."""
        from aievents import Sink, Transport
        from aievents.testing import CapturingSink
        from aievents.transports.jsonl import JsonlTransport

        transport = JsonlTransport(tmp_path / "events.jsonl")
        assert isinstance(CapturingSink(), Sink)
        assert isinstance(transport, Transport)
        assert not isinstance(transport, Sink)
        assert not isinstance(object(), Transport)
        transport.close()
