"""Every option of pytest-liveasgi in one table: name, type, default, check, help, ini key.

`LiveServer` checks its keywords here, and the plugin builds its command-line option,
ini keys, marker checks and did-you-mean from the same table. uvicorn is imported only
when a `uvicorn.Config` keyword has to be checked, never when this module is imported,
so loading the plugin stays cheap (SPEC §5).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import OptionError

DEFAULT_STARTUP_TIMEOUT = 10.0
DEFAULT_SHUTDOWN_TIMEOUT = 5.0
DEFAULT_EXCHANGE_LOG_SIZE = 50


# -- checks: each returns the value it accepts, or raises ValueError saying what is wrong --


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"must be a positive number of seconds, got {value!r}")
    return float(value)


def _flag(value: object) -> bool:
    # No truthy strings: "false" would be True.
    if not isinstance(value, bool):
        raise ValueError(f"must be True or False, got {value!r}")
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be a whole number >= 0, got {value!r}")
    return value


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"must be an integer from 0 to 65535, got {value!r}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _text_or_none(value: object) -> str | None:
    return None if value is None else _text(value)


_FLAG_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _from_text(kind: str, text: str) -> object:
    """An ini value (text in pytest < 8.4) as the type the option's check expects."""
    if kind == "seconds":
        try:
            return float(text)
        except ValueError:
            return text
    if kind in ("count", "port"):
        return int(text) if re.fullmatch(r"-?[0-9]+", text) else text
    return text


_CHECKS: dict[str, Callable[[object], Any]] = {
    "seconds": _seconds,
    "flag": _flag,
    "count": _count,
    "port": _port,
    "text": _text,
    "text or None": _text_or_none,
}


def _validate(kind: str, value: object, subject: str) -> Any:
    try:
        return _CHECKS[kind](value)
    except ValueError as problem:
        raise OptionError(f"{subject} {problem}") from None


class Option:
    """One keyword of `LiveServer`; the ones with an `ini` key are also ini options."""

    # A plain class, not a dataclass: every pytest run imports this module, and making a
    # dataclass costs more than the rest of the module.
    __slots__ = ("default", "help", "ini", "kind", "name")

    def __init__(self, name: str, kind: str, default: Any, help: str, ini: str | None = None) -> None:
        self.name = name
        self.kind = kind  # a key of _CHECKS
        self.default = default
        self.help = help
        self.ini = ini

    def __repr__(self) -> str:
        return f"Option({self.name!r}, {self.kind!r}, {self.default!r}, ini={self.ini!r})"

    def validate(self, value: object, subject: str) -> Any:
        """The checked value, or an `OptionError` "`subject` must be …"."""
        return _validate(self.kind, value, subject)

    def from_ini(self, raw: object, subject: str) -> Any:
        """Parse and check an ini value (text, or already typed by pytest or TOML)."""
        if self.kind == "flag" and isinstance(raw, str):
            if raw.strip().lower() not in _FLAG_WORDS:
                raise OptionError(f"{subject} must be true or false, got {raw.strip()!r}")
            return _FLAG_WORDS[raw.strip().lower()]
        value = _from_text(self.kind, raw.strip()) if isinstance(raw, str) else raw
        return self.validate(value, subject)

    def ini_type(self, numeric_types: bool) -> str | None:
        """The type pytest parses the ini key as (pytest < 8.4 has no "int" / "float")."""
        if self.kind == "flag":
            return "bool"
        if self.kind in ("seconds", "count", "port") and numeric_types:
            return "float" if self.kind == "seconds" else "int"
        return None


# The keywords of `LiveServer` other than the app and `**uvicorn_options`
# (tests/test_plugin.py checks this table against LiveServer.__init__).
SERVER_OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option("host", "text", "127.0.0.1", "the address to bind"),
        Option("port", "port", 0, "the port to bind; 0 lets the OS pick a free one"),
        Option("https", "flag", False, "serve TLS with a throwaway certificate (needs trustme)"),
        Option(
            "startup_timeout",
            "seconds",
            DEFAULT_STARTUP_TIMEOUT,
            "seconds a live server may take to start (app import, lifespan startup) before the test "
            f"errors (default {DEFAULT_STARTUP_TIMEOUT:g})",
            ini="asgi_startup_timeout",
        ),
        Option(
            "shutdown_timeout",
            "seconds",
            DEFAULT_SHUTDOWN_TIMEOUT,
            "seconds a live server gives open requests, streams and WebSockets when it stops, "
            f"before cutting them off (default {DEFAULT_SHUTDOWN_TIMEOUT:g})",
            ini="asgi_shutdown_timeout",
        ),
        Option(
            "raise_server_exceptions",
            "flag",
            True,
            "make a test ERROR when the app raised an unhandled exception while serving it (default true)",
            ini="asgi_raise_server_exceptions",
        ),
        Option(
            "exchange_log_size",
            "count",
            DEFAULT_EXCHANGE_LOG_SIZE,
            "how many of the last requests and WebSocket sessions of each live server a test report "
            "lists (shown for failing tests, and for passing ones with -rP / -rA); 0 turns the "
            f"exchange log off (default {DEFAULT_EXCHANGE_LOG_SIZE})",
            ini="asgi_exchange_log_size",
        ),
        Option("description", "text or None", None, "how messages name the app (default: derived from it)"),
    )
}

APP_HELP = "the ASGI app to serve, as an import string 'package.module:attribute'"
SERVER_OPTIONS_INI = "asgi_server_options"
SERVER_OPTIONS_HELP = (
    "more server options for every live server, one 'name = value' a line: LiveServer keywords "
    "or uvicorn.Config options, e.g. 'lifespan = off' or 'root_path = /api' (values are "
    "Python literals or plain text)"
)

# uvicorn.Config keywords LiveServer decides itself, with the reason shown to the user.
RESERVED_OPTIONS = {
    "app": "pass the app as the first argument",
    "host": "use the `host` argument of LiveServer (or the marker option `host=`)",
    "port": "use the `port` argument of LiveServer (or the marker option `port=`)",
    "uds": "LiveServer serves TCP on a socket it binds itself",
    "fd": "LiveServer serves TCP on a socket it binds itself",
    "workers": "the server runs in a thread of the test process; there are no workers",
    "reload": "the server runs in a thread of the test process; reload is not possible",
    "reload_dirs": "the server runs in a thread of the test process; reload is not possible",
    "reload_includes": "the server runs in a thread of the test process; reload is not possible",
    "reload_excludes": "the server runs in a thread of the test process; reload is not possible",
    "reload_delay": "the server runs in a thread of the test process; reload is not possible",
    "log_config": (
        "pytest-liveasgi never reconfigures the process's logging (uvicorn's log_config "
        "closes every handler); configure the 'uvicorn' loggers yourself"
    ),
    "timeout_graceful_shutdown": "use `shutdown_timeout`",
    "log_level": (
        "uvicorn would set the level of the 'uvicorn' loggers for the whole process and never "
        "undo it; set levels yourself (caplog.set_level(...), or logging.getLogger('uvicorn').setLevel(...))"
    ),
    "limit_max_requests": "the server runs until the fixture or stop() ends it",
}


# -- checking whole sets of options ------------------------------------------------------


def check_timeout(name: str, value: object, source: str = "LiveServer") -> float:
    """A positive number of seconds, or an `OptionError` naming `name` and `source`."""
    return float(_validate("seconds", value, f"{source}: {name}"))


def check_flag(name: str, value: object, source: str = "LiveServer") -> bool:
    """A real bool, or an `OptionError` naming `name` and `source` (no truthy strings)."""
    return bool(_validate("flag", value, f"{source}: {name}"))


def check_option(name: str, value: object, source: str = "LiveServer") -> Any:
    """Check one `LiveServer` keyword by the table."""
    return SERVER_OPTIONS[name].validate(value, f"{source}: {name}")


def check_uvicorn_options(options: Mapping[str, Any], source: str = "LiveServer") -> dict[str, Any]:
    """Reject unknown or reserved `uvicorn.Config` keywords, naming them and `source`."""
    if not options:
        return {}
    from ._uvicorn_compat import config_option_names  # imports uvicorn

    known = config_option_names()
    for name in options:
        if name in RESERVED_OPTIONS:
            raise OptionError(f"{source}: option {name!r} is not supported: {RESERVED_OPTIONS[name]}")
        if name not in known:
            raise OptionError(unknown_option_message(name, source, known))
    return dict(options)


def check_server_options(options: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check a mix of `LiveServer` keywords and uvicorn options (a marker, the ini file)."""
    ours = {name: check_option(name, value, source) for name, value in options.items() if name in SERVER_OPTIONS}
    uvicorn_options = check_uvicorn_options({n: v for n, v in options.items() if n not in SERVER_OPTIONS}, source)
    return {**uvicorn_options, **ours}


def unknown_option_message(name: str, source: str, uvicorn_names: frozenset[str]) -> str:
    """Name the unknown option, suggest the closest of ours and uvicorn's, and say what both are."""
    import difflib  # only on this error path: not every pytest run should import it
    from importlib.metadata import version

    ours = [option for option in SERVER_OPTIONS if option != "description"]
    candidates = [*ours, *sorted(uvicorn_names - RESERVED_OPTIONS.keys() - SERVER_OPTIONS.keys())]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.7)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"{source}: unknown server option {name!r}{hint}; server options are LiveServer's own "
        f"({', '.join(ours)}) and the keyword arguments of uvicorn.Config (uvicorn {version('uvicorn')})"
    )


def flag_options() -> frozenset[str]:
    """The options that are True or False: LiveServer's and uvicorn's (imports uvicorn)."""
    from ._uvicorn_compat import flag_option_names

    return flag_option_names() | {name for name, option in SERVER_OPTIONS.items() if option.kind == "flag"}


def parse_server_option_lines(lines: list[str], source: str = f"ini option {SERVER_OPTIONS_INI}") -> dict[str, Any]:
    """Parse ``name = value`` lines (the ``asgi_server_options`` ini key) and check them."""
    options: dict[str, Any] = {}
    flags = flag_options() if lines else frozenset()
    for line in lines:
        name, equals, raw = (part.strip() for part in str(line).partition("="))
        if not equals or not name:
            raise OptionError(f"{source}: {line!r} is not of the form 'name = value'")
        option = SERVER_OPTIONS.get(name) or (Option(name, "flag", None, "") if name in flags else None)
        options[name] = option.from_ini(raw, f"{source}: {name}") if option else _literal(raw)
    return check_server_options(options, source)


def _literal(raw: str) -> Any:
    """A Python literal (``5``, ``None``, ``[("x-test", "1")]``), true / false, or the text."""
    # "on" / "off" stay text: uvicorn's lifespan option takes them as words.
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


# -- the app -------------------------------------------------------------------------------

_DOTTED_NAME = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")


def import_string_problem(spec: str) -> str | None:
    """What is wrong with an import string ``package.module:attribute``, or None."""
    module, colon, attribute = spec.partition(":")
    if not colon:
        example = f"{spec}:app" if _DOTTED_NAME.fullmatch(spec) else "package.module:app"
        return f"has no ':' between the module and the app's name (e.g. {example!r})"
    if not module.strip():
        return "names no module before the ':'"
    if not attribute.strip():
        return f"names no attribute after the ':' (e.g. '{module}:app')"
    if ":" in attribute:
        return "has more than one ':'"
    for part, what in ((module, "module"), (attribute, "attribute")):
        if not _DOTTED_NAME.fullmatch(part):
            return f"has {what} {part!r}, which is not a dotted Python name"
    return None
