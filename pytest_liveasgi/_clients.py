"""The TLS side of `LiveServer.client()` / `async_client()`: which SSL context a client gets.

httpx builds a new SSL context (several ms) for each client unless given one, so the
clients of a server share one. httpx and httpcore change the context they are given
for some settings (``cert=`` loads a client certificate into it, ``http2=True`` sets
its ALPN protocols), so a client with such a setting gets a context of its own: each
client's TLS settings stay its own.
"""

from __future__ import annotations

import ssl
from typing import Any

# Client keywords that make httpx or httpcore change the SSL context they are given.
_CONTEXT_CHANGING = ("cert", "http2")


class ClientTLS:
    """The SSL contexts for the clients of one server: trusting `cafile` (the CA of a
    generated certificate) or, without one, the system's default CAs."""

    def __init__(self, cafile: str | None = None) -> None:
        self.cafile = cafile
        self._shared: ssl.SSLContext | None = None

    def new_context(self) -> ssl.SSLContext:
        """A context of its own, trusting what this server's clients trust."""
        return ssl.create_default_context(cafile=self.cafile)

    def context_for(self, kwargs: dict[str, Any]) -> ssl.SSLContext:
        if any(kwargs.get(name) for name in _CONTEXT_CHANGING):
            return self.new_context()
        if self._shared is None:  # a race makes two; either is right
            self._shared = self.new_context()
        return self._shared

    def client_options(self, base_url: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments for an httpx client of the server at `base_url`."""
        options = {"base_url": base_url, "trust_env": False, **kwargs}
        if "verify" not in options:
            options["verify"] = self.context_for(kwargs)
        return options


# Servers without a generated certificate: one shared context for the whole process.
DEFAULT_CLIENT_TLS = ClientTLS()
