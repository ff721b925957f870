import app
import httpx

ports = []


def test_first(shared_server):
    ports.append(shared_server.port)
    httpx.post(shared_server + "/cart", json={"item": "teapot"})
    assert httpx.get(shared_server + "/cart").json() == ["teapot"]


def test_second_sees_the_same_server(shared_server):
    ports.append(shared_server.port)
    assert len(set(ports)) == 1  # one server, one lifespan, for the module


def test_expected_error_taken_in_the_test(shared_server):
    assert httpx.get(shared_server + "/broken").status_code == 500
    shared_server.settle()
    assert [str(error.exception) for error in shared_server.take_exceptions()] == [
        "out of stock"
    ]


class TestAdmin:
    asgi_app = app.admin_app

    def test_admin_home(self, class_live_server):
        assert httpx.get(class_live_server + "/").text == "admin"

    def test_same_server_for_the_class(self, class_live_server):
        assert class_live_server.app is app.admin_app
