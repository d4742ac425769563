"""The package as users get it: the sdist and the wheel, installed into fresh venvs.

Built once per session from the files git tracks (what a fresh clone holds),
without build isolation (the dev venv's setuptools builds, so no package
index is needed): the sdist, the wheel built from it, and a wheel built from
it without a C compiler. The dependencies of every extra are downloaded once
into a wheelhouse (pip's cache serves later sessions); each venv then
installs one wheel with one extra from it, so each extra is checked alone.
Without a reachable package index the venvs are skipped, except in CI
(``CI`` set), where that fails.

In each venv: ``aievents --version`` and ``import aievents`` from the venv.
The examples that need no extra run in the venv with no extra and in the one
without the compiled part; each other venv runs the examples that need its
extra and loads the part its extra enables; with ``[cli]``, ``aievents
demo``; with no extra, each optional part names the extra it needs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import attrs
import pytest

from test_examples import EXAMPLES, EXPECTED, EXTRAS, ROOT, extras_of

VERSION = version("aievents")
#: What the application brings beside an extra, installed in that extra's venv: OtelSink
#: is built on opentelemetry-api; the SDK (and so its example) is the application's.
APPLICATION: dict[str, tuple[str, ...]] = {"otel": ("opentelemetry-sdk",)}
#: The dashboard's own files, package data in the wheel.
DASHBOARD = tuple(
    f"aievents/serve/static/{name}" for name in ("dashboard.css", "dashboard.js", "icon.svg")
)
#: The venvs: one per extra, one with no extra, and one with the wheel built without a compiler.
PURE = "no compiler"
KINDS = ("", *sorted(EXTRAS), PURE)
#: Building and installing take a while on a busy 2-core machine; ``-m "not packaging"`` skips it.
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1200)]


def _run(
    command: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    ok: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command; unless ``ok`` is False, it must exit 0."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if ok:
        assert result.returncode == 0, (
            f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


@attrs.frozen
class Dist:
    """What one build made."""

    sdist: Path
    wheel: Path
    pure_wheel: Path  # built from the sdist with no C compiler
    seconds: float


@attrs.frozen
class Venv:
    """A fresh venv with the wheel and at most one extra."""

    kind: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def run(
        self, *args: str | Path, cwd: Path, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv (``python``, ``aievents``) with a clean environment."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PYTHON", "AIEVENTS_", "OPENAI_", "VIRTUAL_ENV"))
        }
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["HOME"] = str(cwd)
        command = [self.path / "bin" / str(args[0]), *args[1:]]
        return _run(command, cwd=cwd, env=env, timeout=300, ok=ok)


def _clone(into: Path, root: Path = ROOT) -> Path:
    """The files git tracks, as the working tree has them: what a clone would hold.

    A file the build needs but git does not track is missing here, as it
    would be from a clone.
    """
    listed = _run(["git", "-C", root, "ls-files", "-z"])
    tree = into / "aievents"
    for name in filter(None, listed.stdout.split("\0")):
        source = root / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    return tree


def _pip(
    *args: str | Path, env: dict[str, str] | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], env=env, ok=ok)


def _build(source: Path, outdir: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """``python -m build`` with the dev venv's setuptools: no isolated env, no package index."""
    _run(
        [sys.executable, "-m", "build", "--no-isolation", *args, "--outdir", outdir, source],
        env=env,
    )


def download(requirement: str, dest: Path, env: dict[str, str] | None = None) -> None:
    """Download ``requirement`` and its dependencies into ``dest`` from the package index.

    When that fails because no index can be reached: skipped, naming why;
    in CI (``CI`` set) a failure. Any other failure fails.
    """
    result = _pip("download", "--quiet", "--dest", dest, requirement, env=env, ok=False)
    if result.returncode == 0:
        return
    errors = result.stderr.strip()[-3000:]
    if not os.environ.get("CI"):
        probe = _pip(
            "download", "--quiet", "--no-deps", "--no-cache-dir", "--retries", "0",
            "--timeout", "15", "--dest", dest / "probe", "attrs", env=env, ok=False,
        )  # fmt: skip
        if probe.returncode != 0:
            pytest.skip(
                "no package index reachable (offline, or the index is down): the venvs "
                f"need the extras' dependencies from it; CI runs these. pip: "
                f"{errors.splitlines()[-1] if errors else result.returncode}"
            )
    pytest.fail(f"pip could not download {requirement}:\n{errors}")


@pytest.fixture(name="dist", scope="session")
def _dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The sdist, the wheel built from it, a wheel built from it without a compiler."""
    began = time.monotonic()
    work = tmp_path_factory.mktemp("packaging")
    tree = _clone(work)
    _build(tree, work / "dist")
    (sdist,) = (work / "dist").glob("aievents-*.tar.gz")
    (wheel,) = (work / "dist").glob("aievents-*.whl")
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    _build(unpacked, work / "pure", "--wheel", env={**os.environ, "CC": "false"})
    (pure_wheel,) = (work / "pure").glob("aievents-*.whl")
    return Dist(sdist, wheel, pure_wheel, time.monotonic() - began)


@pytest.fixture(name="wheelhouse", scope="session")
def _wheelhouse(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and the dependencies of every extra, from the package index."""
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    download(f"{dist.wheel}[{','.join(sorted(EXTRAS))}]", wheelhouse)
    for dists in APPLICATION.values():
        for name in dists:
            download(name, wheelhouse)
    return wheelhouse


@pytest.fixture(name="venvs", scope="session")
def _venvs(
    dist: Dist, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Venv]:
    """One fresh venv per kind, made side by side; installs come from the wheelhouse only."""
    root = tmp_path_factory.mktemp("venvs")

    def make(kind: str) -> Venv:
        path = root / (kind.replace(" ", "-") or "no-extra")
        _run([sys.executable, "-m", "venv", "--without-pip", path])
        wheel = dist.pure_wheel if kind == PURE else dist.wheel
        requirement = f"{wheel}[{kind}]" if kind in EXTRAS else str(wheel)
        _pip(
            "--python", path / "bin" / "python", "install", "--quiet", "--no-compile",
            "--no-index", "--find-links", wheelhouse, requirement, *APPLICATION.get(kind, ()),
        )  # fmt: skip
        return Venv(kind, path)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return {venv.kind: venv for venv in pool.map(make, KINDS)}


class TestClone:
    """The packages are built from what a clone holds."""

    def test_only_tracked_files(self, tmp_path: Path) -> None:
        """A file git does not track is left out, even one it does not ignore."""
        repo = tmp_path / "repo"
        (repo / "src").mkdir(parents=True)
        (repo / "src" / "tracked.py").write_text("edited = True\n")
        (repo / "src" / "untracked.py").write_text("")
        (repo / "notes.txt").write_text("")
        _run(["git", "-C", repo, "init", "--quiet"])
        _run(["git", "-C", repo, "add", "src/tracked.py"])
        tree = _clone(tmp_path / "clone", repo)
        assert sorted(str(f.relative_to(tree)) for f in tree.rglob("*")) == [
            "src",
            "src/tracked.py",
        ]
        assert (tree / "src" / "tracked.py").read_text() == "edited = True\n"


class TestSdist:
    """The sdist holds what a build needs, and builds, with a compiler and without."""

    def test_contents(self, dist: Dist) -> None:
        """The C source, the price data, the typing marker, LICENSE and the build files."""
        with tarfile.open(dist.sdist) as archive:
            names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        tracked = _run(["git", "-C", ROOT, "ls-files", "src"]).stdout.split()
        needed = {
            "pyproject.toml", "setup.py", "README.md", "LICENSE",
            "src/aievents/_speedups.c", "src/aievents/pricing/prices.json",
            "src/aievents/py.typed", *tracked,
        }  # fmt: skip
        assert needed <= names, sorted(needed - names)

    def test_wheels_from_it(self, dist: Dist) -> None:
        """The wheel carries the compiled part; without a compiler it is pure Python."""
        compiled = zipfile.ZipFile(dist.wheel).namelist()
        pure = zipfile.ZipFile(dist.pure_wheel).namelist()
        assert any(n.startswith("aievents/_speedups.") and n.endswith(".so") for n in compiled)
        assert not any(n.endswith(".so") for n in pure)
        for names in (compiled, pure):
            for needed in ("aievents/pricing/prices.json", "aievents/py.typed", *DASHBOARD):
                assert needed in names
            assert not any(n.endswith(".c") for n in names)
            assert f"aievents-{VERSION}.dist-info/licenses/LICENSE" in names
        print(f"\nbuilt the sdist and two wheels in {dist.seconds:.0f} s")


#: A command that uses the part each extra enables: it works in that extra's venv, and in
#: the venv with no extra it fails naming the extra.
PARTS = {
    "http": ["python", "-c", "from aievents.transports.http import HttpTransport"],
    "otel": ["python", "-c", "from aievents.transports import OtlpTransport"],
    "store": ["python", "-c", "import aievents; aievents.StoreSink('sqlite:///x.db').close()"],
    "devtools": ["python", "-c", "from aievents.devtools import DevtoolsTransport as T; T()"],
    "cli": ["aievents", "costs", "--events", "events.jsonl"],
    # create_app mounts the dashboard, whose routes read its files (package data).
    "serve": [
        "python",
        "-c",
        "from aievents import AggregateSink; from aievents.serve import create_app, serving; "
        "create_app(AggregateSink())",
    ],
    "fal": [
        "python",
        "-c",
        "from aievents.instrument import instrument_fal as i, uninstrument_fal as u; i(); u()",
    ],
}


def examples_for(kind: str) -> list[str]:
    """The examples a venv runs: those that need exactly its extra (or no extra)."""
    needs = {kind} & EXTRAS
    return [name for name in sorted(EXPECTED) if extras_of(name) == needs]


class TestInstalled:
    """Each extra installs alone and runs what it enables; the core runs with no extra."""

    def test_every_example_and_extra_is_run(self) -> None:
        """Each example runs in some venv; each extra's venv runs an example or loads its part."""
        assert {name for kind in KINDS for name in examples_for(kind)} == set(EXPECTED)
        for extra in EXTRAS:
            assert examples_for(extra) or extra in PARTS, extra
        assert examples_for("") == examples_for(PURE) != []

    @pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind or "no extra")
    def test_runs(self, venvs: dict[str, Venv], kind: str, tmp_path: Path) -> None:
        """--version, an import from the venv, its examples, and the part its extra enables."""
        venv = venvs[kind]
        assert venv.run("aievents", "--version", cwd=tmp_path).stdout.strip() == (
            f"aievents {VERSION}"
        )
        code = "import aievents, importlib.util as u; print(aievents.__file__)\n"
        code += "print(u.find_spec('aievents._speedups') is not None)"
        where, compiled = venv.run("python", "-c", code, cwd=tmp_path).stdout.split()
        assert where.startswith(str(venv.path)), where
        assert compiled == str(kind != PURE)
        for name in examples_for(kind):
            result = venv.run("python", EXAMPLES / name, cwd=tmp_path)
            for line in EXPECTED[name]:
                assert line in result.stdout, f"{name} in {kind}: {result.stdout}"
        if kind in PARTS:
            (tmp_path / "events.jsonl").write_text("")
            venv.run(*PARTS[kind], cwd=tmp_path)

    def test_demo(self, venvs: dict[str, Venv], tmp_path: Path) -> None:
        """With [cli], the demo runs end to end."""
        result = venvs["cli"].run("aievents", "demo", "--db", tmp_path / "demo.db", cwd=tmp_path)
        assert "13 image calls, 3 failed; 10 stored" in result.stdout
        assert "Costs today by line item" in result.stdout


class TestMissingExtras:
    """With no extra, an optional part says which extra to install."""

    @pytest.mark.parametrize(
        ("command", "extra"),
        [
            (PARTS["http"], "http"),
            (PARTS["otel"], "otel"),
            (PARTS["store"], "store"),
            (PARTS["devtools"], "devtools"),
            (PARTS["serve"], "serve"),
            (["aievents", "serve", "--events", "events.jsonl"], "serve"),
            (["aievents", "demo"], "cli"),
            (PARTS["cli"], "cli"),
        ],
        ids=lambda value: value if isinstance(value, str) else " ".join(value[:3]),
    )
    def test_names_the_extra(
        self, dist: Dist, venvs: dict[str, Venv], command: list[str], extra: str, tmp_path: Path
    ) -> None:
        """It fails naming the extra and the wheel it came from, before doing any work."""
        (tmp_path / "events.jsonl").write_text("")
        result = venvs[""].run(*command, cwd=tmp_path, ok=False)
        assert result.returncode != 0
        advice = f"needs the {extra!r} extra: pip install '{dist.wheel}[{extra}]'"
        assert advice in result.stderr, result.stderr
        assert "image:request" not in result.stdout  # the demo made no call first


class TestOffline:
    """Without a package index the venvs cannot be made: skipped, except in CI."""

    @pytest.fixture(name="no_index")
    def _no_index(self, tmp_path: Path) -> Iterator[dict[str, str]]:
        """pip's environment with only an index on a local port that refuses connections."""
        with socket.socket() as refusing:  # bound, never listening: connections are refused
            refusing.bind(("127.0.0.1", 0))
            port = refusing.getsockname()[1]
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
            env |= {
                "PIP_CONFIG_FILE": os.devnull,
                "PIP_INDEX_URL": f"http://127.0.0.1:{port}/simple",
                "PIP_RETRIES": "0",
                "PIP_CACHE_DIR": str(tmp_path / "cache"),
            }
            yield env

    def test_skipped_outside_ci(
        self, no_index: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The skip says why, and what pip said."""
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match="no package index reachable") as info:
            download("attrs", tmp_path / "wheelhouse", env=no_index)
        assert "attrs" in str(info.value)

    def test_fails_in_ci(
        self, no_index: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CI must check the packages, so there it is a failure."""
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception, match="could not download attrs"):
            download("attrs", tmp_path / "wheelhouse", env=no_index)
