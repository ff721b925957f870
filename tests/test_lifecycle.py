"""The `LiveServer` lifecycle (issue 11): one state machine, one release path, stated budgets.

Each test reproduces a defect from the review (../shared/repro/core-review/rNN) that the
lifecycle redesign closed. Time bounds are generous: they prove "does not hang" and "does
not wait for a timeout it should not", never a few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from conftest import dedent

from pytest_liveasgi import LiveServer, LiveServerError, LiveServerWarning, StartupError, _uvicorn_compat
from pytest_liveasgi._server import State, stop_forgotten_servers
from pytest_liveasgi._server_thread import LIFESPAN_SHUTDOWN_MINIMUM, STARTUP_SLACK, STOP_SLACK, ServerThread

# Subprocess runs: these check threads, signals and logging of a whole process (tests/conftest.py).
pytestmark = pytest.mark.subprocess

# On top of each stated budget: a busy 2-core machine.
MARGIN = 1.5


def liveasgi_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("liveasgi")]


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def join_left_behind(timeout: float = 15.0) -> None:
    """Wait for server threads a test left behind on purpose (a blocked loop)."""
    for thread in liveasgi_threads():
        thread.join(timeout)
    assert liveasgi_threads() == []


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def lifespan_app(*, startup_delay: float = 0.0, startup_blocks: float = 0.0, shutdown_delay: float = 0.0) -> Any:
    events: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await asyncio.sleep(startup_delay)
            time.sleep(startup_blocks)  # the bug under test: a blocking call in startup
            await send({"type": "lifespan.startup.complete"})
            events.append("startup")
            await receive()
            await asyncio.sleep(shutdown_delay)
            events.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
        await ok_app(scope, receive, send)

    app.events = events  # type: ignore[attr-defined]
    return app


def send_sigint_after(seconds: float) -> threading.Timer:
    """Ctrl-C, as the terminal sends it, to this process's main thread."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


# -- the state machine ------------------------------------------------------------------


def test_states_from_new_to_stopped() -> None:
    server = LiveServer(ok_app)
    assert server.state is State.NEW
    server.start()
    assert server.state is State.RUNNING
    server.stop()
    assert server.state is State.STOPPED
    server.stop()  # again: nothing to do
    with pytest.raises(LiveServerError, match="was already started"):
        server.start()


def test_a_failed_start_ends_in_failed_and_stop_does_nothing() -> None:
    server = LiveServer(lifespan_app(startup_delay=3600), startup_timeout=0.2)
    with pytest.raises(StartupError):
        server.start()
    assert server.state is State.FAILED
    server.stop()
    assert liveasgi_threads() == []


def test_str_of_a_server_that_is_not_running_raises() -> None:
    """Issue 13: f"{server}/x" must not silently build a wrong URL from the repr."""
    server = LiveServer(ok_app, lifespan="off")
    with pytest.raises(LiveServerError, match="is not running"):
        str(server)
    with server:
        assert f"{server}/x" == server.url + "/x"
    with pytest.raises(LiveServerError, match="is not running"):
        _ = f"{server}/x"
    assert "stopped" in repr(server)


def test_description_names_the_app_in_messages() -> None:
    """BRIEF decision 2: the plugin passes where the app came from."""
    server = LiveServer(lifespan_app(startup_delay=3600), startup_timeout=0.2, description="'apps:app' from --asgi-app")
    assert server.app_description == "'apps:app' from --asgi-app"
    with pytest.raises(StartupError, match=r"the server for 'apps:app' from --asgi-app failed to start"):
        server.start()


@pytest.mark.usefixtures("ctrl_c")
def test_interrupt_during_start_releases_everything() -> None:
    """r05: Ctrl-C while start() waits for a slow lifespan startup left the server serving
    in state "starting", and stop() did nothing."""
    server = LiveServer(lifespan_app(startup_delay=3))
    timer = send_sigint_after(0.3)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        server.start()
    timer.join()
    assert time.monotonic() - began < 0.3 + STARTUP_SLACK + MARGIN
    assert server.state is State.FAILED
    assert liveasgi_threads() == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    assert [h for h in logging.getLogger("uvicorn.error").handlers if "ThreadLogCollector" in type(h).__name__] == []
    server.stop()  # nothing left to do


@pytest.mark.usefixtures("ctrl_c")
def test_interrupt_during_stop_then_stop_again_finishes(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """r05b: Ctrl-C while stop() waits for an open stream left state "stopping", the TLS
    folder and the log handler behind, and a second stop() did nothing."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    server = LiveServer("sample_apps:app", https=True, shutdown_timeout=2, raise_server_exceptions=False).start()
    assert server.ca_path is not None
    context = server._client_options({})["verify"]

    def read_forever() -> None:
        with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", server.url + "/endless", verify=context) as r:
            for _ in r.iter_bytes():
                pass

    reader = threading.Thread(target=read_forever, daemon=True)
    reader.start()
    wait_until(server.running_requests)
    timer = send_sigint_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        server.stop()
    timer.join()
    assert server.state is State.STOPPING
    # What can be released at once already is: the key material and the log handler.
    assert os.listdir(tmp_path) == []
    assert [h for h in logging.getLogger("uvicorn.error").handlers if "ThreadLogCollector" in type(h).__name__] == []
    with pytest.warns(LiveServerWarning, match="GET /endless"):
        server.stop()
    assert server.state is State.STOPPED
    assert liveasgi_threads() == []
    reader.join(5)


@pytest.mark.parametrize("point", ["bind", "launch", "join"])
def test_an_interrupt_at_any_point_of_start_leaves_nothing(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    """A KeyboardInterrupt raised from inside start() (simulated at each of its waits)."""
    server = LiveServer(lifespan_app(startup_delay=0.5))
    if point == "bind":
        monkeypatch.setattr(LiveServer, "_bind", _raises_keyboard_interrupt)
    elif point == "launch":
        original_launch = ServerThread.launch

        def launch_then_interrupt(self: Any) -> None:
            original_launch(self)
            raise KeyboardInterrupt

        monkeypatch.setattr(ServerThread, "launch", launch_then_interrupt)
    else:
        # The interrupt lands while the failed start waits for the thread: a second
        # Ctrl-C. stop() then finishes the release.
        original_launch = ServerThread.launch

        def launch_then_interrupt(self: Any) -> None:
            original_launch(self)
            raise KeyboardInterrupt

        monkeypatch.setattr(ServerThread, "launch", launch_then_interrupt)
        monkeypatch.setattr(ServerThread, "join", _raises_keyboard_interrupt)
    with pytest.raises(KeyboardInterrupt):
        server.start()
    monkeypatch.undo()
    if point == "join":
        assert server.state is State.STOPPING
        server.stop()
    assert server.state is State.FAILED
    assert liveasgi_threads() == []


def _raises_keyboard_interrupt(*args: object) -> Any:
    raise KeyboardInterrupt


def test_concurrent_stops_run_the_shutdown_once_and_all_wait_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """r07: two threads calling stop() at once both ran the shutdown path, or the second
    returned while the server was still stopping."""
    app = lifespan_app(shutdown_delay=0.3)
    server = LiveServer(app).start()
    requests = []
    original = ServerThread.request_stop

    def counting_request_stop(self: Any, abandon_startup: bool = False) -> None:
        requests.append(threading.current_thread().name)
        original(self, abandon_startup)

    monkeypatch.setattr(ServerThread, "request_stop", counting_request_stop)
    barrier = threading.Barrier(3)
    seen: list[tuple[list[str], bool]] = []

    def stopper() -> None:
        barrier.wait()
        server.stop()
        seen.append((list(app.events), bool(liveasgi_threads())))

    threads = [threading.Thread(target=stopper) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(requests) == 1
    # Every caller returned only once the server had stopped (lifespan shutdown done).
    assert seen == [(["startup", "shutdown"], False)] * 3
    assert server.state is State.STOPPED


def test_stop_from_another_thread_and_rebinding_the_port() -> None:
    """r17 (a control that must stay true)."""
    server = LiveServer(ok_app, lifespan="off").start()
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(10)
    assert server.state is State.STOPPED
    with LiveServer(ok_app, lifespan="off", port=server.port) as again, again.client() as client:
        assert client.get("/").text == "ok"


# -- budgets ----------------------------------------------------------------------------


def test_stop_keeps_its_budget_and_blames_the_app_only_when_the_thread_is_blocked() -> None:
    """r15: stop() joined for less than the thread's own worst case and then blamed the app
    ("blocks its event loop") for a thread that ended a moment later."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await asyncio.sleep(3600)  # lifespan shutdown hangs
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            try:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass  # swallows cancellation (misbehaving, but never blocks the loop)
            except Exception:
                await asyncio.sleep(0.05)

    server = LiveServer(app, shutdown_timeout=0.5).start()
    client = socket.create_connection(("127.0.0.1", server.port))
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(server.running_requests)
    began = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cut-off warning
        with pytest.raises(LiveServerError) as raised:
            server.stop()
    took = time.monotonic() - began
    client.close()
    assert took < 0.5 + LIFESPAN_SHUTDOWN_MINIMUM + STOP_SLACK + MARGIN
    assert "lifespan shutdown did not finish" in str(raised.value)
    assert "blocks its event loop" not in str(raised.value)
    assert liveasgi_threads() == []


def test_start_keeps_its_budget_when_lifespan_startup_blocks_the_loop() -> None:
    """r19: a startup that blocks the loop raised after startup + shutdown timeout + 1.5 s."""
    began = time.monotonic()
    with pytest.raises(StartupError) as raised:
        LiveServer(lifespan_app(startup_blocks=4), startup_timeout=0.5, shutdown_timeout=5).start()
    took = time.monotonic() - began
    assert took < 0.5 + STARTUP_SLACK + MARGIN
    assert "did not start within startup_timeout=0.5 s" in str(raised.value)
    assert "blocks the server's event loop" in str(raised.value)
    join_left_behind()


def test_a_slow_startup_that_times_out_is_not_blamed_on_a_blocked_loop() -> None:
    with pytest.raises(StartupError) as raised:
        LiveServer(lifespan_app(startup_delay=3600), startup_timeout=0.2).start()
    assert "blocks" not in str(raised.value)
    assert liveasgi_threads() == []


# -- the loop option --------------------------------------------------------------------


@pytest.fixture
def fresh_loop_factories(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_uvicorn_compat, "_loop_factories", {})


@pytest.mark.usefixtures("fresh_loop_factories")
def test_a_bad_loop_import_string_is_reported_at_once() -> None:
    """r01: the server thread died outside its try/finally: a generic timeout after
    startup_timeout instead of the real error."""
    began = time.monotonic()
    with pytest.raises(StartupError) as raised:
        LiveServer(ok_app, loop="nosuchmodule:factory", startup_timeout=5).start()
    assert time.monotonic() - began < 2
    assert "loop='nosuchmodule:factory'" in str(raised.value)
    assert "nosuchmodule" in str(raised.value).split("loop=", 1)[1].split(":", 1)[1]
    assert "did not start within" not in str(raised.value)
    assert liveasgi_threads() == []


@pytest.mark.usefixtures("fresh_loop_factories")
def test_uvloop_not_installed_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """r01b: loop="uvloop" without uvloop waited the whole default startup timeout (10 s)."""
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "uvicorn.loops.uvloop", raising=False)
    began = time.monotonic()
    with pytest.raises(StartupError) as raised:
        LiveServer(ok_app, loop="uvloop").start()
    assert time.monotonic() - began < 2
    assert "cannot make the event loop loop='uvloop'" in str(raised.value)
    assert "uvloop" in str(raised.value).split("ok_app: ", 1)[1]
    assert liveasgi_threads() == []


# -- the loop dies while running ----------------------------------------------------------


async def exits_from_a_task(scope: dict[str, Any], receive: Any, send: Any) -> None:
    async def worker() -> None:
        sys.exit(3)  # e.g. a helper that "exits" on a fatal condition

    if scope["type"] != "http":
        return
    asyncio.get_running_loop().create_task(worker())
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_loop_that_dies_while_running_is_a_clear_error_at_stop(caplog: pytest.LogCaptureFixture) -> None:
    """r09: settle() and stop() raised RuntimeError('Event loop is closed')."""
    server = LiveServer(exits_from_a_task, lifespan="off").start()
    with server.client() as client:
        assert client.get("/").status_code == 200
    wait_until(lambda: not liveasgi_threads())
    server.settle()  # returns at once
    with pytest.raises(LiveServerError) as raised:
        server.stop()
    assert "the server's event loop ended while it was running: SystemExit: 3" in str(raised.value)
    assert server.state is State.STOPPED
    assert logging.getLogger("uvicorn.error").handlers == []


def test_a_loop_that_dies_is_a_test_error_not_an_internal_error(pytester: pytest.Pytester) -> None:
    """r09_pytest: the same through the plugin ended the run in INTERNALERROR."""
    pytester.makepyfile(
        dedent(
            """
            import asyncio, sys
            import pytest

            async def worker():
                sys.exit(3)

            async def app(scope, receive, send):
                if scope["type"] != "http":
                    return
                asyncio.get_running_loop().create_task(worker())
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"ok"})

            @pytest.mark.asgi_app.with_args(app, lifespan="off")
            def test_one(live_server):
                import httpx
                assert httpx.get(live_server.url).status_code == 200

            def test_two(caplog):
                import gc
                gc.collect()  # the dead task's finalizer runs now if it has not yet
                assert "never retrieved" not in caplog.text
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*the server's event loop ended while it was running: SystemExit: 3*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*Event loop is closed*")
    # The task's own finalizer logged its traceback at some later garbage collection;
    # inside another parse that ended the run in "SystemError: AST constructor recursion
    # depth mismatch" (CPython 3.11), so the error says it once and nothing logs it.
    result.stdout.no_fnmatch_line("*Task exception was never retrieved*")
    result.stdout.no_fnmatch_line("*SystemError*")


# -- dropped servers ------------------------------------------------------------------------


def test_a_dropped_running_server_is_stopped_with_a_warning_naming_it() -> None:
    """r06: started servers dropped without stop() leaked their threads and sockets silently."""
    app = lifespan_app(shutdown_delay=0.5)
    uvicorn_error = logging.getLogger("uvicorn.error")
    handlers_before = list(uvicorn_error.handlers)
    with pytest.warns(ResourceWarning, match="the LiveServer for the forgotten app was still running"):
        LiveServer(app, description="the forgotten app").start()  # and dropped at once
    # The finalizer runs wherever the garbage collector does (here, at once): it asks the
    # server to stop and does not wait for the lifespan shutdown; the thread ends alone.
    assert app.events == ["startup"]
    wait_until(lambda: liveasgi_threads() == [])
    assert app.events == ["startup", "shutdown"]
    assert uvicorn_error.handlers == handlers_before  # the thread released its log collector


@pytest.mark.parametrize("dropped", [False, True], ids=["kept", "dropped"])
def test_a_script_that_exits_with_servers_running_gives_them_their_shutdown(tmp_path: Any, dropped: bool) -> None:
    """A script (no pytest) that never stops its server: the lifespan shutdown still runs
    before the process exits, whether the server object is still referenced or not."""
    script = tmp_path / "script.py"
    script.write_text(
        dedent(
            f"""
            import asyncio, gc
            from pytest_liveasgi import LiveServer

            async def app(scope, receive, send):
                await receive()
                await send({{"type": "lifespan.startup.complete"}})
                await receive()
                await asyncio.sleep(0.3)
                print("lifespan shutdown ran", flush=True)
                await send({{"type": "lifespan.shutdown.complete"}})

            server = LiveServer(app).start()
            if {dropped}:
                del server
                gc.collect()
            """
        )
    )
    done = subprocess.run([sys.executable, "-W", "ignore", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "lifespan shutdown ran\n"


def test_stop_forgotten_servers_stops_what_is_still_running() -> None:
    """BRIEF decision 3: the plugin's session-end safety net."""
    kept = LiveServer(ok_app, description="kept but never stopped").start()
    done = LiveServer(ok_app, description="stopped properly").start()
    done.stop()
    assert stop_forgotten_servers() == ["kept but never stopped"]
    assert kept.state is State.STOPPED
    assert liveasgi_threads() == []
    assert stop_forgotten_servers() == []


# -- what stop() touches --------------------------------------------------------------------


class PoolApp:
    """A hand-written ASGI app that owns a thread pool (and calls it `executor`)."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(2)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await asyncio.get_running_loop().run_in_executor(self.executor, lambda: b"hello")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def a2wsgi_app() -> Any:
    a2wsgi = pytest.importorskip("a2wsgi")
    flask = pytest.importorskip("flask")
    flask_app = flask.Flask(__name__)
    flask_app.get("/")(lambda: "hello")
    return a2wsgi.WSGIMiddleware(flask_app)


@pytest.mark.parametrize("make_app", [PoolApp, a2wsgi_app], ids=["own-executor", "a2wsgi"])
def test_stop_leaves_the_apps_own_thread_pool_alone(make_app: Any) -> None:
    """r04: stop() shut down any `.executor` found on the app, so every later server for
    the same app answered 500."""
    app = make_app()
    for _ in range(2):
        with LiveServer(app, raise_server_exceptions=True) as server, server.client() as client:
            assert client.get("/").text == "hello"
    app.executor.shutdown()


def test_the_shared_a2wsgi_app_works_across_tests(pytester: pytest.Pytester) -> None:
    """r04_pytest: the a2wsgi recipe (one module-level app) through the plugin."""
    pytest.importorskip("a2wsgi")
    pytest.importorskip("flask")
    pytester.makepyfile(
        flaskapp=dedent(
            """
            from a2wsgi import WSGIMiddleware
            from flask import Flask
            flask_app = Flask(__name__)
            @flask_app.get("/")
            def index():
                return "hello"
            app = WSGIMiddleware(flask_app)
            """
        ),
        test_two=dedent(
            """
            def test_first(live_server):
                assert live_server.client().get("/").text == "hello"

            def test_second(live_server):
                assert live_server.client().get("/").text == "hello"
            """
        ),
    )
    pytester.makeini("[pytest]\nasgi_app = flaskapp:app\npythonpath = .\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


# -- idle TLS connections -------------------------------------------------------------------


def http_implementations() -> list[str]:
    found = ["h11"]
    with contextlib.suppress(ImportError):
        import httptools  # noqa: F401

        found.append("httptools")
    return found


def event_loops() -> list[str]:
    found = ["asyncio"]
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

        found.append("uvloop")
    return found


@pytest.mark.parametrize("loop", event_loops())
@pytest.mark.parametrize("http", http_implementations())
def test_an_idle_tls_keep_alive_connection_does_not_slow_stop(http: str, loop: str) -> None:
    """Item 5: an idle keep-alive TLS connection (a browser page, an unclosed client) held
    every stop() to the full shutdown_timeout, with a warning."""
    server = LiveServer(ok_app, https=True, lifespan="off", http=http, loop=loop, shutdown_timeout=5).start()
    client = server.client()
    assert client.get("/").text == "ok"  # the connection stays open, idle
    began = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        server.stop()
    took = time.monotonic() - began
    client.close()
    assert took < 1.0
    assert liveasgi_threads() == []


@pytest.mark.parametrize("loop", event_loops())
def test_a_tls_response_finishing_during_stop_is_delivered_whole(loop: str) -> None:
    """Aborting closed TLS connections must not cut off the last bytes of a response."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(0.3)
        body = b"y" * 2_000_000
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2000000")]})
        await send({"type": "http.response.body", "body": body})

    server = LiveServer(app, https=True, lifespan="off", loop=loop, shutdown_timeout=5).start()
    results: list[int] = []

    def fetch() -> None:
        with server.client(timeout=10) as client:
            results.append(len(client.get("/").content))

    fetcher = threading.Thread(target=fetch)
    fetcher.start()
    wait_until(server.running_requests)
    server.stop()
    fetcher.join(10)
    assert results == [2_000_000]


# -- exceptions after stop --------------------------------------------------------------------


async def raises_while_drained(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await asyncio.sleep(0.3)
    raise RuntimeError("raised while the server drained this request")


def start_a_request(server: LiveServer) -> threading.Thread:
    def fetch() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(server.url + "/slow", timeout=5)

    fetcher = threading.Thread(target=fetch, daemon=True)
    fetcher.start()
    wait_until(server.running_requests)
    return fetcher


def test_exceptions_raised_while_stopping_are_taken_after_stop() -> None:
    """r16 / BRIEF decision 4: take_exceptions() after stop() returns what drained requests raised."""
    server = LiveServer(raises_while_drained, lifespan="off", raise_server_exceptions=False).start()
    fetcher = start_a_request(server)
    assert server.take_exceptions() == []
    server.stop()
    [recorded] = server.take_exceptions()
    assert recorded.request == "GET /slow"
    assert "raised while the server drained this request" in str(recorded.exception)
    fetcher.join(5)


def test_exceptions_raised_while_stopping_make_stop_raise() -> None:
    server = LiveServer(raises_while_drained, lifespan="off").start()
    fetcher = start_a_request(server)
    with pytest.raises(LiveServerError, match="raised while the server drained this request") as raised:
        server.stop()
    assert [str(e) for e in raised.value.server_exceptions] == [  # type: ignore[attr-defined]
        "GET /slow: RuntimeError: raised while the server drained this request"
    ]
    fetcher.join(5)


def test_a_request_still_running_at_teardown_fails_that_test(pytester: pytest.Pytester) -> None:
    """r16_late_exception: through the plugin, the exception was lost (10 of 10 runs)."""
    pytester.makepyfile(
        dedent(
            """
            import asyncio, threading, time
            import httpx, pytest

            async def app(scope, receive, send):
                if scope["type"] != "http":
                    return
                await asyncio.sleep(0.3)
                raise RuntimeError("raised while the server drained this request")

            @pytest.mark.asgi_app.with_args(app, lifespan="off")
            def test_fire_and_forget(live_server):
                def fire():
                    try:
                        httpx.get(live_server.url + "/slow", timeout=5)
                    except httpx.HTTPError:
                        pass
                threading.Thread(target=fire, daemon=True).start()
                while not live_server.running_requests():
                    time.sleep(0.01)
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: raised while the server drained this request*"])


# -- lifespan causes ------------------------------------------------------------------------


STARLETTE_LIFESPAN_APP = """
import contextlib
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

@contextlib.asynccontextmanager
async def lifespan(app):
    {startup}
    yield
    {shutdown}

async def connect_to_database():
    raise ConnectionError("cannot reach the database")

async def close_the_pool():
    raise RuntimeError("could not close the pool")

app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hi"))], lifespan=lifespan)
"""


def load_source(source: str, name: str) -> Any:
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(source, f"{name}.py", "exec"), namespace)
    return namespace["app"]


@pytest.fixture
def uvicorn_error_disabled() -> Iterator[None]:
    """What a conftest's logging.config.dictConfig(...) does to the existing loggers."""
    logger = logging.getLogger("uvicorn.error")
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = False


@pytest.mark.parametrize("logging_disabled", [False, True], ids=["logging-default", "uvicorn-error-disabled"])
def test_lifespan_startup_cause_is_shown_once_whatever_the_logging(
    logging_disabled: bool, request: pytest.FixtureRequest
) -> None:
    """Item 4 (real-suites/dictconfig-hides-startup-cause): with uvicorn.error disabled the
    error said only "lifespan startup failed"; the cause must not depend on logging."""
    if logging_disabled:
        request.getfixturevalue("uvicorn_error_disabled")
    app = load_source(STARLETTE_LIFESPAN_APP.format(startup="await connect_to_database()", shutdown=""), "dbapp")
    with pytest.raises(StartupError) as raised:
        LiveServer(app).start()
    message = str(raised.value)
    assert "lifespan startup failed" in message
    assert "ConnectionError: cannot reach the database" in message
    assert "in connect_to_database" in message  # the app's own frame
    assert message.count("Traceback (most recent call last)") == 1
    assert message.count("cannot reach the database") == 1


def test_lifespan_shutdown_cause_is_shown_whatever_the_logging(uvicorn_error_disabled: None) -> None:
    app = load_source(STARLETTE_LIFESPAN_APP.format(startup="", shutdown="await close_the_pool()"), "poolapp")
    server = LiveServer(app).start()
    with pytest.raises(LiveServerError) as raised:
        server.stop()
    message = str(raised.value)
    assert "lifespan shutdown failed" in message
    assert "RuntimeError: could not close the pool" in message
    assert "in close_the_pool" in message


def test_a_lifespan_failure_message_without_exception_is_the_cause(uvicorn_error_disabled: None) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database is not reachable"})

    with pytest.raises(StartupError, match="lifespan startup failed:\n    database is not reachable"):
        LiveServer(app).start()


def test_lifespan_startup_cause_through_the_plugin_with_dictconfig(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        app=STARLETTE_LIFESPAN_APP.format(startup="await connect_to_database()", shutdown=""),
        conftest=dedent(
            """
            import logging.config
            logging.config.dictConfig({
                "version": 1,
                "handlers": {"console": {"class": "logging.StreamHandler"}},
                "root": {"handlers": ["console"], "level": "INFO"},
            })
            """
        ),
        test_home="def test_home(live_server):\n    pass\n",
    )
    pytester.makeini("[pytest]\nasgi_app = app:app\npythonpath = .\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lifespan startup failed*", "*ConnectionError: cannot reach the database*"])


# -- memory -----------------------------------------------------------------------------------


def closed_loops_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_closed())


@pytest.mark.parametrize("loop", event_loops())
def test_a_stopped_server_does_not_keep_its_event_loop_alive(loop: str) -> None:
    """Item 13 (fastapi-suite/memory_growth_per_server.py): anyio's per-loop state kept every
    closed loop of a server whose app ran a sync endpoint (~260 KB each under uvloop)."""
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI()
    app.get("/sync")(lambda: {"ok": True})
    before = closed_loops_alive()
    for _ in range(5):
        with LiveServer(app, lifespan="off", loop=loop) as server, server.client() as client:
            assert client.get("/sync").json() == {"ok": True}
    assert closed_loops_alive() == before
