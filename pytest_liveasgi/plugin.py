"""The pytest plugin, top to bottom: settings, per-test bookkeeping, fixtures, reporting.

Importing it imports neither uvicorn, httpx nor the server (SPEC §5): they load when a
fixture starts the first server, so a run that uses no live server pays nothing.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from ._errors import LiveServerError
from ._loading import describe_app, load_app
from ._options import check_server_options
from ._reporting import (
    SERVER_USE,
    exchange_sections,
    fail,
    report_session_server_exceptions,
    server_use,
    stop_at_session_end,
    stop_servers,
    warn_at_session_end,
)
from ._settings import (
    ALIASES,
    CLIENT,
    FACTORY,
    MARKER,
    SERVER,
    SESSION_SERVER,
    SETTINGS,
    add_options,
    app_for_test,
    check_session_server_use,
    installed_version,
    markers,
    options_for_test,
    read_settings,
    session_server_app,
    start_server,
)

if TYPE_CHECKING:
    import httpx

    from ._server import LiveServer

T = TypeVar("T")

# The running session server, stopped at the end of the session (not in any test's teardown).
_SESSION_SERVER = pytest.StashKey["LiveServer"]()
_CURRENT_TEST = pytest.StashKey[str]()


def or_fail(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `function`; turn a LiveServerError into a clean test error (no traceback)."""
    __tracebackhide__ = True
    try:
        return function(*args, **kwargs)
    except LiveServerError as exc:
        error = exc
    fail(error)


# -- settings ---------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(app=None, **options): serve `app` (an object or 'package.module:attribute') "
        f"with these LiveServer / uvicorn options to this test's {SERVER}. An app that is a "
        f"plain function must be given as pytest.mark.{MARKER}.with_args(app).",
    )
    settings = config.stash[SETTINGS] = read_settings(config)
    if settings.live_server_owner is None:
        config.pluginmanager.import_plugin("pytest_liveasgi._short_names")


def pytest_report_header(config: pytest.Config) -> str:
    return config.stash[SETTINGS].header(installed_version("uvicorn"))


# -- per-test bookkeeping -----------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if SERVER_USE in item.stash:
        del item.stash[SERVER_USE]  # a rerun (pytest-rerunfailures) is a new attempt
    item.config.stash[_CURRENT_TEST] = item.nodeid
    session_server = item.config.stash.get(_SESSION_SERVER, None)
    if session_server is not None:
        session_server.label_requests(item.nodeid)
    fixturenames = getattr(item, "fixturenames", ())
    owner = item.config.stash[SETTINGS].live_server_owner
    if owner is not None and "live_server" in fixturenames:
        _check_live_server_is_ours(item, fixturenames, owner)
    if SESSION_SERVER in fixturenames:
        if SERVER not in fixturenames:  # else the markers configure the per-test server
            or_fail(check_session_server_use, item, short="live_server_session" in fixturenames)
        server_use(item).uses_session_server = True


def _check_live_server_is_ours(item: pytest.Item, fixturenames: Sequence[str], owner: str) -> None:
    __tracebackhide__ = True
    if item.get_closest_marker(MARKER) is None or {SERVER, FACTORY} & set(fixturenames):
        return
    pytest.fail(
        f"pytest-liveasgi: {item.nodeid} has @pytest.mark.{MARKER} but uses live_server, which here is "
        f"{owner}'s fixture: {owner} defines live_server, so pytest-liveasgi does not, and the marker "
        f"does nothing to it. Use pytest-liveasgi's {SERVER} fixture instead (and {CLIENT}, "
        f"{SESSION_SERVER}, {FACTORY} for the other live_server_* names).",
        pytrace=False,
    )


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield
    # Innermost wrapper: while pytest still captures the call's logs, let the servers
    # finish what this test's requests started, so their log records land in this
    # test's report instead of the gap between the call and teardown phases.
    state = item.stash.get(SERVER_USE, None)
    if state is not None:
        state.settle(item.config.stash.get(_SESSION_SERVER, None))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None and _SESSION_SERVER in item.config.stash:
        # The last test of the session (of this xdist worker) takes what is left.
        server_use(item).uses_session_server = True


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def asgi_app(request: pytest.FixtureRequest) -> Any:
    """The ASGI app for this test's `asgi_live_server`.

    Resolved from the closest ``@pytest.mark.asgi_app(app)`` marker, then ``--asgi-app``,
    then the ``asgi_app`` ini option. Override this fixture (e.g. in conftest.py) to build
    the app in Python: ``return create_app(testing=True)``.
    """
    app, description = or_fail(app_for_test, request.node)
    server_use(request.node).resolved_app = (app, description)
    return app


@pytest.fixture
def asgi_live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """A fresh `LiveServer` for this test, started before it and stopped after it.

    Serves the app of `asgi_app` (marker, fixture override, ``--asgi-app`` or ini), with
    the ini options and the marker's keyword options. Lifespan startup and shutdown run
    once per test. An exception that escapes the app during the test makes the test
    ERROR at teardown with the server traceback (unless ``raise_server_exceptions=False``).
    Also available as ``live_server`` unless another plugin (pytest-django,
    pytest-flask) defines that name.
    """
    item = request.node
    state = server_use(item)
    if or_fail(markers, item).app is not None:
        app, description = or_fail(app_for_test, item)
    else:
        app = request.getfixturevalue("asgi_app")
        resolved = state.resolved_app
        description = (
            resolved[1] if resolved and resolved[0] is app else f"{describe_app(app)} from your asgi_app fixture"
        )
    options = options_for_test(item)
    server = or_fail(start_server, app, description, options, item.nodeid)
    started = [(server, bool(options["raise_server_exceptions"]))]
    state.started += started
    try:
        yield server
    finally:
        stop_servers(started, item)


@pytest.fixture
def asgi_live_server_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., LiveServer]]:
    """Start any number of `LiveServer`s in one test: ``asgi_live_server_factory(app, **options)``.

    `app` is an app object or an import string; options are `LiveServer` / uvicorn
    keywords over the ini options. Each call returns a running server; all of them stop
    after the test, in reverse order. Exceptions their apps raise make the test ERROR
    (unless that server has ``raise_server_exceptions=False``).
    """
    item = request.node
    settings = item.config.stash[SETTINGS]
    started: list[tuple[LiveServer, bool]] = []

    def start(app: Any, **options: Any) -> LiveServer:
        __tracebackhide__ = True
        options = {**settings.options, **or_fail(check_server_options, options, FACTORY)}
        loaded = or_fail(load_app, app, factory=bool(options.get("factory", False)))
        server = or_fail(start_server, loaded, f"{describe_app(app)} from {FACTORY}", options, item.nodeid)
        started.append((server, bool(options["raise_server_exceptions"])))
        server_use(item).started.append(started[-1])
        return server

    try:
        yield start
    finally:
        stop_servers(started, item)


@pytest.fixture
def asgi_live_server_client(asgi_live_server: LiveServer) -> Iterator[httpx.Client]:
    """An `httpx.Client` for `asgi_live_server`: ``base_url`` set, closed after the test."""
    with asgi_live_server.client() as client:
        yield client


@pytest.fixture(scope="session")
def asgi_live_server_session(request: pytest.FixtureRequest) -> LiveServer:
    """One `LiveServer` for the whole session (per xdist worker), for the app given by
    ``--asgi-app`` or the ``asgi_app`` ini option, with the ini options.

    Exceptions that escape the app are attributed to the test that was running and make
    it ERROR at teardown. Lifespan startup runs once, before the first test that uses it;
    the server stops at the end of the session, outside any test.
    """
    config = request.config
    app, description = or_fail(session_server_app, config)
    options = config.stash[SETTINGS].options
    server = or_fail(start_server, app, description, options, config.stash.get(_CURRENT_TEST, None))
    config.stash[_SESSION_SERVER] = server
    return server


# -- reporting ----------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    state = item.stash.get(SERVER_USE, None)
    if state is None:
        if call.excinfo is not None and call.when == "setup":
            _hint_at_short_names(item, outcome.get_result())  # type: ignore[attr-defined]
        return
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    session_server = item.config.stash.get(_SESSION_SERVER, None) if state.uses_session_server else None
    if report.when == "teardown":
        # The last report of this attempt: the stopped servers need not live as long as
        # the item (the whole session), ~13 KB each.
        del item.stash[SERVER_USE]
        if session_server is not None:
            report_session_server_exceptions(report, state, session_server, item.nodeid, _wants_exceptions(item))
    if report.when != "call" and not report.failed:
        return
    if report.when == "teardown" and state.exchanges_shown:
        return
    for section in exchange_sections(state, session_server, item.nodeid):
        report.sections.append(section)
        state.exchanges_shown = report.failed


def _wants_exceptions(item: pytest.Item) -> bool:
    default = bool(item.config.stash[SETTINGS].options["raise_server_exceptions"])
    try:
        return bool(markers(item).options.get("raise_server_exceptions", default))
    except LiveServerError:
        return default  # the test errored at setup with this already


def _hint_at_short_names(item: pytest.Item, report: pytest.TestReport) -> None:
    owner = item.config.stash[SETTINGS].live_server_owner
    text = str(report.longrepr)
    for short, canonical in ALIASES.items():
        if owner is not None and f"fixture '{short}' not found" in text:
            report.sections.append(
                (
                    "pytest-liveasgi hint",
                    f"{owner} defines live_server, so pytest-liveasgi's short names (live_server, "
                    f"{', '.join(list(ALIASES)[1:])}) are off: use {canonical} instead of {short}.",
                )
            )


@pytest.hookimpl(tryfirst=True)  # before --pdb's hook prints the report
def pytest_exception_interact(
    node: pytest.Item | pytest.Collector, call: pytest.CallInfo[Any], report: pytest.CollectReport | pytest.TestReport
) -> None:
    excinfo = call.excinfo
    if not isinstance(report, pytest.CollectReport) or excinfo is None or not excinfo.errisinstance(TypeError):
        return
    # The line Python blames: the decorator's on 3.11+, the def line's on 3.10.
    lines = {entry.lineno + 1 for entry in excinfo.traceback if entry.path == node.path}
    longrepr: Any = report.longrepr
    if lines and _marker_given_a_function(node.path, lines) and hasattr(longrepr, "addsection"):
        longrepr.addsection(
            "pytest-liveasgi hint",
            f"pytest treats a lone function or class given to a marker as the thing to decorate, "
            f"so @pytest.mark.{MARKER}(app) with an app that is a plain function does not work. "
            f"Write @pytest.mark.{MARKER}.with_args(app), or give the app as an import string.",
        )


def _marker_given_a_function(path: Path, error_lines: set[int]) -> bool:
    """Whether one of `error_lines` is a def decorated with ``@pytest.mark.asgi_app(name)``.

    Given one positional argument that is a function or class, pytest stores the mark on
    it and returns it; Python then calls the app with the test function, a TypeError at
    the decorated def. The module did not import, so its source is read, not its objects.
    """
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                if _is_marker_call(decorator) and error_lines & set(range(decorator.lineno, node.lineno + 1)):
                    return True
    return False


def _is_marker_call(node: ast.expr) -> bool:
    """`pytest.mark.asgi_app(x)` or `mark.asgi_app(x)`: one positional argument, not a string."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == MARKER):
        return False
    owner = node.func.value
    is_mark = (isinstance(owner, ast.Attribute) and owner.attr == "mark") or (
        isinstance(owner, ast.Name) and owner.id == "mark"
    )
    return is_mark and len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Constant)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _SESSION_SERVER not in config.stash and "pytest_liveasgi._server" not in sys.modules:
        return  # no server was ever started: nothing to stop, nothing to import
    session_server = config.stash.get(_SESSION_SERVER, None)
    if session_server is not None:
        del config.stash[_SESSION_SERVER]
    warn_at_session_end(config, stop_at_session_end(session_server))


def __getattr__(name: str) -> Any:
    # `from pytest_liveasgi.plugin import live_server` (into a conftest.py) worked before
    # the short names moved out; pytest does not see names served from here, so they
    # do not register `live_server` behind another plugin's back.
    if name in ALIASES:
        from . import _short_names

        return getattr(_short_names, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
