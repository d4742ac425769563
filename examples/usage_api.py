"""OpenAI's organization usage API, served over HTTP from an AggregateSink.

The server runs in a background thread on a free port of 127.0.0.1 while the
``with`` block runs; the requests are plain HTTP, as any tool written against
OpenAI's endpoint would send them.

Run: python examples/usage_api.py
Extras: serve
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from aievents import AggregateSink, ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.serve import serving

DAY = 1_730_419_200  # 2024-11-01 00:00 UTC


def get(url: str, key: str | None = None) -> tuple[int, Any]:
    """The status and JSON body of a GET."""
    request = urllib.request.Request(url)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def main() -> None:
    """Three requests by two users, then usage by user and costs over HTTP."""
    sink = AggregateSink(clock=lambda: DAY + 86_400)
    for index, user in enumerate(["alice", "bob", "alice"]):
        usage = ImageUsage(
            input_tokens=50,
            output_tokens=1056,
            input_tokens_details=InputTokensDetails(text_tokens=50, image_tokens=0),
        )
        sink.handle(
            ImageUsageEvent(
                request_id=f"req-{index}",
                timestamp=(DAY + 3600 * index) * 1000,
                model="gpt-image-2",
                user_id=user,
                images=1,
                usage=usage,
            )
        )
    key = "example-key"
    with serving(sink, key=key) as url:
        usage_url = f"{url}/v1/organization/usage/images?start_time={DAY}&group_by[]=user_id"
        status, _ = get(usage_url)
        print("without the key:", status)
        status, page = get(usage_url, key)
        print("usage:", status)
        for bucket in page["data"]:
            for result in bucket["results"]:
                cost = result["cost"]["value"]
                print(f"  {result['user_id']}: {result['num_model_requests']} requests ${cost:.5f}")
        status, page = get(f"{url}/v1/organization/costs?start_time={DAY}&limit=1", key)
        print("costs:", status, page["data"][0]["results"][0]["amount"])
        status, page = get(f"{url}/v1/organization/costs?start_time={DAY}&limit=500", key)
        print("a bad limit:", status, page["error"]["param"], page["error"]["code"])


if __name__ == "__main__":
    main()
