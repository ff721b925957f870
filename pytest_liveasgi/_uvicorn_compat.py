"""Everything that reaches into uvicorn's internals, in one place.

uvicorn's own lifecycle polls: `Server.main_loop` wakes every 0.1 s to look at
`should_exit`, and `Server.shutdown` sleeps a fixed 0.1 s and then polls the open
connections every 0.1 s. A fresh server per test would pay ~200 ms for that. We
run `Server.startup` ourselves and replace the polling with events, which needs:

- `Server.startup(sockets=...)`, `Server.servers`, `Server.lifespan`;
- `ServerState.connections` and `ServerState.tasks`, plain sets that the protocols
  `add` to and `discard`/`remove` from;
- each protocol's `shutdown()` and `transport`;
- `Server.on_tick(counter)` to refresh the `date` / `server` default headers.

Checked against uvicorn 0.30.0 to 0.54.0 (tox env `lowest` runs the tests on the
oldest). If a future uvicorn changes these, `fast_shutdown_supported` turns False
and we fall back to uvicorn's own `Server.shutdown` (correct, ~100 ms slower).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")

UVICORN_VERSION = uvicorn.__version__


@functools.cache
def flag_option_names() -> frozenset[str]:
    """The `uvicorn.Config` keywords whose default is True or False."""
    parameters = inspect.signature(uvicorn.Config.__init__).parameters
    return frozenset(name for name, parameter in parameters.items() if isinstance(parameter.default, bool))


@functools.cache
def config_option_names() -> frozenset[str]:
    """The keyword arguments of `uvicorn.Config` in the installed uvicorn."""
    parameters = inspect.signature(uvicorn.Config.__init__).parameters
    return frozenset(name for name in parameters if name != "self")


class WatchedSet(set[T]):
    """A set that calls `on_change` whenever something leaves it."""

    def __init__(self, items: Iterable[T], on_change: Callable[[], None]) -> None:
        super().__init__(items)
        self._on_change = on_change

    def discard(self, item: object) -> None:
        super().discard(item)
        self._on_change()

    def remove(self, item: T) -> None:
        super().remove(item)
        self._on_change()


class ConnectionTracker:
    """Turns uvicorn's connection and task sets into an awaitable "all closed"."""

    def __init__(self, server: uvicorn.Server) -> None:
        self._state = server.server_state
        self._idle = asyncio.Event()
        self.supported = isinstance(getattr(self._state, "connections", None), set) and isinstance(
            getattr(self._state, "tasks", None), set
        )
        if self.supported:
            self._state.connections = WatchedSet(self._state.connections, self._changed)
            self._state.tasks = WatchedSet(self._state.tasks, self._changed)

    def _changed(self) -> None:
        if not self._state.connections and not self._state.tasks:
            self._idle.set()

    def begin_shutdown(self) -> None:
        """Ask every connection to close once its current response is sent."""
        for connection in list(self._state.connections):
            try:
                connection.shutdown()
            except Exception:
                # uvicorn's websockets-sansio protocol (uvicorn 0.35+) raises InvalidState
                # from shutdown() when the client's close frame already arrived; that
                # connection is closing anyway, so drop it rather than crash the server.
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()

    async def wait_closed(self, timeout: float) -> bool:
        """True when every connection and task ended within `timeout` seconds."""
        self._idle.clear()
        self._changed()
        try:
            await asyncio.wait_for(self._idle.wait(), max(timeout, 0))
        except asyncio.TimeoutError:
            return False
        return True

    async def cut_off(self, grace: float) -> None:
        """Cancel what is still running and drop the remaining connections."""
        tasks = list(self._state.tasks)
        for task in tasks:
            task.cancel()
        for connection in list(self._state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)


async def refresh_default_headers(server: uvicorn.Server) -> None:
    """Set the `date` and configured headers, as uvicorn's main loop does every second."""
    on_tick: Callable[[int], Any] | None = getattr(server, "on_tick", None)
    if on_tick is not None:
        await on_tick(0)


def lifespan_shutdown_failed(server: uvicorn.Server) -> bool:
    lifespan = server.lifespan
    if getattr(lifespan, "shutdown_failed", False):
        return True
    # uvicorn < 0.33 spelled it `error_occured`.
    errored = getattr(lifespan, "error_occurred", False) or getattr(lifespan, "error_occured", False)
    return bool(errored) and server.config.lifespan == "on"


def shutdown_wsgi_executor(app: Any) -> None:
    """Shut down the thread pool of uvicorn's WSGI adapter, if `app` wraps one.

    uvicorn's WSGIMiddleware makes its own ThreadPoolExecutor and never shuts it down:
    each stopped WSGI server would leave its worker threads behind.
    """
    seen = 0
    while app is not None and seen < 16:
        executor = getattr(app, "executor", None)
        if executor is not None and hasattr(executor, "shutdown"):
            executor.shutdown(wait=False, cancel_futures=True)
            return
        app, seen = getattr(app, "app", None), seen + 1


def loop_factory(config: uvicorn.Config) -> Callable[[], asyncio.AbstractEventLoop]:
    # uvicorn >= 0.36 exposes get_loop_factory(); older ones set a global policy in
    # setup_event_loop(), which we must not do to the test process.
    get_factory = getattr(config, "get_loop_factory", None)
    if get_factory is None:
        return asyncio.new_event_loop
    # loop="auto" tries `import uvloop` on every call, and a failed import is not
    # cached: it scans sys.path each time (~0.1 ms per server start).
    key = (config.loop, bool(getattr(config, "use_subprocess", False)))
    factory = _loop_factories.get(key)
    if factory is None:
        factory = _loop_factories[key] = get_factory() or asyncio.new_event_loop
    return factory


_loop_factories: dict[tuple[Any, bool], Callable[[], asyncio.AbstractEventLoop]] = {}
