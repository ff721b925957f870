"""The pytest plugin: options, the `asgi_app` marker, and the live-server fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import httpx
import pytest
import uvicorn

from ._errors import LiveServerError
from ._loading import describe_app, load_app
from ._reporting import exchange_sections, finish_servers, report_server_exceptions
from ._server import LiveServer
from ._session import SESSION_SERVER, SessionServer, misuse_of_session_server
from ._settings import MARKER, NO_APP_MESSAGE, NoAppError, Settings, add_options, read_markers, read_settings

T = TypeVar("T")

SETTINGS = pytest.StashKey[Settings]()
_RESOLVED_APP = pytest.StashKey[tuple[Any, str]]()
_TEST_SERVERS = pytest.StashKey[list[LiveServer]]()
_EXCHANGES_SHOWN = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(app=None, **options): serve `app` (an object or 'package.module:attribute') "
        "with these LiveServer / uvicorn options to this test's live_server. An app that is a "
        f"plain function must be given as pytest.mark.{MARKER}.with_args(app).",
    )
    config.stash[SETTINGS] = read_settings(config)
    config.stash[SESSION_SERVER] = SessionServer()


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash[SETTINGS]
    options = settings.options
    return (
        f"liveasgi: {settings.describe()}, uvicorn {uvicorn.__version__}, "
        f"startup_timeout {options['startup_timeout']:g} s, shutdown_timeout {options['shutdown_timeout']:g} s"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    session_server = item.config.stash[SESSION_SERVER]
    session_server.label(item.nodeid)
    yield
    # The session server may have been started by this test's fixtures.
    session_server.label(item.nodeid)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield
    # Innermost wrapper: while pytest still captures the call's logs, let the servers
    # finish what this test's requests started, so their log records land in this
    # test's report instead of the gap between the call and teardown phases.
    started_by_test: list[LiveServer] = item.stash.get(_TEST_SERVERS, [])
    servers = [*started_by_test]
    session_server = item.config.stash[SESSION_SERVER].server
    if session_server is not None:
        servers.append(session_server)
    for server in servers:
        server.settle()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "teardown" and not report.failed:
        return
    if report.when == "setup" and not report.failed:
        return
    if report.when == "teardown" and item.stash.get(_EXCHANGES_SHOWN, False):
        return
    started_by_test: list[LiveServer] = item.stash.get(_TEST_SERVERS, [])
    session_server = item.config.stash[SESSION_SERVER].server
    for title, text in exchange_sections(started_by_test, session_server, item.nodeid):
        report.sections.append((title, text))
        item.stash[_EXCHANGES_SHOWN] = report.failed


def pytest_collectreport(report: pytest.CollectReport) -> None:
    text = str(report.longrepr) if report.failed else ""
    if f"mark.{MARKER}(" in text and ("TypeError" in text or "instead of Mark" in text):
        hint = (
            f"pytest treats a lone function or class given to a marker as the thing to decorate, "
            f"so @pytest.mark.{MARKER}(app) with an app that is a plain function does not work. "
            f"Write @pytest.mark.{MARKER}.with_args(app), or give the app as an import string."
        )
        longrepr: Any = report.longrepr
        if hasattr(longrepr, "addsection"):
            longrepr.addsection("pytest-liveasgi hint", hint)


def _fail(error: LiveServerError) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(f"pytest-liveasgi: {error}", pytrace=False)


def _or_fail(function: Callable[[pytest.FixtureRequest], T], request: pytest.FixtureRequest) -> T:
    """Call `function`; turn a LiveServerError into a clean test error (no chained traceback)."""
    __tracebackhide__ = True
    try:
        return function(request)
    except LiveServerError as exc:
        error = exc
    _fail(error)


def _configured_app(request: pytest.FixtureRequest) -> tuple[Any, str]:
    """The app for this test (marker, then CLI, then ini) and where it came from."""
    markers = read_markers(request.node)
    factory = bool(markers.options.get("factory", request.config.stash[SETTINGS].options.get("factory", False)))
    if markers.has_app:
        return load_app(markers.app, factory=factory), f"{describe_app(markers.app)} from {markers.app_source}"
    settings = request.config.stash[SETTINGS]
    if settings.app is None:
        raise NoAppError(NO_APP_MESSAGE)
    return load_app(settings.app, factory=factory), f"{settings.app!r} from {settings.app_source}"


@pytest.fixture
def asgi_app(request: pytest.FixtureRequest) -> Any:
    """The ASGI app for this test's `live_server`.

    Resolved from the closest ``@pytest.mark.asgi_app(app)`` marker, then ``--asgi-app``,
    then the ``asgi_app`` ini option. Override this fixture (e.g. in conftest.py) to build
    the app in Python: ``return create_app(testing=True)``.
    """
    app, source = _or_fail(_configured_app, request)
    request.node.stash[_RESOLVED_APP] = (app, source)
    return app


def _server_for_test(request: pytest.FixtureRequest) -> LiveServer:
    markers = read_markers(request.node)
    if markers.has_app:
        app, source = _configured_app(request)
    else:
        app = request.getfixturevalue("asgi_app")
        resolved = request.node.stash.get(_RESOLVED_APP, None)
        source = resolved[1] if resolved and resolved[0] is app else f"{describe_app(app)} from your asgi_app fixture"
    options = {**request.config.stash[SETTINGS].options, **markers.options}
    options.pop("factory", None)
    options["raise_server_exceptions"] = False  # the fixture reports them per test instead
    server = LiveServer(app, **options)
    server.app_description = source
    server.label_requests(request.node.nodeid)
    return server.start()


def _wants_server_exceptions(request: pytest.FixtureRequest) -> bool:
    markers = read_markers(request.node)
    default = request.config.stash[SETTINGS].options["raise_server_exceptions"]
    return bool(markers.options.get("raise_server_exceptions", default))


@pytest.fixture
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """A fresh `LiveServer` for this test, started before it and stopped after it.

    Serves the app of `asgi_app` (marker, fixture override, ``--asgi-app`` or ini), with
    the ini options and the marker's keyword options. Lifespan startup and shutdown run
    once per test. An exception that escapes the app during the test makes the test
    ERROR at teardown with the server traceback (unless ``raise_server_exceptions=False``).
    """
    server = _or_fail(_server_for_test, request)
    request.node.stash.setdefault(_TEST_SERVERS, []).append(server)
    try:
        yield server
    finally:
        finish_servers([server], request.node.nodeid, _wants_server_exceptions(request))


@pytest.fixture
def live_server_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., LiveServer]]:
    """Start any number of `LiveServer`s in one test: ``live_server_factory(app, **options)``.

    `app` is an app object or an import string; options are `LiveServer` / uvicorn
    keywords over the ini options. Each call returns a running server; all of them stop
    after the test, in reverse order. Exceptions their apps raise make the test ERROR.
    """
    servers: list[LiveServer] = []
    settings = request.config.stash[SETTINGS]

    def start(app: Any, **options: Any) -> LiveServer:
        __tracebackhide__ = True
        merged = {**settings.options, **options, "raise_server_exceptions": False}
        try:
            loaded = load_app(app, factory=bool(merged.pop("factory", False)))
            server = LiveServer(loaded, **merged)
            server.app_description = f"{describe_app(app)} from live_server_factory"
            server.label_requests(request.node.nodeid)
            server.start()
        except LiveServerError as exc:
            error = exc
        else:
            servers.append(server)
            request.node.stash.setdefault(_TEST_SERVERS, []).append(server)
            return server
        _fail(error)

    try:
        yield start
    finally:
        finish_servers(servers, request.node.nodeid, _wants_server_exceptions(request))


@pytest.fixture
def live_server_client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An `httpx.Client` for `live_server`: ``base_url`` set, closed after the test."""
    with live_server.client() as client:
        yield client


@pytest.fixture(scope="session")
def live_server_session(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """One `LiveServer` for the whole session (per xdist worker), for the app given by
    ``--asgi-app`` or the ``asgi_app`` ini option, with the ini options.

    Exceptions that escape the app are attributed to the test that was running and make
    it ERROR at teardown. Lifespan startup runs once, before the first test that uses it.
    """
    server = _or_fail(_start_session_server, request)
    holder = request.config.stash[SESSION_SERVER]
    holder.server = server
    try:
        yield server
    finally:
        holder.server = None
        stop_error: LiveServerError | None = None
        try:
            server.stop()
        except LiveServerError as error:
            stop_error = error
        if stop_error is not None:
            _fail(stop_error)


def _start_session_server(request: pytest.FixtureRequest) -> LiveServer:
    settings = request.config.stash[SETTINGS]
    if settings.app is None:
        raise NoAppError(
            "live_server_session serves the app configured for the whole session, and none is: "
            "give --asgi-app package.module:app or 'asgi_app = package.module:app' in the pytest "
            "ini file (markers and the asgi_app fixture configure live_server, the per-test server)"
        )
    options = dict(settings.options)
    factory = bool(options.pop("factory", False))
    options["raise_server_exceptions"] = False
    server = LiveServer(load_app(settings.app, factory=factory), **options)
    server.app_description = f"{settings.app!r} from {settings.app_source}"
    return server.start()


@pytest.fixture(autouse=True)
def _liveasgi_session_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Report what the session server's app raised during this test (internal)."""
    if "live_server_session" in request.fixturenames:
        _or_fail(misuse_of_session_server, request)
    yield
    server = request.config.stash[SESSION_SERVER].server
    if server is None or not server.running:
        return
    server.settle()
    exceptions = server.take_exceptions()
    if exceptions and _wants_server_exceptions(request):
        report_server_exceptions(exceptions, request.node.nodeid)
