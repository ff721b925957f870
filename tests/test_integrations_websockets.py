"""WebSockets through `ws_url`, with a real client (the `websockets` package) against Starlette."""

from __future__ import annotations

import ssl
import time
import warnings

import pytest
from sample_apps import app
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import connect

from pytest_liveasgi import LiveServer, LiveServerWarning


def test_ws_url_talks_to_a_starlette_websocket() -> None:
    with LiveServer(app) as server:
        assert server.ws_url == server.url.replace("http://", "ws://", 1)
        with connect(server.ws_url + "/ws") as websocket:
            for text in ("one", "two"):
                websocket.send(text)
                assert websocket.recv(timeout=5) == f"echo: {text}"


@pytest.mark.anyio
async def test_async_websocket_client_from_an_async_test() -> None:
    with LiveServer(app) as server:
        async with async_connect(server.ws_url + "/ws") as websocket:
            await websocket.send("async")
            assert await websocket.recv() == "echo: async"


def test_wss_with_https_and_the_generated_ca() -> None:
    with LiveServer(app, https=True) as server:
        assert server.ws_url.startswith("wss://")
        assert server.ca_path is not None
        context = ssl.create_default_context(cafile=server.ca_path)
        with connect(server.ws_url + "/ws", ssl=context) as websocket:
            websocket.send("secure")
            assert websocket.recv(timeout=5) == "echo: secure"


def test_stop_ends_promptly_with_a_websocket_still_open() -> None:
    server = LiveServer(app, shutdown_timeout=1).start()
    with connect(server.ws_url + "/ws") as websocket:
        websocket.send("still here")
        assert websocket.recv(timeout=5) == "echo: still here"
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LiveServerWarning)  # it may name the cut-off WebSocket
            server.stop()
        assert time.monotonic() - started < 1 + 1.5
        assert not server.running


def test_stop_right_after_a_wss_client_closed() -> None:
    # Regression: uvicorn's websockets-sansio protocol raises InvalidState from
    # shutdown() for a connection whose close handshake has begun. Under TLS such a
    # connection lingers while the TLS close completes, so stopping right after a client
    # closed crashed the server thread in about half of the runs; ten runs catch it.
    for _ in range(10):
        with LiveServer(app, https=True) as server:
            assert server.ca_path is not None
            context = ssl.create_default_context(cafile=server.ca_path)
            with connect(server.ws_url + "/ws", ssl=context) as websocket:
                websocket.send("bye")
                assert websocket.recv(timeout=5) == "echo: bye"
