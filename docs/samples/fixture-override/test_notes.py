import pytest


def test_the_app_from_the_fixture(live_server_client, asgi_app):
    live_server_client.post("/notes", json={"text": "Buy milk"})
    assert live_server_client.get("/notes").json() == {"notes": ["Buy milk"]}
    assert asgi_app.state.notes_file.exists()  # the same object, in the same process


def test_every_test_gets_a_new_app(live_server_client):
    assert live_server_client.get("/notes").json() == {"notes": []}


@pytest.mark.asgi_app(startup_timeout=2, shutdown_timeout=1)
def test_marker_options_apply_to_the_fixture_app(live_server):
    assert live_server.startup_timeout == 2
    assert live_server.shutdown_timeout == 1
