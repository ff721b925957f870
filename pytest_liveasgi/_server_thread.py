"""The server thread: uvicorn on an event loop of its own, and the handles that the
caller's thread uses to start, settle and stop it.

`ServerThread` holds everything the thread uses and owns and never refers back to
the `LiveServer`, so a server dropped while running can be collected and stopped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from ._logcapture import ThreadLogCollector, ThreadLogFilter
from ._recorder import CapturedTraceback, Recorder
from ._thread_pool import ServerThreadPool
from ._tls import GeneratedCertificate
from ._uvicorn_compat import (
    ConnectionTracker,
    UvicornExited,
    close_loop,
    close_wsgi_adapter,
    guarded_startup,
    is_lifespan_log_record,
    lifespan_shutdown_failed,
    lifespan_startup_failed,
    refresh_default_headers,
    refresh_headers_every_second,
    send_no_session_tickets,
)

# The budgets. The server thread's own worst case after a stop request is
#   shutdown_timeout (in-flight work) + CUT_OFF_GRACE (cancelled work unwinds)
#   + LIFESPAN_SHUTDOWN_MINIMUM (lifespan shutdown always gets this much) + CLOSE_BUDGET (loop closes);
# stop() waits that plus JOIN_MARGIN, so a thread still alive then really is blocked.
LIFESPAN_SHUTDOWN_MINIMUM = 0.5
CUT_OFF_GRACE = 0.25
CLOSE_BUDGET = 0.25
JOIN_MARGIN = 0.5
STOP_SLACK = CUT_OFF_GRACE + CLOSE_BUDGET + JOIN_MARGIN
"""`stop()` returns within ``shutdown_timeout + LIFESPAN_SHUTDOWN_MINIMUM + STOP_SLACK`` seconds."""
STARTUP_SLACK = LIFESPAN_SHUTDOWN_MINIMUM + STOP_SLACK
"""`start()` returns or raises within ``startup_timeout + STARTUP_SLACK`` seconds (a startup that
completes just as the timeout hits still gets its lifespan shutdown)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class LifespanWatcher:
    """Keeps why the app's lifespan startup or shutdown failed, taken from the app itself,
    so the cause never depends on the user's logging configuration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.causes: dict[str, str | CapturedTraceback] = {}

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        phase = "startup"

        async def watched_receive() -> Message:
            nonlocal phase
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                phase = "shutdown"
            return message

        async def watched_send(message: Message) -> None:
            if message["type"] in ("lifespan.startup.failed", "lifespan.shutdown.failed") and message.get("message"):
                self.causes.setdefault(phase, str(message["message"]).rstrip())
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # The exception itself beats the text the app sent (which frameworks make from it).
            self.causes[phase] = CapturedTraceback(exc)
            raise

    def hides(self, record: logging.LogRecord) -> bool:
        """Whether `record` is uvicorn's logged copy of a failure we know from the app."""
        return bool(self.causes) and is_lifespan_log_record(record)


async def _settle(recorder: Recorder, timeout: float) -> None:
    await asyncio.wait_for(recorder.settle(), timeout)


def _indented(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


class ServerThread:
    """What the server thread uses and owns; it never refers to the `LiveServer`."""

    def __init__(self, description: str, shutdown_timeout: float) -> None:
        self.description = description
        self.shutdown_timeout = shutdown_timeout
        self.config: uvicorn.Config | None = None
        self.socket: socket.socket | None = None
        self.certificate: GeneratedCertificate | None = None
        self.access_filter: ThreadLogFilter | None = None
        self.wsgi_adapter: Any = None
        self.recorder: Recorder | None = None
        self.lifespan: LifespanWatcher | None = None
        self.new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        self.log = ThreadLogCollector()
        self.log.addFilter(lambda record: not (self.lifespan is not None and self.lifespan.hides(record)))
        self.thread: threading.Thread | None = None
        self.started = threading.Event()
        self._ended = threading.Event()
        # The same moment as a future, for waits that also wait for something else.
        self._ended_future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.startup_failure: str | None = None
        self.startup_timed_out = False
        self.shutdown_failure: str | None = None
        self.crash: str | None = None
        self._crash_exception: BaseException | None = None
        self.cut_off: list[str] = []
        self.release_when_ended = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._startup_task: asyncio.Future[None] | None = None
        self._stop_asked = False
        self._startup_abandoned = False
        self._loop_answered: threading.Event | None = None
        self._released = False
        self._release_lock = threading.Lock()

    # -- used from the caller's thread ---------------------------------------------

    def launch(self) -> None:
        self.log.attach()
        self.thread = threading.Thread(target=self._run, name=f"liveasgi {self.description}", daemon=True)
        self.thread.start()

    def collect_log(self) -> None:
        """Collect uvicorn's log again (while stopping), unless already released."""
        with self._release_lock:
            if not self._released:
                self.log.attach()

    def is_alive(self) -> bool:
        return self.thread is not None and not self._ended.is_set()

    def join(self, timeout: float) -> None:
        if self.thread is None or self.thread is threading.current_thread():
            return
        # Not Thread.join(timeout): a KeyboardInterrupt inside it can mark a thread that is
        # still running as stopped (CPython 3.11/3.12, the bpo-45274 handling), and we could
        # never wait for it again.
        if self._ended.wait(timeout):
            self.thread.join()  # returns at once: the thread has nothing left to do

    def request_stop(self, abandon_startup: bool = False) -> None:
        """Ask the loop to shut down (cancelling a startup in progress when abandoned).
        Safe at any time: before the loop exists, while it runs, after it closed."""
        if abandon_startup:
            self._startup_abandoned = True
        self._stop_asked = True  # read by the thread if its loop is not set up yet
        loop, stop_requested, startup = self._loop, self._stop_requested, self._startup_task
        if loop is None or stop_requested is None:
            return
        try:
            if abandon_startup and startup is not None:
                loop.call_soon_threadsafe(startup.cancel)
            loop.call_soon_threadsafe(stop_requested.set)
        except RuntimeError:  # the loop has closed: the thread is ending or has ended
            pass

    def settle(self, timeout: float) -> None:
        loop, recorder = self._loop, self.recorder
        if loop is None or recorder is None or loop.is_closed():
            return
        if not recorder.busy:
            # Every request has returned, what it raised is recorded and uvicorn's log of
            # it written: a round trip through the loop (a thread hand-off, ~0.3 ms of CPU
            # per test) would wait for nothing.
            return
        if self._loop_answered is not None and not self._loop_answered.is_set():
            return  # the loop has not come back since the last timeout: it is blocked
        settling = _settle(recorder, timeout)
        try:
            waiting = asyncio.run_coroutine_threadsafe(settling, loop)
        except RuntimeError:  # the loop closed in between
            settling.close()
            return
        # No slack on top: with the app blocking the loop, the wait_for above cannot fire.
        # The thread may end first (the loop died): then nothing is left to wait for.
        done, _ = concurrent.futures.wait([waiting, self._ended_future], timeout, concurrent.futures.FIRST_COMPLETED)
        if waiting in done or self._ended_future in done:
            return
        waiting.cancel()
        answered = self._loop_answered = threading.Event()
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(answered.set)

    def release(self) -> None:
        """Give back what the caller's side holds; idempotent, never blocks."""
        with self._release_lock:
            if self._released:
                return
            self._released = True
            self.log.detach()
        if self.recorder is not None:
            self.recorder.log_filter.detach()
        if self.access_filter is not None:
            self.access_filter.detach()
        if self.thread is None and self.socket is not None:
            self.socket.close()  # once launched, the thread closes it when it ends
        if self.certificate is not None:
            self.certificate.remove()

    # -- the server thread -------------------------------------------------------------

    def _run(self) -> None:
        self.log.thread_id = threading.get_ident()
        if self.access_filter is not None:
            self.access_filter.attach(threading.get_ident())
        loop: asyncio.AbstractEventLoop | None = None
        pool = ServerThreadPool()
        try:
            loop = self.new_loop()
            loop.set_exception_handler(self._on_loop_exception)
            loop.set_default_executor(pool)
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # the thread must always report back
            cause = f"{type(exc).__name__}: {exc}"
            self._crash_exception = exc
            if not self.started.is_set():
                self.startup_failure = self.startup_failure or f"the server thread crashed: {cause}"
            else:
                self.crash = cause
        finally:
            if loop is not None:
                close_loop(loop, CLOSE_BUDGET, pool)
            pool.close()
            left = pool.calls_left()
            if left:
                # Python cannot stop a thread: the pool's threads end when their calls return.
                calls = "1 call" if left == 1 else f"{left} calls"
                self.cut_off.append(
                    f"{calls} in the event loop's thread pool (asyncio.to_thread, run_in_executor), "
                    "left running: a thread ends when its call returns"
                )
            if self.socket is not None:
                self.socket.close()
            # A closed loop (and what hangs on it) must not outlive the run.
            self._loop = self._stop_requested = self._startup_task = None
            self.started.set()
            # Ended first, then the flag: whichever of this thread and a finalizer setting
            # `release_when_ended` comes second sees the other's step and releases.
            self._ended.set()
            if self.release_when_ended:
                self.release()
            self._ended_future.set_result(None)

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        if exception is not None and (
            exception is self._crash_exception or isinstance(exception, (SystemExit, KeyboardInterrupt))
        ):
            # The task whose exception ended the loop (a task's SystemExit or
            # KeyboardInterrupt always does), logged by its finalizer whenever the garbage
            # collector gets to it, in any thread: inside another thread's or a nested
            # ast.parse, rendering its traceback ends that parse in "SystemError: AST
            # constructor recursion depth mismatch" on CPython 3.11. stop() reports it.
            # Under uvloop the task is collected while the exception is still on its way
            # out of the loop, before `_crash_exception` is set.
            return
        loop.default_exception_handler(context)

    async def _serve(self) -> None:
        assert self.config is not None
        assert self.socket is not None
        self._loop = asyncio.get_running_loop()
        self._stop_requested = stop_requested = asyncio.Event()
        send_no_session_tickets(self.config)
        server = uvicorn.Server(self.config)
        tracker = ConnectionTracker(server)
        server.lifespan = self.config.lifespan_class(self.config)
        self._startup_task = asyncio.ensure_future(guarded_startup(server, self.socket))
        if self._stop_asked:
            stop_requested.set()
            if self._startup_abandoned:
                self._startup_task.cancel()
        try:
            await self._start(server)
            if self.startup_failure is not None:
                return
            ticker = asyncio.ensure_future(refresh_headers_every_second(server))
            self.started.set()
            await stop_requested.wait()
            ticker.cancel()
            await self._shutdown(server, tracker)
        finally:
            # Whatever happened (failed startup, crash), nothing may keep serving.
            for listener in getattr(server, "servers", []):
                listener.close()
            if tracker.supported:
                tracker.abort_all()

    async def _start(self, server: uvicorn.Server) -> None:
        assert self._startup_task is not None
        error: BaseException | None = None
        try:
            await self._startup_task
        except asyncio.CancelledError:
            self.startup_failure = "startup was cancelled"
            return
        except Exception as exc:
            error = exc
        if lifespan_startup_failed(server, error):
            self.startup_failure = "lifespan startup failed" + self._lifespan_cause("startup")
        elif isinstance(error, UvicornExited):
            self.startup_failure = "uvicorn gave up during startup (see its log below)"
        elif error is not None:
            self.startup_failure = f"{type(error).__name__}: {error}"
        else:
            await refresh_default_headers(server)

    def _lifespan_cause(self, phase: str) -> str:
        # Rendered here, in the server thread, while the thread that started or stops
        # the server waits for it (see CapturedTraceback on why that matters).
        cause = self.lifespan.causes.get(phase) if self.lifespan is not None else None
        return f":\n{_indented(str(cause).rstrip())}" if cause else ""

    async def _shutdown(self, server: uvicorn.Server, tracker: ConnectionTracker) -> None:
        assert self._loop is not None
        assert self.recorder is not None
        drain = 0.0 if self._startup_abandoned else self.shutdown_timeout
        deadline = self._loop.time() + drain
        self.log.take()
        for listener in server.servers:
            listener.close()
        if tracker.supported:
            tracker.begin_shutdown()
            if not await tracker.wait_closed(drain):
                if not self._startup_abandoned:
                    self.cut_off = self.recorder.running_calls() or ["an open connection"]
                await tracker.cut_off(grace=CUT_OFF_GRACE)
        else:
            server.config.timeout_graceful_shutdown = max(int(drain), 1)
            await server.shutdown()
            return
        if self.wsgi_adapter is not None:
            close_wsgi_adapter(self.wsgi_adapter)
        budget = max(deadline - self._loop.time(), LIFESPAN_SHUTDOWN_MINIMUM)
        try:
            await asyncio.wait_for(server.lifespan.shutdown(), budget)
        except asyncio.TimeoutError:
            self.shutdown_failure = f"lifespan shutdown did not finish within {budget:.1f} s"
            return
        if lifespan_shutdown_failed(server):
            cause = self._lifespan_cause("shutdown")
            logged = self.log.take()
            self.shutdown_failure = "lifespan shutdown failed" + (cause or (f":\n{logged}" if logged else ""))
