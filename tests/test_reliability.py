"""Reliability of `LiveServer` itself (issue 6): no leaks, no lost requests, bounded stops.

Every test here is marked `reliability` (select with ``-m reliability``) and runs in the
default run too, except the long load runs, also marked `slow` (CI runs them: ``-m slow``).
The plugin side (Ctrl-C, failing tests and fixtures) is in test_reliability_plugin.py.
Time bounds are loose on purpose: they prove "does not hang" and "does not wait for
uvicorn's fixed sleeps", never a few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json
import logging
import os
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import h11
import httpx
import pytest
from reliability_apps import App
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from pytest_liveasgi import LiveServer, LiveServerError, LiveServerWarning, StartupError

pytestmark = pytest.mark.reliability

# What `stop()` may take beyond the shutdown timeout: lifespan shutdown's own budget
# (0.5 s) and the thread join slack (1.0 s), documented in LiveServer.stop.
STOP_SLACK = 1.5


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_names() -> list[str]:
    return sorted(thread.name for thread in threading.enumerate())


_threads_at_start: set[threading.Thread] = set()


def liveasgi_threads() -> list[threading.Thread]:
    """Server threads this test started that are still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("liveasgi") and t not in _threads_at_start]


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.005)


def wait_for_call(server: LiveServer, request: str) -> None:
    """Wait until the app is serving `request` (e.g. "GET /slow")."""
    assert server._recorder is not None
    recorder = server._recorder
    wait_until(lambda: any(call.startswith(request) for call in recorder.running_calls()))


def timed_stop(server: LiveServer) -> tuple[float, list[warnings.WarningMessage]]:
    """Stop `server`; return how long it took and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        began = time.monotonic()
        server.stop()
        took = time.monotonic() - began
    return took, caught


def warning_texts(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(warning.message) for warning in caught if issubclass(warning.category, LiveServerWarning)]


@pytest.fixture(autouse=True)
def _no_asyncio_complaints(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail on "Task was destroyed but it is pending", "Task exception was never
    retrieved" and unclosed transports, however they surface (log or warning)."""
    _threads_at_start.clear()
    _threads_at_start.update(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    complaints = [r.getMessage() for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.WARNING]
    assert complaints == []
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# -- 1. leaks -------------------------------------------------------------------------


@pytest.mark.slow
def test_300_start_stop_cycles_leak_no_fd_and_no_thread() -> None:
    app = App()

    def cycle() -> None:
        with LiveServer(app) as server, server.client() as client:
            assert client.get("/").text == "hello from app"

    cycle()  # warm-up: imports, the shared client SSL context, logging handlers
    gc.collect()
    fds_before, threads_before = open_fds(), thread_names()
    began = time.monotonic()
    for _ in range(300):
        cycle()
    took = time.monotonic() - began
    gc.collect()
    assert (open_fds(), thread_names()) == (fds_before, threads_before)
    assert app.requests == 301
    print(f"300 cycles in {took:.2f} s; fds {fds_before} -> {open_fds()}; threads {threads_before}")


def test_cycles_with_faults_leak_nothing() -> None:
    """Cut-off requests, startup and shutdown failures release everything too."""
    app = App()
    failing = {
        "startup": App("startup", startup_failure="no database"),
        "shutdown": App("shutdown", shutdown_failure="no database"),
    }
    LiveServer(app).start().stop()
    gc.collect()
    fds_before, threads_before = open_fds(), thread_names()
    for _ in range(10):
        with pytest.raises(StartupError):
            LiveServer(failing["startup"]).start()
        server = LiveServer(failing["shutdown"]).start()
        with pytest.raises(LiveServerError):
            server.stop()
        server = LiveServer(app, shutdown_timeout=0.05).start()
        with socket.create_connection((server.host, server.port)) as half:
            half.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            wait_for_call(server, "POST /upload")
            with pytest.warns(LiveServerWarning):
                server.stop()
    gc.collect()
    assert (open_fds(), thread_names()) == (fds_before, threads_before)


# -- 2. load --------------------------------------------------------------------------


async def _post_echoes(host: str, port: int, numbers: range, keep_alive: bool) -> list[str]:
    """POST /echo/N for each N, on one keep-alive connection or a new connection each.

    A plain HTTP/1.1 client (h11 over asyncio streams): httpx's connection pool costs
    several ms of CPU per request at 50 connections, which would make this test slow while
    measuring httpx rather than the server.
    """
    answers: list[str] = []
    connection: h11.Connection | None = None
    for number in numbers:
        if connection is None:
            reader, writer = await asyncio.open_connection(host, port)
            connection = h11.Connection(h11.CLIENT)
        body = f"body {number}".encode()
        headers = [("host", host), ("content-length", str(len(body)))]
        if not keep_alive:
            headers.append(("connection", "close"))
        request = h11.Request(method="POST", target=f"/echo/{number}", headers=headers)
        writer.write(
            connection.send(request) + connection.send(h11.Data(data=body)) + connection.send(h11.EndOfMessage())
        )
        answer = b""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                assert event.status_code == 200
                if not keep_alive:
                    assert (b"connection", b"close") in event.headers
            elif isinstance(event, h11.Data):
                answer += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"request {number} got {event!r}")
        answers.append(answer.decode())
        if keep_alive:
            connection.start_next_cycle()
        else:
            assert await reader.read() == b""  # the server closed the connection
            writer.close()
            await writer.wait_closed()
            connection = None
    if connection is not None:
        writer.close()
        await writer.wait_closed()
    return answers


async def _many_requests(server: LiveServer, total: int, concurrency: int, keep_alive: bool) -> list[str]:
    """`total` requests from `concurrency` clients at once, answers in request order."""
    batches = await asyncio.gather(
        *(
            _post_echoes(server.host, server.port, range(first, total, concurrency), keep_alive)
            for first in range(concurrency)
        )
    )
    answers = [""] * total
    for first, batch in enumerate(batches):
        answers[first::concurrency] = batch
    return answers


@pytest.mark.slow
@pytest.mark.parametrize("keep_alive", [True, False], ids=["keep-alive", "connection-close"])
def test_2000_requests_at_50_concurrent_connections_are_all_answered(keep_alive: bool) -> None:
    app = App()
    with LiveServer(app) as server:
        began = time.monotonic()
        answers = asyncio.run(_many_requests(server, total=2000, concurrency=50, keep_alive=keep_alive))
        took = time.monotonic() - began
    assert answers == [f"{number}:body {number}" for number in range(2000)]
    assert app.requests == 2000
    if keep_alive:
        assert len(app.clients) == 50  # one connection per client, reused 40 times
    # (with Connection: close, _post_echoes saw the server close each connection; the
    # client ports are not a count of connections then: the OS reuses them)
    print(
        f"2000 requests ({'keep-alive' if keep_alive else 'Connection: close'}) in {took:.2f} s, "
        f"{len(app.clients)} client ports, peak {app.peak_in_flight} in flight"
    )


def test_httpx_async_client_with_a_connection_limit_gets_every_answer() -> None:
    app = App()

    async def fetch_all() -> list[str]:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        waiting_room = asyncio.Semaphore(50)  # httpx's pool is slow with hundreds queued

        async def fetch(client: httpx.AsyncClient, number: int) -> str:
            async with waiting_room:
                response = await client.post(f"/echo/{number}", content=f"body {number}".encode())
            return response.text

        async with server.async_client(limits=limits, timeout=30) as client:
            return await asyncio.gather(*(fetch(client, number) for number in range(100)))

    with LiveServer(app) as server:
        answers = asyncio.run(fetch_all())
    assert answers == [f"{number}:body {number}" for number in range(100)]
    assert app.requests == 100
    assert len(app.clients) <= 50


def test_20_servers_at_once_each_answer_for_their_own_app() -> None:
    apps = [App(f"app{number}") for number in range(20)]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(LiveServer(app)) for app in apps]
        assert len({server.port for server in servers}) == 20
        assert len(liveasgi_threads()) == 20
        answers: dict[int, list[str]] = {}

        def ask(number: int) -> None:
            with servers[number].client() as client:
                answers[number] = [client.get("/").text for _ in range(20)]

        askers = [threading.Thread(target=ask, args=(number,)) for number in range(20)]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(30)
    assert answers == {number: [f"hello from app{number}"] * 20 for number in range(20)}
    assert liveasgi_threads() == []


# -- 3. faults at stop ----------------------------------------------------------------


def _in_background(function: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            function()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_stop_cuts_off_a_request_that_never_finishes() -> None:
    server = LiveServer(App(), shutdown_timeout=0.5).start()
    client, errors = _in_background(lambda: httpx.get(server.url + "/slow", timeout=30))
    wait_for_call(server, "GET /slow")
    took, caught = timed_stop(server)
    assert took < 0.5 + STOP_SLACK
    assert liveasgi_threads() == []
    [text] = warning_texts(caught)
    assert "shutdown_timeout=0.5 s" in text
    assert "GET /slow (no response yet" in text
    client.join(5)
    assert [type(error) for error in errors] == [httpx.RemoteProtocolError]
    print(f"stop with a hanging request: {took:.3f} s (shutdown_timeout 0.5 s)")


async def _app_that_ignores_cancellation(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.get_running_loop().create_future()


def test_a_cut_off_call_left_pending_is_collected_without_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Its task outlives the loop; when the garbage collector closes its coroutines, no loop
    # runs: the recorder's bookkeeping once raised there, logged by uvicorn or, with the
    # coroutines closed in another order, an "exception ignored" that pytest turned into
    # an error of whichever later test was running.
    unraisable: list[Any] = []
    monkeypatch.setattr("sys.unraisablehook", unraisable.append)
    server = LiveServer(_app_that_ignores_cancellation, shutdown_timeout=0.1).start()
    with socket.create_connection((server.host, server.port)) as client:
        client.sendall(b"GET /stuck HTTP/1.1\r\nhost: test\r\n\r\n")
        wait_for_call(server, "GET /stuck")
        _, caught = timed_stop(server)
    assert "GET /stuck (no response yet" in warning_texts(caught)[0]
    del server
    gc.collect()
    assert [repr(hook.exc_value) for hook in unraisable] == []
    # What asyncio and uvicorn say of a task closed by the collector is expected, and only that.
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert sorted(record.getMessage().splitlines()[0] for record in errors) == [
        "Exception in ASGI application",
        "Task was destroyed but it is pending!",
    ]
    assert [type(record.exc_info[1]) for record in errors if record.exc_info] == [GeneratorExit]
    caplog.clear()


def test_stop_cuts_off_an_endless_streaming_response() -> None:
    server = LiveServer(App(), shutdown_timeout=0.5).start()
    received = []

    def stream() -> None:
        with server.client(timeout=30) as client, client.stream("GET", "/endless") as response:
            for chunk in response.iter_bytes():
                received.append(len(chunk))

    client, errors = _in_background(stream)
    wait_until(lambda: received)
    took, caught = timed_stop(server)
    assert took < 0.5 + STOP_SLACK
    assert liveasgi_threads() == []
    [text] = warning_texts(caught)
    assert "GET /endless (response streaming" in text
    client.join(5)
    assert [type(error) for error in errors] == [httpx.RemoteProtocolError]
    print(f"stop with an endless stream: {took:.3f} s (shutdown_timeout 0.5 s)")


def test_stop_closes_an_open_websocket_and_the_app_is_told() -> None:
    app = App()
    server = LiveServer(app, shutdown_timeout=5).start()
    with connect(server.ws_url + "/ws") as websocket:
        websocket.send("hi")
        assert websocket.recv(timeout=5) == "echo: hi"
        took, caught = timed_stop(server)
        with pytest.raises(ConnectionClosedError) as closed:
            websocket.recv(timeout=5)
    # The app waited in receive(), got the disconnect and returned: nothing was cut off.
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1012  # "service restart"
    assert app.websocket_disconnects == 1
    assert warning_texts(caught) == []
    assert took < 0.5
    assert liveasgi_threads() == []
    print(f"stop with an open WebSocket: {took:.3f} s (shutdown_timeout 5 s)")


def test_stop_cuts_off_a_websocket_whose_app_does_not_listen() -> None:
    server = LiveServer(App(), shutdown_timeout=0.5).start()
    with connect(server.ws_url + "/ws-deaf") as websocket:
        wait_for_call(server, "WebSocket /ws-deaf")
        took, caught = timed_stop(server)
        with pytest.raises(ConnectionClosedError):
            websocket.recv(timeout=5)
    assert took < 0.5 + STOP_SLACK
    assert liveasgi_threads() == []
    [text] = warning_texts(caught)
    assert "WebSocket /ws-deaf (open" in text
    print(f"stop with a deaf WebSocket: {took:.3f} s (shutdown_timeout 0.5 s)")


def test_stop_with_a_half_sent_request_head_does_not_wait() -> None:
    # The head never completed, so the app never saw the request: nothing to name.
    server = LiveServer(App(), shutdown_timeout=5).start()
    with socket.create_connection((server.host, server.port)) as half:
        half.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
        with server.client() as client:
            client.get("/")  # the half request has surely been read by now
        took, caught = timed_stop(server)
        half.settimeout(5)
        assert half.recv(1024) == b""  # closed, without a response
    assert took < 0.5
    assert warning_texts(caught) == []
    assert liveasgi_threads() == []
    print(f"stop with a half-sent request head: {took:.3f} s (shutdown_timeout 5 s)")


def test_stop_cuts_off_a_request_whose_body_never_arrives() -> None:
    server = LiveServer(App(), shutdown_timeout=0.5).start()
    with socket.create_connection((server.host, server.port)) as half:
        half.sendall(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nonly part")
        wait_for_call(server, "POST /upload")
        took, caught = timed_stop(server)
    assert took < 0.5 + STOP_SLACK
    [text] = warning_texts(caught)
    assert "POST /upload (no response yet" in text
    assert liveasgi_threads() == []


def test_an_idle_keep_alive_connection_does_not_slow_stop() -> None:
    server = LiveServer(App(), shutdown_timeout=5).start()
    with server.client() as client:
        assert client.get("/").status_code == 200  # the connection stays open, idle
        took, caught = timed_stop(server)
        with pytest.raises(httpx.TransportError):
            client.get("/")
    # uvicorn's own shutdown sleeps 0.1 s and polls every 0.1 s; an idle connection
    # could hold it until shutdown_timeout. Ours closes it at once.
    assert took < 0.5
    assert warning_texts(caught) == []
    assert liveasgi_threads() == []
    print(f"stop with an idle keep-alive connection: {took:.3f} s (shutdown_timeout 5 s)")


# -- 4. faults in the app -------------------------------------------------------------


def test_exceptions_from_concurrent_requests_are_each_recorded_once() -> None:
    server = LiveServer(App()).start()

    async def fail_many() -> list[int]:
        async with server.async_client() as client:
            responses = await asyncio.gather(*(client.get(f"/boom?n={number}") for number in range(50)))
        return [response.status_code for response in responses]

    assert asyncio.run(fail_many()) == [500] * 50
    server.settle()
    recorded = server.take_exceptions()
    assert sorted(str(exc) for exc in recorded) == sorted(
        f"GET /boom?n={number}: RuntimeError: boom {number} from app" for number in range(50)
    )
    assert all("reliability_apps.py" in exc.traceback for exc in recorded)
    with server.client() as client:
        client.get("/boom?n=last")
    server.settle()
    with pytest.raises(LiveServerError) as raised:
        server.stop()  # one nobody took: stop() reports it
    assert "RuntimeError: boom last from app" in str(raised.value)
    assert liveasgi_threads() == []


def test_lifespan_startup_failure_is_a_startup_error_with_the_message() -> None:
    began = time.monotonic()
    with pytest.raises(StartupError) as raised:
        LiveServer(App(startup_failure="database is not reachable")).start()
    assert time.monotonic() - began < 5
    assert "lifespan startup failed" in str(raised.value)
    assert "database is not reachable" in str(raised.value)
    assert liveasgi_threads() == []


def test_lifespan_shutdown_failure_makes_stop_raise_with_the_message() -> None:
    server = LiveServer(App(shutdown_failure="could not flush the queue")).start()
    with pytest.raises(LiveServerError) as raised:
        server.stop()
    assert "lifespan shutdown failed" in str(raised.value)
    assert "could not flush the queue" in str(raised.value)
    assert liveasgi_threads() == []


def test_lifespan_shutdown_that_hangs_is_bounded() -> None:
    server = LiveServer(App(shutdown_hangs=True), shutdown_timeout=0.5).start()
    began = time.monotonic()
    with pytest.raises(LiveServerError, match="lifespan shutdown did not finish"):
        server.stop()
    assert time.monotonic() - began < 0.5 + STOP_SLACK
    assert liveasgi_threads() == []


def test_an_app_that_blocks_its_event_loop_is_reported_and_cleaned_up_later() -> None:
    fds_before = open_fds()
    server = LiveServer(App(), shutdown_timeout=0.3).start()
    client, errors = _in_background(lambda: httpx.get(server.url + "/block?seconds=3", timeout=30))
    wait_for_call(server, "GET /block")
    began = time.monotonic()
    server.settle(timeout=0.2)  # the blocked loop cannot answer: give up on time
    assert time.monotonic() - began < 0.2 + 0.8
    began = time.monotonic()
    with pytest.raises(LiveServerError, match="blocks its event loop") as raised:
        server.stop()
    took = time.monotonic() - began
    assert took < 0.3 + STOP_SLACK + 0.5
    assert "the thread is left behind" in str(raised.value)
    # Once the blocking call returns, the abandoned thread shuts down on its own and
    # closes everything (the autouse fixture checks for unclosed transports).
    [left_behind] = liveasgi_threads()
    left_behind.join(10)
    assert not left_behind.is_alive()
    client.join(10)
    assert errors == []
    gc.collect()
    assert open_fds() == fds_before
    print(f"stop with a blocked event loop: {took:.3f} s (shutdown_timeout 0.3 s)")


# -- 6. security ----------------------------------------------------------------------


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_binds_loopback_by_default() -> None:
    assert inspect.signature(LiveServer).parameters["host"].default == "127.0.0.1"
    with LiveServer(App()) as server, server.client() as client:
        assert server.host == "127.0.0.1"
        assert server.url.startswith("http://127.0.0.1:")
        where = json.loads(client.get("/where").text)
        assert where["server"] == ["127.0.0.1", server.port]
        other = _non_loopback_address()
        if other is not None:
            with pytest.raises(OSError):
                socket.create_connection((other, server.port), timeout=2).close()


def test_all_interfaces_only_with_an_explicit_host() -> None:
    assert "0.0.0.0" in (LiveServer.__doc__ or "")  # documented where users look
    other = _non_loopback_address()
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with LiveServer(App(), host="0.0.0.0") as server:
        assert server.url.startswith("http://127.0.0.1:")
        response = httpx.get(f"http://{other}:{server.port}/where", trust_env=False)
        assert json.loads(response.text)["server"] == [other, server.port]


@pytest.fixture
def private_tempdir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A temporary directory of this test's own, so other runs' files do not count."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return str(tmp_path)


def test_tls_key_material_is_private_and_removed_at_stop(private_tempdir: str) -> None:
    with LiveServer(App(), https=True) as server, server.client() as client:
        assert server.url.startswith("https://")
        assert client.get("/").text == "hello from app"
        assert server.ca_path is not None
        directory = os.path.dirname(server.ca_path)
        assert os.path.dirname(directory) == private_tempdir
        assert os.stat(directory).st_mode & 0o777 == 0o700  # only the test's user can read the key
        assert sorted(os.listdir(directory)) == ["ca.pem", "server-chain.pem", "server-key.pem"]
    assert not os.path.exists(directory)


def test_tls_key_material_is_removed_when_startup_fails(private_tempdir: str) -> None:
    with pytest.raises(StartupError):
        LiveServer(App(startup_failure="no database"), https=True).start()
    assert os.listdir(private_tempdir) == []
