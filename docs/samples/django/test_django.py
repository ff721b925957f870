def test_hello(live_server_client):
    assert live_server_client.get("/hello/").json() == {"text": "hello from django"}
