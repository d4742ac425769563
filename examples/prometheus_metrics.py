"""Count image calls as Prometheus metrics and serve them on /metrics.

Three calls succeed (two users), one fails; the sink counts them in a
registry, ``serve_metrics`` serves it on 127.0.0.1 (port 0: a free port,
9464 by default), and the example scrapes it once, as Prometheus would,
then stops the server.

Run: python examples/prometheus_metrics.py
Extras: prometheus
"""

from __future__ import annotations

import urllib.request
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from aievents import EventClient
from aievents.instrument import image_request
from aievents.sinks.prometheus import PrometheusSink, serve_metrics

#: The metrics this example prints from the scrape (with their model, user and error type).
SHOWN = (
    "aievents_image_requests_total",
    "aievents_image_request_errors_total",
    "aievents_images_total",
    "aievents_cost_usd_total",
    "aievents_unpriced_requests_total",
    "aievents_image_request_duration_seconds_count",
)


def openai_answer(images: int, prompt_tokens: int) -> dict[str, Any]:
    """Stands for OpenAI's images API answer (its JSON body)."""
    return {
        "created": 1_700_000_000,
        "data": [{"b64_json": "aW1hZ2U="}] * images,
        "usage": {
            "input_tokens": prompt_tokens,
            "output_tokens": 1056 * images,
            "total_tokens": prompt_tokens + 1056 * images,
            "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": 0},
        },
    }


def main() -> None:
    """Four calls counted, /metrics served and scraped once."""
    registry = CollectorRegistry()  # leave it out to use prometheus_client's default REGISTRY
    sink = PrometheusSink(registry=registry, labels=["user_id"])
    with EventClient() as events:
        events.add_sink(sink)
        for user, images in (("alice", 1), ("bob", 2), ("alice", 1)):
            with image_request(
                provider="openai", model="gpt-image-1", client=events, user_id=user
            ) as request:
                request.record(openai_answer(images, prompt_tokens=12))
        try:
            with image_request(provider="openai", model="gpt-image-1", client=events):
                raise TimeoutError("the provider took too long")
        except TimeoutError:
            pass
        with (
            serve_metrics(sink, port=0) as server,
            urllib.request.urlopen(server.url, timeout=10) as answer,
        ):
            text = answer.read().decode()
        print("scraped", server.url.replace(str(server.port), "PORT"))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in SHOWN:
                labels = sample.labels
                shown = [
                    f"{k}={labels[k]}" for k in ("model", "user_id", "error_type") if labels.get(k)
                ]
                print(sample.name, *shown, f"{sample.value:g}")


if __name__ == "__main__":
    main()
