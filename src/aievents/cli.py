"""The ``aievents`` command.

``aievents demo`` runs a short scripted session: a few image requests emit
their events, a handler prints each one as it arrives, and a sink collects
them for a summary at the end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from aievents import __version__
from aievents.client import EventClient
from aievents.context import context
from aievents.events import (
    BaseEvent,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
)
from aievents.testing import CapturingSink
from aievents.usage import from_openai

__all__ = ["main"]


def _describe(event: BaseEvent) -> str:
    parts = [f"{event.event_type:<24}", f"request={event.request_id}"]
    for name in ("model", "operation", "size", "quality", "images", "user_id", "project_id"):
        value = getattr(event, name, None)
        if value is not None:
            parts.append(f"{name}={value}")
    if isinstance(event, ImageUsageEvent):
        usage = event.usage
        parts.append(
            f"tokens in={usage.input_tokens} out={usage.output_tokens} total={usage.total_tokens}"
        )
    if isinstance(event, ImageRequestErrorEvent):
        parts.append(f"error={event.error_type} status={event.status_code}")
    return "  ".join(parts)


def _script(client: EventClient) -> None:
    """Emit the events of three image requests, one of them failing."""
    requests = [
        (
            "req-1",
            "gpt-image-1",
            "image.generation",
            "1024x1024",
            "medium",
            1,
            {
                "input_tokens": 50,
                "output_tokens": 1056,
                "total_tokens": 1106,
                "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
            },
        ),
        (
            "req-2",
            "gpt-image-1",
            "image.edit",
            "1024x1536",
            "high",
            2,
            {
                "input_tokens": 373,
                "output_tokens": 12288,
                "total_tokens": 12661,
                "input_tokens_details": {"text_tokens": 50, "image_tokens": 323},
                "output_tokens_details": {"text_tokens": 0, "image_tokens": 12288},
            },
        ),
        ("req-3", "dall-e-3", "image.generation", "1024x1792", "hd", 1, None),
    ]
    for request_id, model, operation, size, quality, n, usage in requests:
        common: dict[str, Any] = {
            "request_id": request_id,
            "provider": "openai",
            "model": model,
            "operation": operation,
            "size": size,
            "quality": quality,
        }
        client.emit(ImageRequestStartedEvent(number_of_images=n, **common))
        if request_id == "req-3":
            client.emit(
                ImageRequestErrorEvent(
                    error_type="RateLimitError",
                    error_message="Rate limit reached for images per minute",
                    status_code=429,
                    duration=210.0,
                    **common,
                )
            )
            continue
        client.emit(ImageRequestCompletedEvent(duration=8400.0, images=n, **common))
        assert usage is not None
        client.emit(ImageUsageEvent(usage=from_openai(usage), images=n, **common))


def demo(out: TextIO) -> int:
    """Run the scripted demo, writing to ``out``."""
    sink = CapturingSink()
    with EventClient() as client:
        client.add_sink(sink)
        client.on("*", lambda event: print(_describe(event), file=out))
        with context(user_id="user-42", project_id="proj_demo"):
            _script(client)
        client.flush(5.0)
    usage = sink.of_type(ImageUsageEvent)
    errors = sink.of_type(ImageRequestErrorEvent)
    images = sum(e.images or 0 for e in usage if isinstance(e, ImageUsageEvent))
    tokens = sum(e.usage.total_tokens or 0 for e in usage if isinstance(e, ImageUsageEvent))
    print(file=out)
    print(
        f"{len(sink.events)} events reached the sink: {len(usage)} usage, "
        f"{len(errors)} errors; {images} images, {tokens} tokens",
        file=out,
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aievents", description="AI usage telemetry: events, usage and cost."
    )
    parser.add_argument("--version", action="version", version=f"aievents {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="run a short scripted session and show its events")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aievents`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(sys.stdout)
    parser.print_help(sys.stderr)
    return 2
