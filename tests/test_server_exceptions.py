"""What counts as a server exception (SPEC §4), with real Starlette and FastAPI apps.

Recorded: every exception that escapes the app, also after the response was sent
(background tasks, dependency teardown, WebSocket cleanup), shown in full (exception
groups with every sub-exception). Not recorded: the disconnect exceptions themselves
and what the app raises once the client went away before the response was complete.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import anyio
import httpx
import pytest
from conftest import dedent
from fastapi import BackgroundTasks, Depends, FastAPI
from packaging.version import Version
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.sync.client import connect

from pytest_liveasgi import LiveServer, LiveServerError

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


def stop_error(server: LiveServer) -> str:
    """The text of the error `stop()` raises for exceptions nobody took."""
    with pytest.raises(LiveServerError) as raised:
        server.stop()
    return str(raised.value)


def fail_in_background() -> None:
    raise RuntimeError("bug in the background task")


async def chunks() -> Any:
    yield b"a"
    yield b"b"


# -- after a complete response: recorded ------------------------------------------------


async def stream_with_task(request: Request) -> Response:
    return StreamingResponse(chunks(), background=BackgroundTask(fail_in_background))


class AddHeader(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["x-test"] = "1"
        return response


@pytest.mark.parametrize("middleware", [[], [Middleware(AddHeader)]], ids=["plain", "BaseHTTPMiddleware"])
def test_background_task_failing_after_a_streamed_response_is_recorded(middleware: list[Middleware]) -> None:
    # StreamingResponse listens with receive() while it streams, and uvicorn answers
    # http.disconnect once the response is complete: that is no reason to ignore it.
    app = Starlette(routes=[Route("/stream", stream_with_task)], middleware=middleware)
    server = LiveServer(app, lifespan="off").start()
    with server.client() as client:
        assert client.get("/stream").text == "ab"
    server.settle()
    message = stop_error(server)
    assert "--- server-side traceback of GET /stream ---" in message
    assert 'raise RuntimeError("bug in the background task")' in message
    assert message.rstrip().endswith("RuntimeError: bug in the background task")
    [exchange] = server.exchanges()
    assert str(exchange).endswith("!! RuntimeError: bug in the background task")
    assert exchange.outcome == "200"


def make_fastapi_app() -> FastAPI:
    app = FastAPI()

    async def dependency() -> Any:
        yield
        raise RuntimeError("dependency teardown failed")

    if REQUEST_SCOPED_DEPENDENCIES:

        @app.get("/stream-then-dependency-teardown")
        def stream_then_dependency_teardown(_: None = Depends(dependency, scope="request")) -> StreamingResponse:
            return StreamingResponse(chunks())

    @app.get("/stream-then-background-task")
    def stream_then_background_task(tasks: BackgroundTasks) -> StreamingResponse:
        tasks.add_task(fail_in_background)
        return StreamingResponse(chunks())

    return app


# FastAPI >= 0.121: a dependency's teardown runs after the response (scope="request").
REQUEST_SCOPED_DEPENDENCIES = "scope" in inspect.signature(Depends).parameters


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(
            "/stream-then-dependency-teardown",
            "RuntimeError: dependency teardown failed",
            marks=pytest.mark.skipif(not REQUEST_SCOPED_DEPENDENCIES, reason="FastAPI without Depends(scope=)"),
        ),
        ("/stream-then-background-task", "RuntimeError: bug in the background task"),
    ],
)
def test_fastapi_failures_after_a_streamed_response_are_recorded(path: str, message: str) -> None:
    with LiveServer(make_fastapi_app(), lifespan="off") as server:
        with server.client() as client:
            assert client.get(path).text == "ab"
        server.settle()
        [recorded] = server.take_exceptions()
    assert str(recorded) == f"GET {path}: {message}"


def test_app_failing_after_receive_says_disconnect_after_its_response_is_recorded() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        message = await receive()  # uvicorn: http.disconnect at once (the response is complete)
        raise RuntimeError(f"fails after the response (receive() gave {message['type']})")

    server = LiveServer(app, lifespan="off").start()
    assert httpx.get(server.url).text == "ok"
    server.settle()
    assert "RuntimeError: fails after the response (receive() gave http.disconnect)" in stop_error(server)


async def echo_then_fail_in_cleanup(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        raise RuntimeError("bug in the cleanup after the session ended") from None


def test_websocket_cleanup_error_after_the_clients_close_is_recorded() -> None:
    server = LiveServer(Starlette(routes=[WebSocketRoute("/ws", echo_then_fail_in_cleanup)]), lifespan="off").start()
    with connect(server.ws_url + "/ws") as websocket:
        websocket.send("hi")
        assert websocket.recv() == "hi"
    # uvicorn's legacy websockets protocol (its default before the sans-I/O one; the
    # lowest tox env) gives the app the client's close code only if the close reaches
    # the app before the shutdown starts; after that it says 1012.
    deadline = time.monotonic() + 10
    while server.running_requests():
        assert time.monotonic() < deadline, "the app never saw the client's close"
        time.sleep(0.005)
    message = stop_error(server)
    assert "--- server-side traceback of WebSocket /ws ---" in message
    assert "RuntimeError: bug in the cleanup after the session ended" in message
    assert [str(exchange).split(" in ")[0] for exchange in server.exchanges()] == [
        "WebSocket /ws -> accepted, closed 1000"
    ]


# -- the client went away: not recorded ------------------------------------------------


def test_exception_raised_after_the_client_left_mid_stream_is_not_recorded() -> None:
    raised = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        message = await receive()  # the client's going away
        raised.set()
        raise RuntimeError(f"the client left: {message['type']}")

    with LiveServer(app, lifespan="off") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while b"first" not in received:
                received += client.recv(4096)
        assert raised.wait(5)
        server.settle()
        assert server.take_exceptions() == []
    [exchange] = server.exchanges()
    assert exchange.outcome == "200, the client went away before the end of the response"
    assert exchange.error is None


async def endless_with_failing_cleanup(request: Request) -> Response:
    async def body() -> Any:
        try:
            while True:
                yield b"x"
                await asyncio.sleep(0.01)
        finally:
            # cancelled because the client left; a cleanup that fails then
            raise RuntimeError("stream cleanup after the client left")

    return StreamingResponse(body())


@pytest.mark.skipif(
    Version(version("uvicorn")) < Version("0.32.1") and Version(version("starlette")) >= Version("0.42"),
    reason="Starlette 0.42+ notices a client that left a stream only by the error that ASGI spec 2.4 says "
    "send() raises; uvicorn before 0.32.1 announces spec 2.4 without raising it, so the stream never ends",
)
def test_starlette_stream_whose_cleanup_fails_when_the_client_leaves_is_not_recorded() -> None:
    app = Starlette(routes=[Route("/endless", endless_with_failing_cleanup)])
    with LiveServer(app, lifespan="off") as server:
        with httpx.stream("GET", server.url + "/endless") as response:
            next(response.iter_bytes())
        server.settle()
        with server.client() as client:  # one more round trip: the first one has ended by now
            client.get("/missing")
        server.settle()
        assert server.take_exceptions() == []
    assert [exchange.error for exchange in server.exchanges()] == [None, None]


def test_websocket_cleanup_error_after_the_client_vanished_is_recorded_too() -> None:
    # However the session ended (a close, or a client that just vanished), the
    # handler's cleanup is the app's own code.
    server = LiveServer(Starlette(routes=[WebSocketRoute("/ws", echo_then_fail_in_cleanup)]), lifespan="off").start()
    with connect(server.ws_url + "/ws") as websocket:
        websocket.send("hi")
        assert websocket.recv() == "hi"
        websocket.socket.close()  # no close handshake: the connection is just gone
    assert "RuntimeError: bug in the cleanup after the session ended" in stop_error(server)


def test_websocket_send_to_a_vanished_client_and_what_follows_is_not_recorded() -> None:
    failed = threading.Event()

    async def ticker(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        try:
            while True:
                await send({"type": "websocket.send", "text": "tick"})
                await asyncio.sleep(0.01)
        except OSError as exc:  # uvicorn's ClientDisconnected
            failed.set()
            raise RuntimeError("could not tell the client") from exc

    with LiveServer(ticker, lifespan="off") as server:
        with connect(server.ws_url + "/ws") as websocket:
            assert websocket.recv() == "tick"
            websocket.socket.close()
        assert failed.wait(5)
        server.settle()
        assert server.take_exceptions() == []


@pytest.mark.parametrize(
    ("exceptions", "recorded"),
    [
        ([ClientDisconnect()], False),
        ([ClientDisconnect(), WebSocketDisconnect(1001)], False),
        ([ClientDisconnect(), ValueError("a real failure beside it")], True),
    ],
    ids=["one-disconnect", "only-disconnects", "disconnect-and-failure"],
)
def test_exception_group_is_ignored_only_if_every_leaf_is_a_disconnect(
    exceptions: list[Exception], recorded: bool
) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        raise ExceptionGroup("outer", [ExceptionGroup("inner", exceptions)])

    with LiveServer(app, lifespan="off") as server:
        assert httpx.get(server.url).text == "ok"
        server.settle()
        taken = server.take_exceptions()
    assert bool(taken) is recorded
    if recorded:
        assert str(taken[0]).endswith("[ClientDisconnect; ValueError: a real failure beside it]")


async def sse_failing(request: Request) -> Response:
    async def events() -> Any:
        yield {"data": "one"}
        raise ValueError("bad event")

    return EventSourceResponse(events())


async def sse_endless(request: Request) -> Response:
    async def events() -> Any:
        while True:
            yield {"data": "tick"}
            await asyncio.sleep(0.01)

    return EventSourceResponse(events())


def test_server_sent_events_failure_is_recorded_and_a_client_leaving_is_not() -> None:
    # sse-starlette runs the stream, pings and the disconnect listener in a task group.
    app = Starlette(routes=[Route("/failing", sse_failing), Route("/endless", sse_endless)])
    with LiveServer(app, lifespan="off") as server:
        with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", server.url + "/failing") as response:
            for _ in response.iter_lines():
                pass
        with httpx.stream("GET", server.url + "/endless") as response:
            assert next(response.iter_lines()) == "data: tick"
        server.settle()
        [recorded] = server.take_exceptions()
        assert str(recorded) == "GET /failing: ValueError: bad event"
    assert [exchange.outcome for exchange in server.exchanges()] == [
        "200",
        "200, the client went away before the end of the response",
    ]


# -- exception groups in full -------------------------------------------------------------


async def load_user() -> None:
    raise KeyError("user 42 not found")


async def load_orders() -> None:
    await anyio.sleep(0)


async def dashboard(request: Request) -> Response:
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(load_user)
        tasks.start_soon(load_orders)
    return PlainTextResponse("ok")


def test_exception_group_shows_every_sub_exception_with_its_traceback() -> None:
    server = LiveServer(Starlette(routes=[Route("/dashboard", dashboard)]), lifespan="off").start()
    assert httpx.get(server.url + "/dashboard").status_code == 500
    server.settle()
    [recorded] = server.take_exceptions()
    assert str(recorded) == (
        "GET /dashboard: ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception) "
        "[KeyError: 'user 42 not found']"
    )
    # The group's own frames, then the sub-exception with the frame that raised it.
    assert "ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)\n" in recorded.traceback
    assert 'in load_user\n    |     raise KeyError("user 42 not found")' in recorded.traceback
    assert "| KeyError: 'user 42 not found'" in recorded.traceback
    # uvicorn's and our own frames are trimmed from the front.
    assert "uvicorn" not in recorded.traceback.splitlines()[1]
    assert "_recorder.py" not in recorded.traceback
    [exchange] = server.exchanges()
    assert exchange.error == (
        "ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception) [KeyError: 'user 42 not found']"
    )
    server.stop()


def test_tracebacks_are_rendered_by_the_thread_that_reports_not_the_server_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CI run ended in INTERNALERROR: pytest formatting a failure in the main thread died
    of "SystemError: AST constructor recursion depth mismatch" (CPython 3.11, gh-106905)
    while a server thread rendered a traceback, which parses source for the ^^^ markers."""
    rendering_threads: list[str] = []
    format_stack = traceback.StackSummary.format

    def recording_format(self: traceback.StackSummary, *args: Any, **kwargs: Any) -> Any:
        rendering_threads.append(threading.current_thread().name)
        return format_stack(self, *args, **kwargs)

    monkeypatch.setattr(traceback.StackSummary, "format", recording_format)
    server = LiveServer(Starlette(routes=[Route("/dashboard", dashboard)]), lifespan="off").start()
    assert httpx.get(server.url + "/dashboard").status_code == 500
    server.settle()
    [recorded] = server.take_exceptions()
    assert rendering_threads == []
    assert "KeyError: 'user 42 not found'" in recorded.traceback
    assert set(rendering_threads) == {threading.current_thread().name}
    server.stop()


# -- uvicorn's copy of a reported traceback -------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def uvicorn_records() -> Iterator[list[logging.LogRecord]]:
    handler = Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


async def boom(request: Request) -> Response:
    logging.getLogger("uvicorn.error").warning("the app's own warning")
    raise RuntimeError("boom from the app")


@pytest.mark.parametrize("reported", [True, False])
def test_uvicorn_logs_a_reported_exception_only_when_reporting_is_off(
    uvicorn_records: list[logging.LogRecord], reported: bool
) -> None:
    app = Starlette(routes=[Route("/boom", boom)])
    with LiveServer(app, lifespan="off", raise_server_exceptions=reported) as server:
        assert httpx.get(server.url + "/boom").status_code == 500
        server.settle()
        [recorded] = server.take_exceptions()
    messages = [record.getMessage().strip() for record in uvicorn_records]
    assert "the app's own warning" in messages  # other records pass untouched
    assert ("Exception in ASGI application" in messages) is not reported
    if not reported:
        [logged] = [record for record in uvicorn_records if record.exc_info]
        assert logged.exc_info is not None
        assert logged.exc_info[1] is recorded.exception


def test_failing_test_shows_the_server_traceback_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import httpx
            import pytest

            async def app(scope, receive, send):
                if scope["type"] == "http":
                    raise RuntimeError("boom from the app")

            @pytest.mark.asgi_app.with_args(app, lifespan="off")
            def test_fails_and_the_app_raised(live_server):
                httpx.get(live_server.url + "/")
                assert False, "the test itself fails too"
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1, errors=1)
    output = result.stdout.str()
    # Once in our report; not again in "Captured log call" of the failure and the error.
    assert output.count('raise RuntimeError("boom from the app")') == 1
    assert "Exception in ASGI application" not in output
    result.stdout.fnmatch_lines(["*--- server-side traceback of GET / ---*", "RuntimeError: boom from the app"])


def test_stop_error_and_plugin_report_share_one_wording_with_the_origin() -> None:
    app = Starlette(routes=[Route("/boom", boom)])
    server = LiveServer(app, lifespan="off").start()
    server.label_requests("test_a.py::test_one")
    assert httpx.get(server.url + "/boom").status_code == 500
    server.settle()
    message = stop_error(server)
    assert "the app raised 1 unhandled exception(s) while serving requests:" in message
    assert "--- server-side traceback of GET /boom [request arrived during test_a.py::test_one] ---" in message
    assert message.rstrip().endswith("RuntimeError: boom from the app")


def test_uvicorn_record_filter_drops_only_the_record_it_was_told_about(
    uvicorn_records: list[logging.LogRecord],
) -> None:
    # The mechanism the lifespan branch uses too: uvicorn logs a lifespan failure's
    # message object as it got it.
    from pytest_liveasgi._logcapture import UvicornRecordFilter

    logger = logging.getLogger("uvicorn.error")
    message = "".join(["lifespan startup failed: ", "the traceback"])
    same_text = "lifespan startup failed: the traceback"
    error = RuntimeError("logged with exc_info")
    records = UvicornRecordFilter()
    records.attach()
    try:
        records.drop_next(message)
        records.drop_next(error)
        logger.error(same_text)  # equal text, another object: kept
        logger.error(message)
        logger.error("Exception in ASGI application", exc_info=error)
        logger.error(message)  # dropped once only
    finally:
        records.detach()
    assert [record.getMessage() for record in uvicorn_records] == [same_text, message]
    assert records not in logger.filters


async def slow_background_failure(request: Request) -> Response:
    async def later() -> None:
        await asyncio.sleep(0.5)
        raise RuntimeError("late background failure")

    return PlainTextResponse("ok", background=BackgroundTask(later))


def test_settle_after_a_settle_that_timed_out_still_waits() -> None:
    with LiveServer(Starlette(routes=[Route("/", slow_background_failure)]), lifespan="off") as server:
        assert httpx.get(server.url).text == "ok"
        server.settle(timeout=0.05)  # gives up: the background task is still running
        time.sleep(0.1)  # LiveServer.settle() skips while the loop has not answered since
        server.settle(timeout=10)
        [recorded] = server.take_exceptions()
    assert str(recorded) == "GET /: RuntimeError: late background failure"


class _SlowExceptionLog(logging.Filter):
    """Holds uvicorn's "Exception in ASGI application" record in the server thread for a
    moment: the window between the app's exception and uvicorn's log of it, made wide."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.logged: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Exception in ASGI application"):
            self.entered.set()
            time.sleep(0.3)
            self.logged.append(record.getMessage().strip())
        return True


def test_settle_waits_for_uvicorn_to_log_what_the_app_raised() -> None:
    # Starlette sends its 500 before the exception reaches uvicorn, so the client has its
    # answer while the server still has to log: a test that settles must see that log in
    # its own call phase (pytest's "Captured log call"), not in a later one.
    slow_log = _SlowExceptionLog()
    logger = logging.getLogger("uvicorn.error")
    logger.addFilter(slow_log)
    try:
        with LiveServer(
            Starlette(routes=[Route("/boom", boom)]), lifespan="off", raise_server_exceptions=False
        ) as server:
            assert httpx.get(server.url + "/boom").status_code == 500
            assert slow_log.entered.wait(10)  # the app's call is over; uvicorn is logging
            server.settle()
            assert slow_log.logged == ["Exception in ASGI application"]
    finally:
        logger.removeFilter(slow_log)
