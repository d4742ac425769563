"""Python child processes for the tests: a script run with ``python -c``, talking over pipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest

__all__ = ["HANG", "run_child", "spawn"]

#: Seconds a child may take before it is taken to hang.
HANG: Final = 60


def spawn(script: str, **values: Any) -> subprocess.Popen[str]:
    """Run ``script``, formatted with ``values`` and ``tests`` (this directory), in a child.

    Its stdin and stdout are text pipes; its stderr is a pipe too (read it,
    or the child may block on a full pipe).
    """
    return subprocess.Popen(
        [sys.executable, "-c", script.format(tests=str(Path(__file__).parent), **values)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_child(script: str, **values: Any) -> tuple[str, str]:
    """Run ``script`` (as :func:`spawn` does) to its end; its stdout and stderr.

    A child that hangs (killed after :data:`HANG` seconds) or exits with a
    failure fails the test, with its stderr.
    """
    child = spawn(script, **values)
    try:
        out, err = child.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        pytest.fail(f"the child hung (killed after {HANG} s); stderr:\n{err}")
    assert child.returncode == 0, err
    return out, err
