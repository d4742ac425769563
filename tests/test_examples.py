"""Every example in examples/ runs offline, prints what it says, and names the extras it needs."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: The extras of pyproject.toml that users install (not the project's own dev and bench).
EXTRAS = frozenset(metadata("aievents").get_all("Provides-Extra") or ()) - {"dev", "bench"}

#: What each example must print.
EXPECTED = {
    "quickstart.py": ["image:usage gpt-image-2 user-42 1106"],
    "openai_instrumentation.py": [
        # gpt-image-2, "a lighthouse" high 1024x1024: 2 text tokens x 5.00/M
        # + 7024 image tokens x 30.00/M = 0.00001 + 0.21072
        "gpt-image-2 1 requests $0.21073",
        # gpt-image-2.5-flare (gpt-image-2's rates), "a fox" low 1024x1024:
        # 2 x 5.00/M + 196 x 30.00/M = 0.00001 + 0.00588
        "gpt-image-2.5-flare 1 requests $0.00589",
    ],
    "litellm_integration.py": [
        # gpt-image-1, 2 images high 1024x1024 (the server's usage): 10 text
        # tokens x 5.00/M + 40 image tokens x 10.00/M + 100 output x 40.00/M
        # = 0.00005 + 0.0004 + 0.004; LiteLLM prices the same tokens alike.
        "openai/gpt-image-1: 2 image(s), ours $0.00445, LiteLLM's $0.00445",
        # dall-e-3 standard 1024x1024: $0.040 an image; LiteLLM reports 0
        # (it prices dall-e-3 by quality, left to the default): none.
        "openai/dall-e-3: 1 image(s), ours $0.040, LiteLLM's none",
    ],
    "replicate_instrumentation.py": [
        # No shipped Replicate prices: the cost is unknown. predict_time at the
        # local server: 0.5 s + 0.25 s a image.
        "black-forest-labs/flux-schnell: 2 image(s), 1.0 s billed, cost unknown",
        "stability-ai/sdxl: 1 image(s), 0.75 s billed, cost unknown",
        "black-forest-labs/flux-dev failed: NSFW content detected",
        "hello there (a text model: no event)",
    ],
    "google_instrumentation.py": [
        # gemini-3.1-flash-image, "a lighthouse" at 2K: 2 text tokens x 0.50/M
        # + 1680 image tokens x 60.00/M = 0.000001 + 0.1008
        "gemini-3.1-flash-image at 2K: 1 image(s), $0.100801",
        # gemini-3-pro-image, "a fox" at 4K, streamed: 2 x 2.00/M + 2000 x 120.00/M
        # = 0.000004 + 0.24
        "gemini-3-pro-image at 4K: 1 image(s), $0.240004",
        "2 chunks streamed",
    ],
    "bedrock_instrumentation.py": [
        # amazon.titan-image-generator-v2:0, 3 premium images at 1024x1024 (the default
        # size): 3 x 0.012 = 0.036
        "amazon.titan-image-generator-v2:0 image.generation 1024x1024: 3 image(s), $0.036",
        "3 images read",
        # Nova Canvas inpainting, 1 image at the flat 0.06
        "amazon.nova-canvas-v1:0 image.edit 1024x1024: 1 image(s), $0.06",
        # a cross-region Stable Image Core, priced as stability.stable-image-core-v1:1: 0.04
        "us.stability.stable-image-core-v1:1 image.generation 16:9: 1 image(s), $0.04",
        "amazon.nova-canvas-v1:0 failed: 429 ThrottlingException",
        "throttled, as the caller sees it",
    ],
    "custom_provider.py": ["image:request:completed sd3.5-large 2", "image:usage sd3.5-large 2"],
    "aggregate_report.py": [
        '"user_id": "alice"',
        '"line_item": "gpt-image-2, output image tokens"',
    ],
    "spend_pandas.py": [
        # gpt-image-2: 50 text tokens x 5.00/M + 1056 image tokens x 30.00/M = 0.03193
        "alice $0.06386 (computed) for 2 requests, 2 images",
        "bob at least $0.03193 (computed) for 2 requests, 2 images",
        "1 request without a price",
        "2024-11-01 alice 0.06386 0",
        "2024-11-01 bob None 1",
    ],
    "usage_api.py": [
        "without the key: 401",
        "usage: 200",
        # gpt-image-2: 50 text tokens x 5.00/M + 1056 image tokens x 30.00/M = 0.03193 a request
        "  alice: 2 requests $0.06386",
        "  bob: 1 requests $0.03193",
        "costs: 200 {'value': 0.09579, 'currency': 'usd'}",
        "a bad limit: 400 limit invalid_value",
    ],
    "forwarding.py": ["sent=10 pending=0 dropped={}", "10 lines in events.jsonl"],
    "testing_capture.py": ["test_thumbnail_is_reported passed"],
    "prometheus_metrics.py": [
        "scraped http://127.0.0.1:PORT/metrics",
        "aievents_image_requests_total model=gpt-image-1 user_id=alice 2",
        "aievents_image_requests_total model=gpt-image-1 user_id=bob 1",
        "aievents_image_request_errors_total model=gpt-image-1 error_type=TimeoutError 1",
        "aievents_images_total model=gpt-image-1 user_id=bob 2",
        # gpt-image-1, 12 text tokens x 5.00/M + 1056 image tokens an image x 40.00/M:
        # alice 2 x (0.00006 + 0.04224), bob 0.00006 + 0.08448
        "aievents_cost_usd_total model=gpt-image-1 user_id=alice 0.0846",
        "aievents_cost_usd_total model=gpt-image-1 user_id=bob 0.08454",
        "aievents_unpriced_requests_total model=gpt-image-1 user_id=bob 0",
        "aievents_image_request_duration_seconds_count model=gpt-image-1 error_type=TimeoutError 1",
    ],
    "opentelemetry_sink.py": [
        "render banner > generate_content gpt-image-1",
        # gpt-image-1 low 1024x1024: 10 text tokens x 5.00/M + 272 output x 40.00/M
        "  gen_ai.usage.cost = 0.01093",
        "requests 1, images 1, tokens 282, cost $0.01093",
    ],
}


def extras_of(name: str) -> frozenset[str]:
    """The extras an example says it needs: its docstring's ``Extras: a, b`` (or ``none``) line."""
    docstring = ast.get_docstring(ast.parse((EXAMPLES / name).read_text())) or ""
    declared = re.findall(r"^Extras: ([\w, -]+?)(?: \(.*\))?$", docstring, re.M)
    assert len(declared) == 1, f"{name}: its docstring needs one 'Extras: ...' line"
    names = frozenset(part.strip() for part in declared[0].split(",")) - {"none"}
    assert names <= EXTRAS, f"{name}: unknown extras {sorted(names - EXTRAS)}"
    return names


def test_every_example_is_checked() -> None:
    """No example goes untested."""
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


def test_every_example_names_its_extras() -> None:
    """Each says which extras it needs; the packaging tests run it with only those."""
    needs = {name: extras_of(name) for name in EXPECTED}
    assert needs["openai_instrumentation.py"] == {"openai"}
    assert needs["google_instrumentation.py"] == {"google"}
    assert needs["bedrock_instrumentation.py"] == {"bedrock"}
    assert needs["quickstart.py"] == frozenset()


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
