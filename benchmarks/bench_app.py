"""The app every benchmark serves: plain ASGI, with a lifespan, so no framework cost is measured.

- ``GET /`` answers ``ok``;
- ``GET /slow?seconds=0.02`` sets `SLOW_STARTED` (same process only), sleeps, then answers.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

SLOW_STARTED = threading.Event()

_OK = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        SLOW_STARTED.set()
        seconds = float(scope["query_string"].decode().partition("=")[2] or "0.02")
        await asyncio.sleep(seconds)
    await send(_OK)
    await send({"type": "http.response.body", "body": b"ok"})
