"""aievents.instrument.is_instrumented asks the instrumentation of the client's own SDK."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from google import genai

from aievents.instrument import (
    instrument_google_genai,
    instrument_openai,
    is_instrumented,
    uninstrument_google_genai,
    uninstrument_openai,
)


@pytest.fixture(name="clean")
def _clean() -> Iterator[None]:
    yield
    uninstrument_openai()
    uninstrument_google_genai()


@pytest.mark.usefixtures("clean")
class TestWhich:
    """Each client is answered by its own SDK's instrumentation."""

    def test_google_client(self) -> None:
        """A google-genai client instrumented alone: it is, the openai classes are not."""
        google = genai.Client(api_key="test")
        other = openai.OpenAI(api_key="sk-test")
        assert not is_instrumented(google)
        instrument_google_genai(google)
        assert is_instrumented(google)
        assert not is_instrumented(genai.Client(api_key="test"))
        assert not is_instrumented(other)
        assert not is_instrumented()

    def test_modules(self) -> None:
        """The google.genai module stands for the process-wide google-genai instrumentation."""
        instrument_google_genai()
        assert is_instrumented(genai)
        assert is_instrumented(genai.Client(api_key="test"))
        assert not is_instrumented()
        instrument_openai()
        assert is_instrumented()
        assert is_instrumented(openai.OpenAI(api_key="sk-test"))
        uninstrument_google_genai()
        assert not is_instrumented(genai)
        assert is_instrumented()
