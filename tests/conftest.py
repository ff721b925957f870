"""Shared helpers: small real apps written into pytester's folder."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

SAMPLE_APPS = Path(__file__).with_name("sample_apps.py").read_text()

# Plugins installed in the test venv that no pytester run here needs. Each pytester run in
# a subprocess imports every installed plugin, and Faker's (installed with litestar, via
# polyfactory) costs about 0.8 s of CPU per run: with ~150 such runs, a third of the suite.
PYTESTER_BLOCKED_PLUGINS = ("faker",)


@pytest.fixture(autouse=True)
def _lean_pytester_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "pytester" not in request.fixturenames:
        return
    # pytester clears PYTEST_ADDOPTS when it is set up: set it up first.
    request.getfixturevalue("pytester")
    addopts = os.environ.get("PYTEST_ADDOPTS", "").split()
    blocked = [f"-p no:{name}" for name in PYTESTER_BLOCKED_PLUGINS]
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join([*addopts, *blocked]))


@pytest.fixture
def apps(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with `apps.py` (a copy of sample_apps.py) importable from its folder."""
    pytester.makepyfile(apps=SAMPLE_APPS)
    pytester.syspathinsert()
    return pytester


def dedent(source: str) -> str:
    return textwrap.dedent(source).lstrip()
