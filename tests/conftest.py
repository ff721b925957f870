"""Shared helpers: small real apps written into pytester's folder, and how pytester runs."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SAMPLE_APPS = Path(__file__).with_name("sample_apps.py").read_text()

# Where `pytester.runpytest()` runs. A run in a subprocess costs ~1.5 s of CPU (an
# interpreter, pytest and every installed plugin imported again); in this process, tens of
# milliseconds, and most tests here run pytest on a test file. So runpytest() runs in this
# process by default: for runs whose point is what the plugin does within a session.
# A test or module marked `subprocess` runs it in a subprocess: its point is the process
# around the session (atexit, signals and Ctrl-C, logging configuration, warnings filters,
# what gets imported, threads left behind, hangs that only a timeout ends), or its run sets
# up state that a process cannot drop again (Django settings, litestar's logging queue
# thread, Playwright's browser, xdist workers).
# `pytester.runpytest_subprocess()` says the same inside a test.
# An in-process run shares this process with the other tests of its xdist worker: the
# fixture below fails the test if its run left server threads or logging handlers (root,
# uvicorn) behind, so nothing is blamed on a later test.
INPROCESS_LEAK_WAIT = 10.0


def liveasgi_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.startswith("liveasgi")}


def _logging_state() -> dict[str, tuple[object, ...]]:
    """The handlers and filters of the root and uvicorn loggers, but for pytest's own
    (its logging plugin gives the root logger new handlers for each phase of a test)."""
    names = ["", *(name for name in logging.root.manager.loggerDict if name.startswith("uvicorn"))]
    return {
        name: tuple(
            each
            for each in (*logging.getLogger(name).handlers, *logging.getLogger(name).filters)
            if type(each).__module__ != "_pytest.logging"
        )
        for name in names
    }


def runs_in_process(item: pytest.Item) -> bool:
    # Playwright keeps its browser and its assertion state in module globals, which the
    # plugin loaded by this process shares with an inner run: browser tests stay out.
    return (
        "pytester" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("subprocess") is None
        and item.get_closest_marker("browser") is None
    )


def _warnings_as_python_starts() -> None:
    # This suite turns ResourceWarning into an error; a pytest run in a subprocess starts
    # from Python's own filters (PEP 565), on top of which it applies its own.
    warnings.resetwarnings()
    warnings.simplefilter("ignore", ResourceWarning)
    warnings.simplefilter("ignore", ImportWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")


@pytest.fixture(scope="session", autouse=True)
def _import_what_a_server_imports(request: pytest.FixtureRequest) -> None:
    """Import, before any pytester exists, what a server and its clients import lazily.

    An in-process run restores sys.modules when it ends: every module imported since it
    started is dropped, and imported again by the next run (uvicorn, httpx and the plugin's
    own lazy imports, each time), or worse, is a second copy next to one this process kept
    (two `LiveServer` classes, an httpx that no longer knows httpcore's exceptions).
    Serving a request over HTTP and HTTPS with the sync and async clients imports them all
    before any snapshot is taken.
    """
    if not any(runs_in_process(item) for item in request.session.items):
        return
    import asyncio
    import importlib
    import pkgutil

    from sample_apps import app

    import pytest_liveasgi

    for module in pkgutil.iter_modules(pytest_liveasgi.__path__):
        importlib.import_module(f"pytest_liveasgi.{module.name}")
    from pytest_liveasgi import LiveServer

    async def get(server: LiveServer) -> None:
        async with server.async_client() as client:
            (await client.get("/")).raise_for_status()

    for https in (False, True):
        with LiveServer(app, https=https) as server:
            with server.client() as client:
                client.get("/").raise_for_status()
            asyncio.run(get(server))


def runpytest_promptly(pytester: pytest.Pytester, *args: str, timeout: float) -> pytest.RunResult:
    """`pytester.runpytest()`, with a timeout when it runs in a subprocess (in this process a
    hang cannot be cut off: runs whose point is not hanging are marked `subprocess`)."""
    if pytester._method == "inprocess":
        return pytester.runpytest(*args)
    return pytester.runpytest_subprocess(*args, timeout=timeout)


def _collect_garbage_as_a_process_exit_would() -> None:
    # An unclosed client in an inner test file is dropped silently when a subprocess exits;
    # here it would be collected during some later test and blamed on it (ResourceWarning
    # is an error in this suite). Collect it now, as quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(autouse=True)
def _inprocess_pytester_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not runs_in_process(request.node):
        yield
        return
    pytester = request.getfixturevalue("pytester")
    monkeypatch.setattr(pytester, "_method", "inprocess")  # what --runpytest=inprocess sets
    inline_run = pytester.inline_run

    def inline_run_with_fresh_warnings(*args: Any, **kwargs: Any) -> pytest.HookRecorder:
        # Warnings the run gives outside its own capture (while it configures itself) go to
        # stderr, as a subprocess's would, not into this test's warnings.
        with warnings.catch_warnings(record=True) as given:
            _warnings_as_python_starts()
            recorder = inline_run(*args, **kwargs)
        for each in given:
            sys.stderr.write(warnings.formatwarning(each.message, each.category, each.filename, each.lineno, each.line))
        return recorder

    monkeypatch.setattr(pytester, "inline_run", inline_run_with_fresh_warnings)
    threads_before = liveasgi_threads()
    logging_before = _logging_state()
    _collect_garbage_as_a_process_exit_would()
    yield
    _collect_garbage_as_a_process_exit_would()
    # stop() joins a server's thread: give a busy machine a moment, not more.
    deadline = time.monotonic() + INPROCESS_LEAK_WAIT
    while liveasgi_threads() - threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    left = liveasgi_threads() - threads_before
    assert not left, f"the in-process pytest run left server threads running: {sorted(t.name for t in left)}"
    logging_after = _logging_state()
    changed = {name for name in logging_after if logging_after[name] != logging_before.get(name, ())}
    assert not changed, f"the in-process pytest run left handlers or filters on the loggers {sorted(changed)}"


# Plugins installed in the test venv that pytester runs here do not need. Each pytester run
# in a subprocess imports every installed plugin: Hypothesis's imports all of Hypothesis at
# the end of every run (~1.4 s of CPU), Faker's (installed with litestar, via polyfactory)
# ~0.8 s, pytest-playwright's ~0.4 s, and there are ~150 such runs. pytest-rerunfailures
# starts a socket server thread in every session that has xdist loaded. A test that wants one
# of them back passes `-p NAME` (it unblocks it). An in-process run reads PYTEST_ADDOPTS
# from this process's environment, so the same blocking holds there.
# Playwright stays for tests marked `browser` (a pytester test that uses `page` must carry
# that marker) and every other plugin for the docs samples, which run as a user's suite would
# (but Playwright for those that run in this process).
# pytest-django and pytest-flask define their own `live_server`: the coexistence tests
# load them with `-p django` / `-p flask`, the other runs test this plugin alone.
PYTESTER_BLOCKED_PLUGINS = (
    "faker",
    "hypothesispytest",
    "rerunfailures",
    "timeout",
    "xdist",
    "xdist.looponfail",
    "django",
    "flask",
)
BROWSER_PLUGINS = ("playwright",)
WITH_EVERY_PLUGIN = ("test_docs_samples",)
# The variables by which pytest decides it runs on CI (_pytest.compat.running_on_ci).
CI_MARKERS = ("CI", "BUILD_NUMBER")


@pytest.fixture(autouse=True)
def _lean_pytester_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "pytester" not in request.fixturenames:
        return
    # pytester clears PYTEST_ADDOPTS when it is set up: set it up first.
    request.getfixturevalue("pytester")
    blocked = list(PYTESTER_BLOCKED_PLUGINS)
    if request.module.__name__ in WITH_EVERY_PLUGIN:
        blocked = ["faker", "hypothesispytest", "django", "flask"]
        if runs_in_process(request.node):
            blocked += BROWSER_PLUGINS  # its module globals are this process's
    elif request.node.get_closest_marker("browser") is None:
        blocked += BROWSER_PLUGINS
    addopts = os.environ.get("PYTEST_ADDOPTS", "").split()
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join([*addopts, *(f"-p no:{name}" for name in blocked)]))
    # On a CI machine pytest prints whole messages in the short summary instead of one
    # line each; inner runs must print the same thing wherever this suite runs.
    for name in CI_MARKERS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt here and in the subprocesses this test starts, as in a
    terminal. A shell script that starts the suite in the background (``pytest &``) has the
    process ignore SIGINT, and its subprocesses inherit that."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def apps(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with `apps.py` (a copy of sample_apps.py) importable from its folder."""
    pytester.makepyfile(apps=SAMPLE_APPS)
    pytester.syspathinsert()
    return pytester


def dedent(source: str) -> str:
    return textwrap.dedent(source).lstrip()
