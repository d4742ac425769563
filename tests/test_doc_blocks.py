"""Every Python block of README.md and docs/ runs as written, and prints what the page shows.

Each block runs alone, in a fresh interpreter, in an empty temporary working
directory, offline (``run_offline.py`` refuses any address off this machine),
with a timeout. The openai and google-genai SDKs find their keys and base URLs
in the environment, as a reader's program would: here they point at aievents'
local image server.

A block that defines ``test_`` functions is run by pytest too.

A block that cannot run alone says why, in an HTML comment on the line before
it: ``<!-- not run: needs a PostgreSQL server -->``. A ``text`` block that
follows a Python block (blank lines between, nothing else) is its output:
each of its lines must match a line the block prints, in order; ``...`` in a
line stands for any text, a line of only ``...`` for any lines. Output shown
that no run would check is an error: a ``text`` block after a Python block
with prose between (put the prose before the code), or after a block that is
not run.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from aievents.testing import ImageServer

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "run_offline.py"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PYTHON = frozenset({"python", "py", "python3"})
OUTPUT = frozenset({"text", "output"})
#: Blocks allowed to skip running; each says why. Keep it short.
MAX_NOT_RUN = 3

_FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)
_MARKER = re.compile(r"<!--\s*not run\b(?P<rest>.*?)-->", re.S)


@attrs.frozen
class Block:
    """One fenced Python block of a page."""

    page: Path
    line: int
    code: str
    not_run: str | None  # the marker's text, when the block is marked
    output: str | None  # the text block that follows it, when there is one

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _language(fence: re.Match[str]) -> str:
    return fence["info"].strip().split(" ")[0].lower()


def _not_run(text: str, fence: re.Match[str]) -> str | None:
    """The text of the ``not run`` marker on the line before ``fence``, if it has one."""
    before = text[: fence.start()].rstrip().rsplit("\n", 1)[-1]
    marker = _MARKER.fullmatch(before.strip())
    return marker["rest"] if marker else None


def blocks(page: Path) -> Iterator[Block]:
    """The Python blocks of ``page``, with their markers and shown output."""
    text = page.read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(text))
    for index, fence in enumerate(fences):
        if _language(fence) not in PYTHON:
            continue
        output = None
        if index + 1 < len(fences):
            following = fences[index + 1]
            between = text[fence.end() : following.start()]
            if not between.strip() and _language(following) in OUTPUT:
                output = following["body"]
        yield Block(
            page=page,
            line=text.count("\n", 0, fence.start()) + 1,
            code=fence["body"],
            not_run=_not_run(text, fence),
            output=output,
        )


def unchecked_outputs(page: Path) -> list[str]:
    """Output blocks of ``page`` that follow a Python block but that no run checks, and why."""
    text = page.read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(text))
    found = []
    for code, shown in itertools.pairwise(fences):
        if _language(code) not in PYTHON or _language(shown) not in OUTPUT:
            continue
        line = text.count("\n", 0, shown.start()) + 1
        where = f"{page.name}:{line}"
        if text[code.end() : shown.start()].strip():
            found.append(f"{where}: text between the code and its output; put it before the code")
        elif _not_run(text, code) is not None:
            found.append(f"{where}: the output of a block that is not run")
    return found


ALL = [block for page in PAGES for block in blocks(page)]


def matches(shown: str, printed: str) -> bool:
    """Whether the lines of ``shown`` match lines of ``printed`` in order (``...``: any text)."""
    lines = iter(printed.splitlines())
    for expected in shown.splitlines():
        if expected.strip() in ("", "..."):
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in expected.strip().split("...")))
        if not any(pattern.fullmatch(line.strip()) for line in lines):
            return False
    return True


@pytest.fixture(name="image_server", scope="module")
def _image_server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


class TestMarkers:
    """A block that does not run says why, and such blocks are few."""

    def test_every_marker_gives_a_reason(self) -> None:
        """``<!-- not run: REASON -->`` with a reason of a few words."""
        for block in ALL:
            if block.not_run is not None:
                reason = block.not_run.strip().removeprefix(":").strip()
                assert block.not_run.lstrip().startswith(":"), f"{block.name}: write 'not run: why'"
                assert len(reason.split()) >= 2, f"{block.name}: the marker must say why"

    def test_every_marker_stands_before_a_python_block(self) -> None:
        """A marker elsewhere would silently mark nothing."""
        marked = sum(block.not_run is not None for block in ALL)
        written = sum(len(_MARKER.findall(page.read_text(encoding="utf-8"))) for page in PAGES)
        assert marked == written

    def test_blocks_not_run_still_compile(self) -> None:
        """What a reader copies from a block that is not run is at least valid Python."""
        for block in ALL:
            if block.not_run is not None:
                compile(block.code, block.name, "exec")

    def test_few_blocks_are_not_run(self) -> None:
        """Nearly every block runs."""
        assert sum(block.not_run is not None for block in ALL) <= MAX_NOT_RUN


class TestOutputs:
    """Output shown on a page is output a run checks."""

    @pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
    def test_every_output_is_checked(self, page: Path) -> None:
        """A ``text`` block after a Python block sits right after it, and that block runs."""
        assert unchecked_outputs(page) == []


class TestBlocks:
    """Each Python block runs alone, offline, and prints the output its page shows."""

    @pytest.mark.parametrize("block", [b for b in ALL if b.not_run is None], ids=lambda b: b.name)
    def test_runs(self, block: Block, image_server: ImageServer, tmp_path: Path) -> None:
        """It exits 0 in an empty directory, reaches no other machine, and prints its output."""
        script = tmp_path / "block.py"
        script.write_text(block.code, encoding="utf-8")
        refused = tmp_path / "offline.log"
        work = tmp_path / "work"
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GOOGLE_"))}
        env.pop("GEMINI_API_KEY", None)
        env |= {
            "HOME": str(tmp_path),
            "OPENAI_API_KEY": "sk-docs-example",
            "OPENAI_BASE_URL": image_server.base_url,
            "GOOGLE_API_KEY": "docs-example-key",  # google-genai's key and Gemini address
            "GOOGLE_GEMINI_BASE_URL": image_server.url,
            "AIEVENTS_OFFLINE_LOG": str(refused),
        }

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            result = subprocess.run(
                [sys.executable, str(RUNNER), *args],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            where = f"{block.name}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            assert result.returncode == 0, where
            assert not refused.exists(), f"{block.name} reached the network: {refused.read_text()}"
            return result

        result = run(str(script))
        if block.output is not None:
            assert matches(block.output, result.stdout), (
                f"{block.name}\n--- printed\n{result.stdout}\n--- shown\n{block.output}"
            )
        if re.search(r"^(async )?def test_", block.code, re.M):  # a test: pytest runs it too
            (work / "test_block.py").write_text(block.code, encoding="utf-8")
            run("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_block.py")


#: Put before a block: the clock (time.time, time.time_ns, datetime.now) stands
#: 1 ms before the next UTC midnight until ``_midnight()``, then 1 ms after it.
MIDNIGHT_CLOCK = """\
import datetime as _datetime
import time as _time

_MIDNIGHT = (int(_time.time()) // 86_400 + 1) * 86_400 * 10**9
_clock = [_MIDNIGHT - 10**6]


def _midnight():
    _clock[0] = _MIDNIGHT + 10**6


_time.time = lambda: _clock[0] / 1e9
_time.time_ns = lambda: _clock[0]


class _Now(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return _datetime.datetime.fromtimestamp(_clock[0] / 1e9, tz)


_datetime.datetime = _Now
"""
#: Blocks that take "today" from the clock, then emit events.
TODAY = [b for b in ALL if b.not_run is None and re.search(r"^today = ", b.code, re.M)]


class TestAcrossMidnight:
    """A block that asks about "today" still runs when UTC midnight passes while it runs."""

    @pytest.mark.parametrize("block", TODAY, ids=lambda b: b.name)
    def test_midnight_after_today(self, block: Block, tmp_path: Path) -> None:
        """Midnight passes right after its ``today = ...`` line: it exits 0, its output as shown."""
        code = re.sub(r"^(today = .*\n)", r"\1_midnight()\n", block.code, count=1, flags=re.M)
        script = tmp_path / "block.py"
        script.write_text(MIDNIGHT_CLOCK + code, encoding="utf-8")
        env = os.environ | {"HOME": str(tmp_path), "AIEVENTS_OFFLINE_LOG": str(tmp_path / "log")}
        result = subprocess.run(
            [sys.executable, str(RUNNER), str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{block.name}\n{result.stdout}\n{result.stderr}"
        if block.output is not None:
            assert matches(block.output, result.stdout), f"{block.name}\n{result.stdout}"

    def test_found(self) -> None:
        """The blocks are found (the guide's report by provider and quality among them)."""
        assert any("providers=[" in block.code for block in TODAY)


class TestHarness:
    """The checks above read pages the way a reader does."""

    def test_finds_the_blocks_of_a_page(self, tmp_path: Path) -> None:
        """Python blocks, their markers and the output shown after them."""
        page = tmp_path / "page.md"
        page.write_text(
            "# Page\n\n```python\nprint(1)\n```\n\n```text\n1\n```\n\n"
            "<!-- not run: needs a server -->\n```python\nconnect()\n```\n\n"
            "```sh\nmake\n```\n"
        )
        first, second = blocks(page)
        assert (first.code, first.output, first.not_run) == ("print(1)\n", "1\n", None)
        assert (second.code, second.output, second.not_run) == (
            "connect()\n",
            None,
            ": needs a server ",
        )

    def test_finds_output_no_run_checks(self, tmp_path: Path) -> None:
        """Prose between code and its output unlinks them; so would a block not run: both fail."""
        page = tmp_path / "page.md"
        page.write_text(
            "```python\nprint(1)\n```\n\nIt prints:\n\n```text\n2\n```\n\n"
            "<!-- not run: needs a server -->\n```python\nconnect()\n```\n\n```text\nok\n```\n\n"
            "```python\nprint(3)\n```\n\n```text\n3\n```\n\n"
            "```python\nprint(4)\n```\n\n## Next\n\n```sh\nmake\n```\n\n```text\nmade\n```\n"
        )
        assert [block.output for block in blocks(page)] == [None, "ok\n", "3\n", None]
        assert unchecked_outputs(page) == [
            "page.md:7: text between the code and its output; put it before the code",
            "page.md:16: the output of a block that is not run",
        ]

    def test_output_lines_match_in_order(self) -> None:
        """``...`` stands for any text; order counts; other printed lines may come between."""
        printed = "log line\n$0.004 gpt-image-1\nmore\ntotal 3\n"
        assert matches("$0.004 gpt-image-1\n...\ntotal 3\n", printed)
        assert matches("... gpt-image-1\ntotal ...\n", printed)
        assert not matches("total 3\n$0.004 gpt-image-1\n", printed)
        assert not matches("total 4\n", printed)
