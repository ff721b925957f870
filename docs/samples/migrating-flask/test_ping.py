import httpx


def test_ping(live_server):
    # pytest-flask: live_server.url("/ping")
    response = httpx.get(live_server.url + "/ping")
    assert response.json() == {"ping": "pong"}


def test_external_urls_use_the_request_host(live_server):
    assert httpx.get(live_server + "/where").text == live_server.url + "/ping"
