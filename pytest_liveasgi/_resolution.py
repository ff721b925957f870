"""Which app and options a fixture's server gets, and starting it with clean errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import pytest

from ._errors import LiveServerError
from ._loading import describe_app, load_app
from ._server import LiveServer
from ._settings import NO_APP_MESSAGE, SETTINGS, NoAppError, read_markers

T = TypeVar("T")

RESOLVED_APP = pytest.StashKey[tuple[Any, str]]()

NO_SESSION_APP_MESSAGE = (
    "live_server_session serves the app configured for the whole session, and none is: "
    "give --asgi-app package.module:app or 'asgi_app = package.module:app' in the pytest "
    "ini file (markers and the asgi_app fixture configure live_server, the per-test server)"
)


def fail(error: LiveServerError) -> NoReturn:
    """Fail the current test phase with the error's message and no traceback."""
    __tracebackhide__ = True
    pytest.fail(f"pytest-liveasgi: {error}", pytrace=False)


def or_fail(function: Callable[[pytest.FixtureRequest], T], request: pytest.FixtureRequest) -> T:
    """Call `function`; turn a LiveServerError into a clean test error (no chained traceback)."""
    __tracebackhide__ = True
    try:
        return function(request)
    except LiveServerError as exc:
        error = exc
    fail(error)


def configured_app(request: pytest.FixtureRequest) -> tuple[Any, str]:
    """The app for this test (marker, then CLI, then ini) and where it came from."""
    markers = read_markers(request.node)
    settings = request.config.stash[SETTINGS]
    factory = bool(markers.options.get("factory", settings.options.get("factory", False)))
    if markers.has_app:
        return load_app(markers.app, factory=factory), f"{describe_app(markers.app)} from {markers.app_source}"
    if settings.app is None:
        raise NoAppError(NO_APP_MESSAGE)
    return load_app(settings.app, factory=factory), f"{settings.app!r} from {settings.app_source}"


def start_server(app: Any, source: str, options: dict[str, Any], label: str | None) -> LiveServer:
    """Start a server for a fixture: the fixture reports server exceptions per test itself."""
    reported = bool(options.get("raise_server_exceptions", True))
    options = {**options, "raise_server_exceptions": False}
    factory = bool(options.pop("factory", False))
    server = LiveServer(load_app(app, factory=factory), **options)
    server.app_description = source
    server.start()
    server.label_requests(label, report_exceptions=reported)
    return server


def server_for_test(request: pytest.FixtureRequest) -> LiveServer:
    """The `live_server` of this test: marker app or the `asgi_app` fixture, marker options over ini."""
    markers = read_markers(request.node)
    if markers.has_app:
        app, source = configured_app(request)
    else:
        app = request.getfixturevalue("asgi_app")
        resolved = request.node.stash.get(RESOLVED_APP, None)
        source = resolved[1] if resolved and resolved[0] is app else f"{describe_app(app)} from your asgi_app fixture"
    options = {**request.config.stash[SETTINGS].options, **markers.options}
    # the app is loaded already (a factory was called by asgi_app / configured_app)
    options.pop("factory", None)
    return start_server(app, source, options, request.node.nodeid)


def session_server(request: pytest.FixtureRequest) -> LiveServer:
    settings = request.config.stash[SETTINGS]
    if settings.app is None:
        raise NoAppError(NO_SESSION_APP_MESSAGE)
    return start_server(settings.app, f"{settings.app!r} from {settings.app_source}", settings.options, None)


def wants_server_exceptions(request: pytest.FixtureRequest) -> bool:
    markers = read_markers(request.node)
    default = request.config.stash[SETTINGS].options["raise_server_exceptions"]
    return bool(markers.options.get("raise_server_exceptions", default))
