"""pytest-liveasgi: a real, running ASGI server for your tests and scripts."""

from __future__ import annotations

from ._errors import LiveServerError, LiveServerWarning, OptionError, StartupError
from ._recorder import ServerException
from ._server import LiveServer

__all__ = [
    "LiveServer",
    "LiveServerError",
    "LiveServerWarning",
    "OptionError",
    "ServerException",
    "StartupError",
]
