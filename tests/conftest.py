"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, settings

from aievents import EventClient, _diag

# LiteLLM, imported by some tests, reads its prices from the copy it ships with
# rather than fetching them from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Shared CI machines vary in speed: a slow example is not a failure.
settings.register_profile("aievents", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("aievents")


@pytest.fixture(name="client")
def _client() -> Iterator[EventClient]:
    """A fresh client, closed after the test."""
    client = EventClient()
    yield client
    client.close(5.0)


@pytest.fixture(name="shipped_prices")
def _shipped_prices() -> Iterator[Any]:
    """The default price book on the shipped table with no warning given yet; put back after."""
    from aievents.pricing import default_book

    book = default_book()
    previous = book.table
    book.reset()
    yield book
    book.reset(previous)


@attrs.frozen
class Ran:
    """What an in-process run of the ``aievents`` command gave."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(name="cli")
def _cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """The ``aievents`` command in process: ``cli(*args, now=None)`` runs ``main()``.

    ``now`` is the run's clock; stdout and stderr are captured. A wrong
    command line (argparse's ``SystemExit``) gives its status.
    """

    def invoke(*args: str, now: float | None = None) -> Ran:
        from aievents.cli import main

        capsys.readouterr()
        try:
            status = main(list(args)) if now is None else main(list(args), now=now)
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        out, err = capsys.readouterr()
        return Ran(status, out, err)

    return invoke


@pytest.fixture(name="collector")
def _collector() -> Iterator[Any]:
    """A local HTTP collector (:mod:`collector_server`), stopped after the test."""
    from collector_server import Collector

    with Collector() as collector:
        yield collector


@pytest.fixture(name="receiver")
def _receiver() -> Iterator[Any]:
    """A local HTTP receiver of raw bodies (:class:`collector_server.Receiver`), closed after."""
    from collector_server import Receiver

    with Receiver() as receiver:
        yield receiver


@pytest.fixture(name="postgres_server", scope="session")
def _postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the session (skipped only when none can be had).

    In CI (``CI`` set) a missing server is a failure, not a skip.
    """
    from postgres_server import UnavailableError, running

    try:
        with running() as url:
            yield url
    except UnavailableError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed in CI: {error}")
        pytest.skip(f"PostgreSQL unavailable: {error}")


@pytest.fixture(name="disks")
def _disks(tmp_path: Any) -> Iterator[Any]:
    """Mounts for disk faults (:mod:`disks`); skipped (failed in CI) where not permitted."""
    from disks import Disks, UnavailableError

    disks = Disks(tmp_path / "mounts")
    disks.root.mkdir()
    try:
        disks.check()
    except UnavailableError as error:
        if os.environ.get("CI"):
            pytest.fail(f"disk fault tests need to mount file systems in CI: {error}")
        pytest.skip(f"cannot mount file systems here: {error}")
    yield disks
    disks.cleanup()


@pytest.fixture(autouse=True)
def _fresh_diagnostics() -> None:
    """Each test starts with rate-limited diagnostics that have logged nothing yet."""
    _diag.forget()


@pytest.fixture(autouse=True)
def _structlog_as_found() -> Iterator[None]:
    """structlog is left as the test found it.

    ``structlog.testing.capture_logs()`` leaves structlog marked as
    configured, which would send the library's diagnostics in later tests to
    structlog's default logger (stdout) rather than to the standard library.
    """
    import structlog

    configured = structlog.is_configured()
    yield
    if not configured and structlog.is_configured():
        structlog.reset_defaults()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault suite's table: scenario, sent, received, counted, lost."""
    from faults import recorded, table

    scenarios = recorded()
    if scenarios:
        terminalreporter.write_sep("-", "fault scenarios")
        terminalreporter.write_line(table(scenarios))
