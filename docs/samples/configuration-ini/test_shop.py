def test_ini_options_reach_the_server(live_server_client):
    response = live_server_client.get("/products")
    assert response.json() == [{"name": "teapot", "price": 18}]
    assert response.headers["x-environment"] == "test"  # headers = ...
    assert "server" not in response.headers  # server_header = false
