"""A collector on 127.0.0.1 that records the events posted to it, and misbehaves on cue.

It takes JSON arrays and NDJSON, gzip or not, of snake_case dicts or TanStack
envelopes. Scripted answers (:meth:`Collector.fail`, :meth:`Collector.hang`,
:meth:`Collector.trickle`, :meth:`Collector.truncate`, :meth:`Collector.accept`)
apply to the next requests, in order; :meth:`Collector.refuse` refuses, from
then on, every request holding certain events or too many of them; :meth:`Collector.stop` and
:meth:`Collector.start` take it away and bring it back on the same port.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Collector:
    """Records events; fails, throttles or hangs when told to."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._script: deque[tuple[str, Any]] = deque()
        #: Refusals in force: (status, request ids refused, most events taken).
        self._refusals: list[tuple[int, frozenset[str], int | None]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._http: ThreadingHTTPServer | None = None
        self._connections: set[Any] = set()
        self._thread: threading.Thread | None = None
        self.port = 0
        self.release = threading.Event()
        #: Set when any request comes in, before it is answered.
        self.requested = threading.Event()

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        """Where to post."""
        return f"http://127.0.0.1:{self.port}/ingest"

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests with ``status``."""
        with self._lock:
            for _ in range(times):
                self._script.append(("status", (status, headers or {})))

    def hang(self, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` requests for ``seconds`` (or until ``release`` is set)."""
        with self._lock:
            for _ in range(times):
                self._script.append(("hang", seconds))

    def accept(self, times: int) -> None:
        """Answer the next ``times`` requests normally (before what is scripted after)."""
        with self._lock:
            for _ in range(times):
                self._script.append(("ok", None))

    def trickle(self, interval: float, *, part: str = "head", times: int = 1) -> None:
        """Take the next ``times`` batches, then answer 200 a byte every ``interval`` seconds.

        ``part="head"`` trickles the whole answer (status line and headers,
        padded to a few hundred bytes); ``part="body"`` sends the head at once
        and trickles a body of a few hundred bytes. The request's record
        gets ``finished=True`` once the last byte is out (it never is when
        the client gives up first), and ``ended=True`` when the answer is
        over either way. Setting ``release`` speeds it up.
        """
        with self._lock:
            for _ in range(times):
                self._script.append(("trickle", (interval, part)))

    def truncate(self, *, part: str = "body", times: int = 1) -> None:
        """Take the next ``times`` batches, then hang up in the middle of the answer.

        ``part="body"`` sends a 200 head announcing a body and only part of
        the body; ``part="head"`` sends part of the status line.
        """
        with self._lock:
            for _ in range(times):
                self._script.append(("truncate", part))

    def refuse(
        self, status: int, *, request_ids: Iterable[str] = (), most: int | None = None
    ) -> None:
        """From now on, refuse with ``status`` the requests that hold too much.

        That is: an event of ``request_ids``, or more than ``most`` events.
        Nothing of a refused request is recorded as received.
        """
        with self._lock:
            self._refusals.append((status, frozenset(request_ids), most))

    def start(self) -> Collector:
        """Listen (on the same port as before, after a stop)."""
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def setup(self) -> None:
                super().setup()
                with collector._lock:
                    collector._connections.add(self.connection)

            def finish(self) -> None:
                with collector._lock:
                    collector._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                collector._handle(self)

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # clients that time out and hang up are part of the tests

        self._http = Server(("127.0.0.1", self.port), Handler)
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`start`."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        with self._lock:  # kept-alive connections go too: the collector is gone
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` events have arrived."""
        with self._lock:
            return self._arrived.wait_for(lambda: len(self.events) >= count, timeout)

    def wait_for_requests(self, request_ids: set[str], timeout: float = 10.0) -> bool:
        """Wait until every one of ``request_ids`` has arrived (duplicates aside)."""

        def arrived() -> bool:
            return request_ids <= {e.get("request_id") for e in self.events}

        with self._lock:
            return self._arrived.wait_for(arrived, timeout)

    def wait_for_answers(
        self, count: int, status: int | None = None, timeout: float = 10.0
    ) -> bool:
        """Wait until ``count`` requests were answered (with ``status``, when given)."""

        def answered() -> bool:
            return sum(status in (None, r["status"]) for r in self.requests) >= count

        with self._lock:
            return self._arrived.wait_for(answered, timeout)

    def reset(self) -> None:
        """Forget what was scripted: answer every request normally from now on."""
        with self._lock:
            self._script.clear()

    def ids(self) -> list[str]:
        """The event ids received, duplicates included."""
        with self._lock:
            return [_event_id(e) for e in self.events]

    # ------------------------------------------------------------------ answers

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", 0))
        raw = handler.rfile.read(length)
        self.requested.set()
        with self._lock:
            kind, argument = self._script.popleft() if self._script else ("ok", None)
        if kind == "hang":
            self.release.wait(argument)
        if kind == "status":
            status, headers = argument
            with self._lock:  # recorded before the answer, which the sender may act on at once
                self.requests.append({"status": status, "at": time.monotonic()})
                self._arrived.notify_all()
            self._answer(handler, status, headers)
            return
        if handler.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        text = raw.decode()
        if handler.headers.get("content-type", "").startswith("application/x-ndjson"):
            items = [json.loads(line) for line in text.splitlines() if line]
        else:
            items = json.loads(text)
            if isinstance(items, dict):  # one event per request (the devtools bus's form)
                items = [items]
        refused = self._refused(items)
        if refused is not None:
            with self._lock:  # recorded before the answer, as above
                self.requests.append(
                    {"status": refused, "at": time.monotonic(), "count": len(items)}
                )
                self._arrived.notify_all()
            self._answer(handler, refused, {})
            return
        record = {
            "status": 200,
            "at": time.monotonic(),
            "count": len(items),
            "headers": dict(handler.headers),
            "answer": kind,
        }
        with self._lock:
            self.events.extend(items)
            self.requests.append(record)
            self._arrived.notify_all()
        try:
            if kind == "trickle":
                self._trickle(handler, *argument)
                record["finished"] = True
            elif kind == "truncate":
                self._truncate(handler, argument)
            else:
                self._answer(handler, 200, {})
        except OSError:
            return
        finally:
            record["ended"] = True

    def _refused(self, items: list[dict[str, Any]]) -> int | None:
        """The status of the refusal ``items`` meet, if any."""
        ids = {item.get("request_id") for item in items}
        with self._lock:
            for status, refused, most in self._refusals:
                if ids & refused or (most is not None and len(items) > most):
                    return status
        return None

    def _trickle(self, handler: BaseHTTPRequestHandler, interval: float, part: str) -> None:
        handler.close_connection = True
        body = b"x" * 300
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
            + b"x-padding: "
            + b"p" * 300
            + b"\r\n"
            + b"content-length: %d\r\n\r\n" % len(body)
        )
        if part == "body":
            handler.connection.sendall(head)
            slow = body
        else:
            slow = head + body
        for index in range(len(slow)):
            handler.connection.sendall(slow[index : index + 1])
            self.release.wait(interval)

    @staticmethod
    def _truncate(handler: BaseHTTPRequestHandler, part: str) -> None:
        handler.close_connection = True
        if part == "head":
            handler.connection.sendall(b"HTTP/1.1 20")
        else:
            handler.connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        handler.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
        handler.send_response(status)
        handler.send_header("content-length", "0")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()


def _event_id(item: dict[str, Any]) -> str:
    if "payload" in item:
        return str(item["payload"].get("eventId"))
    return str(item.get("event_id"))


class Receiver:
    """Records the raw requests POSTed to it on 127.0.0.1; answers each with a set status.

    For targets other than the JSON collector (an OTLP endpoint, a devtools
    bus): ``requests`` holds ``(path, headers, body)`` of every request that
    was answered 2xx, in order (header names in lowercase). A request to a
    path ending with a key of ``answers`` takes the first answer queued
    there (status and headers: ``{"/v1/metrics": [(429, {"Retry-After":
    "60"})]}``); else one ending with a key of ``statuses`` gets that
    status; else ``status``.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.statuses: dict[str, int] = {}
        self.answers: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, extra = receiver._answer(self.path, headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _answer(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str]]:
        with self._lock:
            for suffix, queued in self.answers.items():
                if queued and path.endswith(suffix):
                    status, extra = queued.pop(0)
                    break
            else:
                status = next(
                    (code for end, code in self.statuses.items() if path.endswith(end)),
                    self.status,
                )
                extra = {}
            if 200 <= status < 300:
                self.requests.append((path, headers, body))
        return status, extra

    def bodies(self, path: str | None = None) -> list[bytes]:
        """The bodies received (at a path ending with ``path`` only, when given)."""
        return [body for at, _, body in self.requests if path is None or at.endswith(path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
