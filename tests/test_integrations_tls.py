"""HTTPS: `https=True` (throwaway CA via trustme) and the user's own certificate, on real TLS sockets."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest
import trustme
from conftest import dedent
from sample_apps import app

from pytest_liveasgi import LiveServer


def test_https_serves_tls_that_the_built_in_clients_trust() -> None:
    with LiveServer(app, https=True) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert server.ws_url.startswith("wss://127.0.0.1:")
        with server.client() as client:
            response = client.get("/")
        assert response.text == "hello"
        assert response.url.scheme == "https"
        # The certificate is really checked: a client with the system's trust store refuses it.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(server.url, verify=ssl.create_default_context())


@pytest.mark.anyio
async def test_https_async_client_trusts_the_certificate() -> None:
    with LiveServer(app, https=True) as server:
        async with server.async_client() as client:
            response = await client.get("/")
    assert response.text == "hello"


def test_ca_path_works_for_other_clients() -> None:
    with LiveServer(app, https=True) as server:
        assert server.ca_path is not None
        ca_file = Path(server.ca_path)
        assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        context = ssl.create_default_context(cafile=server.ca_path)
        assert httpx.get(server.url, verify=context).text == "hello"
        # "localhost" is in the certificate too.
        assert httpx.get(f"https://localhost:{server.port}/", verify=context).text == "hello"
    assert not ca_file.exists(), "the throwaway CA is removed when the server stops"


@pytest.mark.filterwarnings("ignore:`cert=...` is deprecated:DeprecationWarning")
def test_a_clients_certificate_stays_its_own(tmp_path: Path) -> None:
    # A server that asks for client certificates: only a client given cert= gets in.
    client_ca = trustme.CA()
    client_ca.cert_pem.write_to_path(str(tmp_path / "client-ca.pem"))
    client_ca.issue_cert("alice@example.org").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "alice.pem"))
    alice = str(tmp_path / "alice.pem")
    options = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(tmp_path / "client-ca.pem")}

    def refused(client: httpx.Client) -> None:
        with client, pytest.raises(httpx.TransportError):
            client.get("/")

    with LiveServer(app, https=True, lifespan="off", **options) as server:
        refused(server.client())
        with server.client(cert=alice) as client:
            assert client.get("/").text == "hello"
        refused(server.client())  # the certificate did not stick to a shared SSL context

        async def with_certificate() -> str:
            async with server.async_client(cert=alice) as client:
                return (await client.get("/")).text

        assert asyncio.run(with_certificate()) == "hello"
        refused(server.client())
        refused(server.client(http2=False))


def test_own_certificate_and_key_pass_through(tmp_path: Path) -> None:
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    certfile, keyfile, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(certfile))
    issued.private_key_pem.write_to_path(str(keyfile))
    authority.cert_pem.write_to_path(str(ca_file))
    with LiveServer(app, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as server:
        assert server.url.startswith("https://")
        assert server.ca_path is None
        context = ssl.create_default_context(cafile=str(ca_file))
        with server.client(verify=context) as client:
            assert client.get("/").text == "hello"
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url, verify=ssl.create_default_context())


def test_https_marker_option_and_ini_option_serve_tls(apps: pytest.Pytester) -> None:
    apps.makeini(
        """
        [pytest]
        asgi_app = apps:app
        asgi_server_options =
            https = true
        """
    )
    apps.makepyfile(
        dedent(
            """
            import ssl

            import httpx
            import pytest

            def test_session_server_from_ini(live_server_session):
                assert live_server_session.url.startswith("https://")
                with live_server_session.client() as client:
                    assert client.get("/").text == "hello"

            @pytest.mark.asgi_app(https=True)
            def test_marker_option(live_server, live_server_client):
                assert live_server.url.startswith("https://")
                assert live_server_client.get("/").text == "hello"
                context = ssl.create_default_context(cafile=live_server.ca_path)
                assert httpx.get(live_server.url, verify=context).text == "hello"

            @pytest.mark.asgi_app(https=False)
            def test_marker_turns_it_off_again(live_server):
                assert httpx.get(live_server.url).text == "hello"
            """
        )
    )
    apps.runpytest().assert_outcomes(passed=3)


# Subprocess: the run hides trustme from the import system, which this process has imported.
@pytest.mark.subprocess
def test_missing_trustme_is_a_clear_error(apps: pytest.Pytester) -> None:
    apps.makeconftest("import sys\n\nsys.modules['trustme'] = None  # as if it were not installed\n")
    apps.makepyfile(
        dedent(
            """
            import pytest
            from pytest_liveasgi import LiveServer, StartupError

            def test_core_raises():
                with pytest.raises(StartupError, match=r"pip install 'pytest-liveasgi\\[tls\\]'"):
                    LiveServer("apps:app", https=True).start()

            @pytest.mark.asgi_app("apps:app", https=True)
            def test_fixture(live_server):
                pass
            """
        )
    )
    result = apps.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*https=True needs the 'trustme' package*pytest-liveasgi[[]tls[]]*"])
    assert "Traceback" not in result.stdout.str()
