import httpx


def test_home_page(live_server):
    response = httpx.get(live_server.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello, world!"


def test_items(live_server_client):
    assert live_server_client.get("/items").json() == {"items": ["apple", "pear"]}
