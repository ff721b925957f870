"""Helpers that run on the server thread's event loop: startup, the header tick, closing."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from ._uvicorn_compat import refresh_default_headers


async def refresh_headers_every_second(server: uvicorn.Server) -> None:
    while True:
        await asyncio.sleep(1)
        await refresh_default_headers(server)


class UvicornExited(Exception):
    """uvicorn called sys.exit() during startup."""


async def guarded_startup(server: uvicorn.Server, sock: socket.socket) -> None:
    # uvicorn >= 0.31 calls sys.exit() when lifespan startup fails; a SystemExit that
    # reaches asyncio's task machinery would escape the event loop itself.
    try:
        await server.startup(sockets=[sock])
    except SystemExit:
        raise UvicornExited() from None


def startup_cause(exc: BaseException, server: uvicorn.Server) -> str:
    if getattr(server.lifespan, "should_exit", False):
        return "lifespan startup failed"
    if isinstance(exc, UvicornExited):
        return "uvicorn gave up during startup (see its log below)"
    return f"{type(exc).__name__}: {exc}"


def close_loop(loop: asyncio.AbstractEventLoop, unwind_timeout: float) -> None:
    """Cancel what is left on the loop (bounded), then close it."""
    try:
        leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.wait(leftovers, timeout=unwind_timeout))
        loop.run_until_complete(loop.shutdown_asyncgens())
        # A WSGI request stuck in the thread pool must not hold the thread forever.
        executor_closed = loop.create_task(loop.shutdown_default_executor())
        loop.run_until_complete(asyncio.wait([executor_closed], timeout=unwind_timeout))
    except Exception:  # closing must never hide the real outcome
        logging.getLogger(__name__).debug("error while closing the server loop", exc_info=True)
    finally:
        loop.close()
