"""pytest-liveasgi: a real, running ASGI server for your tests and scripts."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Imported on first use: pytest loads this package for every run (the plugin lives in
# it), and the server side imports uvicorn and httpx.
_HOMES = {
    "Exchange": "._exchanges",
    "LiveServer": "._server",
    "LiveServerError": "._errors",
    "LiveServerWarning": "._errors",
    "OptionError": "._errors",
    "ServerException": "._recorder",
    "StartupError": "._errors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
