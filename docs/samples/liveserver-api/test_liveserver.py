import asyncio

import httpx
import pytest

from pytest_liveasgi import LiveServer, LiveServerError, StartupError


def test_addresses_and_clients():
    with LiveServer("app:app") as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.ws_url == f"ws://127.0.0.1:{server.port}"
        assert server + "/health" == server.url + "/health"
        with server.client() as client:
            assert client.get("/health").text == "ok"

        async def fetch():
            async with server.async_client() as client:
                return (await client.get("/health")).text

        assert asyncio.run(fetch()) == "ok"
    assert not server.running


def test_start_and_stop_by_hand():
    server = LiveServer("app:app", startup_timeout=5, shutdown_timeout=1)
    server.start()
    try:
        assert httpx.get(server + "/health").status_code == 200
    finally:
        server.stop()


def test_startup_errors_name_the_app_and_the_cause():
    with pytest.raises(StartupError, match="no module named 'not_a_module'"):
        LiveServer("not_a_module:app").start()


def test_exceptions_in_the_app():
    server = LiveServer("app:app").start()
    assert httpx.get(server + "/boom").status_code == 500
    server.settle()
    with pytest.raises(LiveServerError, match="ValueError: boom"):
        server.stop()  # raise_server_exceptions=True: nobody took the exception
