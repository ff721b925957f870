"""Where the app and the server options come from: CLI, ini and markers."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import pytest

from ._errors import LiveServerError
from ._exchanges import DEFAULT_EXCHANGE_LOG_SIZE
from ._options import check_timeout, check_uvicorn_options
from ._server import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT
from ._uvicorn_compat import flag_option_names

MARKER = "asgi_app"

HELP_APP = "the ASGI app to serve, as an import string 'package.module:attribute'"
HELP_STARTUP_TIMEOUT = (
    f"seconds a live server may take to start (app import, lifespan startup) before the "
    f"test errors (default {DEFAULT_STARTUP_TIMEOUT:g})"
)
HELP_SHUTDOWN_TIMEOUT = (
    f"seconds a live server gives open requests, streams and WebSockets when it stops, "
    f"before cutting them off (default {DEFAULT_SHUTDOWN_TIMEOUT:g})"
)
HELP_RAISE = "make a test ERROR when the app raised an unhandled exception while serving it (default true)"
HELP_EXCHANGE_LOG = (
    f"how many of the last requests and WebSocket sessions of each live server a test report "
    f"lists (shown for failing tests, and for passing ones with -rP / -rA); 0 turns the "
    f"exchange log off (default {DEFAULT_EXCHANGE_LOG_SIZE})"
)
HELP_SERVER_OPTIONS = (
    "more uvicorn.Config options for every live server, one 'name = value' a line, "
    "e.g. 'lifespan = off' or 'root_path = /api' (values are Python literals or plain text)"
)

# The LiveServer keywords that are not uvicorn.Config options.
SERVER_KEYWORDS = frozenset(
    {"host", "port", "https", "startup_timeout", "shutdown_timeout", "raise_server_exceptions", "exchange_log_size"}
)

NO_APP_MESSAGE = """no ASGI app is configured for this test. Give one in any of these ways:
  1. @pytest.mark.asgi_app("package.module:app") on the test, its class, or its module (pytestmark)
  2. an asgi_app fixture that returns the app, e.g. in conftest.py:
         @pytest.fixture
         def asgi_app():
             return create_app(testing=True)
  3. --asgi-app package.module:app on the command line
  4. asgi_app = package.module:app in the pytest ini file (pytest.ini, pyproject.toml, tox.ini, setup.cfg)"""


class NoAppError(LiveServerError):
    """No app was configured in any of the four ways."""


@dataclass(frozen=True)
class Settings:
    """The session-wide settings from the command line and the ini file."""

    app: str | None
    app_source: str
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.app is None:
            return "no app configured (marker or asgi_app fixture only)"
        return f"app {self.app!r} (from {self.app_source})"


SETTINGS = pytest.StashKey[Settings]()


@dataclass(frozen=True)
class MarkerSettings:
    """What the `asgi_app` markers on one test say."""

    app: Any
    app_source: str
    options: dict[str, Any]

    @property
    def has_app(self) -> bool:
        return self.app is not None


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("liveasgi", "live ASGI server (pytest-liveasgi)")
    group.addoption("--asgi-app", dest="asgi_app", metavar="MODULE:ATTRIBUTE", default=None, help=HELP_APP)
    parser.addini("asgi_app", HELP_APP, default=None)
    parser.addini("asgi_startup_timeout", HELP_STARTUP_TIMEOUT, default=None)
    parser.addini("asgi_shutdown_timeout", HELP_SHUTDOWN_TIMEOUT, default=None)
    parser.addini("asgi_raise_server_exceptions", HELP_RAISE, type="bool", default=True)
    parser.addini("asgi_exchange_log_size", HELP_EXCHANGE_LOG, default=None)
    parser.addini("asgi_server_options", HELP_SERVER_OPTIONS, type="linelist", default=[])


def read_settings(config: pytest.Config) -> Settings:
    """Read and check the CLI and ini settings; a bad value is a `pytest.UsageError`."""
    try:
        return _read_settings(config)
    except LiveServerError as exc:
        raise pytest.UsageError(str(exc)) from None


def _read_settings(config: pytest.Config) -> Settings:
    cli_app = config.getoption("asgi_app")
    ini_app = config.getini("asgi_app") or None
    if cli_app:
        app, source = cli_app, "--asgi-app"
    elif ini_app:
        app, source = str(ini_app).strip(), "ini option asgi_app"
    else:
        app, source = None, ""
    options: dict[str, Any] = {
        "startup_timeout": _ini_seconds(config, "asgi_startup_timeout", DEFAULT_STARTUP_TIMEOUT),
        "shutdown_timeout": _ini_seconds(config, "asgi_shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT),
        "raise_server_exceptions": bool(config.getini("asgi_raise_server_exceptions")),
        "exchange_log_size": _ini_count(config, "asgi_exchange_log_size", DEFAULT_EXCHANGE_LOG_SIZE),
    }
    options.update(_ini_server_options(config))
    return Settings(app, source, options)


def _ini_seconds(config: pytest.Config, key: str, default: float) -> float:
    raw = config.getini(key)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = float(str(raw).strip())
    except ValueError:
        value = raw
    return check_timeout(key, value, source=f"ini option {key}")


def _ini_count(config: pytest.Config, key: str, default: int) -> int:
    raw = config.getini(key)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip()
    if not text.isdigit():
        raise LiveServerError(f"ini option {key}: must be a whole number >= 0, got {text!r}")
    return int(text)


def _ini_server_options(config: pytest.Config) -> dict[str, Any]:
    source = "ini option asgi_server_options"
    options: dict[str, Any] = {}
    for line in config.getini("asgi_server_options"):
        name, equals, raw = (part.strip() for part in str(line).partition("="))
        if not equals or not name:
            raise LiveServerError(f"{source}: {line!r} is not of the form 'name = value'")
        options[name] = parse_ini_flag(name, raw, source) if name in flag_options() else parse_ini_value(raw)
    server_keywords = {name: options.pop(name) for name in list(options) if name in SERVER_KEYWORDS}
    for name in ("startup_timeout", "shutdown_timeout"):
        if name in server_keywords:
            check_timeout(name, server_keywords[name], source=source)
    return {**check_uvicorn_options(options, source=source), **server_keywords}


_FLAG_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def flag_options() -> frozenset[str]:
    """The options that are True or False: LiveServer's and uvicorn's."""
    return flag_option_names() | {"https", "raise_server_exceptions"}


def parse_ini_flag(name: str, raw: str, source: str) -> bool:
    """true/false (or yes/no, on/off, 1/0) for an option that is a flag, else an error."""
    try:
        return _FLAG_WORDS[raw.lower()]
    except KeyError:
        raise LiveServerError(f"{source}: {name} must be true or false, got {raw!r}") from None


def parse_ini_value(raw: str) -> Any:
    """A Python literal (``5``, ``None``, ``[("x-test", "1")]``), true / false, or the text."""
    # "on" / "off" stay text: uvicorn's lifespan option takes them as words.
    lowered = raw.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def read_markers(item: pytest.Item) -> MarkerSettings:
    """The app from the closest marker that names one; options merged outermost first."""
    marks = list(item.iter_markers(MARKER))
    where = f"@pytest.mark.{MARKER} on {item.nodeid}"
    app: Any = None
    for mark in marks:
        if len(mark.args) > 1:
            raise LiveServerError(
                f"{where}: takes at most one positional argument (the app), got {len(mark.args)}; "
                "give server options as keywords"
            )
        if mark.args and app is None:
            app = mark.args[0]
    options: dict[str, Any] = {}
    for mark in reversed(marks):
        options.update(mark.kwargs)
    uvicorn_options = {name: value for name, value in options.items() if name not in SERVER_KEYWORDS}
    check_uvicorn_options(uvicorn_options, source=where)
    for name in ("startup_timeout", "shutdown_timeout"):
        if name in options:
            check_timeout(name, options[name], source=where)
    return MarkerSettings(app, where, options)
