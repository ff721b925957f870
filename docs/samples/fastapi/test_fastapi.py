import pytest
from app import app, current_user


def test_greeting(live_server_client):
    assert live_server_client.get("/greeting").json() == {"text": "hello, alice"}


@pytest.fixture
def as_bob():
    # The live server runs the very same app object, in this process.
    app.dependency_overrides[current_user] = lambda: "bob"
    yield
    app.dependency_overrides.clear()


def test_dependency_override(as_bob, live_server_client):
    assert live_server_client.get("/greeting").json() == {"text": "hello, bob"}
