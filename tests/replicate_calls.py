"""The ways the Replicate tests make a prediction, and what they check them with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
import replicate

from aievents.events import BaseEvent, ImageUsageEvent
from aievents.instrument import instrument_replicate, uninstrument_replicate
from aievents.pricing import PriceTable
from aievents.testing import ImageServer
from aievents.testing._replicate import version_of

#: The events of one reported request, in order.
SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]
TOKEN = "r8_PLANTEDreplicate0123456789abcdef"

#: Test prices (Replicate's are not in the bundled table): flux-schnell per image,
#: sdxl per image and per second of predict_time (the seconds win).
PRICES = PriceTable.from_dict(
    {
        "format": 2,
        "version": "test",
        "currency": "usd",
        "models": [
            {
                "provider": "replicate",
                "model": "black-forest-labs/flux-schnell",
                "unit": "images",
                "per_image": [{"price": "0.003"}],
                "source": "test",
                "effective": "2026-01-01",
            },
            {
                "provider": "replicate",
                "model": "stability-ai/sdxl",
                "unit": "images",
                "per_image": [{"price": "0.01"}],
                "per_billed_unit": {"seconds": "0.000725"},
                "source": "test",
                "effective": "2026-01-01",
            },
        ],
    }
)


@pytest.fixture(name="server", scope="module")
def replicate_server() -> Iterator[ImageServer]:
    """ImageServer, for the tests of one module (import this fixture)."""
    with ImageServer() as server:
        yield server


@pytest.fixture(name="client")
def instrumented_client(server: ImageServer) -> Iterator[replicate.Client]:
    """A client of ``server`` instrumented on its own, with the test prices."""
    client = instrument_replicate(make_client(server), prices=PRICES)
    try:
        yield client
    finally:
        uninstrument_replicate(client)


def make_client(server: ImageServer, **options: Any) -> replicate.Client:
    """A replicate client of ``server`` that polls without waiting."""
    client = replicate.Client(api_token=TOKEN, base_url=server.url, **options)
    client.poll_interval = 0
    return client


def pid_of(output: Any) -> str:
    """The prediction id in the URL of ``run``'s first output file ("" for no file)."""
    first = output[0] if isinstance(output, list) and output else output
    _, files, rest = str(getattr(first, "url", first)).partition("/files/")
    return rest.split("/")[0] if files else ""


@attrs.frozen
class Way:
    """One way of making a prediction: ``call(client, model, input)`` -> the prediction id."""

    name: str
    call: Callable[[replicate.Client, str, dict[str, Any]], str]

    def __repr__(self) -> str:
        return self.name


async def closing(client: replicate.Client, call: Any) -> Any:
    """Await ``call``, then close the client's async HTTP client (its loop ends with the test)."""
    try:
        return await call
    finally:
        await client._async_client.aclose()
        client._Client__async_client = None  # type: ignore[attr-defined]


def _run(client: replicate.Client, model: str, inputs: dict[str, Any]) -> str:
    return pid_of(client.run(model, input=inputs))


def _async_run(client: replicate.Client, model: str, inputs: dict[str, Any]) -> str:
    return pid_of(asyncio.run(closing(client, client.async_run(model, input=inputs))))


def _create_wait(client: replicate.Client, model: str, inputs: dict[str, Any]) -> str:
    prediction = client.predictions.create(version=version_of(model), input=inputs)
    assert prediction.status == "starting"
    prediction.wait()
    return str(prediction.id)


def _async_create_wait(client: replicate.Client, model: str, inputs: dict[str, Any]) -> str:
    async def go() -> str:
        prediction = await client.predictions.async_create(model=model, input=inputs)
        await prediction.async_wait()
        return str(prediction.id)

    return asyncio.run(closing(client, go()))


def _models_reload(client: replicate.Client, model: str, inputs: dict[str, Any]) -> str:
    prediction = client.models.predictions.create(model=model, input=inputs)
    prediction.reload()
    return str(prediction.id)


def _create_get(client: replicate.Client, model: str, inputs: dict[str, Any]) -> str:
    prediction = client.predictions.create(model=model, input=inputs)
    return str(client.predictions.get(prediction.id).id)


WAYS = (
    Way("run", _run),
    Way("async_run", _async_run),
    Way("create+wait", _create_wait),
    Way("async_create+async_wait", _async_create_wait),
    Way("models.create+reload", _models_reload),
    Way("create+get", _create_get),
)


def names(events: list[BaseEvent]) -> list[str]:
    """The events' names, in order."""
    return [event.event_type for event in events]


def usage_of(events: list[BaseEvent]) -> ImageUsageEvent:
    """The one ``image:usage`` event."""
    found = [event for event in events if isinstance(event, ImageUsageEvent)]
    assert len(found) == 1, names(events)
    return found[0]


def cost(event: ImageUsageEvent) -> Decimal | None:
    """The event's computed cost, or None."""
    return None if event.cost is None else event.cost.total
