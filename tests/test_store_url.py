"""StoreSink's URL: the forms it reads, the ones it refuses, and its password never shown.

Tracebacks are rendered by structlog's real console renderer with rich (local
variables shown) in a child process; PostgreSQL is a real server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from aievents.sinks import StoreSink
from aievents.sinks.store import StoreError
from postgres_server import fresh_database
from test_store_connection import DAY, T0, requests

from helpers import usage_at as event

#: A password as an application might have it, and its pieces none of which may show.
PASSWORD = "S3cr@t/P4ss:W0rd"
PIECES = ("S3cr", "P4ss", "W0rd")
ENCODED = PASSWORD.replace("@", "%40").replace("/", "%2F")

#: Opens a store for each URL given; logs each StoreError as an application would
#: (structlog's default configuration: the console renderer, rich tracebacks).
LOGGING_APP = textwrap.dedent(
    """
    import sys
    import structlog
    from aievents.sinks.store import StoreSink, StoreError

    log = structlog.get_logger()
    for index in range(1, len(sys.argv) - 1):  # no URL in a variable of the app's own
        try:
            StoreSink(sys.argv[index], busy_timeout=1)
        except StoreError:
            log.exception("could not open the usage store")
    store = StoreSink(sys.argv[-1], busy_timeout=1, query_wait=1)
    print("opened", flush=True)
    sys.stdin.readline()  # its database is dropped meanwhile
    try:
        store.usage(1730419200, 1730505600)
    except StoreError:
        log.exception("could not read the usage store")
    """
)
_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def shown(text: str) -> list[str]:
    """The pieces of PASSWORD found in ``text`` (as written or percent-encoded)."""
    return [piece for piece in PIECES if piece in text]


@pytest.fixture(name="database")
def _database(postgres_server: str) -> str:
    """A fresh database on the test server (its URL, without a password)."""
    return fresh_database(postgres_server, f"aievents_{uuid.uuid4().hex[:12]}")


def with_password(database: str, query: str = "") -> str:
    """``database``'s URL with PASSWORD (percent-encoded) in its user info (the server trusts)."""
    return database.replace("postgres@", f"postgres:{ENCODED}@", 1) + query


def drop(server: str, database: str) -> None:
    """Drop ``database`` from the server, whoever is connected."""
    name = database.rpartition("/")[2]
    admin = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


class TestTracebackLocals:
    """A StoreError logged with its traceback (rich, local variables shown) shows no password."""

    def test_console_renderer_with_rich(self, postgres_server: str, database: str) -> None:
        """Refused, unreachable and lost stores, logged with log.exception: no password."""
        urls = [
            f"postgresql://bob:{ENCODED}@127.0.0.1:1/none",  # unreachable
            f"postgresql://bob@127.0.0.1:1/none?password={ENCODED}",
            f"postgresql://bob:{PASSWORD}@127.0.0.1:1/none",  # an '@' not encoded: refused
            f"postgresql+psycopg2://bob:{ENCODED}@127.0.0.1:1/none",  # a driver not used
            f"postgresql://bob:{ENCODED}@127.0.0.1:1/none?port=abc&sslpassword={ENCODED}",
            f"mysql://bob:{ENCODED}@db/x",
        ]
        url = with_password(database, f"?sslpassword={ENCODED}")
        app = subprocess.Popen(
            [sys.executable, "-c", LOGGING_APP, *urls, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "400"},  # wide: no value is wrapped
        )
        assert app.stdin is not None
        assert app.stdout is not None
        before = []
        for line in app.stdout:  # what the app logs, then "opened"
            if line.strip() == "opened":
                break
            before.append(line)
        drop(postgres_server, database)
        output, _ = app.communicate("\n", timeout=120)
        text = _ESCAPE.sub("", "".join(before) + output)
        assert app.returncode == 0, text
        assert text.count("could not open the usage store") == len(urls)
        assert text.count("could not read the usage store") == 1
        assert "locals" in text  # the renderer did print local variables
        assert "does not exist" in text
        assert shown(text) == []


class TestHidden:
    """The password is hidden from the database's own words, wherever it appears."""

    def test_password_in_the_driver_message(self) -> None:
        """A password that is also the socket folder: not in the message, nor in the URL."""
        secret = "Hunter2Secret"
        with pytest.raises(StoreError, match="No such file or directory") as caught:
            StoreSink(f"postgresql://bob:{secret}@/none?host=/tmp/{secret}", busy_timeout=1)
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value.value)
        assert "/tmp/[redacted]" in str(caught.value)


class TestForms:
    """Valid URLs are read as PostgreSQL reads them; others are a StoreError naming the URL."""

    @pytest.mark.parametrize(
        "query",
        ["?application_name=me@host", "?sslmode=disable&sslrootcert=/etc/a@b.pem", "?"],
        ids=["at-in-value", "at-in-path-value", "empty-query"],
    )
    def test_query_forms(self, database: str, query: str) -> None:
        """An '@' in a query value or an empty query ('?') opens the store, its password masked."""
        sink = StoreSink(
            with_password(database, query), batch_size=10, max_delay=0.01, clock=lambda: T0 + DAY
        )
        assert shown(sink.url) == []
        assert "[redacted]" in sink.url
        sink.handle(event("a", T0))
        assert sink.flush(10)
        assert requests(sink) == 1
        sink.close(10)

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            (
                f"postgresql+psycopg2://bob:{ENCODED}@127.0.0.1:1/none",
                "names the driver 'psycopg2'",
            ),
            ("postgresql+asyncpg://bob@127.0.0.1:1/none", "names the driver 'asyncpg'"),
            ("sqlite+aiosqlite:///usage.db", "names the driver 'aiosqlite'"),
            (f"postgresql://bob:{ENCODED}@127.0.0.1:1/none?port=abc", "non-integer port"),
            (f"postgresql://bob:{ENCODED}@127.0.0.1:abc/none", "is not a database URL"),
        ],
    )
    def test_refused(
        self, url: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A driver StoreSink does not use, or a bad port: a StoreError, not a raw one."""
        monkeypatch.chdir(tmp_path)  # where a SQLite file would be made
        with pytest.raises(StoreError, match=reason) as caught:
            StoreSink(url, busy_timeout=1)
        assert caught.value.field == "url"
        assert shown(str(caught.value)) == []
        assert list(tmp_path.iterdir()) == []
