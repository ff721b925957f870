import pytest

from pytest_liveasgi import LiveServer


def _live_server(request):
    """A LiveServer for the class's `asgi_app` attribute, else the configured app."""
    app = getattr(request.cls, "asgi_app", None) if request.scope == "class" else None
    app = (
        app or request.config.getoption("asgi_app") or request.config.getini("asgi_app")
    )
    with LiveServer(app, raise_server_exceptions=False) as server:
        yield server


# One function, two scopes.
module_live_server = pytest.fixture(scope="module")(_live_server)
class_live_server = pytest.fixture(scope="class")(_live_server)


@pytest.fixture
def shared_server(request, module_live_server):
    """The module's server, reporting what the app raised during *this* test."""
    module_live_server.label_requests(request.node.nodeid)
    yield module_live_server
    module_live_server.settle()
    errors = module_live_server.take_exceptions()
    if errors:
        pytest.fail("\n".join(error.traceback for error in errors), pytrace=False)
