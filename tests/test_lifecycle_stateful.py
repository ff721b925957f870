"""A stateful property-based test of the `LiveServer` lifecycle (issue 11).

Hypothesis drives one server at a time through start, stop, concurrent stops, requests,
client disconnects, app exceptions, lifespan failures and interrupts (a KeyboardInterrupt
raised from inside start() or stop(), as Ctrl-C would). After every stop: no thread, fd,
temporary directory or log handler is left; every exception the app raised was either
reported or raised after its client really went away; every stop kept its budget.

Examples are few and derandomized, so the test is quick and never flakes.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import tempfile
import threading
import time
import warnings
from contextlib import ExitStack, suppress
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pytest_liveasgi import LiveServer, LiveServerError, StartupError
from pytest_liveasgi._server import State
from pytest_liveasgi._server_thread import LIFESPAN_SHUTDOWN_MINIMUM, STARTUP_SLACK, STOP_SLACK, ServerThread

SHUTDOWN_TIMEOUT = 0.3
STARTUP_TIMEOUT = 2.0
# Generous on top of the stated budgets: a busy 2-core machine.
MARGIN = 2.0
STOP_BUDGET = SHUTDOWN_TIMEOUT + LIFESPAN_SHUTDOWN_MINIMUM + STOP_SLACK + MARGIN
START_BUDGET = STARTUP_TIMEOUT + STARTUP_SLACK + MARGIN


class MachineApp:
    """A plain ASGI app that counts what it raised."""

    def __init__(self, lifespan: str) -> None:
        self.lifespan = lifespan
        self.raised = 0
        self.raised_after_disconnect = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            if self.lifespan == "startup fails":
                await send({"type": "lifespan.startup.failed", "message": "no database"})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()
            if self.lifespan == "shutdown fails":
                await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/boom":
            self.raised += 1
            raise RuntimeError("boom")
        if scope["path"] == "/disconnect":
            while (await receive())["type"] != "http.disconnect":
                pass
            self.raised_after_disconnect += 1
            raise RuntimeError("raised after the client went away")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def liveasgi_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("liveasgi")]


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def interrupt_once(method: str) -> Any:
    """Patch `ServerThread.<method>` to raise KeyboardInterrupt the first time it is called
    (after doing its work for `launch`: the thread runs, start() is then interrupted)."""
    original = getattr(ServerThread, method)
    calls = []

    def patched(self: ServerThread, *args: Any) -> Any:
        if not calls:
            calls.append(1)
            if method == "launch":
                original(self, *args)
            raise KeyboardInterrupt
        return original(self, *args)

    return mock.patch.object(ServerThread, method, patched)


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server: LiveServer | None = None
        self.last: LiveServer | None = None
        self.app: MachineApp | None = None
        self.reported = 0
        self.tempdir = tempfile.mkdtemp(prefix="liveasgi-stateful-")
        self._patches = ExitStack()
        self._patches.enter_context(mock.patch.object(tempfile, "tempdir", self.tempdir))
        gc.collect()
        self.fds = open_fds()

    # -- starting ----------------------------------------------------------------------

    @rule(
        lifespan=st.sampled_from(["ok", "ok", "startup fails", "shutdown fails"]),
        https=st.booleans(),
        interrupt=st.sampled_from([None, None, None, "launch", "join"]),
    )
    def start(self, lifespan: str, https: bool, interrupt: str | None) -> None:
        if self.server is not None:
            with pytest.raises(LiveServerError, match="was already started"):
                self.server.start()
            return
        self.app = MachineApp(lifespan)
        server = LiveServer(
            self.app,
            https=https,
            lifespan="on",
            startup_timeout=STARTUP_TIMEOUT,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            raise_server_exceptions=False,
        )
        began = time.monotonic()
        with ExitStack() as patches:
            if interrupt == "join":  # a second Ctrl-C while the failed start cleans up
                patches.enter_context(interrupt_once("launch"))
                patches.enter_context(interrupt_once("join"))
            elif interrupt == "launch":
                patches.enter_context(interrupt_once("launch"))
            outcome = ""
            try:
                server.start()
            except KeyboardInterrupt:
                outcome = "interrupted"
            except StartupError as error:
                outcome = str(error)
        if interrupt is not None:
            assert outcome == "interrupted"
        elif lifespan == "startup fails":
            assert "lifespan startup failed:\n    no database" in outcome
        else:
            assert outcome == ""
        assert time.monotonic() - began < START_BUDGET
        if server.state is State.STOPPING:  # interrupted while cleaning up: stop() finishes
            assert interrupt == "join"
            server.stop()
        self.last = server
        if server.state is State.RUNNING:
            self.server, self.reported = server, 0
        else:
            assert server.state is State.FAILED
            self.check_released()

    # -- while running -------------------------------------------------------------------

    @rule()
    def request(self) -> None:
        if self.server is None:
            return
        with self.server.client() as client:
            assert client.get("/").text == "ok"

    @rule()
    def app_raises(self) -> None:
        if self.server is None:
            return
        with self.server.client() as client:
            assert client.get("/boom").status_code == 500

    @rule()
    def client_disconnects(self) -> None:
        if self.server is None:
            return
        client = socket.create_connection(("127.0.0.1", self.server.port))
        if self.server.url.startswith("https"):
            client.close()  # a TLS client that gives up during the handshake
            return
        client.sendall(b"GET /disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
        server = self.server
        wait_until(lambda: any("/disconnect" in call for call in server.running_requests()))
        client.close()

    @rule()
    def take_exceptions(self) -> None:
        if self.server is None:
            return
        self.server.settle()
        self.reported += len(self.server.take_exceptions())

    # -- stopping ---------------------------------------------------------------------------

    @rule(interrupted=st.booleans(), concurrent=st.booleans())
    def stop(self, interrupted: bool, concurrent: bool) -> None:
        if self.server is None:
            if self.last is not None:
                self.last.stop()  # stopped or failed already: nothing to do
                self.check_released()
            return
        assert self.app is not None
        server = self.server
        errors: list[BaseException] = []

        def stop_and_keep_the_error() -> None:
            try:
                server.stop()
            except LiveServerError as error:
                errors.append(error)

        began = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cut-off warnings
            if interrupted:
                with interrupt_once("join"), suppress(KeyboardInterrupt):
                    server.stop()
                assert server.state is State.STOPPING
            others = [threading.Thread(target=stop_and_keep_the_error) for _ in range(2 if concurrent else 0)]
            for other in others:
                other.start()
            stop_and_keep_the_error()
            for other in others:
                other.join(STOP_BUDGET)
        assert time.monotonic() - began < STOP_BUDGET * (2 if interrupted else 1)
        assert server.state is State.STOPPED
        shutdown_failed = self.app.lifespan == "shutdown fails"
        assert len(errors) == (1 if shutdown_failed else 0)  # only one caller ran the shutdown
        if shutdown_failed:
            assert "lifespan shutdown failed" in str(errors[0])
            assert "could not flush" in str(errors[0])
        self.reported += len(server.take_exceptions())
        assert self.reported == self.app.raised
        assert self.app.raised_after_disconnect >= 0
        self.server = None
        self.check_released()

    def check_released(self) -> None:
        wait_until(lambda: not liveasgi_threads())
        assert os.listdir(self.tempdir) == []
        handlers = logging.getLogger("uvicorn.error").handlers
        assert [h for h in handlers if "ThreadLogCollector" in type(h).__name__] == []
        gc.collect()
        assert open_fds() <= self.fds

    @invariant()
    def a_running_server_answers(self) -> None:
        if self.server is not None:
            assert self.server.state is State.RUNNING
            with httpx.Client(verify=self.server._client_options({})["verify"], trust_env=False) as client:
                assert client.get(self.server.url).text == "ok"

    def teardown(self) -> None:
        try:
            if self.server is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with suppress(LiveServerError):
                        self.server.stop()
            wait_until(lambda: not liveasgi_threads())
        finally:
            self._patches.close()
            os.rmdir(self.tempdir)


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """Imports, the TLS CA and the loop's first file descriptors, before fds are counted."""
    for https in (False, True):
        with LiveServer(MachineApp("ok"), https=https) as server, server.client() as client:
            client.get("/")


Lifecycle.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_lifecycle = Lifecycle.TestCase
