"""Everything that reaches into uvicorn's (and anyio's) internals, in one place.

uvicorn's own lifecycle polls: `Server.main_loop` wakes every 0.1 s to look at
`should_exit`, and `Server.shutdown` sleeps a fixed 0.1 s and then polls the open
connections every 0.1 s. A fresh server per test would pay ~200 ms for that. We
run `Server.startup` ourselves and replace the polling with events, which needs:

- `Server.startup(sockets=...)`, `Server.servers`, `Server.lifespan`, `Server.started`;
- `ServerState.connections` and `ServerState.tasks`, plain sets that the protocols
  `add` to and `discard`/`remove` from;
- each protocol's `shutdown()` and `transport`;
- `Server.on_tick(counter)` to refresh the `date` / `server` default headers;
- `Config.get_loop_factory()` (uvicorn >= 0.36; older ones set a global policy);
- `Config.ssl`, the SSLContext `Config.load()` made, and `Config.ssl_context_factory` (recent versions only);
- `Config.load()` wrapping a WSGI app in `uvicorn.middleware.wsgi.WSGIMiddleware`,
  then maybe in `MessageLoggerMiddleware` / `ProxyHeadersMiddleware` (each with `.app`);
- the lifespan's `should_exit`, `shutdown_failed` / `error_occurred` flags.

Checked against uvicorn 0.30.0 to 0.54.0 (tox env `lowest` runs the tests on the
oldest). If a future uvicorn changes the connection sets, `ConnectionTracker.supported`
turns False and we fall back to uvicorn's own `Server.shutdown` (correct, ~100 ms slower).

From anyio (any 4.x): `anyio.lowlevel._run_vars`, per-loop state keyed by the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import logging
import socket
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import uvicorn

from ._thread_pool import ServerThreadPool

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


# -- the event loop -------------------------------------------------------------------


class LoopOptionError(Exception):
    """The `loop=` option names a loop that cannot be made (not installed, bad import string)."""


def loop_factory(config: uvicorn.Config) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory of the loop that `config.loop` asks for; `LoopOptionError` with the real cause."""
    key = (config.loop, bool(getattr(config, "use_subprocess", False)))
    factory = _loop_factories.get(key)
    if factory is None:
        factory = _loop_factories[key] = _resolve_loop_factory(config)
    return factory


# loop="auto" tries `import uvloop` on every call, and a failed import is not cached:
# it scans sys.path each time (~0.1 ms per server start).
_loop_factories: dict[tuple[Any, bool], Callable[[], asyncio.AbstractEventLoop]] = {}


def _resolve_loop_factory(config: uvicorn.Config) -> Callable[[], asyncio.AbstractEventLoop]:
    get_factory = getattr(config, "get_loop_factory", None)
    if get_factory is None:
        # uvicorn < 0.36 sets a global event loop policy in setup_event_loop(), which we must
        # not do to the test process: make the loop it would have made ourselves.
        if config.loop in ("asyncio", "none"):
            return asyncio.new_event_loop
        if config.loop in ("uvloop", "auto"):
            try:
                uvloop = importlib.import_module("uvloop")
            except ImportError as exc:
                if config.loop == "auto":
                    return asyncio.new_event_loop
                raise LoopOptionError(f"{type(exc).__name__}: {exc}") from exc
            new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
            return new_loop
        _raise_import_error(config.loop)
        raise LoopOptionError(f"a custom loop needs uvicorn >= 0.36 (this is uvicorn {UVICORN_VERSION})")
    try:
        return get_factory() or asyncio.new_event_loop
    except SystemExit:
        # uvicorn logs a bad custom import string and calls sys.exit(): find the cause ourselves.
        _raise_import_error(config.loop)
        raise LoopOptionError(f"uvicorn cannot use loop={config.loop!r}") from None
    except Exception as exc:
        raise LoopOptionError(f"{type(exc).__name__}: {exc}") from exc


def _raise_import_error(import_string: str) -> None:
    """Raise `LoopOptionError` with the reason `import_string` cannot be imported, if any."""
    from uvicorn.importer import import_from_string

    try:
        import_from_string(import_string)
    except Exception as exc:
        raise LoopOptionError(f"{type(exc).__name__}: {exc}") from None


def close_loop(loop: asyncio.AbstractEventLoop, budget: float, pool: ServerThreadPool) -> None:
    """Cancel what is left on the loop, then close it, in at most about `budget` seconds.
    `pool` is the loop's default executor: its calls get what is left of the budget."""
    try:
        loop.run_until_complete(_wind_down(loop, budget, pool))
    except Exception:  # closing must never hide the real outcome
        logging.getLogger(__name__).debug("error while closing the server loop", exc_info=True)
    finally:
        loop.close()
        forget_loop(loop)


async def _wind_down(loop: asyncio.AbstractEventLoop, budget: float, pool: ServerThreadPool) -> None:
    # One pass on the loop, and no closing step that has nothing to close: a server per
    # test pays for each.
    deadline = loop.time() + budget
    await _cancel_leftovers(budget / 2)
    # Neither may hold the thread beyond the budget: an async generator stuck in its
    # `finally`, a call stuck in the default thread pool (loop.close() leaves the pool's
    # threads to end on their own). asyncio's loop keeps its async generators as an
    # attribute; another loop (uvloop) always gets that step.
    closing = []
    if getattr(loop, "_asyncgens", True):
        closing.append(loop.create_task(loop.shutdown_asyncgens()))
    if pool.calls_left():
        closing.append(loop.create_task(pool.drain(max(deadline - loop.time(), 0.01))))
    if closing:
        await asyncio.wait(closing, timeout=max(deadline - loop.time(), 0.01))
    # What the closing steps let run may have started tasks (a settle() asked from another
    # thread, say), and a step may still run: a task destroyed while pending would be logged.
    await _cancel_leftovers(0.01)


async def _cancel_leftovers(timeout: float) -> None:
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers, timeout=timeout)


def forget_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Drop anyio's per-loop state for a closed loop.

    anyio keeps it in a WeakKeyDictionary keyed by the loop, but the value holds the loop's
    root task, whose `_loop` is the key: the entry (and the closed loop, ~260 KB under
    uvloop) would live as long as the process. One loop per server makes that a leak.
    """
    lowlevel = sys.modules.get("anyio.lowlevel")
    run_vars = getattr(lowlevel, "_run_vars", None)
    if run_vars is not None and hasattr(run_vars, "pop"):
        run_vars.pop(loop, None)


# -- TLS ------------------------------------------------------------------------------


def send_no_session_tickets(config: uvicorn.Config) -> None:
    """Make the TLS context that uvicorn built from certificate files send no TLS 1.3 session tickets.

    A TLS 1.3 server sends its tickets right after the handshake, while the client may be
    writing its first request. A client that reads the same `ssl.SSLSocket` in another thread
    meanwhile (websockets' sync client does, from connect() on) uses one OpenSSL connection
    from two threads, which OpenSSL does not support: one request in a few hundred never reaches
    the wire, and the client waits for an answer that cannot come. Without tickets nothing
    arrives before the response. A test server gains nothing from session resumption; a
    context from the user's own `ssl_context_factory` is left as it is.
    """
    context = getattr(config, "ssl", None)
    if context is None or getattr(config, "ssl_context_factory", None) is not None:
        return
    # ValueError: not a server-side context (ssl_version=PROTOCOL_TLS_CLIENT, which cannot
    # serve anyway); AttributeError: an `ssl` module without TLS 1.3.
    with contextlib.suppress(ValueError, AttributeError):
        context.num_tickets = 0


# -- startup --------------------------------------------------------------------------


class UvicornExited(Exception):
    """uvicorn called sys.exit() during startup."""


async def guarded_startup(server: uvicorn.Server, sock: socket.socket) -> None:
    # uvicorn >= 0.31 calls sys.exit() when lifespan startup fails; a SystemExit that
    # reaches asyncio's task machinery would escape the event loop itself.
    try:
        await server.startup(sockets=[sock])
    except SystemExit:
        raise UvicornExited() from None


def lifespan_startup_failed(server: uvicorn.Server, startup_error: BaseException | None) -> bool:
    """Whether the startup ended because the app's lifespan startup failed."""
    return bool(getattr(server.lifespan, "should_exit", False)) or (
        startup_error is None and not getattr(server, "started", False)
    )


def lifespan_shutdown_failed(server: uvicorn.Server) -> bool:
    lifespan = server.lifespan
    if getattr(lifespan, "shutdown_failed", False):
        return True
    # uvicorn < 0.33 spelled it `error_occured`.
    errored = getattr(lifespan, "error_occurred", False) or getattr(lifespan, "error_occured", False)
    return bool(errored) and server.config.lifespan == "on"


def is_lifespan_log_record(record: logging.LogRecord) -> bool:
    """Whether uvicorn's lifespan protocol logged `record` (its copy of a failure)."""
    return record.module == "on" and "lifespan" in record.pathname


async def refresh_default_headers(server: uvicorn.Server) -> None:
    """Set the `date` and configured headers, as uvicorn's main loop does every second."""
    on_tick: Callable[[int], Any] | None = getattr(server, "on_tick", None)
    if on_tick is not None:
        await on_tick(0)


async def refresh_headers_every_second(server: uvicorn.Server) -> None:
    while True:
        await asyncio.sleep(1)
        await refresh_default_headers(server)


# -- the WSGI adapter -------------------------------------------------------------------


def wsgi_adapter_made_by_uvicorn(config: uvicorn.Config, app: object) -> Any | None:
    """The WSGIMiddleware that `config.load()` made for `app` (interface "wsgi"), else None.

    Only that adapter is ours to shut down: an app that brings its own thread pool (a2wsgi,
    a user's class with an `.executor`) keeps it.
    """
    if config.interface != "wsgi":
        return None
    from uvicorn.middleware.message_logger import MessageLoggerMiddleware
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
    from uvicorn.middleware.wsgi import WSGIMiddleware  # type: ignore[attr-defined]

    candidate: Any = config.loaded_app
    while type(candidate) in (ProxyHeadersMiddleware, MessageLoggerMiddleware):
        candidate = candidate.app
    if type(candidate) is WSGIMiddleware and candidate is not app:
        return candidate
    return None


def close_wsgi_adapter(adapter: Any) -> None:
    """Shut down the thread pool of uvicorn's WSGI adapter (uvicorn never does)."""
    executor = getattr(adapter, "executor", None)
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)


# -- connections ----------------------------------------------------------------------


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


# How often shutdown looks again at TLS connections that still flush their last bytes.
_TLS_FLUSH_CHECK = 0.05


class ConnectionTracker:
    """Turns uvicorn's connection and task sets into an awaitable "all closed"."""

    def __init__(self, server: uvicorn.Server) -> None:
        self._state = server.server_state
        self._idle = asyncio.Event()
        self._shutting_down = False
        self.supported = isinstance(getattr(self._state, "connections", None), set) and isinstance(
            getattr(self._state, "tasks", None), set
        )
        if self.supported:
            self._state.connections = WatchedSet(self._state.connections, self._changed)
            self._state.tasks = WatchedSet(self._state.tasks, self._changed)

    def _changed(self) -> None:
        if self._shutting_down:
            self._abort_closed_tls()
        if not self._state.connections and not self._state.tasks:
            self._idle.set()

    def begin_shutdown(self) -> None:
        """Ask every connection to close once its current response is sent."""
        self._shutting_down = True
        for connection in list(self._state.connections):
            try:
                connection.shutdown()
            except Exception:
                # uvicorn's websockets-sansio protocol (uvicorn 0.35+) raises InvalidState
                # from shutdown() when the client's close frame already arrived; that
                # connection is closing anyway, so drop it rather than crash the server.
                _abort(connection)
        self._abort_closed_tls()

    def _abort_closed_tls(self) -> bool:
        """Abort TLS connections that uvicorn closed once their last bytes are out.

        Closing a TLS transport sends close_notify and then waits (up to 30 s) for the
        client's; an idle keep-alive client never answers, so `close()` alone would hold
        every stop to the shutdown timeout. A plain TCP close() does not wait. True while
        some closed TLS connection still has bytes to send.
        """
        flushing = False
        for connection in list(self._state.connections):
            transport = getattr(connection, "transport", None)
            if transport is None or not transport.is_closing():
                continue
            try:
                if transport.get_extra_info("sslcontext") is None:
                    continue
                unsent = _unsent_bytes(transport)
            except AttributeError:
                # asyncio's SSL transport once aborted has no protocol left to ask
                # ('NoneType' object has no attribute '_get_extra_info'): it is gone already.
                continue
            if unsent:
                flushing = True
            else:
                transport.abort()
        return flushing

    async def wait_closed(self, timeout: float) -> bool:
        """True when every connection and task ended within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0)
        while True:
            self._idle.clear()
            self._changed()
            if self._idle.is_set():
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            check = _TLS_FLUSH_CHECK if self._abort_closed_tls() else left
            try:
                await asyncio.wait_for(self._idle.wait(), min(left, check))
            except asyncio.TimeoutError:
                continue

    async def cut_off(self, grace: float) -> None:
        """Cancel what is still running and drop the remaining connections."""
        tasks = list(self._state.tasks)
        for task in tasks:
            task.cancel()
        self.abort_all()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)

    def abort_all(self) -> None:
        """Drop every connection at once (the server is going away)."""
        for connection in list(self._state.connections):
            _abort(connection)


def _abort(connection: object) -> None:
    transport = getattr(connection, "transport", None)
    if transport is not None:
        transport.abort()


def _unsent_bytes(transport: asyncio.BaseTransport) -> int:
    size = getattr(transport, "get_write_buffer_size", lambda: 0)()
    # asyncio's SSL transport hands encrypted bytes to the TCP transport underneath,
    # which buffers them in turn.
    underlying = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
    if underlying is not None and not underlying.is_closing():
        size += underlying.get_write_buffer_size()
    return int(size)
