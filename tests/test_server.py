"""`LiveServer` on its own, as a script would use it (no pytest fixtures)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import warnings
from typing import Any

import httpx
import pytest
import sample_apps

from pytest_liveasgi import LiveServer, LiveServerError, LiveServerWarning, OptionError, StartupError


def liveasgi_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("liveasgi")]


def test_serves_an_app_object_and_exposes_its_addresses() -> None:
    with LiveServer(sample_apps.app) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.ws_url == f"ws://127.0.0.1:{server.port}"
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert str(server) == server.url
        assert server + "/path" == server.url + "/path"
        assert server.app is sample_apps.app
        assert httpx.get(server.url + "/").text == "hello"


def test_serves_an_import_string_and_loads_the_app() -> None:
    with LiveServer("sample_apps:plain_app") as server:
        assert server.app is sample_apps.plain_app
        with server.client() as client:
            assert client.get("/").text == "plain"


def test_client_and_async_client_have_the_base_url() -> None:
    async def fetch(server: LiveServer) -> str:
        async with server.async_client() as client:
            return (await client.get("/")).text

    import asyncio

    with LiveServer(sample_apps.app) as server:
        with server.client() as client:
            assert str(client.base_url).rstrip("/") == server.url
            assert client.get("/").text == "hello"
        assert asyncio.run(fetch(server)) == "hello"


def test_lifespan_startup_and_shutdown_run() -> None:
    sample_apps.EVENTS.clear()
    with LiveServer(sample_apps.app):
        assert sample_apps.EVENTS == ["startup"]
    assert sample_apps.EVENTS == ["startup", "shutdown"]


def test_stop_ends_the_thread_and_closes_the_socket() -> None:
    server = LiveServer(sample_apps.app).start()
    port = server.port
    server.stop()
    assert liveasgi_threads() == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/")
    server.stop()  # a second stop does nothing


def test_uvicorn_options_pass_through() -> None:
    with LiveServer(sample_apps.app, root_path="/api", headers=[("x-served-by", "liveasgi")]) as server:
        response = httpx.get(server.url + "/scope")
    assert response.json()["root_path"] == "/api"
    assert response.headers["x-served-by"] == "liveasgi"


def test_factory_option_calls_the_factory() -> None:
    with LiveServer("sample_apps:create_app", factory=True) as server:
        assert server.app is sample_apps.app
        assert httpx.get(server.url).text == "hello"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lifspan": "off"}, "unknown server option 'lifspan' (did you mean 'lifespan'?)"),
        ({"workers": 2}, "option 'workers' is not supported"),
        ({"log_config": {}}, "never reconfigures the process's logging"),
        ({"startup_timeout": 0}, "startup_timeout must be a positive number of seconds, got 0"),
        ({"port": 70000}, "port must be an integer from 0 to 65535"),
    ],
)
def test_bad_options_are_rejected_by_name(options: dict[str, object], message: str) -> None:
    with pytest.raises(OptionError) as raised:
        LiveServer(sample_apps.app, **options)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_urls_need_a_running_server() -> None:
    with pytest.raises(LiveServerError, match="is not running"):
        _ = LiveServer(sample_apps.app).url


def test_ipv6_url_has_brackets() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = LiveServer(sample_apps.app, host="::1").start()
    except StartupError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    try:
        assert server.url == f"http://[::1]:{server.port}"
        assert httpx.get(server.url).text == "hello"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("no_such_module:app", "no module named 'no_such_module'"),
        ("sample_apps:missing", "'sample_apps' has no attribute 'missing'"),
        ("sample_apps", "is not an import string of the form 'package.module:attribute'"),
        ("sample_apps:EVENTS", "is not an ASGI application: it is a list, which is not callable"),
    ],
)
def test_load_failures_are_startup_errors(app: str, message: str) -> None:
    with pytest.raises(StartupError) as raised:
        LiveServer(app).start()
    assert message in str(raised.value)
    assert liveasgi_threads() == []


def lifespan_app(on_startup: str) -> object:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        assert scope["type"] == "lifespan"
        await receive()  # type: ignore[operator]
        if on_startup == "fail":
            await send({"type": "lifespan.startup.failed", "message": "database is not reachable"})  # type: ignore[operator]
        else:
            import asyncio

            await asyncio.sleep(3600)

    return app


def test_lifespan_startup_failure_shows_the_apps_message() -> None:
    with pytest.raises(StartupError) as raised:
        LiveServer(lifespan_app("fail")).start()
    assert "lifespan startup failed" in str(raised.value)
    assert "database is not reachable" in str(raised.value)
    assert liveasgi_threads() == []


def test_lifespan_startup_that_hangs_times_out() -> None:
    began = time.monotonic()
    with pytest.raises(StartupError, match=r"did not start within startup_timeout=0\.3 s"):
        LiveServer(lifespan_app("hang"), startup_timeout=0.3).start()
    assert time.monotonic() - began < 3
    assert liveasgi_threads() == []


def test_port_in_use_is_a_startup_error() -> None:
    with LiveServer(sample_apps.app) as first, pytest.raises(StartupError) as raised:
        LiveServer(sample_apps.app, port=first.port).start()
    assert f"cannot bind 127.0.0.1:{first.port}" in str(raised.value)
    assert "Address already in use" in str(raised.value)


def test_a_host_that_cannot_be_bound_is_a_startup_error() -> None:
    with pytest.raises(StartupError, match=r"cannot bind 203\.0\.113\.7:0"):
        LiveServer(sample_apps.app, host="203.0.113.7").start()


def test_stop_is_bounded_with_a_hanging_request() -> None:
    server = LiveServer(sample_apps.app, shutdown_timeout=0.3).start()

    def request_that_is_cut_off() -> None:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url + "/slow", timeout=30)

    hung = threading.Thread(target=request_that_is_cut_off, daemon=True)
    hung.start()
    deadline = time.monotonic() + 5
    while not server.running_requests():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    began = time.monotonic()
    with pytest.warns(LiveServerWarning, match=r"GET /slow \(no response yet"):
        server.stop()
    assert time.monotonic() - began < 0.3 + 1.5
    assert liveasgi_threads() == []
    hung.join(5)


def test_exceptions_nobody_took_make_stop_raise() -> None:
    server = LiveServer(sample_apps.app).start()
    assert httpx.get(server.url + "/boom").status_code == 500
    server.settle()
    with pytest.raises(LiveServerError) as raised:
        server.stop()
    assert "GET /boom" in str(raised.value)
    assert "RuntimeError: boom from the app" in str(raised.value)


def test_taken_exceptions_do_not_make_stop_raise() -> None:
    with LiveServer(sample_apps.app) as server:
        httpx.get(server.url + "/boom")
        server.settle()
        [recorded] = server.take_exceptions()
    assert recorded.request == "GET /boom"
    assert isinstance(recorded.exception, RuntimeError)


def test_logging_configuration_is_left_alone() -> None:
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    uvicorn_before = [
        (name, logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    ]
    own = logging.StreamHandler()
    root.addHandler(own)
    try:
        with LiveServer(sample_apps.app, access_log=False) as server:
            httpx.get(server.url)
        assert own in root.handlers
        assert not own.stream.closed
        assert [h for h in root.handlers if h is not own] == handlers_before
        assert uvicorn_before == [
            (name, logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        ]
    finally:
        root.removeHandler(own)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"startup_timeout": float("inf")}, "startup_timeout must be a positive number of seconds, got inf"),
        ({"https": "off"}, "https must be True or False, got 'off'"),
        ({"raise_server_exceptions": "no"}, "raise_server_exceptions must be True or False, got 'no'"),
        ({"log_level": "debug"}, "option 'log_level' is not supported: uvicorn would set the level"),
        ({"limit_max_requests": 3}, "option 'limit_max_requests' is not supported"),
    ],
)
def test_options_that_would_be_misread_are_rejected(options: dict[str, object], message: str) -> None:
    with pytest.raises(OptionError) as raised:
        LiveServer(sample_apps.app, **options)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_startup_that_completes_as_the_timeout_hits_is_stopped_cleanly() -> None:
    async def slow_notify() -> None:
        await asyncio.sleep(0.4)  # runs right after startup, before start() hears of it

    with pytest.raises(StartupError, match="did not start within"):
        LiveServer(sample_apps.app, startup_timeout=0.2, callback_notify=slow_notify).start()
    assert liveasgi_threads() == []


def test_a_cut_off_warning_turned_error_still_leaves_nothing_running() -> None:
    server = LiveServer(sample_apps.app, shutdown_timeout=0.2).start()
    client = socket.create_connection(("127.0.0.1", server.port))
    client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 5
    while not server.running_requests():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(LiveServerWarning, match="GET /slow"):
            server.stop()
    client.close()
    assert liveasgi_threads() == []


def test_system_exit_in_a_handler_is_recorded() -> None:
    async def bails_out(scope: dict[str, object], receive: object, send: object) -> None:
        raise SystemExit("handler bailed out")

    with LiveServer(bails_out, lifespan="off") as server:
        assert httpx.get(server.url).status_code == 500
        server.settle()
        [recorded] = server.take_exceptions()
    assert isinstance(recorded.exception, SystemExit)


def test_lifespan_shutdown_exception_is_reported() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        await receive()  # type: ignore[operator]
        await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
        await receive()  # type: ignore[operator]
        raise RuntimeError("could not close the pool")

    server = LiveServer(app, lifespan="on").start()
    with pytest.raises(LiveServerError, match="lifespan shutdown failed"):
        server.stop()


@pytest.mark.filterwarnings("ignore:Uvicorn's native WSGI implementation is deprecated:DeprecationWarning")
def test_stopped_wsgi_servers_leave_no_worker_threads() -> None:
    def wsgi_app(environ: dict[str, object], start_response: object) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])  # type: ignore[operator]
        return [b"wsgi"]

    before = set(threading.enumerate())
    for _ in range(5):
        with LiveServer(wsgi_app, interface="wsgi") as server:
            assert httpx.get(server.url).text == "wsgi"
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()


def test_exchanges_can_be_read_for_one_label() -> None:
    with LiveServer(sample_apps.plain_app) as server, server.client() as client:
        for label in ("first", None, "second", "first"):
            server.label_requests(label)
            client.get(f"/?label={label}")
        server.settle()
        assert [exchange.request for exchange in server.exchanges(label="first")] == [
            "GET /?label=first",
            "GET /?label=first",
        ]
        assert [exchange.label for exchange in server.exchanges()] == ["first", None, "second", "first"]
        assert server.exchanges(label="third") == []


def test_a_request_whose_response_was_sent_is_listed_as_such_while_the_app_runs_on() -> None:
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    release = threading.Event()

    async def answer_then_work(request: object) -> PlainTextResponse:
        return PlainTextResponse("queued", background=BackgroundTask(asyncio.to_thread, release.wait, 10))

    with LiveServer(Starlette(routes=[Route("/queue", answer_then_work)]), lifespan="off") as server:
        assert httpx.get(server.url + "/queue").text == "queued"
        assert [call.split(", running")[0] for call in server.running_requests()] == ["GET /queue (response sent"]
        release.set()


def test_a_websocket_session_the_client_closed_is_listed_as_closed_while_the_app_runs_on() -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect
    from websockets.sync.client import connect

    release = threading.Event()

    async def wait_for_the_close_then_work(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect):
            await websocket.receive_text()
        await asyncio.to_thread(release.wait, 10)

    with LiveServer(Starlette(routes=[WebSocketRoute("/ws", wait_for_the_close_then_work)]), lifespan="off") as server:
        with connect(server.ws_url + "/ws"):
            pass
        deadline = time.monotonic() + 5
        while not any("(closed" in call for call in server.running_requests()):
            assert time.monotonic() < deadline, server.running_requests()
            time.sleep(0.005)
        assert [call.split(", running")[0] for call in server.running_requests()] == ["WebSocket /ws (closed"]
        release.set()


def test_a_blocked_call_in_the_loops_thread_pool_does_not_hold_the_server_thread() -> None:
    release = threading.Event()

    async def wait_in_a_thread(scope: dict[str, object], receive: object, send: object) -> None:
        await asyncio.to_thread(release.wait, 30)

    server = LiveServer(wait_in_a_thread, lifespan="off", shutdown_timeout=0.3).start()
    client = socket.create_connection(("127.0.0.1", server.port))
    try:
        client.sendall(b"GET /blocked HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5
        while not server.running_requests():
            assert time.monotonic() < deadline
            time.sleep(0.005)
        with pytest.warns(LiveServerWarning) as warned:
            server.stop()  # asyncio's shutdown_default_executor() would wait for the call
        assert liveasgi_threads() == []
        message = str(warned[0].message)
        assert "GET /blocked (no response yet" in message
        assert "1 call in the event loop's thread pool (asyncio.to_thread, run_in_executor), left running" in message
    finally:
        release.set()
        client.close()


def test_the_threads_of_the_loops_thread_pool_end_with_the_server() -> None:
    async def call_in_a_thread(scope: dict[str, object], receive: object, send: Any) -> None:
        await asyncio.to_thread(time.sleep, 0)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    pool_threads_before = [thread for thread in threading.enumerate() if thread.name.startswith("asyncio_")]
    with LiveServer(call_in_a_thread, lifespan="off") as server:
        assert httpx.get(server.url).status_code == 204
    pool_threads = [thread for thread in threading.enumerate() if thread.name.startswith("asyncio_")]
    assert pool_threads == pool_threads_before
