"""A pytest plugin that tests/test_docs_samples.py loads into each docs sample's run.

What a sample needs from the machine that runs it (a browser, an IPv6 loopback) is
checked here, so the samples show only what a reader writes: no skip markers, no
subprocess scaffolding.
"""

from __future__ import annotations

import os
import socket
from types import ModuleType

import pytest

CHROMIUM = "/usr/bin/chromium"
BROWSER_FIXTURES = {"page", "context", "browser", "new_context"}


def ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _from_playwright(value: object) -> bool:
    name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
    return isinstance(name, str) and name.split(".")[0] == "playwright"


def drives_a_browser(item: pytest.Item) -> bool:
    """Uses a pytest-playwright fixture, or its module (or a module it imports) uses Playwright."""
    if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    if module is None:
        return False
    for value in vars(module).values():
        if _from_playwright(value):
            return True
        if isinstance(value, ModuleType) and any(_from_playwright(inner) for inner in vars(value).values()):
            return True
    return False


def binds_ipv6(item: pytest.Item) -> bool:
    return any(marker.kwargs.get("host") in ("::1", "::") for marker in item.iter_markers("asgi_app"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    no_browser = not os.access(CHROMIUM, os.X_OK)
    no_ipv6 = not ipv6_loopback_works()
    for item in items:
        if no_browser and drives_a_browser(item):
            item.add_marker(pytest.mark.skip(reason=f"no {CHROMIUM} (scripts/test.sh installs it as root)"))
        elif no_ipv6 and binds_ipv6(item):
            item.add_marker(pytest.mark.skip(reason="this machine cannot bind ::1"))
