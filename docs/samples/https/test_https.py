import ssl

import httpx
import pytest


@pytest.mark.asgi_app(https=True)
def test_over_tls(live_server, live_server_client):
    assert live_server.url.startswith("https://127.0.0.1:")
    # The ready-made clients trust the throwaway certificate.
    assert live_server_client.get("/").text == "hello"


@pytest.mark.asgi_app(https=True)
def test_other_clients_trust_the_ca_file(live_server):
    context = ssl.create_default_context(cafile=live_server.ca_path)
    assert httpx.get(live_server.url, verify=context).text == "hello"
