"""``aievents serve --store`` and ``usage --store`` only read: a store of an older schema
is refused, not upgraded; a role that may only SELECT serves a current one."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from postgres_server import fresh_database
from store_v3 import T0
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
