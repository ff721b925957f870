"""The exception and warning classes of pytest-liveasgi."""

from __future__ import annotations


class LiveServerError(Exception):
    """Base class of every error raised by pytest-liveasgi."""


class StartupError(LiveServerError):
    """The server could not start: the app failed to load, its lifespan startup
    failed or hung, or the address could not be bound.

    The message names the app and the cause, including what uvicorn logged while
    starting.
    """


class OptionError(LiveServerError, TypeError):
    """An option given to `LiveServer`, a marker or the ini file is unknown or invalid."""


class LiveServerWarning(UserWarning):
    """Something was cut off or ignored while stopping a server (a request still
    running at the shutdown timeout, an open WebSocket, …)."""
