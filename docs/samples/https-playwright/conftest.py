import base64
import hashlib
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def spki_hash(server):
    """Base64 of the SHA-256 of the server certificate's public key (its SPKI)."""
    pem = ssl.get_server_certificate((server.host, server.port))
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="session")
def base_url(live_server_session):
    return live_server_session.url  # https://127.0.0.1:PORT


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, live_server_session):
    """Chromium accepts the session server's certificate, and no other unknown one."""
    trust = f"--ignore-certificate-errors-spki-list={spki_hash(live_server_session)}"
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",  # or drop it after `playwright install`
        "args": [*CHROMIUM_ARGS, trust],
    }
