"""A missing extra is named, in one sentence, before any work is done.

Each test runs Python in a subprocess whose ``sys.path`` holds aievents'
sources and exactly the installed distributions the core needs (the
dependency closure of ``aievents`` without extras), plus those of the
extras under test: ``python -S`` leaves site-packages out, and each of those
distributions is linked into a folder of its own. An import of anything
else fails as it would in a fresh virtualenv, without the minutes and the
package index that making one per case would take. (The packaging check
installs the built wheel into real fresh venvs, per extra.)
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import aievents

#: Runs Python with aievents and only some distributions importable.
Bare = Callable[..., subprocess.CompletedProcess[str]]
#: The sources under test (the tree's, or the one PYTHONPATH names).
SRC = Path(aievents.__file__).resolve().parent.parent


def closure(extras: Iterable[str] = (), dists: Iterable[str] = ()) -> set[str]:
    """Distributions aievents needs with ``extras``, plus ``dists`` and what they need."""
    wanted: list[tuple[str, frozenset[str]]] = [("aievents", frozenset(extras))]
    wanted += [(name, frozenset()) for name in dists]
    found: set[str] = set()
    while wanted:
        name, chosen = wanted.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({"extra": extra}) for extra in (*chosen, "")
            ):
                continue
            key = requirement.name.lower()
            if key not in found:
                found.add(key)
                wanted.append((key, frozenset(requirement.extras)))
    found |= {name.lower() for name in dists}
    found.discard("aievents")
    return found


def link_site(folder: Path, names: Iterable[str]) -> Path:
    """``folder`` holding links to the top-level files of each distribution in ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        dist = metadata.distribution(name)
        tops = {Path(str(file)).parts[0] for file in dist.files or ()}
        for top in tops:
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            target = Path(str(dist.locate_file(top)))
            link = folder / top
            if target.exists() and not link.exists():
                link.symlink_to(target)
    return folder


@pytest.fixture(name="bare", scope="module")
def _bare(tmp_path_factory: pytest.TempPathFactory) -> Bare:
    """Run Python with aievents and only the given extras' distributions importable."""
    made: dict[tuple[tuple[str, ...], tuple[str, ...]], Path] = {}

    def run(
        *args: str, extras: tuple[str, ...] = (), dists: tuple[str, ...] = (), cwd: Path
    ) -> subprocess.CompletedProcess[str]:
        key = (extras, dists)
        if key not in made:
            made[key] = link_site(tmp_path_factory.mktemp("site"), closure(extras, dists))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(made[key])])
        env["AIEVENTS_PURE_PYTHON"] = os.environ.get("AIEVENTS_PURE_PYTHON", "")
        return subprocess.run(
            [sys.executable, "-S", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=cwd,
            env=env,
        )

    return run


def advice(extra: str) -> str:
    """What the error says to run: the clone whose sources run, with ``extra``."""
    return f"needs the {extra!r} extra: pip install '{SRC.parent}[{extra}]'"


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of stderr (no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


class TestClosure:
    """The bare interpreter really lacks what the extras bring."""

    def test_core_only(self, bare: Bare, tmp_path: Path) -> None:
        """aievents imports and reports its version; httpx, SQLAlchemy, rich, openai do not."""
        extras = "'httpx', 'sqlalchemy', 'rich', 'openai', 'websockets', 'opentelemetry'"
        code = (
            "import importlib.util as u, aievents, aievents.cli; print(aievents.__version__, "
            f"[m for m in ({extras}) if u.find_spec(m)])"
        )
        result = bare("-c", code, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [aievents.__version__, "[]"]


class TestLibraryExtras:
    """Importing or using an optional part without its extra names the extra."""

    @pytest.mark.parametrize(
        ("code", "present", "extra"),
        [
            ("from aievents.transports import HttpTransport", {}, "http"),
            ("import aievents.transports.http", {}, "http"),
            ("from aievents.transports import OtlpTransport", {"extras": ("http",)}, "otel"),
            ("from aievents.sinks import OtelSink", {}, "otel"),
            ("from aievents import OtelSink", {"extras": ("http",)}, "otel"),
            ("from aievents import StoreSink; StoreSink('sqlite:///x.db')", {}, "store"),
            (
                "from aievents import StoreSink; StoreSink('postgresql://u@127.0.0.1:9/db')",
                {"dists": ("sqlalchemy",)},
                "store",
            ),
            ("from aievents.devtools import DevtoolsTransport as T; T()", {}, "devtools"),
            ("from aievents.devtools import DevtoolsListener as L; L()", {}, "devtools"),
            ("from aievents.instrument import instrument_google_genai as i; i()", {}, "google"),
            ("from aievents import PrometheusSink", {}, "prometheus"),
            ("from aievents.sinks import serve_metrics", {"extras": ("otel",)}, "prometheus"),
            (
                "from aievents.query import Page as P; P(data=(), has_more=False, "
                "next_page=None).to_pandas()",
                {},
                "pandas",
            ),
            ("from aievents.serve import create_app", {}, "serve"),
            (
                "from aievents.serve import serve; serve(None, port=0)",
                {"dists": ("starlette",)},
                "serve",
            ),
            ("from aievents.serve._dashboard import dashboard_routes", {}, "serve"),
        ],
    )
    def test_named(
        self, bare: Bare, tmp_path: Path, code: str, present: dict[str, Any], extra: str
    ) -> None:
        """An ImportError whose message says which extra to install."""
        probe = f"try:\n    {code}\nexcept ImportError as e:\n    print(repr(e))\n"
        result = bare("-c", probe, cwd=tmp_path, **present)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ImportError("), result.stdout
        assert advice(extra) in result.stdout
        assert not list(tmp_path.iterdir())  # nothing made before the error

    def test_with_the_extra(self, bare: Bare, tmp_path: Path) -> None:
        """With the extra, the same imports work."""
        code = (
            "from aievents.transports import HttpTransport, OtlpTransport\n"
            "from aievents import OtelSink\n"
            "OtelSink(); print('ok')"
        )
        result = bare("-c", code, extras=("otel",), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "ok"

    def test_prometheus_alone(self, bare: Bare, tmp_path: Path) -> None:
        """With the prometheus extra alone (no OpenTelemetry), its example runs."""
        example = Path(__file__).resolve().parent.parent / "examples" / "prometheus_metrics.py"
        result = bare(str(example), extras=("prometheus",), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "aievents_image_requests_total model=gpt-image-1 user_id=alice 2" in result.stdout
        probe = "import sys, aievents.sinks.prometheus; print('opentelemetry' in sys.modules)"
        assert bare("-c", probe, extras=("prometheus",), cwd=tmp_path).stdout.strip() == "False"

    def test_serve_alone(self, bare: Bare, tmp_path: Path) -> None:
        """With the serve extra alone, its example serves and answers over HTTP."""
        example = Path(__file__).resolve().parent.parent / "examples" / "usage_api.py"
        result = bare(str(example), extras=("serve",), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "  alice: 2 requests $0.06386" in result.stdout


class TestCommandExtras:
    """The command names the cli extra before it does anything."""

    @pytest.mark.parametrize("extras", [(), ("openai",), ("openai", "google"), ("store",)])
    def test_demo(self, bare: Bare, tmp_path: Path, extras: tuple[str, ...]) -> None:
        """Without rich, openai, google-genai or SQLAlchemy: no call, and what to install."""
        db = tmp_path / "demo.db"
        result = bare("-m", "aievents", "demo", "--db", str(db), extras=extras, cwd=tmp_path)
        assert result.returncode == 1
        assert advice("cli") in only_line(result)
        assert result.stdout == ""  # not even the server's address
        assert not db.exists()

    @pytest.mark.parametrize(
        ("args", "extra"),
        [
            (["usage", "--events", "events.jsonl"], "cli"),
            (["costs", "--events", "events.jsonl", "--format", "table"], "cli"),
            (["usage", "--store", "sqlite:///s.db", "--format", "json"], "store"),
            (["ingest", "events.jsonl", "--store", "sqlite:///s.db"], "store"),
            (["serve", "--events", "events.jsonl", "--port", "0"], "serve"),
            (["serve", "--store", "sqlite:///s.db", "--port", "0"], "serve"),
        ],
    )
    def test_reports(self, bare: Bare, tmp_path: Path, args: list[str], extra: str) -> None:
        """A table needs rich (cli), a store SQLAlchemy (store): named, before any work."""
        (tmp_path / "events.jsonl").write_text("")
        result = bare("-m", "aievents", *args, cwd=tmp_path)
        assert result.returncode == 1
        assert advice(extra) in only_line(result)
        assert not (tmp_path / "s.db").exists()

    def test_store_extra_is_enough(self, bare: Bare, tmp_path: Path) -> None:
        """With the store extra alone, ingest and JSON from a store run (no rich, no openai)."""
        (tmp_path / "events.jsonl").write_text("")
        url = f"sqlite:///{tmp_path / 's.db'}"
        fed = bare("-m", "aievents", "ingest", "events.jsonl", "--store", url, "--no-progress",
                   extras=("store",), cwd=tmp_path)  # fmt: skip
        assert fed.returncode == 0, fed.stderr
        asked = bare("-m", "aievents", "usage", "--store", url, "--format", "json",
                     extras=("store",), cwd=tmp_path)  # fmt: skip
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout.startswith("{")

    def test_json_needs_no_extra(self, bare: Bare, tmp_path: Path) -> None:
        """usage over a file as JSON or CSV runs on the core alone."""
        (tmp_path / "events.jsonl").write_text("")
        for form in ("json", "csv"):
            result = bare(
                "-m", "aievents", "usage", "--events", "events.jsonl", "--format", form,
                cwd=tmp_path,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert result.stdout.startswith("{" if form == "json" else "start_time,")


def extra_calls() -> list[tuple[str, int, str, str]]:
    """(file, line, extra, module) of each require_extra/import_extra call naming them."""
    found = []
    for path in sorted(SRC.joinpath("aievents").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            where = (str(path.relative_to(SRC)), node.lineno)
            named = node.args[2] if len(node.args) > 2 else None
            if node.func.id == "require_extra" and isinstance(named, ast.Tuple):
                extra, modules = node.args[1], named.elts
            elif node.func.id == "import_extra":
                extra, modules = node.args[2], [node.args[0]]
            else:
                continue
            for module in modules:
                if isinstance(extra, ast.Constant) and isinstance(module, ast.Constant):
                    found.append((*where, extra.value, module.value))
    return found


class TestExtrasMatchThePackage:
    """Each extra the code names brings the module it imports, as pyproject.toml says."""

    def test_calls_found(self) -> None:
        """The command's and the devtools bridge's calls are among them."""
        modules = {(extra, module) for _, _, extra, module in extra_calls()}
        assert {
            ("cli", "rich"),
            ("store", "sqlalchemy"),
            ("devtools", "websockets.sync.client"),
        } <= (modules)

    @pytest.mark.parametrize(("where", "line", "extra", "module"), extra_calls())
    def test_extra_brings_module(self, where: str, line: int, extra: str, module: str) -> None:
        """The named extra requires a distribution that provides the module."""
        top = module.split(".", maxsplit=1)[0]
        found = metadata.packages_distributions().get(top, [])
        providers = {canonicalize_name(name) for name in found}  # fal_client: fal-client
        assert providers, f"{module} is not installed"
        required = {canonicalize_name(name) for name in closure((extra,)) - closure()}
        assert providers & required, f"{where}:{line}: [{extra}] brings none of {providers}"


class TestInstallCommand:
    """The advice names what aievents was installed from, never a remote address."""

    @pytest.mark.parametrize(
        ("record", "expected"),
        [
            (
                {"url": "file:///opt/my%20clone", "dir_info": {"editable": True}},
                "pip install -e '/opt/my clone[http]'",
            ),
            (
                {"url": "file:///opt/aievents-0.1.0-py3-none-any.whl", "archive_info": {}},
                "pip install '/opt/aievents-0.1.0-py3-none-any.whl[http]'",
            ),
            (
                {"url": "https://ghp_t0ken@example.com/aievents.git", "vcs_info": {"vcs": "git"}},
                f"pip install '{SRC.parent}[http]'",  # the sources that run, not the address
            ),
            (None, f"pip install '{SRC.parent}[http]'"),
        ],
        ids=["editable clone", "wheel", "remote", "no record"],
    )
    def test_from_the_record(
        self, tmp_path: Path, record: dict[str, Any] | None, expected: str
    ) -> None:
        """pip's record of the install (direct_url.json) decides the command."""
        info = tmp_path / "site" / "aievents-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: aievents\nVersion: 0.1.0\n")
        if record is not None:
            (info / "direct_url.json").write_text(json.dumps(record))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        deps = link_site(tmp_path / "deps", closure())
        env["PYTHONPATH"] = os.pathsep.join([str(info.parent), str(SRC), str(deps)])
        code = "from aievents._extras import install_command; print(install_command('http'))"
        result = subprocess.run(
            [sys.executable, "-S", "-c", code],
            capture_output=True, text=True, timeout=60, check=True, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert result.stdout.strip() == expected
        assert "t0ken" not in result.stdout
