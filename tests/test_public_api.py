"""The public API: re-exports, docstrings, typing marker."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import aievents

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
    "aievents.query",
    "aievents.sinks.aggregate",
    "aievents.sinks.log",
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
    "aievents.wire",
]


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
