"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aievents import EventClient


@pytest.fixture(name="client")
def _client() -> Iterator[EventClient]:
    """A fresh client, closed after the test."""
    client = EventClient()
    yield client
    client.close(5.0)
