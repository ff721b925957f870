"""Shared helpers: small real apps written into pytester's folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

SAMPLE_APPS = Path(__file__).with_name("sample_apps.py").read_text()


@pytest.fixture
def apps(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with `apps.py` (a copy of sample_apps.py) importable from its folder."""
    pytester.makepyfile(apps=SAMPLE_APPS)
    pytester.syspathinsert()
    return pytester


def dedent(source: str) -> str:
    return textwrap.dedent(source).lstrip()
