"""What the command writes: literal text, exact CSV, any encoding, a reader gone away."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievents.query import Bucket, ImagesResult, Page
from test_cli import run, write_events
from test_store import DAY, T0

from helpers import usage_at

WINDOW = ["--start", str(T0), "--end", str(T0 + DAY)]
#: Characters that reorder text on screen.
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HOSTILE = [
    "[/]",
    "[bold]loud[/bold] :smile:",
    "\x1b[31mred\x1b[0m\x1b]0;title\x07",
    "\x9b31m c1",
    "abc\u202edcba\u2066x\u2069",
    "tab\tline\nbreak\x7f",
    "m\x1b[31m",  # a real ESC ...
    "m\\x1b[31m",  # ... and a backslash: two names, two looks
    "gpt-image-1\U000e0041\U000e0042",  # tag characters: not gpt-image-1
    "gpt-image-1\u200b",  # a zero-width space
    "word\u2060joiner",
    "private\ue000use",
    "nbsp\u00a0space",
    "C:\\models\\x",
]
#: How literal() writes each, and so the table.
SHOWN = [
    "[/]",
    "[bold]loud[/bold] :smile:",
    "\\x1b[31mred\\x1b[0m\\x1b]0;title\\x07",
    "\\x9b31m c1",
    "abc\\u202edcba\\u2066x\\u2069",
    "tab\\tline\\nbreak\\x7f",
    "m\\x1b[31m",
    "m\\\\x1b[31m",
    "gpt-image-1\\U000e0041\\U000e0042",
    "gpt-image-1\\u200b",
    "word\\u2060joiner",
    "private\\ue000use",
    "nbsp\\xa0space",
    "C:\\\\models\\\\x",
]
_ESCAPE = re.compile(r"\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8})|([tnr\\]))")


def unliteral(shown: str) -> str:
    """The text literal() was given (its escapes undone)."""

    def one(match: re.Match[str]) -> str:
        code = match[1] or match[2] or match[3]
        if code:
            return chr(int(code, 16))
        return {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[match[4]]

    return _ESCAPE.sub(one, shown)


@pytest.fixture(name="hostile")
def _hostile(tmp_path: Path) -> Path:
    """Events whose model and user names are markup, control or invisible characters."""
    return write_events(
        tmp_path / "hostile.jsonl",
        [usage_at(f"h{i}", T0 + i, model=name, user_id=name) for i, name in enumerate(HOSTILE)],
    )


def models_shown(table: str) -> list[str]:
    """The model column of a table grouped by model alone (cells folded onto lines joined)."""
    names: list[str] = []
    for line in table.splitlines():
        if not line.startswith("│"):
            continue
        bucket, model = (cell.strip() for cell in line.split("│")[1:3])
        if bucket:
            names.append(model)
        else:
            names[-1] += model
    return names


class TestLiteral:
    """Data is shown literally: no markup, no control code, no two values alike."""

    def test_table(self, cli: Any, hostile: Path) -> None:
        """Each name is one row, written as literal() writes it; nothing else reaches stdout."""
        result = cli("usage", "--events", str(hostile), *WINDOW, "--group-by", "model")
        assert result.returncode == 0, result.stderr
        assert sorted(models_shown(result.stdout)) == sorted(SHOWN)
        for line in result.stdout.splitlines():
            assert line.isprintable(), repr(line)

    def test_costs_table(self, cli: Any, hostile: Path) -> None:
        """Line items name the models the same way."""
        result = cli("costs", "--events", str(hostile), *WINDOW, "--group-by", "line_item")
        assert result.returncode == 0, result.stderr
        assert "m\\\\x1b[31m, input text tokens" in result.stdout
        for line in result.stdout.splitlines():
            assert line.isprintable(), repr(line)

    def test_csv_is_exact(self, cli: Any, hostile: Path) -> None:
        """CSV written to a file or pipe holds the names exactly (quoted as RFC 4180 says)."""
        result = cli(
            "usage", "--events", str(hostile), *WINDOW, "--group-by", "model", "--format", "csv"
        )
        assert result.returncode == 0, result.stderr
        models = [row["model"] for row in csv.DictReader(io.StringIO(result.stdout))]
        assert sorted(models) == sorted(HOSTILE)

    def test_csv_on_a_terminal(self, hostile: Path) -> None:
        """CSV on a terminal (a real pty) shows the names literally, as the table does."""
        controller, terminal = pty.openpty()
        with subprocess.Popen(
            [sys.executable, "-m", "aievents", "usage", "--events", str(hostile), *WINDOW,
             "--group-by", "model", "--format", "csv"],
            stdout=terminal, stderr=subprocess.PIPE,
        ) as process:  # fmt: skip
            os.close(terminal)
            shown = read_all(controller)
            assert process.wait(timeout=120) == 0
        text = shown.decode().replace("\r\n", "\n")
        models = [row["model"] for row in csv.DictReader(io.StringIO(text))]
        assert sorted(models) == sorted(SHOWN)
        assert all(line.isprintable() for line in text.splitlines())

    def test_messages(self, cli: Any, tmp_path: Path) -> None:
        """What the command quotes in a message (a file name, an argument) is escaped too."""
        name = str(tmp_path / "\x1b[2Jgone\u202e\u200b.jsonl")
        missing = cli("usage", "--events", name)
        assert missing.returncode == 1
        assert "\\x1b[2Jgone\\u202e\\u200b.jsonl" in missing.stderr
        stray = cli("usage", "--events", name, "\x1b]0;pwned\x07")
        assert stray.returncode == 2
        for result in (missing, stray):
            assert all(line.isprintable() for line in result.stderr.splitlines())

    @given(st.text())
    def test_literal(self, text: str) -> None:
        """literal() leaves only printable characters, can be undone, and changes no plain text."""
        from aievents.cli._terminal import literal

        shown = literal(text)
        assert shown.isprintable()
        assert not {unicodedata.category(c) for c in shown} & {"Cc", "Cf", "Cs", "Co", "Cn"}
        assert not set(shown) & set(BIDI)
        shown.encode("utf-8")
        assert unliteral(shown) == text
        if text.isprintable() and "\\" not in text:
            assert shown == text

    @given(st.sampled_from(HOSTILE), st.sampled_from(HOSTILE))
    def test_no_two_alike(self, one: str, other: str) -> None:
        """Two different names never look alike."""
        from aievents.cli._terminal import literal

        assert (literal(one) == literal(other)) is (one == other)


def read_all(descriptor: int) -> bytes:
    """Everything a pty's controller reads until the other side is closed."""
    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 1 << 16)
        except OSError:  # EIO: the terminal's side was closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(descriptor)
    return b"".join(chunks)


MODEL = "\u6a21\u578b-\u00e9"  # 模型-é


@pytest.fixture(name="unicode_file")
def _unicode_file(tmp_path: Path) -> Path:
    """An event of a model named in Chinese and French."""
    return write_events(tmp_path / "unicode.jsonl", [usage_at("u1", T0 + 60, model=MODEL)])


class TestEncoding:
    """A stdout that cannot encode a character gets a backslash escape, not a crash."""

    @pytest.mark.parametrize("form", ["table", "csv", "json"])
    def test_ascii_stdout(
        self,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        unicode_file: Path,
        form: str,
    ) -> None:
        """On an ASCII stdout the name is escaped; the stream's own setting is put back."""
        from aievents.cli import main

        raw = io.BytesIO()
        ascii_out = io.TextIOWrapper(raw, encoding="ascii")
        monkeypatch.setattr(sys, "stdout", ascii_out)
        args = ["usage", "--events", str(unicode_file), *WINDOW, "--group-by", "model"]
        status = main([*args, "--format", form])
        ascii_out.flush()
        assert status == 0, capsys.readouterr().err
        text = raw.getvalue().decode("ascii")
        assert ascii_out.errors == "strict"
        if form == "json":  # JSON escapes it itself, exactly
            assert json.loads(text)["data"][0]["results"][0]["model"] == MODEL
        else:
            assert "\\u6a21\\u578b-\\xe9" in text

    def test_ascii_stdout_of_a_process(self, unicode_file: Path) -> None:
        """PYTHONIOENCODING=ascii: the table and the CSV are written, escaped, status 0."""
        env = {**os.environ, "PYTHONIOENCODING": "ascii"}
        for form in ("table", "csv"):
            result = run(
                "usage", "--events", str(unicode_file), *WINDOW, "--group-by", "model",
                "--format", form, env=env,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert "\\u6a21\\u578b-\\xe9" in result.stdout
            assert result.stderr == ""


@pytest.fixture(name="wide")
def _wide(tmp_path: Path) -> Path:
    """1,005 events, each of its own user and minute: a table, JSON or CSV well past 64 KiB."""
    return write_events(
        tmp_path / "wide.jsonl",
        [usage_at(f"w{i}", T0 + 60 * i, user_id=f"user-{i:05d}") for i in range(1005)],
    )


class TestBrokenPipe:
    """A reader that goes away (| head) ends every format alike: quietly, status 141."""

    @pytest.mark.parametrize("form", ["table", "json", "csv"])
    def test_process(self, wide: Path, form: str) -> None:
        """The command's stdout is a pipe its reader closed: 141, nothing on stderr."""
        with subprocess.Popen(
            [sys.executable, "-m", "aievents", "usage", "--events", str(wide), *WINDOW,
             "--bucket-width", "1m", "--group-by", "user_id", "--format", form],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ) as process:  # fmt: skip
            assert process.stdout is not None
            process.stdout.close()  # more than a pipe holds is written: it cannot succeed
            _, err = process.communicate(timeout=120)
        assert process.returncode == 141, err
        assert err == b""

    def test_demo(self, tmp_path: Path) -> None:
        """The demo stops at its first line nobody reads: 141, nothing on stderr, no call logged."""
        with subprocess.Popen(
            [sys.executable, "-m", "aievents", "demo", "--db", str(tmp_path / "demo.db")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ) as process:  # fmt: skip
            assert process.stdout is not None
            process.stdout.close()
            _, err = process.communicate(timeout=120)
        assert process.returncode == 141, err
        assert err == b""

    @pytest.mark.parametrize(
        "args",
        [
            ["costs", "--format", "json"],
            ["costs", "--format", "table"],
            ["ingest", "--no-progress"],
        ],
        ids=["costs-json", "costs-table", "ingest"],
    )
    def test_every_command(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wide: Path, args: list[str]
    ) -> None:
        """costs and ingest end alike in process: 141, stderr open, nothing said."""
        from aievents.cli import main

        command, *options = args
        where = [str(wide), "--store", f"sqlite:///{tmp_path / 'new.db'}"]
        if command != "ingest":
            where = ["--events", str(wide), *WINDOW, "--group-by", "line_item"]
        reading, writing = os.pipe()
        os.close(reading)
        broken = open(writing, "w")  # noqa: SIM115 - closed below
        monkeypatch.setattr(sys, "stdout", broken)
        errors = io.StringIO()
        monkeypatch.setattr(sys, "stderr", errors)
        assert main([command, *where, *options]) == 141
        assert errors.getvalue() == ""
        assert not broken.closed
        broken.close()

    def test_in_process(self, monkeypatch: pytest.MonkeyPatch, wide: Path) -> None:
        """main() returns 141 and leaves the caller's streams open and usable."""
        from aievents.cli import main

        reading, writing = os.pipe()
        os.close(reading)
        broken = open(writing, "w")  # noqa: SIM115 - closed below
        monkeypatch.setattr(sys, "stdout", broken)
        status = main(["usage", "--events", str(wide), *WINDOW, "--format", "csv"])
        assert status == 141
        assert not sys.stderr.closed
        assert not broken.closed
        broken.write("more")  # the reader is gone: written nowhere, no error
        broken.close()


class TestTable:
    """The table holds at most 1,000 rows; CSV and JSON hold every one."""

    def test_capped(self, cli: Any, wide: Path) -> None:
        """Past 1,000 rows the caption says how many there are and points to CSV."""
        args = ["usage", "--events", str(wide), *WINDOW, "--bucket-width", "1m"]
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        rows = [line for line in result.stdout.splitlines() if line.startswith("│ 2024-")]
        assert len(rows) == 1000
        caption = " ".join(result.stdout.split())
        assert "the first 1,000 of 1,005 rows: --format csv or json for all of them" in caption
        every = cli(*args, "--format", "csv")
        assert len(every.stdout.splitlines()) == 1 + 1005


def pages(out: io.StringIO) -> Iterator[Page]:
    """Two pages of one bucket each; before the second is made, the first must be written."""

    def page(start: int, more: bool) -> Page:
        result = ImagesResult(images=1, num_model_requests=1, cost=Decimal("0.5"))
        bucket = Bucket(start_time=start, end_time=start + DAY, results=(result,))
        return Page(data=(bucket,), has_more=more, next_page="next" if more else None)

    yield page(T0, True)
    written = out.getvalue()
    assert "2024-11-01T00:00:00Z" in written or f'"start_time": {T0}' in written, written
    yield page(T0 + DAY, False)


class TestStreaming:
    """CSV and JSON are written page by page, never held whole."""

    @pytest.mark.parametrize("form", ["csv", "json"])
    def test_page_by_page(self, form: str) -> None:
        """Each page is written before the next one is asked for."""
        from aievents.cli._render import write_pages

        out = io.StringIO()
        last = write_pages(pages(out), form, out, kind="usage")
        assert last.has_more is False
        if form == "csv":
            rows = list(csv.DictReader(io.StringIO(out.getvalue())))
            assert [row["start_time"] for row in rows] == [
                "2024-11-01T00:00:00Z",
                "2024-11-02T00:00:00Z",
            ]
        else:
            assert len(json.loads(out.getvalue())["data"]) == 2
