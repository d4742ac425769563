"""Instrumentation overhead: an image call through aievents versus the same call bare.

The process-wide row instruments the openai SDK's classes
(``instrument_openai()``) before each of its rounds, and the other rows undo
it before theirs, so that the bare rows stay bare.

The real openai and google-genai SDKs talk to an in-process HTTP transport
(each SDK's own HTTP client with a mock transport), so the rows measure the
SDK plus aievents and nothing of a network. Rows are timed in interleaved
rounds; the table gives
the median per call, the added cost per call (median of per-round
differences) and the ratio.

Run with the project's venv: ``make bench``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from typing import Any

import openai
from google import genai
from google.genai import types

from _timing import difference, interleaved, ratio, table
from aievents import EventClient
from aievents.instrument import instrument_google_genai, instrument_openai, uninstrument_openai
from aievents.testing import CapturingSink
from aievents.testing._gemini import gemini_answer

GPT_BODY = {
    "created": 1713833628,
    "data": [{"b64_json": "aGVsbG8="}],
    "usage": {
        "total_tokens": 100,
        "input_tokens": 50,
        "output_tokens": 50,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
    },
    "size": "1024x1024",
    "quality": "high",
}
DALL_E_BODY = {"created": 1713833628, "data": [{"url": "http://127.0.0.1/0.png"}]}
IMAGE_TOOL = {"type": "image_generation", "model": "gpt-image-1", "quality": "low"}
TEXT_RESPONSE: dict[str, Any] = {
    "id": "resp_bench",
    "object": "response",
    "created_at": 1713833628,
    "status": "completed",
    "model": "gpt-5",
    "output": [
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Here you are.", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 43,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 48,
    },
}
TOOL_RESPONSE: dict[str, Any] = {
    **TEXT_RESPONSE,
    "output": [
        {
            "id": "ig_bench",
            "type": "image_generation_call",
            "status": "completed",
            "action": "generate",
            "size": "1024x1024",
            "quality": "low",
            "result": "aGVsbG8=",
        },
        *TEXT_RESPONSE["output"],
    ],
    "tools": [{**IMAGE_TOOL, "size": "auto", "action": "auto"}],
    "tool_usage": {
        "image_gen": {
            "input_tokens": 3,
            "input_tokens_details": {"text_tokens": 3, "image_tokens": 0},
            "output_tokens": 272,
            "output_tokens_details": {"text_tokens": 0, "image_tokens": 272},
            "total_tokens": 275,
        },
        "web_search": {"num_requests": 0},
    },
}


def _http_module(client: Any) -> Any:
    """The HTTP library an SDK's HTTP client is built on (httpx, or its successor)."""
    for cls in type(client).__mro__:
        root = cls.__module__.split(".")[0]
        if root.startswith("httpx"):
            return importlib.import_module(root)
    raise RuntimeError("cannot find the SDK's HTTP library")


def make_client(instrumented: bool, events: EventClient) -> openai.OpenAI:
    """An OpenAI client whose HTTP answers come from memory."""
    probe = openai.OpenAI(api_key="sk-bench")
    http = _http_module(probe._client)
    probe.close()

    def answer(request: Any) -> Any:
        body = json.loads(request.content)
        payload = GPT_BODY if str(body.get("model", "")).startswith("gpt-image") else DALL_E_BODY
        if request.url.path.endswith("/responses"):
            payload = TOOL_RESPONSE if body.get("tools") else TEXT_RESPONSE
        # A body still to be read, as from the network (with_streaming_response reads it later).
        return http.Response(
            200,
            headers={"content-type": "application/json", "x-request-id": "req_bench"},
            stream=http.ByteStream(json.dumps(payload).encode()),
        )

    client = openai.OpenAI(
        api_key="sk-bench",
        base_url="http://127.0.0.1/v1",
        max_retries=0,
        http_client=http.Client(transport=http.MockTransport(answer)),
    )
    return instrument_openai(client, events=events) if instrumented else client


def make_gemini(instrumented: bool, events: EventClient) -> genai.Client:
    """A google-genai client whose HTTP answers (an image, as Gemini sends it) come from memory."""
    probe = genai.Client(api_key="bench")
    http = _http_module(probe._api_client._httpx_client)
    body = json.dumps(
        gemini_answer("gemini-3.1-flash-image", {}, b64="aGVsbG8=", response_id="resp_bench")
    ).encode()

    def answer(request: Any) -> Any:
        headers = {"content-type": "application/json"}
        return http.Response(200, headers=headers, stream=http.ByteStream(body))

    client = genai.Client(
        api_key="bench",
        http_options=types.HttpOptions(
            base_url="http://127.0.0.1",
            httpx_client=http.Client(transport=http.MockTransport(answer)),
        ),
    )
    return instrument_google_genai(client, events=events) if instrumented else client


#: The other providers' rows: modules of ``bench/`` (``_instrument_bedrock``...) each
#: with ``rows(number, quiet, listening) -> (names, rows, pairs)``: the names their
#: statements use, their rows as :func:`run` takes them, and their (instrumented,
#: bare) pairs for the table of what aievents adds.
PROVIDERS: tuple[str, ...] = (
    "_instrument_bedrock",
    "_instrument_replicate",
    "_instrument_fal",
    "_instrument_litellm",
)


def _providers(
    number: int, quiet: EventClient, listening: EventClient
) -> tuple[dict[str, Any], dict[str, tuple[str, int]], list[tuple[str, str]]]:
    names: dict[str, Any] = {}
    rows: dict[str, tuple[str, int]] = {}
    pairs: list[tuple[str, str]] = []
    for module in PROVIDERS:
        more_names, more_rows, more_pairs = importlib.import_module(module).rows(
            number, quiet, listening
        )
        names.update(more_names)
        rows.update(more_rows)
        pairs.extend(more_pairs)
    return names, rows, pairs


def run(number: int, repeat: int) -> dict[str, list[float]]:
    """Measure every row; ns per call, one sample per round."""
    quiet = EventClient()
    listening = EventClient()
    listening.add_sink(CapturingSink())
    ns: dict[str, Any] = {
        "bare": make_client(False, quiet),
        "instrumented": make_client(True, quiet),
        "listened": make_client(True, listening),
        "sink": listening.sinks[0],
        "instrument_openai": instrument_openai,
        "uninstrument_openai": uninstrument_openai,
        "listening": listening,
        "gemini_bare": make_gemini(False, quiet),
        "gemini_listened": make_gemini(True, listening),
    }
    gpt = "images.generate(model='gpt-image-1', prompt='a fox')"
    raw = "images.with_raw_response.generate(model='gpt-image-1', prompt='a fox').parse()"
    streamed = "images.with_streaming_response.generate(model='gpt-image-1', prompt='a fox')"
    dalle = "images.generate(model='dall-e-3', prompt='a fox', size='1024x1024', quality='hd')"
    gemini = "models.generate_content(model='gemini-3.1-flash-image', contents='a fox')"
    text = "responses.create(model='gpt-5', input='a fox')"
    tool = f"responses.create(model='gpt-5', input='a fox', tools=[{IMAGE_TOOL!r}])"
    rows: dict[str, tuple[str, int] | tuple[str, int, str]] = {
        "gpt-image-1, bare SDK": (f"bare.{gpt}", number),
        "gpt-image-1, instrumented, no subscriber": (f"instrumented.{gpt}", number),
        "gpt-image-1, instrumented, one sink": (f"listened.{gpt}; sink.clear()", number),
        "dall-e-3, bare SDK": (f"bare.{dalle}", number),
        "dall-e-3, instrumented, one sink": (f"listened.{dalle}; sink.clear()", number),
        "raw + parse, bare SDK": (f"bare.{raw}", number),
        "raw + parse, instrumented, one sink": (f"listened.{raw}; sink.clear()", number),
        "streaming + read, bare SDK": (f"with bare.{streamed} as r: r.read()", number),
        "streaming + read, instrumented, one sink": (
            f"with listened.{streamed} as r: r.read()\nsink.clear()",
            number,
        ),
        "gemini generate_content, bare SDK": (f"gemini_bare.{gemini}", number),
        "gemini generate_content, instrumented, one sink": (
            f"gemini_listened.{gemini}; sink.clear()",
            number,
        ),
        "responses, text only, bare SDK": (f"bare.{text}", number),
        "responses, text only, instrumented": (f"listened.{text}; sink.clear()", number),
        "responses, image tool, bare SDK": (f"bare.{tool}", number),
        "responses, image tool, instrumented": (f"listened.{tool}; sink.clear()", number),
    }
    more_names, more_rows, more_pairs = _providers(number, quiet, listening)
    ns.update(more_names)
    rows.update(more_rows)
    PAIRS.extend(pair for pair in more_pairs if pair not in PAIRS)
    bare_classes = "uninstrument_openai()"
    rows = {name: (row[0], row[1], bare_classes) for name, row in rows.items()}
    rows["gpt-image-1, process-wide, one sink"] = (
        f"bare.{gpt}; sink.clear()",
        number,
        "instrument_openai(events=listening)",
    )
    try:
        return interleaved(rows, ns, repeat)
    finally:
        uninstrument_openai()


PAIRS = [
    ("gpt-image-1, instrumented, no subscriber", "gpt-image-1, bare SDK"),
    ("gpt-image-1, instrumented, one sink", "gpt-image-1, bare SDK"),
    ("gpt-image-1, process-wide, one sink", "gpt-image-1, bare SDK"),
    ("dall-e-3, instrumented, one sink", "dall-e-3, bare SDK"),
    ("raw + parse, instrumented, one sink", "raw + parse, bare SDK"),
    ("streaming + read, instrumented, one sink", "streaming + read, bare SDK"),
    ("gemini generate_content, instrumented, one sink", "gemini generate_content, bare SDK"),
    ("responses, text only, instrumented", "responses, text only, bare SDK"),
    ("responses, image tool, instrumented", "responses, image tool, bare SDK"),
]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=200, help="calls per round")
    parser.add_argument("--repeat", type=int, default=15, help="rounds; medians are kept")
    args = parser.parse_args(argv)
    versions = f"openai {openai.__version__}, google-genai {genai.__version__}"
    rounds = f"{args.repeat} rounds x {args.number} calls"
    print(f"python {sys.version.split()[0]}, {versions}, {rounds}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        samples = run(args.number, args.repeat)
    table(samples)
    print()
    print(f"{'added by aievents':<48} {'us/call':>9} {'ratio':>7}")
    for top, bottom in PAIRS:
        added = difference(samples, top, bottom) / 1000
        print(f"{top:<48} {added:>9.1f} {ratio(samples, top, bottom):>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
