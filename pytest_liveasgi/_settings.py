"""What a test's live server should be: the session settings (command line and ini file,
read once at configure time), the `asgi_app` markers of a test (read once per test),
and which app and options that makes.

Nothing here imports uvicorn, httpx or the server: that happens when a server starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._errors import LiveServerError, OptionError
from ._loading import describe_app, load_app
from ._options import (
    APP_HELP,
    SERVER_OPTIONS,
    SERVER_OPTIONS_HELP,
    SERVER_OPTIONS_INI,
    check_server_options,
    import_string_problem,
    parse_server_option_lines,
)

if TYPE_CHECKING:
    from ._server import LiveServer

MARKER = "asgi_app"
SERVER = "asgi_live_server"
SESSION_SERVER = "asgi_live_server_session"
CLIENT = "asgi_live_server_client"
FACTORY = "asgi_live_server_factory"
# The short names, registered only while no other plugin defines `live_server`.
ALIASES = {
    "live_server": SERVER,
    "live_server_session": SESSION_SERVER,
    "live_server_client": CLIENT,
    "live_server_factory": FACTORY,
}
# Marker options that still mean something for a test on the shared session server.
_PER_TEST_OPTIONS = frozenset({"raise_server_exceptions"})

NO_APP_MESSAGE = """no ASGI app is configured for this test. Give one in any of these ways:
  1. @pytest.mark.asgi_app("package.module:app") on the test, its class, or its module (pytestmark)
  2. an asgi_app fixture that returns the app, e.g. in conftest.py:
         @pytest.fixture
         def asgi_app():
             return create_app(testing=True)
  3. --asgi-app package.module:app on the command line
  4. asgi_app = package.module:app in the pytest ini file (pytest.ini, pyproject.toml, tox.ini, setup.cfg)"""

NO_SESSION_APP_MESSAGE = (
    f"{SESSION_SERVER} serves the app configured for the whole session, and none is: "
    "give --asgi-app package.module:app or 'asgi_app = package.module:app' in the pytest "
    f"ini file (markers and the asgi_app fixture configure {SERVER}, the per-test server)"
)


class NoAppError(LiveServerError):
    """No app was configured in any of the four ways."""


# -- session settings: command line and ini file ---------------------------------------------


class Settings:
    """The session-wide settings from the command line and the ini file."""

    # Plain classes here, not dataclasses: every pytest run imports this module, and
    # making a dataclass costs more than everything else the plugin does at import.
    __slots__ = ("app", "app_fixture_owner", "app_source", "live_server_owner", "options")

    def __init__(
        self,
        app: str | None,
        app_source: str,
        options: dict[str, Any],
        live_server_owner: str | None = None,
        app_fixture_owner: str | None = None,
    ) -> None:
        self.app = app
        self.app_source = app_source
        self.options = options
        # Another plugin that defines `live_server` (then our short names are off).
        self.live_server_owner = live_server_owner
        # A conftest.py (loaded at startup) that overrides the `asgi_app` fixture.
        self.app_fixture_owner = app_fixture_owner

    @property
    def app_description(self) -> str:
        return f"{self.app!r} from {self.app_source}"

    def header(self, uvicorn_version: str) -> str:
        """The `liveasgi:` line of the report header."""
        if self.app is not None:
            app = f"app {self.app!r} (from {self.app_source})"
        elif self.app_fixture_owner is not None:
            app = f"app from the asgi_app fixture ({self.app_fixture_owner})"
        else:
            app = "app per test (@pytest.mark.asgi_app or an asgi_app fixture)"
        line = (
            f"liveasgi: {app}, uvicorn {uvicorn_version}, startup_timeout {self.options['startup_timeout']:g} s, "
            f"shutdown_timeout {self.options['shutdown_timeout']:g} s"
        )
        if self.live_server_owner is not None:
            line += f"; live_server is {self.live_server_owner}'s, use {SERVER}"
        return line


SETTINGS = pytest.StashKey[Settings]()


def installed_version(distribution: str) -> str:
    """The version of an installed distribution, from its metadata, without importing it."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import distribution as find

    try:
        found = find(distribution)
    except PackageNotFoundError:
        return "not installed"
    # `Distribution.version` parses the whole METADATA file with the email package,
    # which costs more than the rest of a plugin-less pytest run's header; the
    # version is one line of its first section.
    for line in (found.read_text("METADATA") or "").splitlines():
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
        if not line:
            break
    return str(found.version)


def add_options(parser: pytest.Parser) -> None:
    """The command-line option and the ini keys, with one help text each (from the option table)."""
    numeric_types = pytest.version_tuple >= (8, 4)  # pytest 8.4 added the "int" and "float" ini types
    group = parser.getgroup("liveasgi", "live ASGI server (pytest-liveasgi)")
    group.addoption("--asgi-app", dest="asgi_app", metavar="MODULE:ATTRIBUTE", default=None, help=APP_HELP)
    parser.addini("asgi_app", APP_HELP, default=None)
    for option in SERVER_OPTIONS.values():
        if option.ini is not None:
            default = option.default if option.kind == "flag" else None
            parser.addini(option.ini, option.help, type=option.ini_type(numeric_types), default=default)  # type: ignore[arg-type]
    parser.addini(SERVER_OPTIONS_INI, SERVER_OPTIONS_HELP, type="linelist", default=[])


def read_settings(config: pytest.Config) -> Settings:
    """Read and check the command line and ini file; a bad value is a `pytest.UsageError`."""
    try:
        app, app_source = _configured_app(config)
        options = {name: option.default for name, option in SERVER_OPTIONS.items() if option.ini is not None}
        for name, option in SERVER_OPTIONS.items():
            if option.ini is not None:
                raw = _getini(config, option.ini)
                if raw is not None and raw != "":
                    options[name] = option.from_ini(raw, f"ini option {option.ini}")
        options.update(parse_server_option_lines(config.getini(SERVER_OPTIONS_INI)))
    except LiveServerError as exc:
        raise pytest.UsageError(str(exc)) from None
    live_server_owner, app_fixture_owner = _fixture_owners(config)
    return Settings(app, app_source, options, live_server_owner, app_fixture_owner)


def _configured_app(config: pytest.Config) -> tuple[str | None, str]:
    cli_app = config.getoption("asgi_app")
    ini_app = str(config.getini("asgi_app") or "").strip()
    app, source = (cli_app, "--asgi-app") if cli_app else (ini_app or None, "ini option asgi_app")
    if app is not None:
        problem = import_string_problem(app)
        if problem is not None:
            raise OptionError(f"{source} {app!r} is not an import string 'package.module:attribute': it {problem}")
    return app, source


def _getini(config: pytest.Config, key: str) -> Any:
    try:
        return config.getini(key)
    except (ValueError, TypeError, pytest.UsageError) as exc:
        # pytest >= 8.4 parses typed keys itself and says e.g. "could not convert string
        # to float: 'soon'"; keep the value so that our message names the key once.
        quoted = re.search(r"'([^']*)'\s*$", str(exc))
        return quoted.group(1) if quoted else str(exc)


def _fixture_owners(config: pytest.Config) -> tuple[str | None, str | None]:
    """The plugin that defines fixture `live_server` and the conftest.py that defines
    `asgi_app`, other than us (None where there is none), in one pass over the plugins."""
    live_server_owner: str | None = None
    app_fixture_owner: str | None = None
    for plugin_name, plugin in config.pluginmanager.list_name_plugin():
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        if plugin is None or module.startswith("pytest_liveasgi"):
            continue
        path = getattr(plugin, "__file__", None) or ""
        if path.endswith("conftest.py"):
            if app_fixture_owner is None and _is_fixture(getattr(plugin, "asgi_app", None)):
                app_fixture_owner = _relative(config, Path(path))
        elif live_server_owner is None and _is_fixture(getattr(plugin, "live_server", None)):
            live_server_owner = _distribution_name(config, plugin) or plugin_name
    return live_server_owner, app_fixture_owner


def _distribution_name(config: pytest.Config, plugin: object) -> str | None:
    for found, dist in config.pluginmanager.list_plugin_distinfo():
        if found is plugin:
            return str(dist.project_name)
    return None


def _relative(config: pytest.Config, path: Path) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)


def _is_fixture(obj: object) -> bool:
    # pytest >= 8.4 wraps fixture functions in FixtureFunctionDefinition; older ones mark them.
    return type(obj).__name__ == "FixtureFunctionDefinition" or hasattr(obj, "_pytestfixturefunction")


# -- a test's markers ---------------------------------------------------------------------


class Markers:
    """What the `asgi_app` markers on one test say (read once per test)."""

    __slots__ = ("app", "options", "source")

    def __init__(self, app: Any, source: str, options: dict[str, Any] | None = None) -> None:
        self.app = app
        self.source = source
        self.options: dict[str, Any] = options if options is not None else {}


_MARKERS = pytest.StashKey[Markers]()


def markers(item: pytest.Item) -> Markers:
    """The app from the closest marker that names one; options merged outermost first."""
    found = item.stash.get(_MARKERS, None)
    if found is None:
        found = item.stash[_MARKERS] = _read_markers(item)
    return found


def _read_markers(item: pytest.Item) -> Markers:
    marks = list(item.iter_markers(MARKER))
    where = f"@pytest.mark.{MARKER} on {item.nodeid}"
    if not marks:
        return Markers(None, where)
    app: Any = None
    for mark in marks:
        if len(mark.args) > 1:
            raise OptionError(
                f"{where}: takes at most one positional argument (the app), got {len(mark.args)}; "
                "give server options as keywords"
            )
        if mark.args and app is None:
            app = mark.args[0]
    options: dict[str, Any] = {}
    for mark in reversed(marks):
        options.update(mark.kwargs)
    return Markers(app, where, check_server_options(options, where))


# -- resolution: which app and options a server gets ----------------------------------------


def app_for_test(item: pytest.Item) -> tuple[Any, str]:
    """The app for this test (marker, then command line, then ini) and how to name it."""
    settings = item.config.stash[SETTINGS]
    marked = markers(item)
    factory = bool(marked.options.get("factory", settings.options.get("factory", False)))
    if marked.app is not None:
        return load_app(marked.app, factory=factory), f"{describe_app(marked.app)} from {marked.source}"
    if settings.app is None:
        raise NoAppError(NO_APP_MESSAGE)
    return load_app(settings.app, factory=factory), settings.app_description


def options_for_test(item: pytest.Item) -> dict[str, Any]:
    """The ini options with the marker's over them."""
    return {**item.config.stash[SETTINGS].options, **markers(item).options}


def check_session_server_use(item: pytest.Item, short: bool) -> None:
    """Raise if this test's markers try to configure the shared session server."""
    marked = markers(item)
    session_server, server = ("live_server_session", "live_server") if short else (SESSION_SERVER, SERVER)
    if marked.app is not None:
        raise LiveServerError(
            f"{marked.source} names an app, but the test uses {session_server}, which "
            "serves the app configured for the whole session (--asgi-app / ini asgi_app). "
            f"Use the {server} fixture for a per-test app."
        )
    ignored = sorted(set(marked.options) - _PER_TEST_OPTIONS)
    if ignored:
        kind = "server" if set(ignored) <= SERVER_OPTIONS.keys() else "uvicorn"
        raise LiveServerError(
            f"{marked.source} sets {kind} option(s) {', '.join(ignored)}, but the test uses "
            f"{session_server}, which is shared and already configured by the ini file. "
            f"Use the {server} fixture for per-test options."
        )


def start_server(app: Any, description: str, options: dict[str, Any], label: str | None) -> LiveServer:
    """Start a server for a fixture; the plugin reports its exceptions per test itself."""
    from ._server import LiveServer  # the first server pays for uvicorn and httpx

    report_exceptions = bool(options.get("raise_server_exceptions", True))
    options = {**options, "raise_server_exceptions": False}
    options.pop("factory", None)  # the app is loaded already
    server = LiveServer(app, description=description, **options)
    server.start()
    server.label_requests(label, report_exceptions=report_exceptions)
    return server


def session_server_app(config: pytest.Config) -> tuple[Any, str]:
    """The app of the session server (command line or ini only) and how to name it."""
    settings = config.stash[SETTINGS]
    if settings.app is None:
        raise NoAppError(NO_SESSION_APP_MESSAGE)
    return load_app(settings.app, factory=bool(settings.options.get("factory", False))), settings.app_description
