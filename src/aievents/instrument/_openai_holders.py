"""The SDK's raw and streamed-response wrappers of a resource, as cached on its objects.

``images.with_raw_response`` (and ``with_streaming_response``, and the
client's ``with_raw_response.images``) is built by the SDK on first use,
from the methods the resource has then, and cached on the object: one
built before instrumenting calls the SDK's methods directly, one built
while instrumented calls ours.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["HOLDERS", "cached", "cached_holders", "calls_into"]

#: The SDK's cached properties that wrap a resource's methods for raw and
#: streamed responses, on the resource and on the client.
HOLDERS: Final = ("with_raw_response", "with_streaming_response")


def cached(owner: Any, name: str) -> Any:
    """What ``owner`` holds under ``name`` itself (a cached property once used), or None."""
    return getattr(owner, "__dict__", {}).get(name)


def cached_holders(client: Any, resource: Any, name: str) -> list[tuple[Any, str, Any]]:
    """The wrappers of ``resource`` (the client's ``name``) cached now.

    Each as (the object caching it, its attribute there, the wrapper).
    """
    found = []
    for holder in HOLDERS:
        found.append((resource, holder, cached(resource, holder)))
        outer = cached(client, holder)
        found.append((outer, name, cached(outer, name)))
    return [
        (owner, attribute, held)
        for owner, attribute, held in found
        if held is not None and getattr(held, f"_{name}", resource) is resource
    ]


def calls_into(holder: Any, methods: Any, wrappers: Any) -> bool:
    """Whether one of ``holder``'s ``methods`` calls one of ``wrappers`` (functions)."""
    for method in methods:
        inner = getattr(getattr(holder, method, None), "__wrapped__", None)
        inner = getattr(inner, "__func__", inner)  # a bound method: its function
        if inner is not None and inner in wrappers:
            return True
    return False
