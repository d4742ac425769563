"""The aievents command, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys

import aievents


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aievents`` with args."""
    return subprocess.run(
        [sys.executable, "-m", "aievents", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestDemo:
    """aievents demo shows events reaching a handler and a sink."""

    def test_demo(self) -> None:
        """Every event of the script is printed by the handler and counted by the sink."""
        result = run("demo")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        kinds = [line.split()[0] for line in lines if line.startswith("image:")]
        assert kinds.count("image:request:started") == 3
        assert kinds.count("image:request:completed") == 2
        assert kinds.count("image:usage") == 2
        assert kinds.count("image:request:error") == 1
        assert all("user_id=user-42" in line for line in lines if line.startswith("image:"))
        assert lines[-1] == ("8 events reached the sink: 2 usage, 1 errors; 3 images, 13767 tokens")


class TestCommand:
    """Version, help and usage errors."""

    def test_version(self) -> None:
        """--version prints the package version."""
        result = run("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"aievents {aievents.__version__}"

    def test_no_command(self) -> None:
        """Without a command it prints help to stderr and exits 2."""
        result = run()
        assert result.returncode == 2
        assert "demo" in result.stderr

    def test_unknown_command(self) -> None:
        """An unknown command is a usage error naming it."""
        result = run("frobnicate")
        assert result.returncode == 2
        assert "frobnicate" in result.stderr
