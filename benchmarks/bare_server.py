"""uvicorn's own floor, for the benchmark's baselines: a server in a thread with nothing of
pytest-liveasgi's. run.py imports it; the 200-test suites copy it next to their tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn


def bound_socket() -> socket.socket:
    # IPPROTO_TCP, as getaddrinfo() gives LiveServer: asyncio sets TCP_NODELAY only on
    # sockets whose proto says TCP. With proto 0 every small response that is written in
    # two parts (a chunked body) waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop uvicorn's loop="auto" (LiveServer's default) runs on: uvloop when installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class BareServer:
    """uvicorn's own floor: the thread, the event loop and uvicorn's startup and shutdown,
    event-driven like LiveServer, with none of its checks, recording, log capture or
    bounds. LiveServer's cycle minus this one is what LiveServer itself costs."""

    def __init__(self, app: Any) -> None:
        self.socket = bound_socket()
        self.port = self.socket.getsockname()[1]
        self.config = uvicorn.Config(app, log_config=None)
        self.config.load()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_requested: asyncio.Event | None = None

    def _run(self) -> None:
        loop = new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()
            self.socket.close()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop_requested = asyncio.Event()
        server = uvicorn.Server(self.config)
        server.lifespan = self.config.lifespan_class(self.config)
        await server.startup(sockets=[self.socket])
        self.started.set()
        await self.stop_requested.wait()
        for listener in server.servers:
            listener.close()
        for connection in list(server.server_state.connections):
            connection.shutdown()
        while server.server_state.connections or server.server_state.tasks:
            await asyncio.sleep(0)
        await server.lifespan.shutdown()

    def __enter__(self) -> BareServer:
        self.thread.start()
        self.started.wait()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.loop is not None
        assert self.stop_requested is not None
        self.loop.call_soon_threadsafe(self.stop_requested.set)
        self.thread.join()
