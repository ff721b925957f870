import httpx
import pytest
from notes.models import Note

# The server answers from its own threads and database connections: they see only
# committed rows, so the test must not hold its rows in a transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def test_the_server_sees_what_the_test_wrote(asgi_live_server_client):
    Note.objects.create(text="buy milk")
    response = asgi_live_server_client.get("/notes/")
    assert response.json() == {"notes": ["buy milk"]}


def test_the_test_sees_what_the_server_wrote(asgi_live_server_client):
    asgi_live_server_client.post("/notes/", data={"text": "write tests"})
    assert Note.objects.get().text == "write tests"


def test_async_view(asgi_live_server):
    Note.objects.create(text="first")
    Note.objects.create(text="second")
    response = httpx.get(asgi_live_server + "/notes/latest/")
    assert response.json() == {"latest": "second"}


def test_one_server_for_the_session(asgi_live_server_session):
    # Tables are emptied after each transactional test.
    response = httpx.get(asgi_live_server_session + "/notes/")
    assert response.json() == {"notes": []}
