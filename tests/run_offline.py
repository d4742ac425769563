"""Run a Python file as ``python FILE`` would, with the network limited to this machine.

Used by the documentation tests: ``python tests/run_offline.py FILE`` (or
``-m MODULE ARGS``). An
audit hook refuses every name lookup and connection to an address outside
the loopback range, and notes it in the file named by ``AIEVENTS_OFFLINE_LOG``
(so that a refusal the code swallows is still seen). Unix sockets and
loopback addresses are allowed.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import runpy
import socket
import sys
from typing import Any

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _is_local(host: Any) -> bool:
    if host is None:
        return True  # a passive lookup: no peer
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").split("%", 1)[0]
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _peer(event: str, args: tuple[Any, ...]) -> Any:
    """The host an audited socket operation reaches, or ``None`` when it reaches none."""
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        return args[0]
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) == socket.AF_UNIX or not isinstance(address, tuple):
            return None
        return address[0]
    return None


def _refuse_remote(event: str, args: tuple[Any, ...]) -> None:
    if not event.startswith("socket."):
        return
    host = _peer(event, args)
    if host is None or _is_local(host):
        return
    log = os.environ.get("AIEVENTS_OFFLINE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{event} {host}\n")
    raise OSError(errno.ENETUNREACH, f"offline: {host} is not on this machine")


def main() -> None:
    """Run ``FILE`` (or ``-m MODULE``) as the main module, the way ``python`` does."""
    sys.addaudithook(_refuse_remote)
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        sys.path[0] = os.getcwd()
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
        return
    path = os.path.abspath(sys.argv[1])
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(path)
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main()
