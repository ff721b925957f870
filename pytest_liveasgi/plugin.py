"""The pytest plugin: options, the `asgi_app` marker, and the live-server fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from ._errors import LiveServerError
from ._loading import describe_app
from ._reporting import exchange_sections, finish_servers, report_server_exceptions
from ._resolution import (
    RESOLVED_APP,
    configured_app,
    fail,
    or_fail,
    server_for_test,
    session_server,
    start_server,
    wants_server_exceptions,
)
from ._server import LiveServer
from ._session import SESSION_SERVER, SessionServer, misuse_of_session_server
from ._settings import MARKER, SETTINGS, add_options, read_settings

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


@pytest.fixture
def asgi_app(request: pytest.FixtureRequest) -> Any:
    """The ASGI app for this test's `live_server`.

    Resolved from the closest ``@pytest.mark.asgi_app(app)`` marker, then ``--asgi-app``,
    then the ``asgi_app`` ini option. Override this fixture (e.g. in conftest.py) to build
    the app in Python: ``return create_app(testing=True)``.
    """
    app, source = or_fail(configured_app, request)
    request.node.stash[RESOLVED_APP] = (app, source)
    return app


@pytest.fixture
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """A fresh `LiveServer` for this test, started before it and stopped after it.

    Serves the app of `asgi_app` (marker, fixture override, ``--asgi-app`` or ini), with
    the ini options and the marker's keyword options. Lifespan startup and shutdown run
    once per test. An exception that escapes the app during the test makes the test
    ERROR at teardown with the server traceback (unless ``raise_server_exceptions=False``).
    """
    server = or_fail(server_for_test, request)
    request.node.stash.setdefault(_TEST_SERVERS, []).append(server)
    try:
        yield server
    finally:
        finish_servers([server], request.node.nodeid, wants_server_exceptions(request))


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
        source = f"{describe_app(app)} from live_server_factory"
        try:
            server = start_server(app, source, {**settings.options, **options}, request.node.nodeid)
        except LiveServerError as exc:
            error = exc
        else:
            servers.append(server)
            request.node.stash.setdefault(_TEST_SERVERS, []).append(server)
            return server
        fail(error)

    try:
        yield start
    finally:
        finish_servers(servers, request.node.nodeid, wants_server_exceptions(request))


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
    server = or_fail(session_server, request)
    holder = request.config.stash[SESSION_SERVER]
    holder.server = server
    try:
        yield server
    finally:
        holder.server = None
        finish_servers([server], "the end of the session", wants_server_exceptions(request))


@pytest.fixture(autouse=True)
def _liveasgi_session_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Report what the session server's app raised during this test (internal)."""
    if "live_server_session" in request.fixturenames:
        or_fail(misuse_of_session_server, request)
    yield
    server = request.config.stash[SESSION_SERVER].server
    if server is None or not server.running:
        return
    server.settle()
    exceptions = server.take_exceptions()
    if exceptions and wants_server_exceptions(request):
        report_server_exceptions(exceptions, request.node.nodeid)


# TEMP (django-flask-sse branch): the canonical asgi_* names from the plugin helper's
# coexistence work, so Django/SSE tests can be written against them before it merges.
@pytest.fixture
def asgi_live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """TEMP alias of live_server that does not depend on the name `live_server`."""
    server = or_fail(server_for_test, request)
    request.node.stash.setdefault(_TEST_SERVERS, []).append(server)
    try:
        yield server
    finally:
        finish_servers([server], request.node.nodeid, wants_server_exceptions(request))


@pytest.fixture
def asgi_live_server_client(asgi_live_server: LiveServer) -> Iterator[httpx.Client]:
    """TEMP alias of live_server_client."""
    with asgi_live_server.client() as client:
        yield client


@pytest.fixture(scope="session")
def asgi_live_server_session(live_server_session: LiveServer) -> LiveServer:
    """TEMP alias of live_server_session."""
    return live_server_session


@pytest.fixture
def asgi_live_server_factory(live_server_factory: Callable[..., LiveServer]) -> Callable[..., LiveServer]:
    """TEMP alias of live_server_factory."""
    return live_server_factory
