"""Failures users can act on: what a test report shows when the server side goes wrong."""

from __future__ import annotations

import re
import time

import pytest
from conftest import dedent, runpytest_promptly

# Every run here must end promptly; a hang would be the bug.
PROMPT = 30.0


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    began = time.monotonic()
    result = runpytest_promptly(pytester, *args, timeout=PROMPT)
    assert time.monotonic() - began < PROMPT
    return result


# -- exceptions raised by the app while it serves a test -------------------------------


def test_app_exception_errors_the_test_with_the_server_traceback(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx

            def test_calls_a_failing_endpoint(live_server):
                assert httpx.get(live_server.url + "/boom").status_code == 500

            def test_next_test_is_not_blamed(live_server):
                assert httpx.get(live_server.url).status_code == 200
            """
        )
    )
    result = run(apps, "--asgi-app", "apps:app")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_calls_a_failing_endpoint*",
            "*the app raised 1 unhandled exception(s) while serving this test:",
            "*--- server-side traceback of GET /boom ---",
            "*apps.py*, line *, in boom",
            "*RuntimeError: boom from the app",
        ]
    )


def test_pure_asgi_app_exception_is_reported(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx
            import pytest

            async def broken(scope, receive, send):
                if scope["type"] == "http":
                    raise KeyError("no such thing")

            @pytest.mark.asgi_app.with_args(broken, lifespan="off")
            def test_pure(live_server):
                assert httpx.get(live_server.url + "/x?y=1").status_code == 500
            """
        )
    )
    result = run(apps)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*server-side traceback of GET /x?y=1*", "*KeyError: 'no such thing'"])


def test_session_server_exception_is_attributed_to_the_running_test(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx

            def test_first(live_server_session):
                assert httpx.get(live_server_session.url).status_code == 200

            def test_second_breaks_it(live_server_session):
                httpx.get(live_server_session.url + "/boom")

            def test_third(live_server_session):
                assert httpx.get(live_server_session.url).status_code == 200
            """
        )
    )
    result = run(apps, "--asgi-app", "apps:app")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_second_breaks_it*", "*RuntimeError: boom from the app"])


def test_exception_from_a_request_of_an_earlier_test_names_that_test(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import threading
            import time

            import httpx

            def test_leaves_a_request_running(live_server_session):
                # /slow-then-boom answers nothing for 2 s, then raises: after this test ends
                # (its teardown can take a while on a busy machine)
                threading.Thread(
                    target=lambda: httpx.get(live_server_session.url + "/slow-then-boom", timeout=5),
                    daemon=True,
                ).start()
                while not live_server_session.running_requests():
                    time.sleep(0.01)

            def test_innocent(live_server_session):
                deadline = time.monotonic() + 10
                while live_server_session.running_requests() and time.monotonic() < deadline:
                    time.sleep(0.01)
            """
        )
    )
    apps.makepyfile(
        slowboom=dedent(
            """
            import asyncio
            from apps import app
            from starlette.routing import Route

            async def slow_then_boom(request):
                await asyncio.sleep(2)
                raise ValueError("late failure")

            app.router.routes.append(Route("/slow-then-boom", slow_then_boom))
            """
        )
    )
    result = run(apps, "--asgi-app", "slowboom:app")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_innocent*",
            "*server-side traceback of GET /slow-then-boom "
            "[[]request arrived during test_*.py::test_leaves_a_request_running[]]*",
            "*ValueError: late failure",
        ]
    )


def test_reporting_can_be_turned_off_per_test_and_in_the_ini_file(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx
            import pytest

            @pytest.mark.asgi_app(raise_server_exceptions=False)
            def test_expects_a_500(live_server):
                assert httpx.get(live_server.url + "/boom").status_code == 500
            """
        )
    )
    run(apps, "--asgi-app", "apps:app").assert_outcomes(passed=1)
    apps.makeini("[pytest]\nasgi_app = apps:app\nasgi_raise_server_exceptions = false\n")
    apps.makepyfile(
        test_session=dedent(
            """
            import httpx

            def test_session(live_server_session):
                assert httpx.get(live_server_session.url + "/boom").status_code == 500

            def test_function(live_server):
                assert httpx.get(live_server.url + "/boom").status_code == 500
            """
        )
    )
    run(apps, "test_session.py").assert_outcomes(passed=2)


def test_client_disconnects_are_not_failures(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            from websockets.sync.client import connect

            def test_client_closes_the_websocket(live_server):
                with connect(live_server.ws_url + "/ws") as websocket:
                    websocket.send("hi")
                    assert websocket.recv() == "echo: hi"
            """
        )
    )
    run(apps, "--asgi-app", "apps:app").assert_outcomes(passed=1)


# -- logs -------------------------------------------------------------------------------


# Subprocess: what the logging configuration of a whole run does with uvicorn's records.
@pytest.mark.subprocess
def test_uvicorn_logs_reach_caplog_and_failure_reports(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import logging
            import httpx
            import pytest

            @pytest.mark.asgi_app(raise_server_exceptions=False)
            def test_caplog_sees_errors_and_access_lines(live_server, caplog):
                caplog.set_level(logging.INFO)
                httpx.get(live_server.url + "/")
                httpx.get(live_server.url + "/boom")
                live_server.settle()
                assert '"GET / HTTP/1.1" 200' in caplog.text
                errors = [r for r in caplog.records if r.name == "uvicorn.error" and r.levelno == logging.ERROR]
                assert errors and errors[0].getMessage().strip() == "Exception in ASGI application"

            # Reported exceptions leave uvicorn's copy out of the log (tests/test_server_exceptions.py).
            @pytest.mark.asgi_app(raise_server_exceptions=False)
            def test_failing_test_shows_the_server_log(live_server):
                httpx.get(live_server.url + "/boom")
                assert False, "the test itself fails too"
            """
        )
    )
    result = run(apps, "--asgi-app", "apps:app")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Captured log call*", "ERROR    uvicorn.error:*Exception in ASGI application"])


# -- bad input ----------------------------------------------------------------------------

BAD_APP_CASES = [
    ("no_such_module:app", "cannot load app 'no_such_module:app': no module named 'no_such_module'"),
    ("apps:nope", "cannot load app 'apps:nope': 'apps' has no attribute 'nope'"),
    ("apps:ap", "cannot load app 'apps:ap': 'apps' has no attribute 'ap' (did you mean 'app'?)"),
    ("broken_syntax:app", "cannot load app 'broken_syntax:app': syntax error in *broken_syntax.py, line 1*"),
    (
        "raises_on_import:app",
        "cannot load app 'raises_on_import:app': importing 'raises_on_import' raised "
        "ZeroDivisionError: division by zero",
    ),
    ("apps:EVENTS", "'apps:EVENTS' is not an ASGI application: it is a list, which is not callable"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_APP_CASES, ids=[case[0] for case in BAD_APP_CASES])
def test_bad_app_is_a_clear_error_and_other_tests_still_pass(apps: pytest.Pytester, spec: str, message: str) -> None:
    apps.makepyfile(broken_syntax="def app(:\n", raises_on_import="app = 1 / 0\n")
    apps.makepyfile("def test_uses_server(live_server):\n    pass\n\ndef test_no_server():\n    pass\n")
    result = run(apps, "--asgi-app", spec)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_uses_server*", f"pytest-liveasgi: {message}*"])
    result.stdout.no_fnmatch_line("*Traceback*_server.py*")


MALFORMED_SPECS = [
    ("apps", "has no ':' between the module and the app's name (e.g. 'apps:app')"),
    ("apps:", "names no attribute after the ':' (e.g. 'apps:app')"),
    (":app", "names no module before the ':'"),
    ("my-apps:app", "has module 'my-apps', which is not a dotted Python name"),
    ("apps:app()", "has attribute 'app()', which is not a dotted Python name"),
    ("apps:app:x", "has more than one ':'"),
]


@pytest.mark.parametrize(("spec", "problem"), MALFORMED_SPECS, ids=[case[0] for case in MALFORMED_SPECS])
def test_malformed_app_spec_stops_the_run_once(apps: pytest.Pytester, spec: str, problem: str) -> None:
    apps.makepyfile("def test_one(live_server):\n    pass\n\ndef test_two(live_server):\n    pass\n")
    result = run(apps, "--asgi-app", spec)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    expected = f"ERROR: --asgi-app {spec!r} is not an import string 'package.module:attribute': it {problem}"
    result.stderr.fnmatch_lines([expected.replace("[", "[[]")])
    assert result.stderr.str().count("is not an import string") == 1
    apps.makeini(f"[pytest]\nasgi_app = {spec}\n")
    result = run(apps)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: ini option asgi_app {spec!r} is not an import string*"])


def test_misspelt_options_suggest_ours_and_uvicorns(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.asgi_app(htps=True)
            def test_https(live_server):
                pass

            @pytest.mark.asgi_app(startup_timout=3)
            def test_startup_timeout(live_server):
                pass

            @pytest.mark.asgi_app(raise_server_exception=False)
            def test_raise_server_exceptions(live_server):
                pass

            @pytest.mark.asgi_app(root_pth="/api")
            def test_uvicorn_option(live_server):
                pass
            """
        )
    )
    result = run(apps, "--asgi-app", "apps:app")
    result.assert_outcomes(errors=4)
    both = (
        "; server options are LiveServer's own (host, port, https, startup_timeout, shutdown_timeout, "
        "raise_server_exceptions, exchange_log_size) and the keyword arguments of uvicorn.Config (uvicorn *)"
    )
    result.stdout.fnmatch_lines(
        [
            f"pytest-liveasgi: *::test_https: unknown server option 'htps' (did you mean 'https'?){both}",
            f"pytest-liveasgi: *::test_startup_timeout: unknown server option 'startup_timout' "
            f"(did you mean 'startup_timeout'?){both}",
            f"pytest-liveasgi: *::test_raise_server_exceptions: unknown server option 'raise_server_exception' "
            f"(did you mean 'raise_server_exceptions'?){both}",
            "pytest-liveasgi: *::test_uvicorn_option: unknown server option 'root_pth' (did you mean 'root_path'?)*",
        ]
    )


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("htps", "https"), ("startup_timout", "startup_timeout"), ("raise_server_exception", "raise_server_exceptions")],
)
def test_live_server_suggests_its_own_keywords(typo: str, suggestion: str) -> None:
    from pytest_liveasgi import LiveServer, OptionError

    with pytest.raises(OptionError) as raised:
        LiveServer("apps:app", **{typo: True})
    assert f"unknown server option {typo!r} (did you mean {suggestion!r}?)" in str(raised.value)
    assert "LiveServer's own (host, port, https," in str(raised.value)


def test_failing_factory_names_the_factory(apps: pytest.Pytester) -> None:
    apps.makepyfile(factories="def create_app():\n    raise ValueError('DATABASE_URL is not set')\n")
    apps.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.asgi_app("factories:create_app", factory=True)
            def test_it(live_server):
                pass
            """
        )
    )
    result = run(apps)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["pytest-liveasgi: app factory 'factories:create_app' raised ValueError: DATABASE_URL is not set"]
    )


LIFESPAN_APPS = """
import asyncio
import contextlib
from starlette.applications import Starlette

@contextlib.asynccontextmanager
async def failing_startup(app):
    raise ConnectionError("cannot reach the database")
    yield

@contextlib.asynccontextmanager
async def hanging_startup(app):
    await asyncio.sleep(3600)
    yield

@contextlib.asynccontextmanager
async def failing_shutdown(app):
    yield
    raise RuntimeError("could not flush the queue")

startup_fails = Starlette(lifespan=failing_startup)
startup_hangs = Starlette(lifespan=hanging_startup)
shutdown_fails = Starlette(lifespan=failing_shutdown)
"""


# Subprocess: a hang is the bug, and only a subprocess's timeout ends one.
@pytest.mark.subprocess
def test_lifespan_failures_are_reported_and_nothing_hangs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(lifespans=LIFESPAN_APPS)
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.asgi_app("lifespans:startup_fails")
            def test_startup_fails(live_server):
                pass

            @pytest.mark.asgi_app("lifespans:startup_hangs", startup_timeout=0.5)
            def test_startup_hangs(live_server):
                pass

            @pytest.mark.asgi_app("lifespans:shutdown_fails")
            def test_shutdown_fails(live_server):
                pass
            """
        )
    )
    result = run(pytester, "-p", "no:cacheprovider", "--rootdir", str(pytester.path))
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_startup_fails*",
            "pytest-liveasgi: the server for 'lifespans:startup_fails' from @pytest.mark.asgi_app on "
            "test_lifespan_failures_are_reported_and_nothing_hangs.py::test_startup_fails failed to start: "
            "lifespan startup failed:",
            "    Traceback (most recent call last):",
            "*ConnectionError: cannot reach the database*",
            "*ERROR at setup of test_startup_hangs*",
            "*failed to start: did not start within startup_timeout=0.5 s",
            "*ERROR at teardown of test_shutdown_fails*",
            "pytest-liveasgi: stopping the server for 'lifespans:shutdown_fails'*: lifespan shutdown failed:",
            "*RuntimeError: could not flush the queue*",
        ]
    )


def test_address_problems_are_clear(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import socket
            import pytest

            taken = socket.socket()
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            PORT = taken.getsockname()[1]

            @pytest.mark.asgi_app(port=PORT)
            def test_port_in_use(live_server):
                pass

            @pytest.mark.asgi_app(host="no-such-host.invalid")
            def test_unknown_host(live_server):
                pass

            @pytest.mark.asgi_app(host="203.0.113.9")
            def test_address_not_on_this_machine(live_server):
                pass
            """
        )
    )
    result = run(apps, "--asgi-app", "apps:app")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "pytest-liveasgi: cannot bind 127.0.0.1:* for 'apps:app' from --asgi-app: Address already in use",
            "pytest-liveasgi: cannot bind no-such-host.invalid:0 for 'apps:app' from --asgi-app: unknown host*",
            "pytest-liveasgi: cannot bind 203.0.113.9:0 for 'apps:app' from --asgi-app: "
            "Cannot assign requested address",
        ]
    )


def test_unknown_marker_option_names_the_marker_and_test(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.asgi_app(root_pth="/api")
            def test_typo(live_server):
                pass
            """
        )
    )
    result = run(apps, "--asgi-app", "apps:app")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-liveasgi: @pytest.mark.asgi_app on test_unknown_marker_option_names_the_marker_and_test.py"
            "::test_typo: unknown server option 'root_pth' (did you mean 'root_path'?)*"
        ]
    )


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "asgi_server_options = lifspan = off",
            "ini option asgi_server_options: unknown server option 'lifspan' (did you mean 'lifespan'?)*",
        ),
        ("asgi_server_options = workers = 4", "ini option asgi_server_options: option 'workers' is not supported*"),
        (
            "asgi_server_options = lifespan",
            "ini option asgi_server_options: 'lifespan' is not of the form 'name = value'",
        ),
        (
            "asgi_startup_timeout = soon",
            "ini option asgi_startup_timeout must be a positive number of seconds, got 'soon'",
        ),
        (
            "asgi_shutdown_timeout = -1",
            "ini option asgi_shutdown_timeout must be a positive number of seconds, got -1.0",
        ),
    ],
)
def test_bad_ini_values_stop_the_run_with_the_key_named(apps: pytest.Pytester, ini: str, message: str) -> None:
    apps.makeini(f"[pytest]\n{ini}\n")
    apps.makepyfile("def test_it():\n    pass\n")
    result = run(apps)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_marker_app_on_a_session_server_test_is_an_error(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.asgi_app("apps:plain_app")
            def test_wrong_fixture(live_server_session):
                pass

            @pytest.mark.asgi_app(https=True)
            def test_option_on_shared_server(live_server_session):
                pass

            @pytest.mark.asgi_app(raise_server_exceptions=False)
            def test_per_test_option_is_fine(live_server_session):
                pass
            """
        )
    )
    result = run(apps, "--asgi-app", "apps:app")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "pytest-liveasgi: @pytest.mark.asgi_app on *::test_wrong_fixture names an app, but the test uses "
            "live_server_session*Use the live_server fixture for a per-test app.",
            "pytest-liveasgi: @pytest.mark.asgi_app on *::test_option_on_shared_server sets server option(s) "
            "https, but the test uses live_server_session*",
        ]
    )


def test_session_server_without_a_configured_app(apps: pytest.Pytester) -> None:
    apps.makepyfile("def test_it(live_server_session):\n    pass\n")
    result = run(apps)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["pytest-liveasgi: asgi_live_server_session serves the app configured for the whole*"])


# -- bounded teardown ---------------------------------------------------------------------


# Subprocess: the inner tests leave hanging work behind on purpose, and a hang is the bug.
@pytest.mark.subprocess
def test_teardown_cuts_off_hanging_work_and_says_what(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import threading
            import time

            import httpx
            import pytest
            from websockets.sync.client import connect

            def background(function):
                threading.Thread(target=function, daemon=True).start()

            def quietly(function):
                def run():
                    try:
                        function()
                    except Exception:
                        pass
                return run

            @pytest.mark.asgi_app(shutdown_timeout=0.3)
            def test_hanging_request(live_server):
                background(quietly(lambda: httpx.get(live_server.url + "/slow", timeout=10)))
                while not live_server.running_requests():
                    time.sleep(0.01)

            @pytest.mark.asgi_app(shutdown_timeout=0.3)
            def test_endless_stream(live_server):
                def stream():
                    with httpx.stream("GET", live_server.url + "/endless", timeout=10) as response:
                        for _ in response.iter_bytes():
                            pass
                background(quietly(stream))
                while not live_server.running_requests():
                    time.sleep(0.01)

            @pytest.mark.asgi_app(shutdown_timeout=0.3)
            def test_open_websocket(live_server):
                websocket = connect(live_server.ws_url + "/ws")
                websocket.send("hi")
                assert websocket.recv() == "echo: hi"
            """
        )
    )
    result = run(apps, "--asgi-app", "apps:app", "-W", "always")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*LiveServerWarning: stopping the server for 'apps:app' from --asgi-app cut off what was still running "
            "after shutdown_timeout=0.3 s: GET /slow (no response yet, running *",
            "*LiveServerWarning: *cut off*: GET /endless (response streaming, running *",
        ]
    )
    # Each warning points at its test, not at the plugin's code.
    result.stdout.fnmatch_lines(
        ["*/test_teardown_cuts_off_hanging_work_and_says_what.py:*: LiveServerWarning: stopping the server*"]
    )
    result.stdout.no_fnmatch_line("*pytest_liveasgi*LiveServerWarning*")
    # Uncut, the first two tests would wait for their clients' 10 s timeouts. The session's
    # own time: a busy machine stretches the interpreter's start-up far more.
    session_seconds = re.search(r" in ([0-9.]+)s", result.stdout.lines[-1])
    assert session_seconds is not None, result.stdout.lines[-1]
    assert float(session_seconds.group(1)) < 15
