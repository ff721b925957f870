def test_hello(live_server_client):
    assert live_server_client.get("/").text == "hello"
