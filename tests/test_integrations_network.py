"""Binding: loopback by default, IPv6 loopback with brackets in the URL, 0.0.0.0 only when asked."""

from __future__ import annotations

import socket

import httpx
import pytest
from sample_apps import app

from pytest_liveasgi import LiveServer


def _can_bind_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _can_bind_ipv6_loopback(), reason="this machine cannot bind the IPv6 loopback ::1")


def test_binds_ipv4_loopback_by_default() -> None:
    with LiveServer(app) as server:
        assert server.host == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url).text == "hello"


@needs_ipv6
def test_ipv6_loopback_url_has_brackets() -> None:
    with LiveServer(app, host="::1") as server:
        assert server.url == f"http://[::1]:{server.port}"
        assert server.ws_url == f"ws://[::1]:{server.port}"
        with server.client() as client:
            assert client.get("/").text == "hello"
        assert httpx.get(server + "/").text == "hello"
        # Only the IPv6 address is bound.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{server.port}/")


@needs_ipv6
def test_ipv6_with_https() -> None:
    with LiveServer(app, host="::1", https=True) as server:
        assert server.url.startswith("https://[::1]:")
        with server.client() as client:
            assert client.get("/").text == "hello"


def test_all_interfaces_only_when_asked() -> None:
    with LiveServer(app, host="0.0.0.0") as server:
        assert server.host == "0.0.0.0"
        # The URL names an address a client can reach on this machine.
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url).text == "hello"


def test_plugin_binds_loopback_unless_the_marker_says_otherwise(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        """
import httpx
import pytest

pytestmark = pytest.mark.asgi_app("apps:app")

def test_default(live_server):
    assert live_server.host == "127.0.0.1"
    assert httpx.get(live_server.url).text == "hello"

@pytest.mark.asgi_app(host="0.0.0.0")
def test_explicit_all_interfaces(live_server):
    assert live_server.host == "0.0.0.0"
    assert httpx.get(live_server.url).text == "hello"
"""
    )
    apps.runpytest().assert_outcomes(passed=2)
