"""The exchange log: a bounded record of the requests and WebSocket sessions a server
handled, for the report of a failing test (the server-side view of what a test did)."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Protocol

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

    def to_exchange(self) -> Exchange:
        return self


class _Entry(Protocol):
    @property
    def label(self) -> str | None: ...

    def to_exchange(self) -> Exchange: ...


class ExchangeLog:
    """The last `size` exchanges (0 keeps none); appends are O(1) and thread safe.

    It keeps what it is given (an `Exchange`, or the recorder's finished call) and
    builds the `Exchange` objects only when read: most logs are never read."""

    def __init__(self, size: int = DEFAULT_EXCHANGE_LOG_SIZE) -> None:
        self.size = size
        self._entries: collections.deque[_Entry] = collections.deque(maxlen=max(size, 0))

    def add(self, entry: _Entry) -> None:
        # A deque's append and copy are each atomic: no lock needed (maxlen 0 keeps none).
        self._entries.append(entry)

    def snapshot(self, label: str | None = None) -> list[Exchange]:
        """The exchanges, oldest first; with `label`, only those made under it."""
        entries = self._entries.copy()
        return [entry.to_exchange() for entry in entries if label is None or entry.label == label]


def format_exchanges(exchanges: list[Exchange], running: list[str], limit: int) -> str:
    """The report text: one line an exchange, oldest first, then what is still running."""
    lines = [str(exchange) for exchange in exchanges]
    lines += [f"{call}  (still running)" for call in running]
    if len(exchanges) >= limit > 0:
        lines.insert(0, f"(the last {limit} exchanges; set asgi_exchange_log_size to keep more)")
    return "\n".join(lines) if lines else "(no requests reached the server)"
