import os

import pytest


@pytest.mark.parametrize("n", range(4))
def test_per_test_server(n, live_server_client):
    assert live_server_client.get("/").text == "hello"


@pytest.mark.parametrize("n", range(4))
def test_one_session_server_per_worker(n, live_server_session):
    assert os.environ["PYTEST_XDIST_WORKER"].startswith("gw")
    with live_server_session.client() as client:
        assert client.get("/").text == "hello"
