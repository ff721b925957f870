"""HTTPS: `https=True` (throwaway CA via trustme) and the user's own certificate, on real TLS sockets."""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
from pathlib import Path

import httpx
import pytest
import trustme
import uvicorn
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


def _own_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A certificate for 127.0.0.1, its key and the CA that issued it, as PEM files."""
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    certfile, keyfile, ca_file = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(certfile))
    issued.private_key_pem.write_to_path(str(keyfile))
    authority.cert_pem.write_to_path(str(ca_file))
    return certfile, keyfile, ca_file


def test_own_certificate_and_key_pass_through(tmp_path: Path) -> None:
    certfile, keyfile, ca_file = _own_certificate(tmp_path)
    with LiveServer(app, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as server:
        assert server.url.startswith("https://")
        assert server.ca_path is None
        context = ssl.create_default_context(cafile=str(ca_file))
        with server.client(verify=context) as client:
            assert client.get("/").text == "hello"
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url, verify=ssl.create_default_context())


def _tls_session_after_one_request(url: str, ca_file: str) -> ssl.SSLSession:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        # Up to the end of the response: tickets, had there been any, came before it.
        while tls.recv(65536):
            pass
        assert tls.session is not None
        return tls.session


def test_tls_servers_send_no_session_tickets(tmp_path: Path) -> None:
    # Regression: a TLS 1.3 ticket that arrives while a client writes its first request
    # from one thread and reads from another (websockets' sync client) lost that request
    # in one wss handshake in a few hundred, which then waited forever for an answer.
    with LiveServer(app, https=True) as server:
        assert server.ca_path is not None
        assert not _tls_session_after_one_request(server.url, server.ca_path).has_ticket
    certfile, keyfile, ca_file = _own_certificate(tmp_path)
    with LiveServer(app, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as server:
        assert not _tls_session_after_one_request(server.url, str(ca_file)).has_ticket


@pytest.mark.skipif(
    "ssl_context_factory" not in inspect.signature(uvicorn.Config).parameters,
    reason="this uvicorn has no ssl_context_factory",
)
def test_a_context_from_your_own_factory_keeps_its_session_tickets(tmp_path: Path) -> None:
    authority = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))

    def own_context(config: object, default_factory: object) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(context)
        return context

    with LiveServer(app, ssl_context_factory=own_context) as server:
        assert _tls_session_after_one_request(server.url, str(ca_file)).has_ticket


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
