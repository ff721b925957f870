"""Shared helpers: small real apps written into pytester's folder."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

SAMPLE_APPS = Path(__file__).with_name("sample_apps.py").read_text()

# Plugins installed in the test venv that pytester runs here do not need. Each pytester run
# in a subprocess imports every installed plugin: Hypothesis's imports all of Hypothesis at
# the end of every run (~1.4 s of CPU), Faker's (installed with litestar, via polyfactory)
# ~0.8 s, pytest-playwright's ~0.4 s, and there are ~150 such runs. pytest-rerunfailures
# starts a socket server thread in every session that has xdist loaded. A test that wants one
# of them back passes `-p NAME` (it unblocks it).
# Playwright stays for tests marked `browser` (a pytester test that uses `page` must carry
# that marker) and every other plugin for the docs samples, which run as a user's suite would.
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
    elif request.node.get_closest_marker("browser") is None:
        blocked += BROWSER_PLUGINS
    addopts = os.environ.get("PYTEST_ADDOPTS", "").split()
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join([*addopts, *(f"-p no:{name}" for name in blocked)]))
    # On a CI machine pytest prints whole messages in the short summary instead of one
    # line each; inner runs must print the same thing wherever this suite runs.
    for name in CI_MARKERS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def apps(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with `apps.py` (a copy of sample_apps.py) importable from its folder."""
    pytester.makepyfile(apps=SAMPLE_APPS)
    pytester.syspathinsert()
    return pytester


def dedent(source: str) -> str:
    return textwrap.dedent(source).lstrip()
