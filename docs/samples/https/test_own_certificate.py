import ssl

import pytest
import trustme


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """Your own certificate files (made with trustme here, to keep the sample short)."""
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    issued.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    issued.private_key_pem.write_to_path(str(folder / "key.pem"))
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    return folder


def test_own_certificate(certificate):
    from pytest_liveasgi import LiveServer

    options = {
        "ssl_certfile": str(certificate / "cert.pem"),
        "ssl_keyfile": str(certificate / "key.pem"),
    }
    with LiveServer("app:app", **options) as server:
        context = ssl.create_default_context(cafile=str(certificate / "ca.pem"))
        with server.client(verify=context) as client:
            assert client.get("/").text == "hello"
