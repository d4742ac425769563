"""LogSink: flattened structlog lines, private by default, never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog

from aievents import CostDetails, EventClient, ImageOutput, ImageUsage, InputTokensDetails
from aievents.pricing import cost_of
from aievents.sinks import LogSink

from helpers import (
    completed_event,
    error_event,
    gateway_priced,
    gateway_usage,
    started_event,
    usage_event,
)

SECRETS = (
    "sk-proj-PLANTED0123456789",
    "Bearer PLANTEDtoken0123456789",
    "hunter2-PLANTED",
    "PLANTED-session-cookie",
)
PROMPT = "a confidential poster for Project Falcon"
SYSTEM_PROMPT = "You are the launch team's illustrator"
IMAGE_DATA = "aGVsbG8gd29ybGQ="
IMAGE_URL = "https://images.example/secret-launch.png"


def planted_events() -> list[Any]:
    """One event of each kind, with prompts, options, images and secrets planted everywhere."""
    options = {
        "api_key": SECRETS[0],
        "headers": {"Authorization": SECRETS[1], "x-trace": "ok"},
        "n": 2,
        "note": f"key is {SECRETS[0]}",
    }
    model_options = {"password": SECRETS[2], "session": SECRETS[3], "quality": "high"}
    common: dict[str, Any] = {
        "options": options,
        "model_options": model_options,
        "system_prompts": (SYSTEM_PROMPT, f"token {SECRETS[1]}"),
    }
    usage = ImageUsage(
        input_tokens=50,
        output_tokens=1056,
        total_tokens=1106,
        input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
    )
    priced = usage_event(usage=usage, images=1, **common)
    return [
        started_event(prompt=f"{PROMPT} {SECRETS[0]}", **common),
        completed_event(
            images=1, outputs=(ImageOutput(url=IMAGE_URL, b64_json=IMAGE_DATA),), **common
        ),
        usage_event(usage=usage, images=1, cost=cost_of(priced), **common),
        error_event(error_message=f"Incorrect API key provided: {SECRETS[0]}", **common),
    ]


SETTINGS = [
    {},
    {"include_prompts": True},
    {"include_options": True},
    {"include_outputs": True},
    {"include_prompts": True, "include_options": True, "include_outputs": True},
    {"include": ["options", "model_options", "prompt", "request_id"], "include_options": True},
    {"redact": lambda fields: {**fields, "leak": SECRETS[0], "nested": {"token": SECRETS[3]}}},
    {"exclude": ["model"], "levels": {"image:usage": "debug"}},
]


def captured(sink: LogSink, events: list[Any]) -> list[dict[str, Any]]:
    with structlog.testing.capture_logs() as logs:
        for event in events:
            sink.handle(event)
    return logs


class TestPrivacy:
    """No prompt, option, image or secret reaches a line unless allowed; secrets never do."""

    @pytest.mark.parametrize("settings", SETTINGS)
    def test_secrets_never_logged(self, settings: dict[str, Any]) -> None:
        """Under every setting, opt-ins and redact hooks included, no planted secret appears."""
        logs = captured(LogSink(**settings), planted_events())
        assert len(logs) == 4
        text = json.dumps(logs, default=str)
        for secret in SECRETS:
            assert secret not in text
            assert secret.split("-")[-1] not in text

    def test_defaults_leave_private_fields_out(self) -> None:
        """By default: no prompt, system prompt, options, model options or images."""
        logs = captured(LogSink(), planted_events())
        text = json.dumps(logs, default=str)
        for private in (PROMPT, SYSTEM_PROMPT, IMAGE_DATA, IMAGE_URL, "x-trace", "quality"):
            assert private not in text
        for line in logs:
            assert not {"prompt", "system_prompts", "options", "model_options", "outputs"} & set(
                line
            )

    def test_opt_ins(self) -> None:
        """Opting in brings the prompts, options and outputs back, still scrubbed."""
        sink = LogSink(include_prompts=True, include_options=True, include_outputs=True)
        started, completed, _, _ = captured(sink, planted_events())
        assert started["prompt"] == f"{PROMPT} [redacted]"
        assert started["system_prompts"] == [SYSTEM_PROMPT, "token [redacted]"]
        assert started["options"]["api_key"] == "[redacted]"
        assert started["options"]["headers"] == {"Authorization": "[redacted]", "x-trace": "ok"}
        assert started["model_options"] == {
            "password": "[redacted]",
            "session": "[redacted]",
            "quality": "high",
        }
        assert completed["outputs"] == [{"url": IMAGE_URL, "b64_json": IMAGE_DATA}]


class TestLines:
    """One line per event: name as message, flat usage and cost, level per name."""

    def test_usage_line(self) -> None:
        """image:usage carries flat token counts and cost_usd."""
        (_, _, line, _) = captured(LogSink(), planted_events())
        assert line["event"] == "image:usage"
        assert line["log_level"] == "info"
        assert line["input_tokens"] == 50
        assert line["input_text_tokens"] == 10
        assert line["input_image_tokens"] == 40
        assert line["output_image_tokens"] == 1056
        assert line["image_tokens"] == 1096
        assert line["images"] == 1
        assert line["cost_usd"] == float(
            Decimal("0.00005") + Decimal("0.0004") + Decimal("0.04224")
        )
        assert line["cost_basis"] == "tokens"
        assert line["model"] == "gpt-image-1"
        assert "usage" not in line
        assert "timestamp_ms" in line

    def test_reported_beside_computed(self) -> None:
        """cost_usd is the computed cost; the provider's figures have fields of their own."""
        event = usage_event(usage=gateway_usage(), cost=gateway_priced())
        (line,) = captured(LogSink(), [event])
        assert line["cost_usd"] == 0.04249
        assert line["priced_as"] == "gpt-image-1"
        assert line["reported_cost_usd"] == 0.0431
        assert (line["billed_quantity"], line["billed_unit"]) == (1.0, "images")

    def test_reported_only(self) -> None:
        """A cost only the provider reported is not logged as the computed one."""
        usage = ImageUsage(cost_details=CostDetails(upstream_cost="0.04"))
        (line,) = captured(LogSink(), [usage_event(usage=usage)])
        assert "cost_usd" not in line
        assert "priced_as" not in line
        assert line["reported_cost_usd"] == 0.04
        assert "billed_quantity" not in line

    def test_nothing_known(self) -> None:
        """Unpriced and nothing reported: no cost field at all, never 0."""
        (line,) = captured(LogSink(), [usage_event()])
        assert not {"cost_usd", "reported_cost_usd", "priced_as", "billed_unit"} & set(line)

    def test_levels(self) -> None:
        """Errors log at warning by default; levels can be set per event name."""
        logs = captured(LogSink(levels={"image:usage": "debug"}), planted_events())
        assert [line["log_level"] for line in logs] == ["info", "info", "debug", "warning"]

    def test_include_exclude(self) -> None:
        """include keeps only the named fields; exclude drops fields."""
        only = captured(LogSink(include=["request_id", "images"]), planted_events())
        assert {key for line in only for key in line} == {
            "request_id",
            "images",
            "event",
            "log_level",
        }
        without = captured(LogSink(exclude=["model", "cost_usd"]), planted_events())
        assert all("model" not in line and "cost_usd" not in line for line in without)

    def test_bad_level(self) -> None:
        """An unknown level is refused, naming the event."""
        with pytest.raises(ValueError, match="image:usage"):
            LogSink(levels={"image:usage": "loud"})

    def test_closed(self) -> None:
        """After close the sink logs nothing."""
        sink = LogSink()
        sink.close()
        assert captured(sink, planted_events()) == []


@pytest.fixture(name="restore_structlog")
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


class TestConfigurations:
    """The application's structlog configuration renders the lines."""

    @pytest.mark.usefixtures("restore_structlog")
    def test_json_renderer(self) -> None:
        """Under a JSON renderer every line is valid JSON without secrets."""
        out = io.StringIO()
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.PrintLoggerFactory(out),
        )
        client = EventClient()
        client.add_sink(LogSink())
        for event in planted_events():
            client.emit(event)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [line["event"] for line in lines] == [
            "image:request:started",
            "image:request:completed",
            "image:usage",
            "image:request:error",
        ]
        assert isinstance(lines[2]["cost_usd"], float)
        assert client.handler_errors == 0
        for secret in SECRETS:
            assert secret not in out.getvalue()

    @pytest.mark.usefixtures("restore_structlog")
    def test_console_renderer(self) -> None:
        """Under the console renderer the lines name the event and the fields."""
        out = io.StringIO()
        structlog.configure(
            processors=[structlog.dev.ConsoleRenderer(colors=False)],
            logger_factory=structlog.PrintLoggerFactory(out),
        )
        sink = LogSink()
        for event in planted_events():
            sink.handle(event)
        text = out.getvalue()
        assert "image:usage" in text
        assert "input_tokens=50" in text
        assert SECRETS[0] not in text

    @pytest.mark.usefixtures("restore_structlog")
    def test_stdlib_integration(self, caplog: pytest.LogCaptureFixture) -> None:
        """Through structlog's stdlib integration the lines reach logging at their levels."""
        structlog.configure(
            processors=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.processors.KeyValueRenderer(key_order=["event"]),
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=False,
        )
        with caplog.at_level(logging.INFO, logger="aievents"):
            sink = LogSink()
            for event in planted_events():
                sink.handle(event)
        records = [r for r in caplog.records if r.name == "aievents"]
        assert [r.levelname for r in records] == ["INFO", "INFO", "INFO", "WARNING"]
        assert "image:usage" in records[2].getMessage()
        assert all(SECRETS[0] not in r.getMessage() for r in records)


class TestHardening:
    """Secrets in every shape, hostile hooks, and a failing logger never reach the host."""

    SHAPES: dict[str, Any] = {  # noqa: RUF012
        "accessToken": "tok-PLANTED-1",
        "clientSecret": "PLANTED-2",
        "refresh_tokens": ["PLANTED-3"],
        "API Key": "PLANTED-4",
        "Passphrase": "PLANTED-5",
        "headers": [("Authorization", "PLANTED-6"), {"name": "x-api-key", "value": "PLANTED-7"}],
        "note": "bearer PLANTED8token and xai-PLANTED9abcdef and hf_PLANTEDtenchars",
        "url": "https://user:PLANTED10@example.test/x?api_key=PLANTED11&page=2",
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVEVEMTIifQ.c2lnbmF0dXJl",
    }

    def test_every_shape_scrubbed(self) -> None:
        """camelCase and spaced key names, pairs, lowercase bearer, JWTs, URLs, bytes, sets."""
        event = started_event(options=self.SHAPES, model_options={"secretKey": "PLANTED15"})

        def objects(fields: dict[str, Any]) -> dict[str, Any]:
            # Options hold JSON values only; a hook may add anything.
            return {**fields, "blob": b"PLANTED13", "set": {"sk-PLANTED14abcdefgh"}}

        logs = captured(LogSink(include_options=True, redact=objects), [event])
        text = json.dumps(logs, default=str)
        assert "PLANTED" not in text
        assert "eyJzdWIi" not in text
        assert logs[0]["options"]["url"].endswith("&page=2")

    def test_default_error_message(self) -> None:
        """A provider error echoing credentials is scrubbed under default settings."""
        event = error_event(error_message="authorization: bearer abcdefghij123 invalid")
        (line,) = captured(LogSink(), [event])
        assert "abcdefghij123" not in line["error_message"]

    def test_hostile_hooks(self) -> None:
        """A hook returning None fails quietly (counted); reserved keys are renamed."""
        broken = LogSink(redact=lambda fields: None)  # type: ignore[arg-type,return-value]
        logs = captured(broken, [usage_event()])
        assert broken.failures == 1
        assert [line["event"] for line in logs] == ["log_sink_failed"]
        renaming = LogSink(redact=lambda fields: {**fields, "event": "spoofed"})
        (line,) = captured(renaming, [usage_event()])
        assert line["event"] == "image:usage"
        assert line["field_event"] == "spoofed"

    def test_hook_cannot_change_the_event(self) -> None:
        """The hook edits its own copy, not the event's options."""
        options = {"nested": {"kept": 1}}
        event = started_event(options=options)

        def meddle(fields: dict[str, Any]) -> dict[str, Any]:
            fields["options"]["nested"]["kept"] = 2
            return fields

        captured(LogSink(include_options=True, redact=meddle), [event])
        assert event.options == {"nested": {"kept": 1}}
        assert options == {"nested": {"kept": 1}}

    def test_cached_tokens_apart(self) -> None:
        """Text and image tokens are logged uncached, the cached ones apart."""
        usage = ImageUsage(
            input_tokens=100,
            output_tokens=10,
            input_tokens_details=InputTokensDetails(
                text_tokens=60, image_tokens=40, cached_tokens=50
            ),
        )
        (line,) = captured(LogSink(), [usage_event(usage=usage)])
        assert line["input_text_tokens"] + line["input_image_tokens"] + line["cached_tokens"] == 100

    @pytest.mark.usefixtures("restore_structlog")
    def test_factory_without_names(self) -> None:
        """A logger factory that takes no name still gets the lines."""
        out = io.StringIO()
        structlog.configure(
            processors=[structlog.processors.JSONRenderer()],
            logger_factory=lambda: structlog.PrintLogger(out),
            cache_logger_on_first_use=False,
        )
        sink = LogSink()
        sink.handle(usage_event())
        assert sink.failures == 0
        assert json.loads(out.getvalue())["event"] == "image:usage"

    @pytest.mark.usefixtures("restore_structlog")
    def test_failing_log_call_is_not_repeated(self) -> None:
        """A processor raising TypeError fails the line once: counted, never written twice."""
        calls: list[str] = []

        def refuse(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
            if event_dict["event"] == "image:usage":
                calls.append(method)
                raise TypeError("processor refuses")
            return event_dict

        structlog.configure(
            processors=[refuse, structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
            cache_logger_on_first_use=False,
        )
        sink = LogSink()
        sink.handle(usage_event())
        assert calls == ["info"]
        assert (sink.failures, sink.lines) == (1, 0)

    def test_repr_hides_private_fields(self) -> None:
        """An event's repr (tracebacks, debug logs) shows no prompt, options or images."""
        event = started_event(prompt="private prompt", options={"api_key": "sk-PLANTEDrepr00"})
        text = repr(event)
        assert "private prompt" not in text
        assert "PLANTED" not in text
        assert "request_id='req-1'" in text
