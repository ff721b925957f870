"""Shared helpers: small real apps written into pytester's folder."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

SAMPLE_APPS = Path(__file__).with_name("sample_apps.py").read_text()

# Plugins installed in the test venv that pytester runs here do not need. Each pytester run
# in a subprocess imports every installed plugin: Faker's (installed with litestar, via
# polyfactory) costs about 0.8 s of CPU per run, pytest-playwright's about 0.4 s, and
# there are ~150 such runs. Playwright stays for tests marked `browser` (a pytester test
# that uses `page` must carry that marker) and for the docs samples, which run as a user's
# suite would, with everything installed.
PYTESTER_BLOCKED_PLUGINS = ("faker",)
BROWSER_PLUGINS = ("playwright",)
WITH_EVERY_PLUGIN = ("test_docs_samples",)


@pytest.fixture(autouse=True)
def _lean_pytester_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "pytester" not in request.fixturenames:
        return
    # pytester clears PYTEST_ADDOPTS when it is set up: set it up first.
    request.getfixturevalue("pytester")
    blocked = list(PYTESTER_BLOCKED_PLUGINS)
    if request.node.get_closest_marker("browser") is None and request.module.__name__ not in WITH_EVERY_PLUGIN:
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


# pytest-django and pytest-flask are installed for the coexistence tests, and pytester
# runs load every installed plugin: keep them out of the other runs, which test this
# plugin alone (tests that want them back pass `-p django` / `-p flask`).
OTHER_LIVE_SERVER_PLUGINS = ("django", "flask")


@pytest.fixture(autouse=True)
def _without_other_live_server_plugins(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "pytester" not in request.fixturenames:
        return
    request.getfixturevalue("pytester")  # it empties PYTEST_ADDOPTS when it starts
    blocked = " ".join(f"-p no:{name}" for name in OTHER_LIVE_SERVER_PLUGINS)
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{addopts} {blocked}".strip())
