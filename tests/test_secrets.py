"""No planted secret leaves the process: not in a line, a body, a file, a row, an error, a repr.

Every kind of secret (provider keys, bearer tokens, Azure keys, database
passwords, tokens in URLs, values under secret-named option keys) is
planted in every field an application can fill, and the events go through
every output: LogSink with JSON and console renderers, HTTP to a local
collector, a JSONL file, the spill and the journal, OTLP to a local
receiver, the devtools bridge, a StoreSink's SQLite file; then the errors
and reprs. Not one secret is found in any of them.

Identifiers keep a bare word of 32 hexadecimal digits (request, trace and
event ids have that shape): an Azure key is planted in them as the value of
``api-key=``, everywhere else bare.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import structlog

from aievents import EventClient, ImageOutput, ImageUsage
from aievents.pricing import cost_of
from aievents.sinks import ForwardSink, LogSink
from aievents.transports import TransportError
from aievents.transports.http import HttpTransport
from aievents.transports.jsonl import JsonlTransport
from collector_server import Collector, Receiver

from helpers import completed_event, error_event, started_event, usage_event

SK = "sk-proj-PLANTEDsk7Qx2Lm9Vb4Nc"
BEARER = "PLANTEDbearer5Tz8Wq1Ry6Ua"
AZURE = "c0ffee00deadbeef0123456789abcdef"
DB_PASSWORD = "PLANTED-db-p@ss-w0rd"
URL_TOKEN = "T0KENplanted9Qm7rPz2Lw8"
OPTION_SECRET = "PLANTEDoption3Hk6Jd"
#: What must never be found: each secret, and what half-masking would leave of one.
NEEDLES = (SK, BEARER, AZURE, DB_PASSWORD, "ss-w0rd", URL_TOKEN, OPTION_SECRET, "PLANTED")

DSN = f"postgresql://app:{DB_PASSWORD}@db.example/usage"
HOOK = f"https://hooks.example/ingest/{URL_TOKEN}"
#: Every secret in free text, the shapes they take in messages.
TEXT = (
    f"key {SK}; Authorization: Bearer {BEARER}; azure key {AZURE} refused; "
    f"cannot connect to {DSN}; POST {HOOK} failed"
)
#: Every secret in an identifier (the Azure key as a name=value).
IDENT = f"{SK} Bearer {BEARER} api-key={AZURE} {DSN} {HOOK}"
ID_FIELDS = (
    "stream_id", "hook_id", "thread_id", "run_id", "message_id", "tool_call_id", "client_id",
    "runtime_id", "correlation_id", "related_event_id", "user_id", "project_id", "api_key_id",
)  # fmt: skip
LABEL_FIELDS = ("provider", "model", "size", "quality")


def planted_fields(index: int) -> dict[str, Any]:
    """Every field an application can fill, each with secrets in it."""
    options = {
        "api_key": OPTION_SECRET,
        "headers": {"Authorization": f"Bearer {BEARER}", "api-key": AZURE},
        "pairs": [["x-api-key", OPTION_SECRET], {"name": "Cookie", "value": OPTION_SECRET}],
        "note": TEXT,
        "dsn": DSN,
        "webhook": HOOK,
        "n": 2,
    }
    fields: dict[str, Any] = {
        "request_id": f"req-{index} {IDENT}",
        "event_id": f"ev-{index} {IDENT}",
        "options": options,
        "model_options": {"password": OPTION_SECRET, "azure": {"key": AZURE}, "text": TEXT},
        "system_prompts": [TEXT, f"token {SK}"],
        "tool_names": [TEXT],
    }
    fields.update(dict.fromkeys(ID_FIELDS, IDENT))
    fields.update(dict.fromkeys(LABEL_FIELDS, TEXT[:200]))
    return fields


def planted_events(index: int = 0) -> list[Any]:
    """One event of each kind, with secrets everywhere."""
    fields = planted_fields(index)
    usage = ImageUsage(input_tokens=50, output_tokens=1056, total_tokens=1106)
    unpriced = usage_event(usage=usage, images=1, **fields)
    # An output's URL keeps its path (where the image is): the secrets go in its
    # user info and parameters.
    url = f"https://svc:{DB_PASSWORD}@images.example/out/poster.png?sig={SK}&token={URL_TOKEN}"
    outputs = [ImageOutput(url=url, b64_json=TEXT, revised_prompt=TEXT)]
    return [
        started_event(prompt=TEXT, **fields),
        completed_event(images=1, outputs=outputs, **fields),
        unpriced,
        usage_event(usage=usage, images=1, cost=cost_of(unpriced), **fields),
        error_event(error_message=TEXT, status_code=401, duration=12.5, **fields),
    ]


def assert_clean(text: str | bytes, where: str) -> None:
    """Not one planted secret in ``text``."""
    data = text if isinstance(text, str) else text.decode("utf-8", "replace")
    for needle in NEEDLES:
        assert needle not in data, f"{needle!r} found in {where}"
        assert needle.lower() not in data.lower(), f"{needle!r} found in {where}"


def files_text(root: Path) -> bytes:
    """Every byte of every file under ``root``."""
    return b"".join(path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file())


@pytest.fixture(name="events")
def _events() -> list[Any]:
    return planted_events()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestForwarded:
    """Bodies, files and rows: what the events become on their way out."""

    def test_http(self, collector: Collector, events: list[Any]) -> None:
        """The collector receives every event, scrubbed, in both shapes."""
        for shape in ("dict", "envelope"):
            sink = ForwardSink(HttpTransport(collector.url, shape=shape), max_delay=0.01)
            for event in events:
                sink.handle(event)
            assert sink.close(10.0).sent == len(events)
        assert collector.wait_for(2 * len(events))
        assert_clean(json.dumps(collector.events, ensure_ascii=False), "the HTTP bodies")
        usage = [e for e in collector.events if e.get("type") == "image:usage"]
        assert usage[0]["options"]["api_key"] == "[redacted]"
        assert usage[0]["options"]["n"] == 2
        assert usage[0]["usage"]["output_tokens"] == 1056

    def test_jsonl(self, tmp_path: Path, events: list[Any]) -> None:
        """The JSONL file, in both shapes."""
        for shape in ("dict", "envelope"):
            sink = ForwardSink(JsonlTransport(tmp_path / f"{shape}.jsonl", shape=shape))
            for event in events:
                sink.handle(event)
            sink.close(10.0)
        data = files_text(tmp_path)
        assert data.count(b"\n") == 2 * len(events)
        assert_clean(data, "the JSONL files")

    def test_spill_and_journal(self, tmp_path: Path, events: list[Any]) -> None:
        """What a dead target leaves on disk: the spill, and the durable journal."""
        url = f"http://127.0.0.1:{closed_port()}/ingest"
        for durable in (False, True):
            sink = ForwardSink(
                HttpTransport(url, connect_timeout=0.2),
                max_retries=0,
                max_delay=0.01,
                spill_dir=tmp_path / f"spill-{durable}",
                replay_on_start=False,
                durable=durable,
            )
            for event in events:
                sink.handle(event)
            report = sink.close(5.0)
            assert report.spilled + report.journaled == len(events)
        data = files_text(tmp_path)
        assert data.count(b'"type":"image:') >= 2 * len(events)
        assert_clean(data, "the spill and journal files")

    def test_otlp(self, receiver: Receiver, events: list[Any]) -> None:
        """The OTLP log records and metrics."""
        pytest.importorskip("opentelemetry.proto")
        from aievents.transports.otlp import OtlpTransport

        sink = ForwardSink(OtlpTransport(f"http://127.0.0.1:{receiver.port}"), max_delay=0.01)
        for event in events:
            sink.handle(event)
        assert sink.close(10.0).sent == len(events)
        assert sorted({path for path, _, _ in receiver.requests}) == ["/v1/logs", "/v1/metrics"]
        assert_clean(b"".join(receiver.bodies()), "the OTLP bodies")

    def test_devtools(self, receiver: Receiver, events: list[Any]) -> None:
        """The envelopes posted to the devtools bus."""
        from aievents.devtools import DevtoolsTransport

        transport = DevtoolsTransport("127.0.0.1", receiver.port, mode="post")
        sink = ForwardSink(transport, max_delay=0.01)
        for event in events:
            sink.handle(event)
        assert sink.close(10.0).sent == len(events)
        assert len(receiver.bodies()) == len(events)
        assert_clean(b"".join(receiver.bodies()), "the devtools envelopes")

    def test_store(self, tmp_path: Path) -> None:
        """A StoreSink's SQLite file, every byte of it (database and write-ahead log)."""
        pytest.importorskip("sqlalchemy")
        from aievents.sinks import StoreSink

        store = StoreSink(f"sqlite:///{tmp_path / 'usage.db'}", max_delay=0.01)
        usage = [e for i in range(3) for e in planted_events(i) if e.event_type == "image:usage"]
        for event in usage:
            store.handle(event)
        assert store.flush(10.0)
        assert (store.written, store.duplicates) == (3, 3)  # priced and unpriced share an id
        page = store.usage(start_time=0, group_by=["model", "user_id", "project_id"])
        assert_clean(json.dumps(page.to_dict(), default=str), "the store's answers")
        store.close(10.0)
        assert_clean(files_text(tmp_path), "the SQLite files")


class TestLogged:
    """Log lines: LogSink's, and the library's own diagnostics, under real renderers."""

    @pytest.mark.parametrize(
        "renderer",
        [structlog.processors.JSONRenderer(), structlog.dev.ConsoleRenderer(colors=False)],
        ids=["json", "console"],
    )
    def test_lines(self, renderer: Any, collector: Collector, events: list[Any]) -> None:
        """Every opt-in on, a failing handler and a failing target: no secret in any line."""
        out = io.StringIO()
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.format_exc_info,
                renderer,
            ],
            logger_factory=structlog.PrintLoggerFactory(file=out),
            cache_logger_on_first_use=False,
        )
        try:
            client = EventClient()
            client.add_sink(
                LogSink(include_prompts=True, include_options=True, include_outputs=True)
            )

            def failing(event: Any) -> None:
                options = dict(event.options)  # a local holding the secrets
                raise RuntimeError(f"handler failed with {options}")

            client.on("*", failing)
            collector.fail(400, times=10)
            token_url = f"{collector.url}/{URL_TOKEN}?api_key={SK}"
            sink = ForwardSink(HttpTransport(token_url, read_timeout=2.0), max_delay=0.01)
            client.add_sink(sink)
            for event in events:
                client.emit(event)
            client.close(10.0)
        finally:
            structlog.reset_defaults()
        text = out.getvalue()
        assert text.count("image:usage") >= 2
        assert "events_rejected" in text  # the 400s: the target's URL in the line
        assert_clean(text, "the log lines")


class TestErrorsAndReprs:
    """Exception messages and reprs of events, transports, sinks and errors."""

    def test_reprs(self, tmp_path: Path, events: list[Any]) -> None:
        """Every event, transport and sink."""
        from aievents.devtools import DevtoolsTransport
        from aievents.transports.otlp import OtlpTransport

        url = f"https://svc:{DB_PASSWORD}@hooks.example/ingest/{URL_TOKEN}?api_key={SK}"
        http = HttpTransport(url)
        otlp = OtlpTransport(f"https://hooks.example/{URL_TOKEN}")
        devtools = DevtoolsTransport("127.0.0.1", 9, mode="post", path=f"/send/{URL_TOKEN}")
        objects: list[Any] = [
            *events,
            *(output for event in events for output in getattr(event, "outputs", None) or ()),
            http,
            otlp,
            devtools,
            JsonlTransport(tmp_path / "x.jsonl"),
            ForwardSink(http),
            LogSink(),
            EventClient(),
        ]
        for obj in objects:
            assert_clean(repr(obj), f"repr({type(obj).__name__})")
            assert_clean(str(obj), f"str({type(obj).__name__})")
        for obj in (http, otlp):
            obj.close()

    def test_transport_errors(self, collector: Collector) -> None:
        """A target's URL with a token in its path, credentials and a query: never in errors."""
        from aievents.devtools import DevtoolsTransport

        errors: list[BaseException] = []
        url = collector.url.replace("http://", f"http://svc:{DB_PASSWORD}@")
        collector.fail(401)
        transport = HttpTransport(f"{url}/{URL_TOKEN}?api_key={SK}")
        with pytest.raises(TransportError) as info:
            transport.send(planted_events()[:1])
        errors.append(info.value)
        transport.close()
        dead = HttpTransport(f"http://127.0.0.1:{closed_port()}/{URL_TOKEN}", connect_timeout=0.2)
        with pytest.raises(TransportError) as info:
            dead.send(planted_events()[:1])
        errors.append(info.value)
        dead.close()
        bus = DevtoolsTransport("127.0.0.1", closed_port(), mode="post", path=f"/x/{URL_TOKEN}")
        with pytest.raises(TransportError) as info:
            bus.send(planted_events()[:1])
        errors.append(info.value)
        for error in errors:
            assert_clean(str(error), "a TransportError")
            assert_clean(repr(error), "a TransportError's repr")
            assert "[redacted]" in str(error)

    def test_validation_errors(self) -> None:
        """A bad value next to secrets, in a private field or not: the message holds none."""
        from aievents import EventValidationError

        attempts = [
            lambda: started_event(prompt=[TEXT]),
            lambda: started_event(system_prompts=TEXT),
            lambda: started_event(options={"api_key": OPTION_SECRET, "when": {1, 2}}),
            lambda: started_event(model_options=[("password", OPTION_SECRET)]),
            lambda: completed_event(outputs=[TEXT]),
            lambda: started_event(user_id=[IDENT]),
            lambda: started_event(size={"password": OPTION_SECRET, "text": TEXT}),
            lambda: error_event(error_message=TEXT.encode()),
        ]
        for attempt in attempts:
            with pytest.raises(EventValidationError) as info:
                attempt()
            assert_clean(str(info.value), "a validation error")
            assert_clean(repr(info.value), "a validation error's repr")


class TestRichLocals:
    """A failure's local variables never reach a renderer: no frame is handed to a logger."""

    SCRIPT = textwrap.dedent(
        """
        import sys
        import structlog
        sys.path.insert(0, {tests!r})
        from helpers import started_event
        from aievents import EventClient
        from aievents.sinks import LogSink

        if {configure!r}:
            structlog.configure(processors=[
                structlog.processors.add_log_level,
                structlog.dev.ConsoleRenderer(),  # rich tracebacks, with locals
            ])
        SECRET = {secret!r}
        client = EventClient()

        def handler(event):
            options = {{"api_key": SECRET, "note": "a local the renderer would show"}}
            raise RuntimeError("handler failed")

        def hook(fields):
            api_key = SECRET
            raise ValueError("hook failed")

        client.on("*", handler)
        client.add_sink(LogSink(include_options=True, redact=hook))
        client.add_sink(LogSink(include_options=True))
        client.emit(started_event(options={{"api_key": SECRET, "n": 1}}))
        client.close(5.0)
        print("done")
        """
    )

    @pytest.mark.parametrize("configure", [True, False], ids=["dev-renderer", "unconfigured"])
    def test_subprocess(self, configure: bool) -> None:
        """With rich installed and structlog's dev renderer, stdout and stderr hold no secret."""
        pytest.importorskip("rich")
        tests = os.path.dirname(__file__)
        script = self.SCRIPT.format(tests=tests, configure=configure, secret=OPTION_SECRET)
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "COLUMNS": "200", "FORCE_COLOR": "0"},
        )
        assert done.returncode == 0, done.stderr
        assert "done" in done.stdout
        output = done.stdout + done.stderr
        assert "handler" in output  # the failure was logged...
        assert_clean(output, "the process's output")  # ...without its locals
