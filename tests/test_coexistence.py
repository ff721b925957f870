"""Living next to the plugins a suite already has: pytest-django, pytest-flask (both define
`live_server`), any other plugin that does, pytest-timeout, and the end of the session."""

from __future__ import annotations

import time

import pytest
from conftest import dedent

PROMPT = 60.0

DJANGO_SITE = {
    "mysite_settings": """
        SECRET_KEY = "not secret"
        DEBUG = True
        ALLOWED_HOSTS = ["*"]
        ROOT_URLCONF = "mysite_urls"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        USE_TZ = True
        STATIC_URL = "/static/"
        """,
    "mysite_urls": """
        from django.http import HttpResponse
        from django.urls import path

        urlpatterns = [path("", lambda request: HttpResponse("hello from django"))]
        """,
    "mysite_asgi": """
        import os

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite_settings")
        from django.core.asgi import get_asgi_application

        application = get_asgi_application()
        """,
}


@pytest.fixture
def with_all_plugins(monkeypatch: pytest.MonkeyPatch, apps: pytest.Pytester) -> pytest.Pytester:
    """pytester whose runs load pytest-django and pytest-flask too (tests/conftest.py blocks them)."""
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return apps


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    began = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=PROMPT)
    assert time.monotonic() - began < PROMPT
    return result


OURS_OR_THEIRS = """
import httpx
import pytest

@pytest.mark.asgi_app({app!r}{options})
def test_ours(asgi_live_server):
    assert httpx.get(asgi_live_server.url).text == {text!r}

@pytest.mark.asgi_app({app!r}{options})
def test_marker_on_their_live_server(live_server):
    pass

def test_short_client_name(live_server_client):
    pass
"""


def expect_clash_explained(result: pytest.RunResult, owner: str) -> None:
    result.stdout.fnmatch_lines_random(
        [
            f"liveasgi: app per test (*), uvicorn *; live_server is {owner}'s, use asgi_live_server",
            f"pytest-liveasgi: *::test_marker_on_their_live_server has @pytest.mark.asgi_app but uses live_server, "
            f"which here is {owner}'s fixture: {owner} defines live_server, so pytest-liveasgi does not, and "
            "the marker does nothing to it. Use pytest-liveasgi's asgi_live_server fixture instead (and "
            "asgi_live_server_client, asgi_live_server_session, asgi_live_server_factory for the other "
            "live_server_* names).",
            f"{owner} defines live_server, so pytest-liveasgi's short names (live_server, live_server_session, "
            "live_server_client, live_server_factory) are off: use asgi_live_server_client instead of "
            "live_server_client.",
        ]
    )


def test_next_to_pytest_django(with_all_plugins: pytest.Pytester) -> None:
    pytester = with_all_plugins
    for name, source in DJANGO_SITE.items():
        pytester.makepyfile(**{name: dedent(source)})
    pytester.makepyfile(
        OURS_OR_THEIRS.format(app="mysite_asgi:application", options=", lifespan='off'", text="hello from django")
        + dedent(
            """
            def test_their_live_server_still_works(live_server):
                assert type(live_server).__module__.startswith("pytest_django")
                assert httpx.get(live_server.url).text == "hello from django"
            """
        )
    )
    result = run(pytester, "-p", "django", "-p", "no:flask", "--ds", "mysite_settings")
    result.assert_outcomes(passed=2, errors=2)
    expect_clash_explained(result, "pytest-django")
    result.stdout.no_fnmatch_line("*_live_server_modified_settings*")


def test_next_to_pytest_flask(with_all_plugins: pytest.Pytester) -> None:
    pytester = with_all_plugins
    pytester.makepyfile(
        flaskapp=dedent(
            """
            import flask

            def create_app():
                app = flask.Flask(__name__)
                app.add_url_rule("/", "index", lambda: "hello from flask")
                return app
            """
        )
    )
    pytester.makeconftest(
        dedent(
            """
            import pytest
            import flaskapp

            @pytest.fixture
            def app():
                return flaskapp.create_app()
            """
        )
    )
    pytester.makepyfile(
        OURS_OR_THEIRS.format(app="apps:app", options="", text="hello")
        + dedent(
            """
            def test_their_client_still_works(client):
                assert client.get("/").data == b"hello from flask"

            @pytest.mark.asgi_app(interface="wsgi")
            def test_their_app_on_our_server(app, asgi_live_server_factory):
                server = asgi_live_server_factory(app, interface="wsgi")
                assert httpx.get(server.url).text == "hello from flask"
            """
        )
    )
    result = run(pytester, "-p", "flask", "-p", "no:django", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=3, errors=2)
    expect_clash_explained(result, "pytest-flask")
    result.stdout.no_fnmatch_line("*ScopeMismatch*")


def test_any_plugin_that_defines_live_server_is_detected(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        otherplugin=dedent(
            """
            import pytest

            @pytest.fixture
            def live_server():
                return "theirs"
            """
        )
    )
    apps.makepyfile(OURS_OR_THEIRS.format(app="apps:app", options="", text="hello"))
    result = run(apps, "-p", "otherplugin")
    result.assert_outcomes(passed=1, errors=2)
    expect_clash_explained(result, "otherplugin")


def test_without_another_live_server_the_short_names_are_ours(apps: pytest.Pytester) -> None:
    apps.makepyfile(OURS_OR_THEIRS.format(app="apps:app", options="", text="hello"))
    result = run(apps, "--asgi-app", "apps:app")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["liveasgi: app 'apps:app' (from --asgi-app), uvicorn *, shutdown_timeout 5 s"])
    result.stdout.no_fnmatch_line("*live_server is*")


def test_pytest_timeout_does_not_charge_the_session_server_to_the_last_test(apps: pytest.Pytester) -> None:
    # shared/repro/real-suites/timeout-session-server-teardown: the session server's stop
    # (cut off after 3 s) runs in the last test's teardown and takes longer than --timeout.
    apps.makeini("[pytest]\nasgi_app = apps:app\nasgi_shutdown_timeout = 3\n")
    apps.makepyfile(
        dedent(
            """
            import httpx

            def test_hangs(live_server_session):
                httpx.get(live_server_session + "/slow", timeout=None)

            def test_last_one_passes(live_server_session):
                assert httpx.get(live_server_session + "/").text == "hello"
            """
        )
    )
    result = run(apps, "-p", "timeout", "--timeout=2", "--timeout-method=signal", "-W", "always")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*Failed: Timeout (>2.0s) from pytest-timeout*",
            "FAILED *::test_hangs*",
            "*LiveServerWarning: stopping the server for 'apps:app' from ini option asgi_app cut off what was "
            "still running after shutdown_timeout=3 s: GET /slow (no response yet*",
        ]
    )
    result.stdout.no_fnmatch_line("*ERROR*test_last_one_passes*")


def test_a_server_left_running_is_stopped_and_named_at_session_end(apps: pytest.Pytester) -> None:
    from pytest_liveasgi import _server

    if not hasattr(_server, "stop_forgotten_servers"):
        pytest.skip("needs LiveServer's registry of started servers (stop_forgotten_servers)")
    apps.makepyfile(
        dedent(
            """
            from pytest_liveasgi import LiveServer

            STARTED = []  # still referenced at session end: the safety net stops it

            def test_forgets_to_stop():
                STARTED.append(LiveServer("apps:app").start())
            """
        )
    )
    result = run(apps, "-W", "always")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*LiveServerWarning: a server for 'apps:app' was still running at the end of the session; stopped it"]
    )
