"""Shared helpers: small real apps written into pytester's folder."""

from __future__ import annotations

import gc
import logging
import os
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

SAMPLE_APPS = Path(__file__).with_name("sample_apps.py").read_text()


# A pytester run in a subprocess costs ~1.5 s of CPU (an interpreter, pytest and every
# installed plugin imported again); in this process, a few tens of milliseconds. Tests
# marked `inprocess` run `pytester.runpytest()` in this process: for runs whose point is
# what the plugin does in a session, not the process around it. The default stays a
# subprocess (pyproject addopts) for runs that depend on import state, plugin autoloading,
# logging configuration, signals, leaked threads or hanging; `runpytest_subprocess` says
# so explicitly. The fixture below checks that an in-process run left nothing behind in
# this process, which the other tests of this xdist worker share.
def liveasgi_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("liveasgi")]


def _uvicorn_logging_state() -> dict[str, tuple[object, ...]]:
    # Not the root logger: pytest's logging plugin gives it a new handler for each phase.
    names = [name for name in logging.root.manager.loggerDict if name.startswith("uvicorn")]
    return {name: (*logging.getLogger(name).handlers, *logging.getLogger(name).filters) for name in names}


@pytest.fixture(scope="session", autouse=True)
def _import_what_a_server_imports(request: pytest.FixtureRequest) -> None:
    """Import, before any pytester exists, what a server and its clients import lazily.

    When a pytester ends, it drops from sys.modules every module imported since it was set up,
    and a module imported again later is a new one: two `LiveServer` classes, or an httpx that
    no longer recognises httpcore's exceptions. Serving a request over HTTP and HTTPS, with the
    sync and the async client, imports them all while no snapshot is taken.
    """
    if not any(item.get_closest_marker("inprocess") for item in request.session.items):
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


def _collect_garbage_as_a_process_exit_would() -> None:
    # A test file's unclosed client (left to the garbage collector) is dropped silently when
    # a pytester subprocess exits; in this process it would be collected during some later
    # test and be blamed on it (ResourceWarning is an error here). Collect it now, as quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(autouse=True)
def _inprocess_pytester_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if request.node.get_closest_marker("inprocess") is None:
        yield
        return
    pytester = request.getfixturevalue("pytester")
    monkeypatch.setattr(pytester, "_method", "inprocess")  # what --runpytest=inprocess sets
    threads_before = set(liveasgi_threads())
    logging_before = _uvicorn_logging_state()
    _collect_garbage_as_a_process_exit_would()
    yield
    _collect_garbage_as_a_process_exit_would()
    # A server's thread is joined by stop(): give a busy machine a moment, not more.
    deadline = time.monotonic() + 10
    while set(liveasgi_threads()) - threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    left = set(liveasgi_threads()) - threads_before
    assert not left, f"the in-process pytest run left server threads running: {sorted(t.name for t in left)}"
    logging_after = _uvicorn_logging_state()
    changed = {name for name in logging_after if logging_after[name] != logging_before.get(name, ())}
    assert not changed, f"the in-process pytest run left handlers or filters on the loggers {sorted(changed)}"


# Plugins installed in the test venv that pytester runs here do not need. Each pytester run
# in a subprocess imports every installed plugin: Hypothesis's imports all of Hypothesis at
# the end of every run (~1.4 s of CPU), Faker's (installed with litestar, via polyfactory)
# ~0.8 s, pytest-playwright's ~0.4 s, and there are ~150 such runs. pytest-rerunfailures
# starts a socket server thread in every session that has xdist loaded, which an in-process
# run would leave behind. A test that wants one back passes `-p NAME` (it unblocks it).
# Playwright stays for tests marked `browser` (a pytester test that uses `page` must carry
# that marker) and every plugin for the docs samples, which run as a user's suite would.
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


@pytest.fixture(autouse=True)
def _lean_pytester_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "pytester" not in request.fixturenames:
        return
    # pytester clears PYTEST_ADDOPTS when it is set up: set it up first.
    request.getfixturevalue("pytester")
    blocked = list(PYTESTER_BLOCKED_PLUGINS)
    if request.module.__name__ in WITH_EVERY_PLUGIN:
        blocked = ["faker", "django", "flask"]
    elif request.node.get_closest_marker("browser") is None:
        blocked += BROWSER_PLUGINS
    addopts = os.environ.get("PYTEST_ADDOPTS", "").split()
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join([*addopts, *(f"-p no:{name}" for name in blocked)]))


@pytest.fixture
def apps(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with `apps.py` (a copy of sample_apps.py) importable from its folder."""
    pytester.makepyfile(apps=SAMPLE_APPS)
    pytester.syspathinsert()
    return pytester


def dedent(source: str) -> str:
    return textwrap.dedent(source).lstrip()
