"""instrument_replicate process-wide and per client: every client, each prediction once, undone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
import replicate
from replicate import client as replicate_client
from replicate import deployment, model, prediction
from replicate.helpers import FileOutput
from structlog.testing import capture_logs

from aievents.instrument import _replicate_call as replicate_call
from aievents.instrument import instrument_replicate, uninstrument_replicate
from aievents.instrument import is_instrumented as package_is_instrumented
from aievents.instrument import replicate as replicate_instrumentation
from aievents.instrument._replicate_call import MAX_OPEN
from aievents.instrument.replicate import is_instrumented
from aievents.testing import ImageServer, capture_events
from aievents.wire import to_dict
from replicate_calls import SEQUENCE, TOKEN, closing, make_client, names, pid_of
from throwaway_tls import tls_contexts

SCHNELL = "black-forest-labs/flux-schnell"
#: The SDK's own methods, before anything wraps them.
ORIGINAL = {
    (cls, name): vars(cls)[name]
    for cls, methods in (
        (prediction.Predictions, ("create", "async_create", "get", "async_get", "cancel")),
        (prediction.Prediction, ("wait", "async_wait", "reload", "async_reload")),
        (model.ModelsPredictions, ("create", "async_create")),
        (deployment.DeploymentsPredictions, ("create", "async_create")),
        (deployment.DeploymentPredictions, ("create", "async_create")),
        (replicate_client.Client, ("run", "async_run")),
    )
    for name in methods
}


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="process_wide")
def _process_wide() -> Iterator[None]:
    instrument_replicate()
    try:
        yield
    finally:
        uninstrument_replicate()


@pytest.fixture(name="default_client")
def _default_client(server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> replicate.Client:
    """The module's default client (behind ``replicate.run``), pointed at ``server``."""
    client = replicate.default_client
    monkeypatch.setattr(client, "_api_token", TOKEN)
    monkeypatch.setattr(client, "_base_url", server.url)
    monkeypatch.setattr(client, "_Client__client", None)
    monkeypatch.setattr(client, "_Client__async_client", None)
    monkeypatch.setattr(client, "poll_interval", 0)
    return client


def at_once(target: Callable[[int], None], count: int) -> None:
    """``target(0)`` to ``target(count - 1)``, each on its own thread; back when all are done."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def reported_with_prompt(client: replicate.Client) -> None:
    """A run of ``client`` is reported once, its prompt captured."""
    with capture_events() as events:
        client.run(SCHNELL, input={"prompt": "a fox"})
    assert names(events) == SEQUENCE
    assert events[0].prompt == "a fox"  # type: ignore[attr-defined]


def untouched() -> bool:
    """Whether the SDK's classes, and the module's run and async_run, hold their own again."""
    module = all(
        getattr(replicate, name).__func__ is ORIGINAL[(replicate_client.Client, name)]
        for name in ("run", "async_run")
    )
    return module and all(vars(cls)[name] is method for (cls, name), method in ORIGINAL.items())


class TestProcessWide:
    """instrument_replicate(): the module's functions and every client, made before or after."""

    @pytest.mark.usefixtures("process_wide")
    def test_module_functions(self, default_client: replicate.Client) -> None:
        """replicate.run, replicate.async_run, replicate.predictions.create + wait."""
        with capture_events() as events:
            first = pid_of(replicate.run(SCHNELL, input={"prompt": "x"}))
            second = pid_of(
                asyncio.run(closing(default_client, replicate.async_run(SCHNELL, input={})))
            )
            made = replicate.predictions.create(model=SCHNELL, input={"prompt": "x"})
            made.wait()
        assert names(events) == SEQUENCE * 3
        assert [event.request_id for event in events[::3]] == [first, second, made.id]

    def test_client_made_before(self, server: ImageServer) -> None:
        """A client made before instrumenting is reported too; undone, nothing."""
        client = make_client(server)
        instrument_replicate()
        try:
            assert is_instrumented()
            assert is_instrumented(client)
            with capture_events() as events:
                client.run(SCHNELL, input={"prompt": "x"})
            assert names(events) == SEQUENCE
        finally:
            uninstrument_replicate()
        assert untouched()
        assert not is_instrumented(client)
        with capture_events() as events:
            client.run(SCHNELL, input={"prompt": "x"})
        assert events == []

    def test_idempotent(self, server: ImageServer) -> None:
        """Instrumenting twice wraps once, with the later settings."""
        client = make_client(server)
        instrument_replicate()
        instrument_replicate(capture_prompts=True)
        try:
            reported_with_prompt(client)
        finally:
            uninstrument_replicate()
        assert untouched()

    @pytest.mark.usefixtures("process_wide")
    def test_threads(self, server: ImageServer) -> None:
        """16 threads at once (runs and create+wait): each reported once, with its own id."""
        client = make_client(server)
        barrier = threading.Barrier(16)
        ids: list[str] = []

        def call(index: int) -> None:
            barrier.wait()
            if index % 2:
                ids.append(pid_of(client.run(SCHNELL, input={"prompt": "x"})))
            else:
                made = client.predictions.create(model=SCHNELL, input={"prompt": "x"})
                made.wait()
                ids.append(made.id)

        with capture_events() as events:
            at_once(call, 16)
        completed = [e.request_id for e in events if e.event_type == "image:request:completed"]
        assert sorted(completed) == sorted(ids)
        assert len(set(ids)) == 16
        assert len(events) == 48

    def test_racing_instruments(self) -> None:
        """Instrument calls racing each other wrap the classes once."""
        barrier = threading.Barrier(8)

        def go(_: int) -> None:
            barrier.wait()
            instrument_replicate()

        at_once(go, 8)
        try:
            create = vars(prediction.Predictions)["create"]
            assert create.__wrapped__ is ORIGINAL[(prediction.Predictions, "create")]
        finally:
            uninstrument_replicate()
        assert untouched()


class TestPerClient:
    """instrument_replicate(client): only its predictions; undone when the last one goes."""

    def test_only_that_client(self, server: ImageServer) -> None:
        """Another client's calls are not reported."""
        mine = instrument_replicate(make_client(server))
        other = make_client(server)
        try:
            assert is_instrumented(mine)
            assert not is_instrumented(other)
            assert not is_instrumented()
            with capture_events() as events:
                other.run(SCHNELL, input={"prompt": "x"})
                pid = pid_of(mine.run(SCHNELL, input={"prompt": "x"}))
            assert names(events) == SEQUENCE
            assert {event.request_id for event in events} == {pid}
        finally:
            uninstrument_replicate(mine)
        assert untouched()
        assert not is_instrumented(mine)

    def test_classes_stay_while_one_is_left(self, server: ImageServer) -> None:
        """Two clients: undoing one leaves the other reported."""
        first = instrument_replicate(make_client(server))
        second = instrument_replicate(make_client(server))
        uninstrument_replicate(first)
        try:
            with capture_events() as events:
                first.run(SCHNELL, input={"prompt": "x"})
                second.run(SCHNELL, input={"prompt": "x"})
            assert names(events) == SEQUENCE
        finally:
            uninstrument_replicate(second)
        assert untouched()

    def test_someone_wrapped_ours(self, server: ImageServer) -> None:
        """A wrapper added over ours stays when undone; ours passes calls through."""
        client = instrument_replicate(make_client(server))
        ours = vars(prediction.Predictions)["create"]

        def theirs(*args: object, **kwargs: object) -> object:
            return ours(*args, **kwargs)

        prediction.Predictions.create = theirs  # type: ignore[method-assign]
        try:
            uninstrument_replicate(client)
            assert vars(prediction.Predictions)["create"] is theirs
            with capture_events() as events:
                client.predictions.create(model=SCHNELL, input={"prompt": "x"}).wait()
            assert events == []
        finally:
            prediction.Predictions.create = ORIGINAL[(prediction.Predictions, "create")]  # type: ignore[method-assign]
        assert untouched()

    def test_not_a_client(self) -> None:
        """Instrumenting anything but a replicate.Client is refused, named."""
        with pytest.raises(TypeError, match=r"needs a replicate\.Client, got str"):
            instrument_replicate("client")

    def test_undo_not_a_client(self) -> None:
        """Undoing on anything never instrumented is harmless, as for the other SDKs."""
        thing = object()
        assert uninstrument_replicate(thing) is thing
        assert not is_instrumented(thing)


class TestNeverDouble:
    """Process-wide and per client at once: each prediction once, the client's settings."""

    @pytest.mark.parametrize("order", ["client first", "process first"])
    def test_both(self, order: str, server: ImageServer) -> None:
        """One set of events; the client's own settings win."""
        client = make_client(server)
        steps = [
            lambda: instrument_replicate(client, capture_prompts=True),
            instrument_replicate,
        ]
        for step in steps if order == "client first" else steps[::-1]:
            step()
        try:
            reported_with_prompt(client)
        finally:
            uninstrument_replicate(client)
            uninstrument_replicate()
        assert untouched()


class TestNeverWaited:
    """A prediction never seen finished stays open: booked at exit (or past the limit)."""

    def test_booked_at_exit(self, server: ImageServer) -> None:
        """A process that creates and never waits: started at create, completed at exit."""
        code = (
            "import json, replicate, aievents\n"
            "from aievents.instrument import instrument_replicate\n"
            "aievents.on('*', lambda e: print(json.dumps([e.event_type, e.request_id,"
            " getattr(e, 'images', None)]), flush=True))\n"
            "instrument_replicate()\n"
            f"c = replicate.Client(api_token='r8_x', base_url={server.url!r})\n"
            f"p = c.predictions.create(model={SCHNELL!r}, input={{'num_outputs': 3}})\n"
            "print(json.dumps(['created', p.id, p.status]), flush=True)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        pid = lines[1][1]
        assert lines == [
            ["image:request:started", pid, None],
            ["created", pid, "starting"],
            ["image:request:completed", pid, 3],  # the images asked for
            ["image:usage", pid, 3],
        ]

    @pytest.mark.usefixtures("process_wide")
    def test_past_the_limit(self, server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """Past the open limit, the oldest is booked; one of unknown kind is never held."""
        assert MAX_OPEN > 1
        monkeypatch.setattr(replicate_call.OPEN, "cap", 1)  # one held open at most
        client = make_client(server)
        with capture_events() as events:
            first = client.predictions.create(model=SCHNELL, input={"prompt": "x"})
            text = client.predictions.create(model="meta/meta-llama-3-8b-instruct", input={})
            last = client.predictions.create(model=SCHNELL, input={"prompt": "x"})
            last.wait()
            text.wait()  # not held: nothing
            assert names(events)[:2] == ["image:request:started"] * 2  # first, then last
            assert names(events)[2:4] == SEQUENCE[1:]  # the first, booked when the last came
        assert [e.request_id for e in events] == [first.id, last.id, first.id, first.id] + [
            last.id
        ] * 2
        assert names(events)[4:] == SEQUENCE[1:]


class TestFileOutput:
    """run's FileOutput objects (HTTPS) are counted, never fetched by the instrumentation."""

    def test_counted_not_read(self) -> None:
        """Three FileOutput: three images; their files are fetched only when the caller reads."""
        server_context, client_context = tls_contexts()
        with ImageServer(tls=server_context) as server:
            client = instrument_replicate(
                make_client(server, transport=httpx.HTTPTransport(verify=client_context))
            )
            try:
                with capture_events() as events:
                    output = client.run(SCHNELL, input={"prompt": "x", "num_outputs": 3})
                assert [type(item) for item in output] == [FileOutput] * 3
                assert not [path for path, _, _ in server.requests if "/files/" in path]
                assert output[0].read().startswith(b"RIFF")
            finally:
                uninstrument_replicate(client)
                client._client.close()
        assert names(events) == SEQUENCE
        assert events[1].images == 3  # type: ignore[attr-defined]


class TestSecrets:
    """The API token is never in an event or a log line."""

    def test_token(self, server: ImageServer) -> None:
        """Events of success and failure, and the logs: no token."""
        client = instrument_replicate(make_client(server), capture_prompts=True)
        try:
            with capture_logs() as logs, capture_events() as events:
                client.run(SCHNELL, input={"prompt": "x"})
                server.fail_next(401, "bad token")
                with pytest.raises(replicate.exceptions.ReplicateError):
                    client.run(SCHNELL, input={"prompt": "x"})
        finally:
            uninstrument_replicate(client)
        assert len(events) == 5
        text = json.dumps([to_dict(event) for event in events], default=str) + repr(logs)
        assert TOKEN not in text
        assert TOKEN[3:] not in text


class TestImports:
    """The SDK loads only when used; without it, the error names the extra."""

    def test_lazy_export(self) -> None:
        """The package's names are the module's."""
        assert instrument_replicate is replicate_instrumentation.instrument_replicate

    def test_light(self) -> None:
        """``import aievents.instrument`` (and its replicate module) leaves replicate unloaded."""
        code = (
            "import sys, aievents.instrument, aievents.instrument.replicate\n"
            "print(sorted(m for m in sys.modules if m.startswith('replicate')))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert result.stdout.strip() == "[]"

    def test_missing_extra(self) -> None:
        """Without replicate: an ImportError naming the extra."""
        code = (
            "import sys\n"
            "sys.modules['replicate'] = None\n"
            "from aievents.instrument import instrument_replicate\n"
            "try:\n    instrument_replicate()\n"
            "except ImportError as e:\n    print(e)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert "needs the 'replicate' extra: pip install" in result.stdout
        assert "[replicate]" in result.stdout


class TestPackageQuestion:
    """aievents.instrument.is_instrumented asks a replicate client of this instrumentation."""

    def test_client_and_module(self, server: ImageServer) -> None:
        """A replicate client, and the replicate module (process-wide)."""
        client = make_client(server)
        assert not package_is_instrumented(client)
        instrument_replicate(client)
        try:
            assert package_is_instrumented(client)
            assert not package_is_instrumented(replicate)
        finally:
            uninstrument_replicate(client)
        assert not package_is_instrumented(client)
