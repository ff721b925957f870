"""An ASGI middleware that watches what the app does with each request.

It records the exceptions that escape the app while it serves a request or a
WebSocket, knows which calls are still running (to name them when a shutdown cuts
them off) and lets the caller wait until calls whose response is complete have
finished (Starlette answers 500 first and re-raises after).

What counts as the app's failure (SPEC §4): every exception that escapes it, also
after the response was sent (background tasks, dependency teardown, WebSocket
cleanup), except the disconnect exceptions themselves and whatever the app raises
once the client went away before the response was complete. uvicorn also answers
``receive()`` with ``http.disconnect`` once a response is complete (and streaming
responses listen for it): that message alone excuses nothing.

The wrapper runs on every request, so it avoids per-request work it can defer: one
slotted object per call, no event or closure per call, and the exchange-log entry
is built only when someone reads the log.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ._exchanges import Exchange, ExchangeLog
from ._logcapture import UvicornRecordFilter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Raised by frameworks and uvicorn once the client went away: not the app's fault.
_DISCONNECT_EXCEPTIONS = frozenset({"ClientDisconnect", "ClientDisconnected", "WebSocketDisconnect"})

_SERVER_FRAMES = (f"{os.sep}pytest_liveasgi{os.sep}", f"{os.sep}uvicorn{os.sep}")

# The messages after which an HTTP response is complete (the last body part, or a
# whole file by the pathsend extension).
_LAST_BODY = "http.response.body"
_PATHSEND = "http.response.pathsend"


@dataclass(frozen=True)
class ServerException:
    """An exception that escaped the app while it served a request or a WebSocket."""

    request: str
    """What was being served, e.g. ``"GET /items?page=2"`` or ``"WebSocket /ws"``."""
    exception: BaseException
    """The exception itself."""
    _captured: CapturedTraceback = field(repr=False, compare=False)
    label: str | None
    """The label that was active when the request arrived (the plugin uses the test's node id)."""

    @property
    def traceback(self) -> str:
        """The formatted server-side traceback (every sub-exception of an exception group)."""
        return self._captured.text

    def __str__(self) -> str:
        return f"{self.request}: {describe_exception(self.exception)}"


class _Call:
    """One HTTP request or WebSocket session while the app serves it, then its log entry.

    It holds nothing of uvicorn's (the exchange log keeps it): the `receive` and `send`
    that the app gets are closures made by `watch`, which an app may keep and call
    even after it returned."""

    __slots__ = (
        "close_code",
        "complete",
        "cut_off",
        "ended",
        "error",
        "gone",
        "label",
        "method",
        "path",
        "query",
        "root_path",
        "started",
        "status",
        "streaming",
        "waiter",
        "websocket",
    )

    def __init__(self, scope: Scope, label: str | None, websocket: bool) -> None:
        # The request line is built only when needed (most calls never need it).
        self.method: str | None = scope.get("method")
        self.path: str = scope.get("path", "")
        self.root_path: str | None = scope.get("root_path")
        self.query: bytes | None = scope.get("query_string")
        self.websocket = websocket
        self.label = label
        self.started = time.monotonic()
        self.ended = 0.0
        self.status: int | None = None
        self.close_code: int | None = None
        # The response is complete: the last body part was sent, or the WebSocket
        # session ended (either side closed it).
        self.complete = False
        # The client went away before the response was complete.
        self.gone = False
        self.streaming = False
        self.cut_off = False
        self.error: str | None = None
        self.waiter: asyncio.Future[None] | None = None

    @property
    def request(self) -> str:
        return _request_line(self.websocket, self.method, self.path, self.root_path, self.query)

    def watch(self, receive: Receive, send: Send) -> tuple[Receive, Send]:
        """The `receive` and `send` to give the app: uvicorn's, watched by this call."""
        call = self

        async def watched_receive() -> Message:
            message = await receive()
            kind = message["type"]
            if kind == "http.disconnect":
                # After a complete response uvicorn says "disconnect" to whoever
                # listens: only before it does the message mean that the client left.
                if not call.complete:
                    call.gone = True
            elif kind == "websocket.disconnect" and not call.complete:
                # The end of the session, however the client ended it: what the app
                # does after it (its cleanup) is still the app's doing.
                call.complete = True
                call.close_code = message.get("code", 1005)
            return message

        async def watched_send(message: Message) -> None:
            was_complete = call.complete
            kind = message["type"]
            if kind == _LAST_BODY:
                if message.get("more_body", False):
                    call.streaming = True
                else:
                    call.complete = True
            elif kind == "http.response.start" or kind == "websocket.http.response.start":
                call.status = message["status"]
            elif kind == "websocket.accept":
                call.status = 101
            elif kind == "websocket.close":
                call.close_code = message.get("code", 1000)
                call.complete = True
            elif kind == _PATHSEND or (kind == "websocket.http.response.body" and not message.get("more_body")):
                call.complete = True
            try:
                await send(message)
            except OSError:
                # uvicorn's ClientDisconnected (an OSError), or a transport that is gone.
                if not was_complete:
                    call.gone = True
                raise

        return watched_receive, watched_send

    def finish(self) -> None:
        self.ended = time.monotonic()
        # The exchange log keeps this call: it must not keep the loop alive.
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def describe(self, now: float) -> str:
        if self.websocket:
            state = "closed" if self.complete else "open"
        elif self.complete:
            state = "response sent"  # e.g. a background task that runs after the response
        else:
            state = "response streaming" if self.streaming else "no response yet"
        return f"{self.request} ({state}, running {now - self.started:.1f} s)"

    def outcome(self) -> str:
        if self.websocket:
            if self.status is None:
                return "cut off before accept" if self.cut_off else "closed before accept"
            if self.status != 101:
                return f"rejected {self.status}"
            if self.cut_off:
                return "accepted, cut off"
            return f"accepted, closed {self.close_code if self.close_code is not None else 1000}"
        if self.status is None:
            if self.cut_off:
                return "no response (cut off)"
            if self.gone:
                return "no response (the client went away)"
            return "500 (sent by uvicorn: no response from the app)"
        if self.cut_off and not self.complete:
            return f"{self.status}, response cut off"
        if self.gone:
            return f"{self.status}, the client went away before the end of the response"
        return str(self.status)

    def to_exchange(self) -> Exchange:
        return Exchange(self.request, self.outcome(), self.ended - self.started, self.error, self.label)


def describe_request(scope: Scope) -> str:
    """``"GET /items?page=2"`` or ``"WebSocket /ws"``."""
    return _request_line(
        scope["type"] == "websocket",
        scope.get("method"),
        scope.get("path", ""),
        scope.get("root_path"),
        scope.get("query_string"),
    )


def _request_line(websocket: bool, method: str | None, path: str, root_path: str | None, query: bytes | None) -> str:
    if root_path and not path.startswith(root_path):  # uvicorn < 0.26 left root_path out of path
        path = root_path + path
    if query:
        path = f"{path}?{query.decode('latin-1')}"
    if websocket:
        return "WebSocket " + path
    return f"{method or 'GET'} {path}"


class Recorder:
    """Wraps an ASGI app; thread safe for the readers (`take_exceptions`).

    With ``drop_logged_exceptions``, uvicorn's own log record of an exception that
    was recorded ("Exception in ASGI application" and its traceback) is left out of
    the logs (once `log_filter` is attached), so that a report shows it once.
    """

    def __init__(self, app: ASGIApp, exchange_log: ExchangeLog, *, drop_logged_exceptions: bool = False) -> None:
        self.app = app
        self.exchange_log = exchange_log
        self.label: str | None = None
        self.drop_logged_exceptions = drop_logged_exceptions
        self.log_filter = UvicornRecordFilter()
        self._lock = threading.Lock()
        self._exceptions: list[ServerException] = []
        self._running: set[_Call] = set()
        self._finishing = 0

    def _finished(self) -> None:
        self._finishing -= 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        call = _Call(scope, self.label, kind == "websocket")
        watched_receive, watched_send = call.watch(receive, send)
        running = self._running
        running.add(call)
        try:
            await self.app(scope, watched_receive, watched_send)
        except BaseException as exc:
            self._judge(call, exc)
            raise
        finally:
            running.discard(call)
            call.finish()
            self.exchange_log.add(call)
            self._busy_until_this_loop_step_ends()

    def _busy_until_this_loop_step_ends(self) -> None:
        # What uvicorn does right after the app returned or raised (it logs the exception,
        # sends its 500) runs in this same step of the loop: busy until then.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # A call cut off at stop, its task left pending when the loop closed, is being
            # closed by the garbage collector, outside any loop: nothing is left to wait for.
            return
        self._finishing += 1
        loop.call_soon(self._finished)

    def _judge(self, call: _Call, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError):
            call.cut_off = True
            return
        if call.gone:
            return  # raised because the client went away before the response was complete
        if not any(_is_failure(leaf) for leaf in _leaves(exc)):
            return  # disconnects (also inside an exception group) and interrupts
        call.error = describe_exception(exc)
        recorded = ServerException(call.request, exc, CapturedTraceback(exc), call.label)
        with self._lock:
            self._exceptions.append(recorded)
        if self.drop_logged_exceptions:
            # uvicorn logs it right after it escapes (no await in between): one slot does.
            self.log_filter.drop_next(exc)

    def take_exceptions(self) -> list[ServerException]:
        with self._lock:
            taken, self._exceptions = self._exceptions, []
        return taken

    @property
    def busy(self) -> bool:
        """Whether some request or WebSocket session is running in the app, or has just
        ended and uvicorn is still acting on how it ended."""
        return bool(self._running) or self._finishing > 0

    def running_calls(self) -> list[str]:
        now = time.monotonic()
        return sorted(call.describe(now) for call in list(self._running))

    async def settle(self) -> None:
        """Wait until every call whose response is complete has returned or raised."""
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        finishing = []
        for call in list(self._running):
            if call.complete and not call.gone:
                if call.waiter is None:
                    call.waiter = loop.create_future()
                finishing.append(call.waiter)
        if finishing:
            # Unlike gather, wait() leaves the futures alone when a timeout cancels it:
            # a later settle() can wait for them again.
            await asyncio.wait(finishing)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, or the innermost exceptions of an exception group."""
    inner: Sequence[BaseException] | None = getattr(exc, "exceptions", None)
    if isinstance(inner, Sequence) and _is_group(exc):
        for sub in inner:
            yield from _leaves(sub)
    else:
        yield exc


def _is_group(exc: BaseException) -> bool:
    # Python 3.10 has no BaseExceptionGroup: anyio uses the exceptiongroup backport.
    return any(cls.__name__ == "BaseExceptionGroup" for cls in type(exc).__mro__)


def _is_failure(exc: BaseException) -> bool:
    if not isinstance(exc, (Exception, SystemExit)):
        return False  # a cancellation or an interrupt
    return not any(cls.__name__ in _DISCONNECT_EXCEPTIONS for cls in type(exc).__mro__)


def describe_exception(exc: BaseException) -> str:
    """One line: ``"KeyError: 'x'"``; an exception group also names each sub-exception."""
    text = _one_line(exc)
    if _is_group(exc):
        text += " [" + "; ".join(_one_line(leaf) for leaf in _leaves(exc)) + "]"
    return text


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class CapturedTraceback:
    """The traceback of an exception from the app's own frames on (ours and uvicorn's
    dropped), with its causes and every sub-exception of an exception group.

    The server thread only captures it; the text is rendered on first use, in the
    thread that reports. Rendering parses source on Python 3.11 and later (for the
    ``^^^`` markers), and CPython 3.11 can fail with "SystemError: AST constructor
    recursion depth mismatch" in whichever thread parses while another thread does
    (gh-106905), pytest's own traceback formatting included."""

    def __init__(self, exc: BaseException) -> None:
        rendered = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
        if _is_group(exc) and not hasattr(rendered, "exceptions"):
            # Python 3.10, with the exceptiongroup backport's traceback patch switched off.
            backport: Any = importlib.import_module("exceptiongroup")
            self._render: Callable[[], Iterable[str]] = lambda: backport.format_exception(
                type(exc), exc, exc.__traceback__
            )
            return
        frames = rendered.stack
        first = 0
        while first < len(frames) and any(marker in (frames[first].filename or "") for marker in _SERVER_FRAMES):
            first += 1
        if first:
            rendered.stack = traceback.StackSummary.from_list(list(frames)[first:])
        self._render = rendered.format

    @cached_property
    def text(self) -> str:
        return "".join(self._render())

    def __str__(self) -> str:
        return self.text


def format_server_exceptions(
    exceptions: Sequence[ServerException],
    *,
    label: str | None = None,
    serving: str = "requests",
    what: str = "the app",
    during: str | None = None,
) -> str:
    """The report text for exceptions that escaped the app, used by `LiveServer.stop()`
    and by the plugin's report.

    Args:
        exceptions: what was recorded.
        label: the label of whom the report is for (the plugin: the test's node id);
            an exception whose request arrived under another label names that label.
        serving: what the app was serving, for the heading (``"this test"``).
        what: who raised them, for the heading.
        during: the heading's end instead of ``"while serving <serving>"``.
    """
    during = during if during is not None else f"while serving {serving}"
    lines = [f"{what} raised {len(exceptions)} unhandled exception(s) {during}:"]
    for recorded in exceptions:
        origin = ""
        if recorded.label is not None and recorded.label != label:
            origin = f" [request arrived during {recorded.label}]"
        lines.append(f"\n--- server-side traceback of {recorded.request}{origin} ---")
        lines.append(recorded.traceback.rstrip())
    return "\n".join(lines)
