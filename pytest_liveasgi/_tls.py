"""Throwaway TLS material for `https=True`: a CA and a certificate for the host."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from typing import Any

from ._clients import ClientTLS
from ._errors import StartupError


@functools.lru_cache(maxsize=1)
def _certificate_authority() -> Any:
    try:
        import trustme
    except ImportError:
        raise StartupError(
            "https=True needs the 'trustme' package to make a throwaway certificate: "
            "pip install 'pytest-liveasgi[tls]' (or pass your own ssl_certfile= and ssl_keyfile=)"
        ) from None
    return trustme.CA(organization_name="pytest-liveasgi test CA")


class GeneratedCertificate:
    """A certificate for `host` (and localhost, 127.0.0.1, ::1) signed by a throwaway CA.

    The PEM files live in a private temporary directory that `remove()` deletes.
    """

    def __init__(self, host: str) -> None:
        authority = _certificate_authority()
        names = list(dict.fromkeys([host, "localhost", "127.0.0.1", "::1"]))
        certificate = authority.issue_cert(*names)
        self.directory = tempfile.mkdtemp(prefix="liveasgi-tls-")
        self.ca_path = os.path.join(self.directory, "ca.pem")
        self.certfile = os.path.join(self.directory, "server-chain.pem")
        self.keyfile = os.path.join(self.directory, "server-key.pem")
        authority.cert_pem.write_to_path(self.ca_path)
        certificate.private_key_pem.write_to_path(self.keyfile)
        with open(self.certfile, "wb") as chain:
            for blob in certificate.cert_chain_pems:
                chain.write(blob.bytes())
        self.client_tls = ClientTLS(self.ca_path)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
