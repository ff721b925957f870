"""The demo suite: what a project's tests against its own app look like."""

from __future__ import annotations

import httpx
import pytest

from pytest_liveasgi import LiveServer


def test_health_answers_on_a_real_socket(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/health")
    assert response.status_code == 200
    assert response.text == "ok"


def test_lifespan_ran_before_the_first_request(live_server_client: httpx.Client) -> None:
    assert live_server_client.get("/api/notes").json() == {"notes": ["Buy milk"]}


def test_each_test_gets_a_fresh_app_state(live_server_client: httpx.Client) -> None:
    live_server_client.post("/api/notes", json={"text": "Call Ada"})
    assert live_server_client.get("/api/notes").json()["notes"] == ["Buy milk", "Call Ada"]


def test_the_state_from_the_previous_test_is_gone(live_server_client: httpx.Client) -> None:
    assert live_server_client.get("/api/notes").json()["notes"] == ["Buy milk"]


def test_streaming_arrives_in_pieces(live_server: LiveServer) -> None:
    with live_server.client() as client, client.stream("GET", "/countdown") as response:
        lines = list(response.iter_lines())
    assert lines == ["3", "2", "1", "liftoff"]


def test_the_html_page_lists_the_notes(live_server: LiveServer) -> None:
    page = httpx.get(live_server + "/").text
    assert "<li>Buy milk</li>" in page


@pytest.mark.anyio
async def test_async_clients_work_too(live_server: LiveServer) -> None:
    async with live_server.async_client() as client:
        response = await client.post("/api/notes", json={"text": ""})
    assert response.status_code == 400


@pytest.mark.asgi_app(root_path="/notes")
def test_marker_options_reach_uvicorn(live_server: LiveServer) -> None:
    assert httpx.get(live_server.url + "/health").status_code == 200


def test_one_server_for_the_whole_session(live_server_session: LiveServer) -> None:
    with live_server_session.client() as client:
        assert client.get("/health").text == "ok"
