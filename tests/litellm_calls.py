"""Helpers for the LiteLLM integration's tests: a witness callback and a wait for events."""

from __future__ import annotations

import os
import threading
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch LiteLLM's prices

import litellm
from litellm.integrations.custom_logger import CustomLogger

from aievents import EventClient
from aievents.events import BaseEvent
from aievents.instrument.litellm import unregister

#: Long enough for a slow machine; the tests wait on events, never for this long.
WAIT = 20.0
#: The key the calls use: it must never reach an event.
SECRET = "sk-test-0123456789abcdefSECRET"


class Received:
    """The events of an event client, and a wait for the requests that end."""

    def __init__(self, client: EventClient) -> None:
        self.events: list[BaseEvent] = []
        self.ended = threading.Condition()
        client.on("*", self.take)

    def take(self, event: BaseEvent) -> None:
        with self.ended:
            self.events.append(event)
            self.ended.notify_all()

    def ends(self) -> int:
        return sum(
            event.event_type in ("image:usage", "image:request:error") for event in self.events
        )

    def wait(self, requests: int = 1) -> list[BaseEvent]:
        """The events once ``requests`` requests have ended (usage or error)."""
        with self.ended:
            assert self.ended.wait_for(lambda: self.ends() >= requests, WAIT), self.events
            return list(self.events)


class Witness(CustomLogger):  # type: ignore[misc]
    """A callback registered after ours: once it ran for a call, ours has too."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []
        self.seen = threading.Condition()

    def _see(self, kwargs: Any, start_time: Any) -> None:
        with self.seen:
            self.calls.append({"kwargs": kwargs, "start": start_time})
            self.seen.notify_all()

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._see(kwargs, start_time)

    def log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._see(kwargs, start_time)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._see(kwargs, start_time)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._see(kwargs, start_time)

    def wait(self, calls: int = 1) -> list[dict[str, Any]]:
        """What LiteLLM told the callbacks, once ``calls`` calls were logged."""
        with self.seen:
            assert self.seen.wait_for(lambda: len(self.calls) >= calls, WAIT)
            return list(self.calls)


def generate(server: Any, **kwargs: Any) -> Any:
    """``litellm.image_generation`` against ``server``, no retries."""
    kwargs.setdefault("model", "openai/gpt-image-1")
    return litellm.image_generation(
        prompt="a fox", api_base=server.base_url, api_key=SECRET, max_retries=0, **kwargs
    )


async def agenerate(server: Any, **kwargs: Any) -> Any:
    """``litellm.aimage_generation`` against ``server``, no retries."""
    kwargs.setdefault("model", "openai/gpt-image-1")
    return await litellm.aimage_generation(
        prompt="a fox", api_base=server.base_url, api_key=SECRET, max_retries=0, **kwargs
    )


def types(events: list[BaseEvent]) -> list[str]:
    return [event.event_type for event in events]


def forget(callback: Any) -> None:
    """Take ``callback`` out of every list LiteLLM keeps callbacks in."""
    unregister(callback)
