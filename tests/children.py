"""Python child processes for the tests: a script run with ``python -c``, talking over pipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["spawn"]


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
