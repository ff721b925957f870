import apps
import httpx
import pytest

# Every test in this module: an extra response header.
pytestmark = pytest.mark.asgi_app(headers=[("x-layer", "module")])


def test_the_ini_app(live_server):
    response = httpx.get(live_server + "/")
    assert response.text == "site at /"
    assert response.headers["x-layer"] == "module"


@pytest.mark.asgi_app("apps:admin")
def test_an_import_string(live_server):
    assert httpx.get(live_server + "/").text == "admin at /"


@pytest.mark.asgi_app(apps.admin)
def test_an_app_object(live_server):
    assert httpx.get(live_server + "/").text == "admin at /"


# --8<-- [start:with_args]
@pytest.mark.asgi_app.with_args(apps.plain_asgi_app)
def test_a_plain_function_app(live_server):
    assert httpx.get(live_server + "/").text == "plain function"


@pytest.mark.asgi_app("apps:plain_asgi_app")
def test_a_plain_function_app_as_an_import_string(live_server):
    assert httpx.get(live_server + "/").text == "plain function"


# --8<-- [end:with_args]


@pytest.mark.asgi_app("apps:create_app", factory=True)
def test_an_app_factory(live_server):
    assert httpx.get(live_server + "/").text == "factory at /"


@pytest.mark.asgi_app("apps:admin", headers=[("x-layer", "class")])
class TestAdmin:
    def test_the_class_marker_wins_over_the_module(self, live_server):
        response = httpx.get(live_server + "/users")
        assert response.text == "admin at /users"
        assert response.headers["x-layer"] == "class"

    @pytest.mark.asgi_app(server_header=False)
    def test_options_merge_from_the_outermost_marker_in(self, live_server):
        response = httpx.get(live_server + "/")
        assert response.text == "admin at /"  # app from the class marker
        assert response.headers["x-layer"] == "class"  # class beats module
        assert "server" not in response.headers  # from the function marker

    @pytest.mark.asgi_app("apps:site")
    def test_the_closest_app_wins(self, live_server):
        assert httpx.get(live_server + "/").text == "site at /"
