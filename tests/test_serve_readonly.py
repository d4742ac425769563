"""``aievents serve --store`` and ``usage --store`` only read: a store of an older schema
is refused, not upgraded; a role that may only SELECT serves a current one."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from aievents.sinks import StoreSink
from aievents.sinks.store import StoreError
from postgres_server import fresh_database
from store_v3 import DAY, T0, stream
from test_store_dims import load_v3


@pytest.fixture(name="url", params=["sqlite", "postgresql"])
def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store of schema version 3, of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'usage.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = fresh_database(server, f"aievents_{uuid.uuid4().hex[:12]}")
    load_v3(url)
    return url


def snapshot(url: str) -> tuple[str, str]:
    """The store's schema version, and a digest of its tables' names, columns and rows."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    digest = hashlib.sha256()
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            for name in sorted(inspector.get_table_names()):
                columns = [column["name"] for column in inspector.get_columns(name)]
                digest.update(f"{name}:{columns}".encode())
                rows = conn.execute(sa.text(f"SELECT * FROM {name}")).all()
                digest.update(repr(sorted(map(repr, rows))).encode())
            version = conn.execute(
                sa.text("SELECT value FROM aievents_meta WHERE key = 'schema_version'")
            ).scalar_one()
    finally:
        engine.dispose()
    return str(version), digest.hexdigest()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m aievents ARGS`` to its end."""
    return subprocess.run(
        [sys.executable, "-m", "aievents", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestOlderStore:
    """A store of schema version 3 is refused by the readers, and left as it was."""

    @pytest.mark.parametrize(
        "command",
        [
            ["serve", "--port", "0"],
            ["usage", "--start", str(T0)],
            ["costs", "--start", str(T0)],
        ],
        ids=["serve", "usage", "costs"],
    )
    def test_refused_unchanged(self, url: str, command: list[str]) -> None:
        """Status 1, saying it needs an upgrade and what upgrades it; version 3, every row kept."""
        before = snapshot(url)
        assert before[0] == "3"
        path = Path(url.removeprefix("sqlite:///"))
        data = path.read_bytes() if url.startswith("sqlite") else b""
        result = run(*command[:1], "--store", url, *command[1:])
        assert result.returncode == 1, result.stderr
        assert result.stdout == ""
        assert "needs an upgrade first" in result.stderr
        assert "schema version 3" in result.stderr
        assert "aievents ingest --store URL /dev/null" in result.stderr
        assert snapshot(url) == before
        if url.startswith("sqlite"):
            assert path.read_bytes() == data


class TestReadTimeout:
    """``read_timeout`` (what the server sets): a PostgreSQL query past it is cancelled."""

    def test_cancelled(self, postgres_server: str) -> None:
        """A query held up by a lock past ``read_timeout``: a StoreError saying so."""
        url = fresh_database(postgres_server, f"aievents_{uuid.uuid4().hex[:12]}")
        writer = StoreSink(url, clock=lambda: T0 + 3 * DAY)
        writer.write(stream(3, 5))
        writer.close(30)
        reader = StoreSink(
            url, create=False, upgrade=False, busy_timeout=120, read_timeout=0.2,
            clock=lambda: T0 + 3 * DAY,
        )  # fmt: skip
        try:
            assert reader.usage(T0).data  # answered while nothing holds the tables
            with psycopg.connect(url) as locker:  # one transaction, holding the tables
                locker.execute("LOCK TABLE aievents_usage, aievents_daily IN ACCESS EXCLUSIVE MODE")
                with pytest.raises(StoreError, match="statement timeout"):
                    reader.usage(T0)
        finally:
            reader.close(30)
