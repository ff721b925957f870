import logging

import httpx
import pytest


def test_access_line(live_server, caplog):
    caplog.set_level(logging.INFO)
    httpx.get(live_server.url + "/")
    live_server.settle()  # let the server finish logging this request
    assert '"GET / HTTP/1.1" 200' in caplog.text


@pytest.mark.asgi_app(raise_server_exceptions=False)  # this test expects the 500
def test_error_is_logged(live_server, caplog):
    assert httpx.get(live_server.url + "/broken").status_code == 500
    live_server.settle()
    assert "Exception in ASGI application" in caplog.text
