"""pytest-liveasgi: a real, running ASGI server for your tests and scripts."""

from __future__ import annotations

from ._errors import LiveServerError, LiveServerWarning, OptionError, StartupError
from ._exchanges import Exchange
from ._recorder import ServerException
from ._server import LiveServer

__all__ = [
    "Exchange",
    "LiveServer",
    "LiveServerError",
    "LiveServerWarning",
    "OptionError",
    "ServerException",
    "StartupError",
]
