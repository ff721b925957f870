"""An ASGI middleware that watches what the app does with each request.

It records the exceptions that escape the app while it serves a request or a
WebSocket, knows which calls are still running (to name them when a shutdown cuts
them off) and lets the caller wait until calls whose response is complete have
finished (Starlette answers 500 first and re-raises after).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ._exchanges import Exchange, ExchangeLog

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Raised by frameworks and uvicorn once the client went away: not the app's fault.
_DISCONNECT_EXCEPTIONS = frozenset({"ClientDisconnect", "ClientDisconnected", "WebSocketDisconnect"})


_SERVER_FRAMES = (f"{os.sep}pytest_liveasgi{os.sep}", f"{os.sep}uvicorn{os.sep}")


@dataclass(frozen=True)
class ServerException:
    """An exception that escaped the app while it served a request or a WebSocket."""

    request: str
    """What was being served, e.g. ``"GET /items?page=2"`` or ``"WebSocket /ws"``."""
    exception: BaseException
    """The exception itself."""
    traceback: str
    """The formatted server-side traceback."""
    label: str | None
    """The label that was active when the request arrived (the plugin uses the test's node id)."""

    def __str__(self) -> str:
        return f"{self.request}: {type(self.exception).__name__}: {self.exception}"


@dataclass(eq=False)
class _Call:
    request: str
    started: float
    label: str | None
    response_complete: bool = False
    disconnected: bool = False
    streaming: bool = False
    status: int | None = None
    close_code: int | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def describe(self, now: float) -> str:
        state = "response streaming" if self.streaming else "no response yet"
        if self.request.startswith("WebSocket"):
            state = "open"
        return f"{self.request} ({state}, running {now - self.started:.1f} s)"

    def outcome(self, cut_off: bool) -> str:
        if self.request.startswith("WebSocket"):
            if self.status is None:
                return "cut off before accept" if cut_off else "closed before accept"
            if self.status != 101:
                return f"rejected {self.status}"
            if cut_off:
                return "accepted, cut off"
            return f"accepted, closed {self.close_code if self.close_code is not None else 1000}"
        if self.status is None:
            return "no response (cut off)" if cut_off else "500 (sent by uvicorn: no response from the app)"
        if cut_off and not self.response_complete:
            return f"{self.status}, response cut off"
        return str(self.status)


def describe_request(scope: Scope) -> str:
    path, root_path = scope.get("path", ""), scope.get("root_path", "")
    if root_path and not path.startswith(root_path):  # uvicorn < 0.26 left root_path out of path
        path = root_path + path
    query = scope.get("query_string", b"")
    if query:
        path += "?" + query.decode("latin-1")
    if scope["type"] == "websocket":
        return f"WebSocket {path}"
    return f"{scope.get('method', 'GET')} {path}"


class Recorder:
    """Wraps an ASGI app; thread safe for the readers (`take_exceptions`)."""

    def __init__(self, app: ASGIApp, exchange_log: ExchangeLog) -> None:
        self.app = app
        self.exchange_log = exchange_log
        self.label: str | None = None
        self._lock = threading.Lock()
        self._exceptions: list[ServerException] = []
        self._running: set[_Call] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        call = _Call(describe_request(scope), time.monotonic(), self.label)

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] in ("http.disconnect", "websocket.disconnect"):
                call.disconnected = True
                call.close_code = message.get("code", call.close_code)
            return message

        async def watched_send(message: Message) -> None:
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                call.status = message["status"]
            elif kind == "websocket.accept":
                call.status = 101
            elif kind == "websocket.close":
                call.close_code = message.get("code", 1000)
            if kind == "http.response.body":
                if message.get("more_body", False):
                    call.streaming = True
                else:
                    call.response_complete = True
            elif kind in ("websocket.close", "websocket.http.response.body"):
                call.response_complete = True
            await send(message)

        self._running.add(call)
        cut_off = False
        try:
            await self.app(scope, watched_receive, watched_send)
        except asyncio.CancelledError:
            cut_off = True
            raise
        except (Exception, SystemExit) as exc:
            if not call.disconnected and not _is_disconnect(exc):
                call.error = f"{type(exc).__name__}: {exc}"
                self._record(call, exc)
            raise
        finally:
            self._running.discard(call)
            call.done.set()
            outcome = call.outcome(cut_off)
            self.exchange_log.add(
                Exchange(call.request, outcome, time.monotonic() - call.started, call.error, call.label)
            )

    def _record(self, call: _Call, exc: BaseException) -> None:
        text = format_app_traceback(exc)
        with self._lock:
            self._exceptions.append(ServerException(call.request, exc, text, call.label))

    def take_exceptions(self) -> list[ServerException]:
        with self._lock:
            taken, self._exceptions = self._exceptions, []
        return taken

    def running_calls(self) -> list[str]:
        now = time.monotonic()
        return sorted(call.describe(now) for call in list(self._running))

    async def settle(self) -> None:
        """Wait until every call whose response is complete has returned or raised."""
        await asyncio.sleep(0)
        finishing = [call.done.wait() for call in list(self._running) if call.response_complete]
        if finishing:
            await asyncio.gather(*finishing)


def format_app_traceback(exc: BaseException) -> str:
    """The traceback of `exc` from the app's own frames on (ours and uvicorn's dropped)."""
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and any(marker in frames[0].filename for marker in _SERVER_FRAMES):
        frames = traceback.StackSummary.from_list(frames[1:])
    lines = ["Traceback (most recent call last):\n", *frames.format()]
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def _is_disconnect(exc: BaseException) -> bool:
    return any(cls.__name__ in _DISCONNECT_EXCEPTIONS for cls in type(exc).__mro__)


def format_server_exceptions(exceptions: list[ServerException]) -> str:
    """The report text for exceptions that escaped the app."""
    parts = [f"{len(exceptions)} exception(s) escaped the app while it served requests:"]
    for recorded in exceptions:
        parts.append(f"--- {recorded.request} ---\n{recorded.traceback.rstrip()}")
    return "\n".join(parts)
