"""The exchange log: a bounded record of the requests and WebSocket sessions a server
handled, for the report of a failing test (the server-side view of what a test did)."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

DEFAULT_EXCHANGE_LOG_SIZE = 50


@dataclass(frozen=True)
class Exchange:
    """One HTTP request or WebSocket session that the server handled."""

    request: str
    """What was asked, e.g. ``"GET /items?page=2"`` or ``"WebSocket /ws"``."""
    outcome: str
    """``"200"``, ``"500"``, ``"accepted, closed 1000"``, ``"no response (cut off)"``, …"""
    duration: float
    """Seconds from the request's arrival to the app's return."""
    error: str | None
    """For an exception that escaped the app: its type and message."""
    label: str | None
    """The label active when the request arrived (the plugin uses the test's node id)."""

    def __str__(self) -> str:
        line = f"{self.request} -> {self.outcome} in {self.duration * 1000:.1f} ms"
        return f"{line}  !! {self.error}" if self.error else line


class ExchangeLog:
    """The last `size` exchanges (0 keeps none); appends are O(1) and thread safe."""

    def __init__(self, size: int = DEFAULT_EXCHANGE_LOG_SIZE) -> None:
        self.size = size
        self._exchanges: collections.deque[Exchange] = collections.deque(maxlen=size)
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, exchange: Exchange) -> None:
        if self.size <= 0:
            return
        with self._lock:
            if len(self._exchanges) == self.size:
                self.dropped += 1
            self._exchanges.append(exchange)

    def snapshot(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)


def format_exchanges(exchanges: list[Exchange], running: list[str], limit: int) -> str:
    """The report text: one line an exchange, oldest first, then what is still running."""
    lines = [str(exchange) for exchange in exchanges]
    lines += [f"{call}  (still running)" for call in running]
    if len(exchanges) >= limit > 0:
        lines.insert(0, f"(the last {limit} exchanges; set asgi_exchange_log_size to keep more)")
    return "\n".join(lines) if lines else "(no requests reached the server)"
