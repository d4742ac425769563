"""Every example in examples/ runs offline and prints what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: What each example must print.
EXPECTED = {
    "quickstart.py": ["image:usage gpt-image-1 user-42 1106"],
    "openai_instrumentation.py": [
        "dall-e-3 1 requests $0.08",
        "gpt-image-1 1 requests $0.00245",
    ],
    "custom_provider.py": ["image:request:completed sd3.5-large 2", "image:usage sd3.5-large 2"],
    "aggregate_report.py": [
        '"user_id": "alice"',
        '"line_item": "gpt-image-1, output image tokens"',
    ],
    "forwarding.py": ["sent=10 pending=0 dropped={}", "10 lines in events.jsonl"],
    "testing_capture.py": ["test_thumbnail_is_reported passed"],
}


def test_every_example_is_checked() -> None:
    """No example goes untested."""
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example(name: str) -> None:
    """It exits 0 and prints the expected lines."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for line in EXPECTED[name]:
        assert line in result.stdout
