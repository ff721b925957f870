import httpx


def test_ping(asgi_live_server):
    # pytest-flask: live_server.url("/ping")
    response = httpx.get(asgi_live_server.url + "/ping")
    assert response.json() == {"ping": "pong"}


def test_external_urls_use_the_request_host(asgi_live_server):
    response = httpx.get(asgi_live_server + "/where")
    assert response.text == asgi_live_server.url + "/ping"


def test_with_an_httpx_client(asgi_live_server_client):
    assert asgi_live_server_client.get("/ping").json() == {"ping": "pong"}


def test_flask_test_client_still_works(client):
    # pytest-flask's `client` (app.test_client()): no server involved.
    assert client.get("/ping").json == {"ping": "pong"}
