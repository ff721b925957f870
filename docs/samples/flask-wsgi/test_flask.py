def test_flask_app(live_server_client):
    assert live_server_client.get("/hello", params={"name": "flask"}).json() == {
        "hello": "flask"
    }
