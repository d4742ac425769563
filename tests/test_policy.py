"""Batching and Retry: frozen values, the backoff schedule, Retry-After, statuses, the loop."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import aievents
from aievents._validate import setting
from aievents.policy import (
    FORWARD_BATCHING,
    FORWARD_RETRY,
    LISTENER_RETRY,
    RETRYABLE_STATUSES,
    STORE_BATCHING,
    STORE_RETRY,
    Batching,
    Retry,
    parse_retry_after,
)
from aievents.sinks import ForwardSink
from aievents.transports import TransportError, UnencodableError
from aievents.transports.http import HttpTransport
from aievents.transports.jsonl import JsonlTransport
from collector_server import Collector

from helpers import usage_event


class AnsweredError(Exception):
    """A failure carrying what an HTTP answer says."""

    def __init__(self, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"answered {status}")
        self.status = status
        self.retry_after = retry_after


class TestValues:
    """Batching and Retry are frozen values, checked when made, exported from aievents."""

    def test_frozen(self) -> None:
        """A field cannot be changed in place; ``updated`` makes a copy."""
        retry = Retry()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            retry.max_retries = 1  # type: ignore[misc]
        assert retry.updated(max_retries=1) == Retry(max_retries=1)
        assert retry.max_retries == 5

    def test_updated_keeps_none(self) -> None:
        """A field given as None stays as it is (an old keyword argument not given)."""
        batching = Batching(batch_size=7)
        assert batching.updated(batch_size=None, max_delay=0.2) == Batching(
            batch_size=7, max_delay=0.2
        )
        assert batching.updated() is batching

    @pytest.mark.parametrize(
        ("build", "name"),
        [
            (lambda: Batching(batch_size=0), "batch_size"),
            (lambda: Batching(max_queue=-1), "max_queue"),
            (lambda: Batching(max_delay=math.nan), "max_delay"),
            (lambda: Batching(overflow="later"), "overflow"),
            (lambda: Retry(max_retries=1.5), "max_retries"),
            (lambda: Retry(backoff=-1), "backoff"),
            (lambda: Retry(jitter=1.5), "jitter"),
            (lambda: Retry(max_retry_after=-1), "max_retry_after"),
        ],
    )
    def test_checked(self, build: Any, name: str) -> None:
        """A setting out of range is a ValueError naming it."""
        with pytest.raises(ValueError, match=rf"^{name} must be"):
            build()

    @pytest.mark.parametrize(
        ("jitter", "message"),
        [
            (1.5, "jitter must be a number from 0 to 1, got 1.5"),
            (-0.5, "jitter must be a number from 0 to 1, got -0.5"),
            (math.nan, "jitter must be a number from 0 to 1, got nan"),
            (True, "jitter must be a number from 0 to 1, got True"),
        ],
    )
    def test_jitter_checked_like_the_others(self, jitter: Any, message: str) -> None:
        """A jitter out of range gets the shared setting check's ValueError and wording."""
        with pytest.raises(ValueError, match=r"^jitter must be") as caught:
            Retry(jitter=jitter)
        assert type(caught.value) is ValueError
        assert str(caught.value) == message
        with pytest.raises(ValueError, match=r"^jitter must be") as shared:
            setting("jitter", jitter, fraction=True, at_most=1)
        assert str(shared.value) == message

    def test_exported(self) -> None:
        """Both are importable from aievents."""
        assert aievents.Batching is Batching
        assert aievents.Retry is Retry

    def test_defaults_named(self) -> None:
        """Each sink's defaults are a named value, and they differ where meant to."""
        assert Batching() == FORWARD_BATCHING
        assert STORE_BATCHING.batch_size > FORWARD_BATCHING.batch_size
        assert STORE_BATCHING.max_delay < FORWARD_BATCHING.max_delay
        assert FORWARD_RETRY.max_retries == 5
        assert STORE_RETRY.max_retries is None
        assert LISTENER_RETRY.max_retries is None
        assert STORE_RETRY.jitter == LISTENER_RETRY.jitter == 0


class TestSchedule:
    """The wait before each retry: doubled from backoff, capped, with jitter."""

    def test_sequence(self) -> None:
        """Waits double from ``backoff`` and stop at ``max_backoff``."""
        retry = Retry(backoff=0.5, max_backoff=6.0, jitter=0)
        assert [retry.sleep_for(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 6.0, 6.0]

    def test_far_attempts(self) -> None:
        """A listener that retried for days still waits ``max_backoff`` (no overflow)."""
        assert LISTENER_RETRY.sleep_for(10**6) == LISTENER_RETRY.max_backoff

    def test_jitter_bounds(self) -> None:
        """Jitter takes off at most its fraction of the wait, never adds."""
        retry = Retry(backoff=1.0, jitter=0.5)
        assert retry.sleep_for(1, rand=lambda: 0.0) == 1.0
        assert retry.sleep_for(1, rand=lambda: 0.999) == pytest.approx(0.5005)
        draws = [retry.sleep_for(3) for _ in range(200)]
        assert all(2.0 <= wait <= 4.0 for wait in draws)
        assert len(set(draws)) > 1

    def test_no_jitter(self) -> None:
        """With ``jitter=0`` the wait does not depend on the draw."""
        retry = Retry(backoff=1.0, jitter=0)
        assert retry.sleep_for(2, rand=random.random) == retry.sleep_for(2, rand=lambda: 0.9)

    def test_exhausted(self) -> None:
        """``max_retries`` retries are allowed; None allows any number."""
        assert not Retry(max_retries=2).exhausted(2)
        assert Retry(max_retries=2).exhausted(3)
        assert Retry(max_retries=0).exhausted(1)
        assert not Retry(max_retries=None).exhausted(10**9)


class TestRetryAfter:
    """A target's Retry-After is honoured when longer than the backoff, up to a cap."""

    def test_longer_wins(self) -> None:
        """A Retry-After longer than the backoff is waited; a shorter one is not."""
        retry = Retry(backoff=1.0, jitter=0)
        assert retry.sleep_for(1, AnsweredError(429, retry_after=7.0)) == 7.0
        assert retry.sleep_for(1, AnsweredError(429, retry_after=0.1)) == 1.0

    def test_capped(self) -> None:
        """A Retry-After past ``max_retry_after`` is cut to it."""
        retry = Retry(max_retry_after=60.0)
        assert retry.asked_wait(AnsweredError(503, retry_after=1e30)) == 60.0
        assert retry.asked_wait(AnsweredError(503, retry_after=math.inf)) == 60.0

    @pytest.mark.parametrize("asked", [None, 0.0, -5.0, math.nan])
    def test_nothing_asked(self, asked: float | None) -> None:
        """No, zero, negative or NaN Retry-After asks for nothing."""
        assert Retry().asked_wait(AnsweredError(503, retry_after=asked)) is None

    def test_not_respected(self) -> None:
        """With ``respect_retry_after=False`` only the backoff counts."""
        retry = Retry(respect_retry_after=False, backoff=1.0, jitter=0)
        assert retry.asked_wait(AnsweredError(429, retry_after=7.0)) is None
        assert retry.sleep_for(1, AnsweredError(429, retry_after=7.0)) == 1.0

    def test_parse_seconds(self) -> None:
        """Seconds are ASCII digits; anything else in that form is refused."""
        assert parse_retry_after("120") == 120.0
        assert parse_retry_after(" 5 ") == 5.0
        assert parse_retry_after("1.5") is None
        assert parse_retry_after("-3") is None
        assert parse_retry_after("") is None
        assert parse_retry_after(None) is None

    def test_parse_http_date(self) -> None:
        """An HTTP date is the seconds until then; a date gone by is 0."""
        ahead = email.utils.formatdate(time.time() + 120, usegmt=True)
        assert 100 <= (parse_retry_after(ahead) or 0) <= 121
        past = email.utils.formatdate(time.time() - 120, usegmt=True)
        assert parse_retry_after(past) == 0.0
        assert (parse_retry_after(email.utils.formatdate(time.time() + 120)) or 0) >= 100


class TestStatuses:
    """One table of retryable statuses, which a Retry may change."""

    def test_table(self) -> None:
        """Timeouts, too early, too many requests and passing server errors."""
        assert frozenset({408, 425, 429, 500, 502, 503, 504}) == RETRYABLE_STATUSES
        assert Retry().statuses == RETRYABLE_STATUSES

    @pytest.mark.parametrize(("status", "worth"), [(503, True), (429, True), (400, False)])
    def test_by_status(self, status: int, worth: bool) -> None:
        """An answer is retryable when its status is in the table."""
        assert Retry().retryable(AnsweredError(status)) is worth

    def test_own_statuses(self) -> None:
        """A Retry's own statuses decide, whatever the transport said."""
        retry = Retry(statuses={503})
        assert retry.retryable(TransportError("x", retryable=True, status=503))
        assert not retry.retryable(TransportError("x", retryable=True, status=429))

    def test_without_status(self) -> None:
        """Without a status, the error's word counts; any other failure may pass."""
        retry = Retry()
        assert retry.retryable(TransportError("timeout", retryable=True))
        assert not retry.retryable(UnencodableError([], ["bad"]))
        assert retry.retryable(OSError("reset"))

    def test_transport_uses_table(self, collector: Collector) -> None:
        """The HTTP transport marks its errors retryable by the same table."""
        transport = HttpTransport(collector.url)
        try:
            for status in (503, 400):
                collector.fail(status)
                with pytest.raises(TransportError) as info:
                    transport.send([usage_event()])
                assert info.value.retryable is (status in RETRYABLE_STATUSES)
        finally:
            transport.close()


class TestLoop:
    """Retry.call: one loop for every sink that retries."""

    def test_until_it_works(self) -> None:
        """Failures that may pass are retried; the result is returned; each retry is told."""
        results: Iterator[Any] = iter([OSError("1"), OSError("2"), "done"])
        waits: list[float] = []
        told: list[int] = []

        def attempt() -> Any:
            result = next(results)
            if isinstance(result, Exception):
                raise result
            return result

        def wait(seconds: float) -> bool:
            waits.append(seconds)
            return True

        retry = Retry(backoff=0.1, jitter=0)
        assert retry.call(attempt, wait=wait, retrying=lambda n, _e: told.append(n)) == "done"
        assert waits == [0.1, 0.2]
        assert told == [1, 2]

    def test_spent(self) -> None:
        """Past max_retries the last failure is raised."""
        calls: list[int] = []

        def attempt() -> None:
            calls.append(1)
            raise OSError(f"try {len(calls)}")

        with pytest.raises(OSError, match="try 3"):
            Retry(max_retries=2).call(attempt, wait=lambda _s: True)

    def test_not_worth_it(self) -> None:
        """A failure not worth a retry is raised at once."""
        calls: list[int] = []

        def attempt() -> None:
            calls.append(1)
            raise TransportError("refused", retryable=False, status=400)

        with pytest.raises(TransportError):
            Retry().call(attempt, wait=lambda _s: True)
        assert calls == [1]

    def test_wait_gives_up(self) -> None:
        """A wait that returns False ends the retries: the failure is raised, nothing told."""
        told: list[int] = []

        def attempt() -> None:
            raise OSError("away")

        with pytest.raises(OSError, match="away"):
            Retry(max_retries=None).call(
                attempt, wait=lambda _s: False, retrying=lambda n, _e: told.append(n)
            )
        assert told == []

    def test_own_predicate(self) -> None:
        """``retryable`` given to call decides instead of the statuses."""
        calls: list[int] = []

        def attempt() -> None:
            calls.append(1)
            raise KeyError("k")

        with pytest.raises(KeyError):
            Retry().call(attempt, wait=lambda _s: True, retryable=lambda e: len(calls) < 3)
        assert len(calls) == 3


class TestSinks:
    """Sinks take batching= and retry=; their older keyword arguments change a field."""

    def test_forward_defaults(self, tmp_path: Path) -> None:
        """A ForwardSink without settings runs on the forward defaults."""
        sink = ForwardSink(JsonlTransport(tmp_path / "out.jsonl"))
        try:
            assert sink.batching == FORWARD_BATCHING
            assert sink.retry == FORWARD_RETRY
        finally:
            sink.close(5)

    def test_forward_keywords(self, tmp_path: Path) -> None:
        """Keyword arguments change the fields of the values given."""
        sink = ForwardSink(
            JsonlTransport(tmp_path / "out.jsonl"),
            batching=Batching(batch_size=3),
            retry=Retry(max_retries=1),
            max_delay=0.2,
            backoff=0.01,
        )
        try:
            assert sink.batching == Batching(batch_size=3, max_delay=0.2)
            assert sink.retry == Retry(max_retries=1, backoff=0.01)
        finally:
            sink.close(5)

    def test_forward_retry_attributes(self, tmp_path: Path) -> None:
        """The older retry attributes read the fields of ``retry`` and cannot be set."""
        sink = ForwardSink(
            JsonlTransport(tmp_path / "out.jsonl"),
            retry=Retry(max_retries=2, max_retry_after=60.0),
            backoff=0.25,
            max_backoff=4.0,
        )
        try:
            assert (sink.max_retries, sink.backoff, sink.max_backoff, sink.max_retry_after) == (
                2,
                0.25,
                4.0,
                60.0,
            )
            with pytest.raises(AttributeError):
                sink.backoff = 1.0  # type: ignore[misc]
        finally:
            sink.close(5)

    def test_forward_retries_by_policy(self, collector: Collector) -> None:
        """max_retries=0: a failed batch is not tried again (send_failed)."""
        collector.fail(503)
        sink = ForwardSink(
            HttpTransport(collector.url),
            batching=Batching(max_delay=0.01),
            retry=Retry(max_retries=0),
        )
        sink.handle(usage_event())
        report = sink.close(10)
        assert report.retried == 0
        assert report.dropped == {"send_failed": 1}

    def test_forward_statuses_by_policy(self, collector: Collector) -> None:
        """A status left out of the Retry's statuses is refused for good (rejected)."""
        collector.fail(503)
        retry = Retry(statuses=RETRYABLE_STATUSES - {503}, backoff=0.01)
        sink = ForwardSink(HttpTransport(collector.url), max_delay=0.01, retry=retry)
        sink.handle(usage_event())
        report = sink.close(10)
        assert report.retried == 0
        assert report.dropped == {"rejected": 1}

    def test_store(self, tmp_path: Path) -> None:
        """A StoreSink runs on the store defaults; its keyword arguments change a field."""
        from aievents.sinks.store import StoreSink

        sink = StoreSink(f"sqlite:///{tmp_path / 'a.db'}")
        other = StoreSink(
            f"sqlite:///{tmp_path / 'b.db'}", batching=Batching(max_queue=5), batch_size=2
        )
        try:
            assert sink.batching == STORE_BATCHING
            assert sink.retry == STORE_RETRY
            assert other.batching == Batching(max_queue=5, batch_size=2)
        finally:
            sink.close(5)
            other.close(5)
