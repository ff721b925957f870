"""The short fixture names (`live_server`, …), a plugin of their own: pytest-liveasgi
registers it only while no other plugin (pytest-django, pytest-flask, …) defines
`live_server`. Each is the `asgi_live_server*` fixture under its short name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    from ._server import LiveServer


@pytest.fixture
def live_server(asgi_live_server: LiveServer) -> LiveServer:
    """A fresh `LiveServer` for this test (the short name of `asgi_live_server`)."""
    return asgi_live_server


@pytest.fixture(scope="session")
def live_server_session(asgi_live_server_session: LiveServer) -> LiveServer:
    """One `LiveServer` for the whole session (the short name of `asgi_live_server_session`)."""
    return asgi_live_server_session


@pytest.fixture
def live_server_client(asgi_live_server_client: httpx.Client) -> httpx.Client:
    """An `httpx.Client` for `live_server` (the short name of `asgi_live_server_client`)."""
    return asgi_live_server_client


@pytest.fixture
def live_server_factory(asgi_live_server_factory: Callable[..., LiveServer]) -> Callable[..., LiveServer]:
    """Start `LiveServer`s in a test (the short name of `asgi_live_server_factory`)."""
    return asgi_live_server_factory
