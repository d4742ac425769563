"""The documentation covers every public name, event and field, and stays current."""

from __future__ import annotations

import importlib
import inspect
import re
import runpy
import subprocess
import sys
from pathlib import Path

import attrs

import aievents
from aievents.events import EVENT_TYPES
from aievents.money import ImageCost
from aievents.usage import ImageUsage, InputTokensDetails, OutputTokensDetails
from aievents.wire import camel_case

ROOT = Path(__file__).resolve().parent.parent
API = (ROOT / "docs" / "reference" / "api.md").read_text()
EVENTS = (ROOT / "docs" / "reference" / "events.md").read_text()
DOCUMENTED = set(re.findall(r"^::: ([\w.]+)$", API, re.M))


def test_event_reference_is_current() -> None:
    """docs/reference/events.md is what scripts/gen_event_reference.py writes now."""
    generator = runpy.run_path(str(ROOT / "scripts" / "gen_event_reference.py"))
    assert generator["render"]() == EVENTS


def test_every_field_in_event_reference() -> None:
    """Each field of each event and usage class appears with its wire name."""
    for cls in (
        *EVENT_TYPES.values(),
        ImageUsage,
        InputTokensDetails,
        OutputTokensDetails,
        ImageCost,
    ):
        for field in attrs.fields(cls):
            if field.init:
                assert f"| `{field.name}` | `{camel_case(field.name)}` |" in EVENTS, field.name
    for name in EVENT_TYPES:
        assert f"## `{name}`" in EVENTS


def test_every_public_name_in_api_reference() -> None:
    """Every name of a public module's __all__ is documented through a ::: directive."""
    for module_name in sorted(DOCUMENTED):
        module = importlib.import_module(module_name)
        assert inspect.getdoc(module), module_name
    for name in aievents.__all__:
        obj = getattr(aievents, name)
        home = getattr(obj, "__module__", None) if inspect.isclass(obj) or callable(obj) else None
        owners = {home} if home else set()
        owners |= {
            m for m in DOCUMENTED if name in getattr(importlib.import_module(m), "__all__", [])
        }
        assert owners & DOCUMENTED, f"aievents.{name} is not in the API reference"


def test_every_public_module_documented() -> None:
    """Each module with an __all__ (but the package itself) has its section."""
    package = ROOT / "src" / "aievents"
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if any(part.startswith("_") for part in parts) or parts[-1] in ("cli",):
            continue
        name = ".".join(parts)
        if name == "aievents":
            continue
        names = set(getattr(importlib.import_module(name), "__all__", ()))
        shown = set().union(
            *(getattr(importlib.import_module(m), "__all__", ()) for m in DOCUMENTED)
        )
        # Documented itself, or every name re-exported by a documented package.
        assert name in DOCUMENTED or names <= shown, f"{name} is missing from the API reference"


def section(text: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of any level."""
    start = text.index(f"{heading}\n") + len(heading)
    following = re.search(r"^#+ ", text[start:], re.M)
    return text[start:] if following is None else text[start : start + following.start()]


class TestCommandsDocumented:
    """README and the pricing guide name every command of ``aievents``."""

    def commands(self) -> list[str]:
        """The commands ``aievents --help`` lists, from a real run of the command."""
        result = subprocess.run(
            [sys.executable, "-m", "aievents", "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        listed = result.stdout.split("  COMMAND\n", 1)[1].split("\n\n")[0]
        return re.findall(r"^ {4}(\w+) ", listed, re.M)

    def test_readme_names_every_command(self) -> None:
        """The features list names each command; its section shows each one but the demo."""
        commands = self.commands()
        assert {"usage", "reprice", "prices"} <= set(commands)
        readme = (ROOT / "README.md").read_text()
        (feature,) = [line for line in readme.splitlines() if "**The `aievents` command**" in line]
        assert [c for c in commands if f"`{c}`" not in feature] == []
        shown = section(readme, "## The `aievents` command")
        missing = [c for c in commands if c != "demo" and f"\naievents {c} " not in shown]
        assert missing == []

    def test_pricing_guide_says_what_the_command_prices_with(self) -> None:
        """The row of ``aievents.cli.main`` says which commands take the book given to it."""
        guide = (ROOT / "docs" / "guides" / "pricing.md").read_text()
        (row,) = [line for line in guide.splitlines() if line.startswith("| `aievents.cli.main(")]
        assert [
            c for c in ("usage", "costs", "ingest", "reprice", "prices") if f"`{c}" not in row
        ] == []
