"""A throwaway PostgreSQL server on 127.0.0.1 for the store tests.

``AIEVENTS_TEST_POSTGRES`` (a ``postgresql://`` URL to a server the tests
may create databases on) wins; otherwise a server is started from the
machine's PostgreSQL binaries (Debian's ``postgresql`` package) in a
temporary directory, as the ``postgres`` user when the tests run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UnavailableError(Exception):
    """No PostgreSQL server can be had here; the message says why."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    raise UnavailableError("no PostgreSQL server binaries (initdb, pg_ctl): install postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running() -> Iterator[str]:
    """The URL of a server for the tests' session, stopped at the end."""
    url = os.environ.get("AIEVENTS_TEST_POSTGRES")
    if url:
        yield url
        return
    bindir = _bindir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise UnavailableError("running as root and there is no postgres user") from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise UnavailableError("running as root and runuser is missing")
        prefix = [runuser, "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="aievents-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if prefix:
        os.chown(root, user.pw_uid, user.pw_gid)
        os.chown(sockets, user.pw_uid, user.pw_gid)
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise UnavailableError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-400:]}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(root / "server.log")  # the server must not hold our pipes open
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            log,
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
    except (UnavailableError, OSError, subprocess.SubprocessError) as error:
        shutil.rmtree(root, ignore_errors=True)
        raise UnavailableError(str(error)) from None
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server: str, name: str) -> str:
    """Create (or re-create) database ``name`` on the server; its URL."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}"
