"""A bridge to TanStack devtools' server event bus: Python services on the TypeScript bus.

TanStack's devtools event bus (npm ``@tanstack/devtools-event-bus``, default
port 4206) carries TanStack envelopes, ``{"type": "tanstack-ai-devtools:
image:usage", "payload": {...camelCase...}, "pluginId": "tanstack-ai-devtools"}``,
between TypeScript event clients. This module puts a Python service on it,
both ways:

- :class:`DevtoolsTransport` is a :class:`~aievents.sinks.ForwardSink`
  transport: each event goes to the bus as an envelope, over its WebSocket
  (``/__devtools/ws``; a ping after each batch confirms the bus read it) or
  by ``POST /__devtools/send``. The sink batches off the caller's thread,
  retries with backoff while the bus is away (a restart included), spills
  to disk if asked, and reports and counts as it does for every transport.
- :class:`DevtoolsListener` listens to the bus (WebSocket or the SSE
  endpoint ``/__devtools/sse``) and re-emits what TypeScript services emit
  on a local :class:`~aievents.EventClient`, as typed events; an event type
  this library does not know arrives as a :class:`BusEvent`, and a malformed
  message is counted and skipped. It reconnects with backoff.

The bus only listens when its Node process runs with ``NODE_ENV=development``.
Needs the ``devtools`` extra: ``pip install 'aievents[devtools]'``.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final, Literal

import attrs

from aievents import _validate as v
from aievents._extras import import_extra
from aievents._fork import after_fork
from aievents._redact import safe_url, scrub_text
from aievents._threads import Thread
from aievents._validate import option, setting
from aievents.client import EventClient
from aievents.encoding.devtools import encode_messages, read_message
from aievents.events import EVENT_TYPES, BaseEvent
from aievents.exceptions import AieventsError, TransportError, first_line
from aievents.policy import LISTENER_RETRY, Retry
from aievents.wire import PLUGIN_ID, from_envelope

__all__ = ["DEFAULT_PORT", "BusEvent", "DevtoolsListener", "DevtoolsTransport"]

#: The bus's port unless told otherwise.
DEFAULT_PORT: Final = 4206
_WS_PATH: Final = "/__devtools/ws"
_SEND_PATH: Final = "/__devtools/send"
_SSE_PATH: Final = "/__devtools/sse"


def _websockets() -> Any:
    """websockets' sync client (the ``devtools`` extra), imported when first needed."""
    return import_extra("websockets.sync.client", "the devtools bridge", "devtools")


def _connections(timeout: float) -> Any:
    """The HTTP connections of the ``post`` mode (:mod:`aievents._http`, on httpx)."""
    import_extra("httpx", "the devtools bridge's post mode", "devtools")
    from aievents._http import Connections  # noqa: PLC0415 - an optional extra

    return Connections(None, timeout, timeout, True, timeout)


def _open_ws(url: str, timeout: float) -> Any:
    """A connected WebSocket (entered as a context, as websockets asks).

    Its close handshake waits at most a second: a stalled bus must not hold
    up ``close``.
    """
    return _websockets().connect(url, open_timeout=timeout, close_timeout=1.0).__enter__()


@attrs.frozen(kw_only=True, slots=True)
class BusEvent(BaseEvent):
    """An event heard on the bus whose type this library does not know.

    Attributes:
        name: The event's name without its plugin id (``text:usage``), or the
            whole ``type`` when it has no plugin prefix.
        plugin_id: The envelope's ``pluginId``.
        payload: The envelope's payload, as received.
    """

    event_type: ClassVar[str] = "devtools:event"

    name: str = attrs.field(default=v.REQUIRED, validator=v.REQ_STRING)
    plugin_id: str | None = attrs.field(default=None, validator=v.OPT_STRING)
    payload: Mapping[str, Any] = attrs.field(
        factory=dict, converter=dict, validator=v.record, repr=False
    )


class DevtoolsTransport:
    """Sends events to a TanStack devtools server event bus (for a ForwardSink).

    Args:
        host: The bus's host (``localhost`` by default, as the bus's own).
        port: The bus's port.
        mode: ``ws`` (the WebSocket, kept open; a ping confirms each batch)
            or ``post`` (one ``POST /__devtools/send`` per event, on kept-alive
            connections).
        path: The endpoint's path, when not the bus's default.
        timeout: Seconds to connect, and to wait for the bus's answer; in
            ``post`` mode, the most one request may take in all.
        plugin_id: The envelopes' plugin id.

    Delivery is at least once: when the bus goes away in the middle of a
    batch, the sink sends the whole batch again.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = DEFAULT_PORT,
        *,
        mode: Literal["ws", "post"] = "ws",
        path: str | None = None,
        timeout: float = 5.0,
        plugin_id: str = PLUGIN_ID,
    ) -> None:
        option("mode", mode, ("ws", "post"))
        setting("port", port, positive=True)
        setting("timeout", timeout, fraction=True)
        self.mode = mode
        scheme, default = ("ws", _WS_PATH) if mode == "ws" else ("http", _SEND_PATH)
        self.url = f"{scheme}://{_netloc(host, port)}{path or default}"
        self._shown = safe_url(self.url)
        self._timeout = timeout
        self._plugin_id = plugin_id
        self._lock = threading.Lock()
        self._ws: Any = None
        self._closed = False
        self._http: Any = None
        if mode == "ws":
            _websockets()
        else:
            self._http = _connections(timeout)
        after_fork(self)

    def _after_fork(self) -> None:
        """In a forked child: a lock of its own, no connection (the parent's stays the parent's)."""
        self._lock = threading.Lock()
        self._ws = None

    def send(self, batch: Sequence[BaseEvent]) -> None:
        """Deliver each event of the batch as an envelope, or raise TransportError.

        Raises:
            UnencodableError: some events cannot be encoded (nothing sent).
            TransportError: the bus did not take the batch.
        """
        messages = encode_messages(batch, plugin_id=self._plugin_id)
        with self._lock:
            if self._closed:
                raise TransportError(
                    f"devtools transport to {self._shown} is closed", retryable=False
                )
            if self.mode == "ws":
                self._send_ws(messages)
            else:
                for message in messages:
                    self._post(message)

    def _send_ws(self, messages: list[str]) -> None:
        """Send over the WebSocket (connecting first when needed); any failure is retryable."""
        try:
            if self._ws is None:
                self._ws = _open_ws(self.url, self._timeout)
            for message in messages:
                self._ws.send(message)
            # The bus answers a ping once it has read (and dispatched) all before it.
            if not self._ws.ping().wait(self._timeout):
                raise TimeoutError(f"no answer to a ping in {self._timeout} s")
        except Exception as error:  # noqa: BLE001 - any failure: reconnect, retry
            self._close_ws()
            raise TransportError(
                f"devtools bus at {self._shown}: {self._describe(error)}", retryable=True
            ) from None

    def _describe(self, error: BaseException) -> str:
        """An error's first line, scrubbed, the bus's URL in it shown safely."""
        return scrub_text(first_line(error).replace(self.url, self._shown))

    def _post(self, message: str) -> None:
        """One event to the bus; TransportError (with any Retry-After) unless answered 2xx."""
        self._http.post(self.url, message.encode(), {"content-type": "application/json"})

    def _close_ws(self) -> None:
        """Drop the WebSocket (forgotten before it is closed): the next send reconnects."""
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):  # it is going away anyway
                ws.close()

    def close(self) -> None:
        """Close the WebSocket or the HTTP connections; later sends fail."""
        with self._lock:
            self._closed = True
            self._close_ws()
            if self._http is not None:
                self._http.close()


class DevtoolsListener:
    """Re-emits what the bus carries on a local EventClient, as typed events.

    Args:
        client: Where to emit (the default client when omitted).
        host: The bus's host.
        port: The bus's port.
        mode: ``ws`` (the WebSocket) or ``sse`` (``/__devtools/sse``).
        plugin_id: Envelopes of this plugin are re-emitted; others are
            counted (``all_plugins=True`` re-emits them as BusEvent).
        all_plugins: Re-emit other plugins' envelopes too.
        retry: How it reconnects (:data:`~aievents.policy.LISTENER_RETRY`
            by default: for as long as it runs, from 0.1 s, doubling up to
            5 s; a connection that carried messages starts the count again;
            with ``max_retries``, it stops after that many failed
            connections in a row).
        backoff, max_backoff: Each changes that field of ``retry``.

    Use as a context manager, or :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        client: EventClient | None = None,
        *,
        host: str = "localhost",
        port: int = DEFAULT_PORT,
        mode: Literal["ws", "sse"] = "ws",
        plugin_id: str = PLUGIN_ID,
        all_plugins: bool = False,
        retry: Retry = LISTENER_RETRY,
        backoff: float | None = None,
        max_backoff: float | None = None,
    ) -> None:
        option("mode", mode, ("ws", "sse"))
        setting("port", port, positive=True)
        self.retry = retry.updated(backoff=backoff, max_backoff=max_backoff)
        if mode == "ws":
            _websockets()
        self.mode = mode
        self._client = client
        self._host, self._port = host, port
        path = _WS_PATH if mode == "ws" else _SSE_PATH
        self.url = f"{'ws' if mode == 'ws' else 'http'}://{_netloc(host, port)}{path}"
        self._plugin_id = plugin_id
        self._all = all_plugins
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._closer: Any = None
        self._thread: threading.Thread | None = None
        names = ("messages", "emitted", "unknown", "malformed", "other_plugins", "connections")
        self._counts = dict.fromkeys((*names, "handler_errors"), 0)

    def __enter__(self) -> DevtoolsListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> DevtoolsListener:
        """Start listening on a daemon thread (connecting, and reconnecting, there)."""
        if self._thread is None:
            self._thread = Thread(target=self._run, name="aievents-devtools-listener", daemon=True)
            self._thread.start()
        return self

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Whether the listener is connected, waiting up to ``timeout`` seconds."""
        return self._connected.wait(timeout)

    def close(self, timeout: float | None = 5.0) -> bool:
        """Stop listening; ``False`` when the thread did not end within ``timeout``."""
        self._stop.set()
        with self._lock:
            closer = self._closer
        if closer is not None:
            closer()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stats(self) -> dict[str, int]:
        """What the listener counted, by name.

        ``messages``, ``emitted``, ``unknown`` (emitted as BusEvent),
        ``malformed``, ``other_plugins``, ``connections``, and
        ``handler_errors`` (a strict client's handler raised).
        """
        with self._lock:
            return dict(self._counts)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    # ------------------------------------------------------------------ receiving

    def _run(self) -> None:
        """Listen, reconnecting by the listener's :class:`Retry` until it is closed."""
        while not self._stop.is_set():
            try:
                self.retry.call(self._listen, wait=self._wait, retryable=self._going)
            except Exception:  # noqa: BLE001 - closed, or out of retries (max_retries)
                return

    def _wait(self, delay: float) -> bool:
        """Wait before reconnecting; False once the listener is closed."""
        return not self._stop.wait(delay)

    def _going(self, _error: Exception) -> bool:
        """Whether to reconnect: until the listener is closed, whatever went wrong."""
        return not self._stop.is_set()

    def _listen(self) -> None:
        """One connection: its messages handled until it ends.

        Raises when it ends without a message (the bus away, or refusing):
        the wait before the next connection grows. A connection that
        carried messages returns, and the next one is tried at once.
        """
        heard = False
        try:
            for message in self._messages():
                heard = True
                self._handle(message)
        except Exception:
            if not heard:
                raise
        finally:
            self._connected.clear()
        if not heard and not self._stop.is_set():
            raise ConnectionError(f"the bus at {self.url} ended the connection")

    def _messages(self) -> Iterator[str]:
        """The bus's messages until the connection ends (or the listener closes)."""
        if self.mode == "ws":
            yield from self._ws_messages()
        else:
            yield from self._sse_messages()

    def _connected_with(self, closer: Any) -> None:
        with self._lock:
            self._closer = closer
            self._counts["connections"] += 1
        self._connected.set()
        if self._stop.is_set():
            closer()

    def _ws_messages(self) -> Iterator[str]:
        ws = _open_ws(self.url, 5.0)
        try:
            self._connected_with(ws.close)
            for message in ws:
                yield message if isinstance(message, str) else message.decode("utf-8", "replace")
        finally:
            ws.close()

    def _sse_messages(self) -> Iterator[str]:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=5.0)
        sock: socket.socket | None = None
        try:
            connection.request("GET", _SSE_PATH, headers={"accept": "text/event-stream"})
            sock = connection.sock  # the response may take it over: held here to close it
            answer = connection.getresponse()
            if answer.status != 200:
                raise AieventsError(f"the bus answered {answer.status} at {self.url}")
            if sock is not None:
                sock.settimeout(None)  # events may be far apart

            def shut() -> None:
                with contextlib.suppress(OSError):
                    if sock is not None:
                        sock.shutdown(socket.SHUT_RDWR)

            self._connected_with(shut)
            data: list[str] = []
            while True:
                raw = answer.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    if data:
                        yield "\n".join(data)
                        data = []
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])
        finally:
            connection.close()
            if sock is not None:
                sock.close()

    def _handle(self, message: str) -> None:
        self._count("messages")
        try:
            envelope = read_message(message)
        except ValueError:
            self._count("malformed")
            return
        kind: str = envelope["type"]
        ours = kind.startswith(f"{self._plugin_id}:")
        plugin = envelope.get("pluginId", self._plugin_id if ours else None)
        if plugin != self._plugin_id and not self._all:
            self._count("other_plugins")
            return
        prefix = f"{plugin}:" if isinstance(plugin, str) else ""
        name = kind[len(prefix) :] if prefix and kind.startswith(prefix) else kind
        event: BaseEvent
        try:
            if plugin == self._plugin_id and name in EVENT_TYPES:
                event = from_envelope(envelope, plugin_id=self._plugin_id)
            else:
                event = BusEvent(
                    name=name,
                    plugin_id=plugin if isinstance(plugin, str) else None,
                    payload=envelope.get("payload") or {},
                )
                self._count("unknown")
        except (AieventsError, ValueError, TypeError):
            self._count("malformed")
            return
        client = self._client
        if client is None:
            from aievents.client import get_client  # noqa: PLC0415 - the default, at emit time

            client = get_client()
        try:
            client.emit(event)
        except Exception:  # noqa: BLE001 - a strict client's handler: not the bus's fault
            self._count("handler_errors")
            return
        self._count("emitted")


def _netloc(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
