"""The big frameworks, each with its own app and lifespan, served by the plugin in a real pytest run.

Each app appends to ``events.txt`` in its lifespan, so the outer test can prove that
startup and shutdown ran once per `live_server` (per test) and once for the session server.
"""

from __future__ import annotations

import pytest
from conftest import dedent

# Subprocess runs: frameworks set up process-wide state that outlives a run (Django's
# settings; litestar's logging starts a queue-listener thread writing to the run's stderr).
pytestmark = pytest.mark.subprocess


def _run(pytester: pytest.Pytester, app_source: str, test_source: str, passed: int) -> list[str]:
    pytester.makepyfile(webapp=dedent(app_source))
    pytester.makepyfile(test_app=dedent(test_source))
    pytester.makeini("[pytest]\npythonpath = .\nasgi_app = webapp:app\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=passed)
    return (pytester.path / "events.txt").read_text().split()


def test_fastapi_lifespan_and_dependency_overrides(pytester: pytest.Pytester) -> None:
    events = _run(
        pytester,
        """
        import contextlib
        from fastapi import Depends, FastAPI

        @contextlib.asynccontextmanager
        async def lifespan(app):
            open("events.txt", "a").write("startup\\n")
            app.state.ready = True
            yield
            open("events.txt", "a").write("shutdown\\n")

        app = FastAPI(lifespan=lifespan)

        def current_user() -> str:
            return "real user"

        @app.get("/me")
        def me(user: str = Depends(current_user)):
            return {"user": user, "ready": app.state.ready}
        """,
        """
        import pytest
        import webapp

        def test_real_dependency(live_server_client):
            assert live_server_client.get("/me").json() == {"user": "real user", "ready": True}

        def test_override_set_inside_the_test(live_server_client):
            webapp.app.dependency_overrides[webapp.current_user] = lambda: "test user"
            try:
                assert live_server_client.get("/me").json()["user"] == "test user"
            finally:
                webapp.app.dependency_overrides.clear()

        def test_override_on_the_session_server(live_server_session):
            webapp.app.dependency_overrides[webapp.current_user] = lambda: "session user"
            try:
                with live_server_session.client() as client:
                    assert client.get("/me").json()["user"] == "session user"
            finally:
                webapp.app.dependency_overrides.clear()
        """,
        passed=3,
    )
    assert events == ["startup", "shutdown"] * 3


def test_starlette_lifespan_state(pytester: pytest.Pytester) -> None:
    events = _run(
        pytester,
        """
        import contextlib
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        @contextlib.asynccontextmanager
        async def lifespan(app):
            open("events.txt", "a").write("startup\\n")
            yield {"items": ["from lifespan"]}
            open("events.txt", "a").write("shutdown\\n")

        async def items(request):
            return JSONResponse(request.state.items)

        app = Starlette(routes=[Route("/items", items)], lifespan=lifespan)
        """,
        """
        def test_lifespan_state_reaches_requests(live_server_client):
            assert live_server_client.get("/items").json() == ["from lifespan"]

        def test_again_with_a_fresh_server(live_server_client):
            assert live_server_client.get("/items").json() == ["from lifespan"]
        """,
        passed=2,
    )
    assert events == ["startup", "shutdown"] * 2


def test_litestar_lifespan(pytester: pytest.Pytester) -> None:
    events = _run(
        pytester,
        """
        import contextlib
        from litestar import Litestar, get
        from litestar.datastructures import State

        @contextlib.asynccontextmanager
        async def lifespan(app):
            open("events.txt", "a").write("startup\\n")
            app.state.greeting = "hello from litestar"
            yield
            open("events.txt", "a").write("shutdown\\n")

        @get("/greeting")
        async def greeting(state: State) -> dict:
            return {"greeting": state.greeting}

        app = Litestar(route_handlers=[greeting], lifespan=[lifespan])
        """,
        """
        def test_greeting(live_server_client):
            assert live_server_client.get("/greeting").json() == {"greeting": "hello from litestar"}
        """,
        passed=1,
    )
    assert events == ["startup", "shutdown"]


def test_quart_lifespan_and_websocket(pytester: pytest.Pytester) -> None:
    events = _run(
        pytester,
        """
        from quart import Quart, websocket

        app = Quart(__name__)

        @app.before_serving
        async def startup():
            open("events.txt", "a").write("startup\\n")
            app.config["GREETING"] = "hello from quart"

        @app.after_serving
        async def shutdown():
            open("events.txt", "a").write("shutdown\\n")

        @app.get("/greeting")
        async def greeting():
            return {"greeting": app.config["GREETING"]}

        @app.websocket("/ws")
        async def ws():
            while True:
                await websocket.send("quart: " + await websocket.receive())
        """,
        """
        from websockets.sync.client import connect

        def test_greeting(live_server_client):
            assert live_server_client.get("/greeting").json() == {"greeting": "hello from quart"}

        def test_websocket(live_server):
            with connect(live_server.ws_url + "/ws") as ws:
                ws.send("hi")
                assert ws.recv(timeout=5) == "quart: hi"
        """,
        passed=2,
    )
    assert events == ["startup", "shutdown"] * 2


def test_django_asgi_handler_with_minimal_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        webapp=dedent(
            """
            from django.conf import settings

            settings.configure(
                DEBUG=False,
                SECRET_KEY="not secret: tests only",
                ALLOWED_HOSTS=["127.0.0.1", "localhost"],
                ROOT_URLCONF=__name__,
                MIDDLEWARE=[],
                INSTALLED_APPS=[],
            )

            from django.core.asgi import get_asgi_application
            from django.http import JsonResponse
            from django.urls import path

            def hello(request):
                return JsonResponse({"hello": "from django", "host": request.get_host()})

            async def async_hello(request):
                return JsonResponse({"async": True})

            urlpatterns = [path("hello/", hello), path("async/", async_hello)]

            app = get_asgi_application()
            """
        )
    )
    pytester.makepyfile(
        test_app=dedent(
            """
            def test_sync_view(live_server_client):
                response = live_server_client.get("/hello/")
                assert response.json()["hello"] == "from django"

            def test_async_view(live_server_client):
                assert live_server_client.get("/async/").json() == {"async": True}

            def test_not_found_is_djangos_404(live_server_client):
                assert live_server_client.get("/nope/").status_code == 404
            """
        )
    )
    # Django's handler does not support lifespan; uvicorn's "auto" skips it quietly.
    pytester.makeini("[pytest]\npythonpath = .\nasgi_app = webapp:app\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_flask_through_uvicorns_wsgi_interface(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        webapp=dedent(
            """
            import threading
            from flask import Flask, request

            app = Flask(__name__)

            @app.get("/hello")
            def hello():
                return {"hello": request.args.get("name", "world"), "thread": threading.current_thread().name}

            @app.post("/echo")
            def echo():
                return request.get_data()
            """
        )
    )
    pytester.makepyfile(
        test_app=dedent(
            """
            import pytest

            pytestmark = pytest.mark.asgi_app("webapp:app", interface="wsgi")

            def test_get(live_server_client):
                body = live_server_client.get("/hello", params={"name": "flask"}).json()
                assert body["hello"] == "flask"
                assert body["thread"] != "MainThread"

            def test_post_body(live_server_client):
                assert live_server_client.post("/echo", content=b"x" * 100_000).content == b"x" * 100_000
            """
        )
    )
    pytester.makeini("[pytest]\npythonpath = .\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


FLASK_APP = """
    from flask import Flask, current_app


    def create_app():
        app = Flask(__name__)

        @app.get("/greeting")
        def greeting():
            return {"greeting": current_app.config.get("GREETING", "hello")}

        return app
    """


def test_flask_with_pytest_flask_installed(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_flask")
    pytester.makepyfile(webapp=dedent(FLASK_APP))
    pytester.makeconftest(
        dedent(
            """
            import pytest
            from webapp import create_app

            @pytest.fixture
            def app():
                return create_app()

            @pytest.fixture
            def asgi_app(app):
                return app
            """
        )
    )
    pytester.makepyfile(
        test_app=dedent(
            """
            import httpx
            import pytest

            def test_asgi_live_server_serves_the_app_fixture(asgi_live_server, app):
                app.config["GREETING"] = "changed by the test"
                assert httpx.get(asgi_live_server + "/greeting").json() == {"greeting": "changed by the test"}

            @pytest.mark.options(GREETING="from pytest-flask's marker")
            def test_pytest_flask_options_marker(asgi_live_server_client, app):
                assert asgi_live_server_client.get("/greeting").json() == {"greeting": "from pytest-flask's marker"}

            def test_pytest_flask_client_is_flasks_test_client(client):
                assert client.get("/greeting").json == {"greeting": "hello"}
            """
        )
    )
    pytester.makeini("[pytest]\npythonpath = .\nasgi_server_options =\n    interface = wsgi\n")
    pytester.runpytest("-p", "flask", "-p", "no:django", "-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_flask_after_pytest_flask_is_switched_off(pytester: pytest.Pytester) -> None:
    """`-p no:flask` (or uninstalling it) gives `live_server` back; `client` is yours to write."""
    pytester.makepyfile(webapp=dedent(FLASK_APP))
    pytester.makeconftest(
        dedent(
            """
            import pytest
            from webapp import create_app

            @pytest.fixture
            def app():
                return create_app()

            @pytest.fixture
            def asgi_app(app):
                return app

            @pytest.fixture
            def client(app):
                return app.test_client()
            """
        )
    )
    pytester.makepyfile(
        test_app=dedent(
            """
            import httpx

            def test_live_server_is_ours(live_server):
                assert httpx.get(live_server.url + "/greeting").json() == {"greeting": "hello"}

            def test_own_client_fixture(client):
                assert client.get("/greeting").json == {"greeting": "hello"}
            """
        )
    )
    pytester.makeini("[pytest]\npythonpath = .\naddopts = -p no:flask\nasgi_server_options =\n    interface = wsgi\n")
    pytester.runpytest("-p", "no:django", "-p", "no:cacheprovider").assert_outcomes(passed=2)
