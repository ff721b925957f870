"""A Starlette app with a sync endpoint, for the memory benchmark.

A sync endpoint runs in anyio's worker threads, which keep per-event-loop state: the case
that once kept every stopped server's event loop alive (issue 11 item 13).

- ``GET /sync`` answers ``ok`` from a plain ``def`` endpoint (a worker thread);
- ``GET /`` answers ``ok`` from an ``async def`` endpoint.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def sync_ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def async_ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/sync", sync_ok), Route("/", async_ok)])
