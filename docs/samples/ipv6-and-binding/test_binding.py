import httpx
import pytest


def test_loopback_by_default(live_server):
    assert live_server.host == "127.0.0.1"
    assert httpx.get(live_server.url).text == "hello"


@pytest.mark.asgi_app(host="::1")
def test_ipv6(live_server):
    assert live_server.url == f"http://[::1]:{live_server.port}"
    assert httpx.get(live_server.url).text == "hello"


@pytest.mark.asgi_app(host="0.0.0.0")
def test_every_interface_when_asked(live_server):
    # Reachable from other machines (a browser in a container, a phone); the URL
    # still names the loopback address, which works from this machine.
    assert live_server.url == f"http://127.0.0.1:{live_server.port}"
    assert httpx.get(live_server.url).text == "hello"
