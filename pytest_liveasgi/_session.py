"""Bookkeeping for the session server and the reporting of server exceptions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ._errors import LiveServerError
from ._server import LiveServer
from ._settings import SERVER_KEYWORDS, read_markers

# Marker options that still mean something for a test on the shared session server.
_PER_TEST_OPTIONS = frozenset({"raise_server_exceptions"})


@dataclass
class SessionServer:
    """The running session server, if any, so per-test hooks can reach it."""

    server: LiveServer | None = None

    def label(self, nodeid: str) -> None:
        if self.server is not None:
            self.server.label_requests(nodeid)


SESSION_SERVER = pytest.StashKey[SessionServer]()


def misuse_of_session_server(request: pytest.FixtureRequest) -> None:
    """Raise if this test's markers try to configure the shared session server."""
    if "live_server" in request.fixturenames:
        return
    markers = read_markers(request.node)
    if markers.has_app:
        raise LiveServerError(
            f"{markers.app_source} names an app, but the test uses live_server_session, which "
            "serves the app configured for the whole session (--asgi-app / ini asgi_app). "
            "Use the live_server fixture for a per-test app."
        )
    ignored = sorted(set(markers.options) - _PER_TEST_OPTIONS)
    if ignored:
        kind = "server" if set(ignored) <= SERVER_KEYWORDS else "uvicorn"
        raise LiveServerError(
            f"{markers.app_source} sets {kind} option(s) {', '.join(ignored)}, but the test uses "
            "live_server_session, which is shared and already configured by the ini file. "
            "Use the live_server fixture for per-test options."
        )
