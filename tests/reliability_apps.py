"""Plain ASGI apps for the reliability suite (copied into pytester folders as rapps.py).

No framework in between, so what the tests see is what uvicorn and pytest-liveasgi do.
If the environment variable LIVEASGI_RELIABILITY_LOG names a file, lifespan startup and
shutdown append "startup NAME" / "shutdown NAME" lines to it: the proof that a server was
stopped properly even when the test run was not.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import parse_qs

LOG_ENV = "LIVEASGI_RELIABILITY_LOG"


def log_event(event: str) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as log:
            log.write(event + "\n")


class App:
    """An ASGI app; `stats` counts what it served (read it after the server stopped)."""

    def __init__(
        self,
        name: str = "app",
        *,
        startup_failure: str | None = None,
        shutdown_failure: str | None = None,
        shutdown_hangs: bool = False,
    ) -> None:
        self.name = name
        self.startup_failure = startup_failure
        self.shutdown_failure = shutdown_failure
        self.shutdown_hangs = shutdown_hangs
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.clients: set[tuple[str, int]] = set()
        self.websocket_disconnects = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
        else:
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            if scope.get("client"):
                self.clients.add(tuple(scope["client"]))  # type: ignore[arg-type]
            try:
                await self.http(scope, receive, send)
            finally:
                self.in_flight -= 1

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                log_event(f"startup {self.name}")
                if self.startup_failure:
                    await send({"type": "lifespan.startup.failed", "message": self.startup_failure})
                    return
                await send({"type": "lifespan.startup.complete"})
            else:
                log_event(f"shutdown {self.name}")
                if self.shutdown_hangs:
                    await asyncio.sleep(3600)
                if self.shutdown_failure:
                    await send({"type": "lifespan.shutdown.failed", "message": self.shutdown_failure})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope["path"]
        query = {key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()}
        if path == "/":
            await respond(send, f"hello from {self.name}".encode())
        elif path.startswith("/echo/"):
            # The number from the path and the body back: a response mixed up with
            # another request's would show.
            body = await read_body(receive)
            await asyncio.sleep(0)
            await respond(send, path.removeprefix("/echo/").encode() + b":" + body)
        elif path == "/where":
            where = {"server": scope.get("server"), "client": scope.get("client")}
            await respond(send, json.dumps(where).encode())
        elif path == "/slow":
            await asyncio.sleep(3600)
        elif path == "/upload":
            body = await read_body(receive)
            await respond(send, str(len(body)).encode())
        elif path == "/endless":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            while True:
                await send({"type": "http.response.body", "body": b"x" * 64, "more_body": True})
                await asyncio.sleep(0.01)
        elif path == "/boom":
            number = f" {query['n']}" if "n" in query else ""
            raise RuntimeError(f"boom{number} from {self.name}")
        elif path == "/block":
            time.sleep(float(query.get("seconds", "3")))  # the bug under test: a blocking call
            await respond(send, b"blocked")
        else:
            await respond(send, b"not found", status=404)

    async def websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        if scope["path"] == "/ws-deaf":
            await asyncio.sleep(3600)  # never reads: does not notice a close
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.websocket_disconnects += 1
                return
            await send({"type": "websocket.send", "text": "echo: " + (message.get("text") or "")})


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(send: Any, body: bytes, status: int = 200) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = App()
function_app = App("function_app")
session_app = App("session_app")
startup_failure_app = App("startup_failure_app", startup_failure="database is not reachable")
shutdown_failure_app = App("shutdown_failure_app", shutdown_failure="could not flush the queue")
