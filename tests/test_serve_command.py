"""``aievents serve``, the real command in a subprocess: its URL, its sources, its stops.

Each server binds 127.0.0.1 on a free port (``--port 0``) and prints its
URL; the test reads it, asks over HTTP, then stops it with a signal.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx
import psycopg
import pytest

from aievents import to_json
from aievents.serve import COSTS_PATH, USAGE_PATH
from aievents.sinks import AggregateSink, StoreSink
from postgres_server import fresh_database
from test_serve import DAY, NOW, T0, error_of, page_of, stream, summed

#: The window every comparison asks for (an end given: the command's clock is the real one).
WINDOW = {"start_time": T0 + 1234, "end_time": T0 + 10 * DAY}
#: (kind, query) asked of the server and of the AggregateSink alike.
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("usage", {}),
    ("usage", {"group_by": ["model", "user_id"], "limit": 3}),
    ("usage", {"bucket_width": "1h", "models": ["gpt-image-1"], "sizes": ["1024x1024"]}),
    ("costs", {"group_by": ["line_item"], "limit": 4}),
    ("costs", {"group_by": ["project_id"], "api_key_ids": ["key_2"]}),
]


@attrs.define
class Served:
    """A running ``aievents serve``: its URL; what it wrote, once stopped."""

    url: str
    out: str = ""
    err: str = ""


@contextmanager
def served(
    *args: str, env: dict[str, str] | None = None, stop: int = signal.SIGINT
) -> Iterator[Served]:
    """``aievents serve ARGS --port 0`` running; its URL. Stopped by ``stop``: status 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aievents", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.communicate(timeout=60)
        server = Served(url)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(stop)
        out, err = process.communicate(timeout=60)
    server.out, server.err = out, err
    assert process.returncode == 0, err
    assert out == ""  # the URL was the only line
    assert err.splitlines()[-1] == f"aievents: stopped ({signal.Signals(stop).name})"
    assert f"at {url} (Ctrl-C stops)" in err


def same_pages(url: str, sink: AggregateSink, headers: dict[str, str] | None = None) -> None:
    """Each query's every page from the server equals the sink's."""
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for kind, query in QUERIES:
            path, ask = (USAGE_PATH, sink.usage) if kind == "usage" else (COSTS_PATH, sink.costs)
            cursor = None
            while True:
                extra = {} if cursor is None else {"page": cursor}
                got = page_of(client.get(path, params={**WINDOW, **query, **extra}))
                assert got == ask(**WINDOW, **query, **extra).to_dict()
                cursor = got["next_page"]
                if cursor is None:
                    break


@pytest.fixture(name="events", scope="module")
def _events() -> list[Any]:
    """The seeded random stream."""
    return stream(18)


@pytest.fixture(name="sink", scope="module")
def _sink(events: list[Any]) -> AggregateSink:
    """The stream summed in Python, to compare with."""
    return summed(events)


@pytest.fixture(name="events_file")
def _events_file(tmp_path: Path, events: list[Any]) -> Path:
    """The stream as a JSONL file."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(to_json(item) + "\n" for item in events))
    return path


def stored(url: str, events: list[Any]) -> str:
    """``url`` holding a store of ``events``."""
    store = StoreSink(url, clock=lambda: NOW)
    for item in events:
        store.handle(item)
    assert store.flush(30)
    store.close(30)
    return url


class TestSources:
    """A JSONL file, a SQLite store and a PostgreSQL store are served alike."""

    def test_events_file(self, events_file: Path, sink: AggregateSink) -> None:
        """``--events FILE``: every page as the AggregateSink's; a bad line is named, skipped."""
        with events_file.open("a") as file:
            file.write("not json\n")
        with served("--events", str(events_file)) as server:
            same_pages(server.url, sink)
        assert "events.jsonl:401: skipped: not JSON" in server.err

    def test_sqlite(self, tmp_path: Path, events: list[Any], sink: AggregateSink) -> None:
        """``--store sqlite:///...``: every page as the AggregateSink's, asked at once too."""
        url = stored(f"sqlite:///{tmp_path / 'usage.db'}", events)
        with served("--store", url) as server:
            address = server.url
            same_pages(address, sink)
            params = {**WINDOW, "group_by": "model", "bucket_width": "1h", "limit": 168}
            expected = sink.usage(**{**params, "group_by": ["model"]}).to_dict()
            with ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(lambda _: httpx.get(address + USAGE_PATH, params=params), range(16))
                )
            assert all(page_of(answer) == expected for answer in answers)

    def test_postgresql(self, postgres_server: str, events: list[Any], sink: AggregateSink) -> None:
        """``--store postgresql://...`` as a role that may only SELECT: the AggregateSink's pages.

        Its password is never written out.
        """
        url = stored(fresh_database(postgres_server, f"aievents_{uuid.uuid4().hex[:12]}"), events)
        role, password = f"reader_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            connection.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        parts = urlsplit(url)
        reader = parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()
        with served("--store", reader) as server:
            same_pages(server.url, sink)
            nul = httpx.get(server.url + USAGE_PATH, params={"start_time": T0, "models": "a\x00"})
            assert error_of(nul, 400)["param"] == "models"  # PostgreSQL text cannot hold it
        assert password not in server.out + server.err
        assert f"{role}:[redacted]@" in server.err  # the store named, without its password

    def test_no_store(self, tmp_path: Path) -> None:
        """A store that is not there: status 1, the store named, nothing created."""
        path = tmp_path / "missing.db"
        result = run("serve", "--store", f"sqlite:///{path}", "--port", "0")
        assert result.returncode == 1
        assert result.stdout == ""
        assert "missing.db" in result.stderr
        assert not path.exists()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m aievents ARGS`` to its end."""
    return subprocess.run(
        [sys.executable, "-m", "aievents", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


class TestStops:
    """Ctrl-C and SIGTERM stop it cleanly: status 0, one line, the store closed."""

    @pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
    def test_signal(self, tmp_path: Path, events: list[Any], stop: int) -> None:
        """It answers, then stops on the signal (the checks are in ``served``)."""
        url = stored(f"sqlite:///{tmp_path / 'usage.db'}", events[:20])
        with served("--store", url, stop=stop) as server:
            page_of(httpx.get(server.url + COSTS_PATH, params={"start_time": T0}))

    def test_port_in_use(self, events_file: Path) -> None:
        """A port another socket holds: status 1, saying so."""
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            result = run("serve", "--events", str(events_file), "--port", str(port))
        assert result.returncode == 1
        assert f"cannot serve on 127.0.0.1 port {port}" in result.stderr

    @pytest.mark.parametrize("port", ["-1", "65536", "http"])
    def test_bad_port(self, events_file: Path, port: str) -> None:
        """A port that is not one: status 2, naming it."""
        result = run("serve", "--events", str(events_file), "--port", port)
        assert result.returncode == 2
        assert "--port" in result.stderr


class TestKey:
    """The bearer key, from --key or AIEVENTS_SERVE_KEY; needed off loopback."""

    KEY = "serve-" + "k" * 26

    @pytest.mark.parametrize("given", ["option", "environment"])
    def test_required(self, events_file: Path, sink: AggregateSink, given: str) -> None:
        """With a key every request needs it; the key is never printed."""
        env = dict(os.environ)
        args = ["--events", str(events_file)]
        if given == "option":
            args += ["--key", self.KEY]
        else:
            env["AIEVENTS_SERVE_KEY"] = self.KEY
        with served(*args, env=env) as server:
            refused = httpx.get(server.url + USAGE_PATH, params={"start_time": T0})
            assert error_of(refused, 401)["code"] is None
            headers = {"Authorization": "Bearer no"}
            wrong = httpx.get(server.url + USAGE_PATH, params={"start_time": T0}, headers=headers)
            assert error_of(wrong, 401)["code"] == "invalid_api_key"
            same_pages(server.url, sink, headers={"Authorization": f"Bearer {self.KEY}"})
        assert self.KEY not in server.out + server.err

    @pytest.mark.parametrize("key", ["", "two words", "caf\u00e9-key"])
    def test_bad_key(self, events_file: Path, key: str) -> None:
        """A key that cannot be sent in a header: status 2, the key not repeated."""
        result = run("serve", "--events", str(events_file), "--port", "0", "--key", key)
        assert result.returncode == 2
        assert result.stdout == ""
        assert "key must be a non-empty string of printable ASCII" in result.stderr
        assert not key or key not in result.stderr

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com"])
    def test_refused_off_loopback(self, events_file: Path, host: str) -> None:
        """Another host without a key: status 2, saying how to give one; nothing served."""
        env = {k: v for k, v in os.environ.items() if k != "AIEVENTS_SERVE_KEY"}
        env["AIEVENTS_SERVE_KEY"] = ""  # empty: no key
        result = run("serve", "--events", str(events_file), "--host", host, "--port", "0", env=env)
        assert result.returncode == 2
        assert result.stdout == ""
        assert "is not a loopback address" in result.stderr
        assert "--key" in result.stderr
        assert "AIEVENTS_SERVE_KEY" in result.stderr
