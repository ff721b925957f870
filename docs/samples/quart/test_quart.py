def test_greeting(live_server_client):
    assert live_server_client.get("/greeting").json() == {"text": "hello from quart"}
