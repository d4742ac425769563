"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from aievents import EventClient

# Shared CI machines vary in speed: a slow example is not a failure.
settings.register_profile("aievents", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("aievents")


@pytest.fixture(name="client")
def _client() -> Iterator[EventClient]:
    """A fresh client, closed after the test."""
    client = EventClient()
    yield client
    client.close(5.0)
