def test_add_a_note(live_server_client):
    assert live_server_client.post("/notes", json={"text": "Call Ada"}).json() == [
        "Buy milk",
        "Call Ada",
    ]


def test_each_test_starts_fresh(live_server_client):
    assert live_server_client.get("/notes").json() == ["Buy milk"]
