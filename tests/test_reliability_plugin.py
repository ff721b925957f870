"""Reliability of the plugin (issue 6): faults and interruptions never leave a server behind.

Each test runs a real pytest in a subprocess with reliability_apps.py importable as
``rapps``. The apps append "startup NAME" / "shutdown NAME" to a log file from lifespan:
a "shutdown" line proves the server was stopped properly (lifespan shutdown runs last).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import dedent

pytestmark = pytest.mark.reliability

RELIABILITY_APPS = Path(__file__).with_name("reliability_apps.py").read_text()
# A whole run here takes a few seconds; a hang would be the bug.
PROMPT = 60.0


@pytest.fixture
def rapps(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester with `rapps.py` importable and its lifespan log in `lifespan.log`."""
    pytester.makepyfile(rapps=RELIABILITY_APPS)
    pytester.syspathinsert()
    monkeypatch.setenv("LIVEASGI_RELIABILITY_LOG", str(pytester.path / "lifespan.log"))
    return pytester


def lifespan_log(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "lifespan.log"
    return path.read_text().splitlines() if path.exists() else []


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    began = time.monotonic()
    result = pytester.runpytest_subprocess(*args, timeout=PROMPT)
    return result, time.monotonic() - began


# -- 1. leaks, through the fixtures ---------------------------------------------------


@pytest.mark.slow
def test_a_fresh_live_server_per_test_leaks_nothing_over_100_tests(rapps: pytest.Pytester) -> None:
    rapps.makepyfile(
        dedent(
            """
            import os
            import threading

            import pytest

            seen = {}

            def resources():
                return len(os.listdir("/proc/self/fd")), sorted(t.name for t in threading.enumerate())

            @pytest.mark.asgi_app("rapps:function_app")
            def test_warm_up(live_server, live_server_client):
                # imports, the shared SSL context, log handlers
                assert live_server_client.get("/").text == "hello from function_app"

            def test_measure():
                seen["before"] = resources()

            @pytest.mark.asgi_app("rapps:function_app")
            @pytest.mark.parametrize("number", range(100))
            def test_request(live_server, live_server_client, number):
                assert live_server.host == "127.0.0.1"
                assert live_server_client.get("/").text == "hello from function_app"

            def test_resources_are_as_before():
                assert resources() == seen["before"]
            """
        )
    )
    result, _ = run(rapps, "-W", "error::ResourceWarning", "-p", "no:randomly")
    result.assert_outcomes(passed=103)
    log = lifespan_log(rapps)
    assert log.count("startup function_app") == log.count("shutdown function_app") == 101


# -- 4. faults in the app, through the fixtures ------------------------------------------


def test_each_app_fault_is_reported_and_none_hangs_the_run(rapps: pytest.Pytester) -> None:
    rapps.makeini("[pytest]\nasgi_shutdown_timeout = 0.5\n")
    rapps.makepyfile(
        dedent(
            """
            import threading

            import httpx
            import pytest

            @pytest.mark.asgi_app("rapps:app")
            def test_request_raises(live_server):
                assert httpx.get(live_server.url + "/boom").status_code == 500

            @pytest.mark.asgi_app("rapps:startup_failure_app")
            def test_lifespan_startup_fails(live_server):
                pass

            @pytest.mark.asgi_app("rapps:shutdown_failure_app")
            def test_lifespan_shutdown_fails(live_server):
                assert httpx.get(live_server.url).text == "hello from shutdown_failure_app"

            @pytest.mark.asgi_app("rapps:function_app")
            def test_app_blocks_its_event_loop(live_server):
                # longer than the whole teardown: settling (2 x 1 s) and stop (0.5 + 1.5 s)
                with pytest.raises(httpx.ReadTimeout):
                    httpx.get(live_server.url + "/block?seconds=6", timeout=0.2)

            @pytest.mark.asgi_app("rapps:app")
            def test_the_run_goes_on(live_server):
                assert httpx.get(live_server.url).text == "hello from app"
                # the thread left behind by the blocked app ends once the blocking call returns
                for thread in threading.enumerate():
                    if thread.name.startswith("liveasgi") and "function_app" in thread.name:
                        thread.join(10)
                        assert not thread.is_alive()
            """
        )
    )
    result, took = run(rapps)
    result.assert_outcomes(passed=4, errors=4)
    result.stdout.fnmatch_lines_random(
        [
            "*ERROR at teardown of test_request_raises*",
            "*RuntimeError: boom from app",
            "*ERROR at setup of test_lifespan_startup_fails*",
            "*lifespan startup failed*",
            "*database is not reachable*",
            "*ERROR at teardown of test_lifespan_shutdown_fails*",
            "*lifespan shutdown failed*",
            "*could not flush the queue*",
            "*ERROR at teardown of test_app_blocks_its_event_loop*",
            "*did not end within 0.5 s: the app blocks its event loop*",
        ]
    )
    assert took < PROMPT


# -- 5. interruptions ------------------------------------------------------------------


def test_servers_are_stopped_after_failing_tests_and_fixtures(rapps: pytest.Pytester) -> None:
    rapps.makeini("[pytest]\nasgi_app = rapps:session_app\n")
    rapps.makepyfile(
        dedent(
            """
            import threading

            import httpx
            import pytest

            @pytest.fixture
            def broken_after_live_server(live_server):
                raise RuntimeError("this fixture is broken")

            @pytest.mark.asgi_app("rapps:function_app")
            def test_body_raises(live_server, live_server_session):
                assert httpx.get(live_server.url).text == "hello from function_app"
                raise ValueError("the test body failed")

            @pytest.mark.asgi_app("rapps:function_app")
            def test_fixture_after_live_server_fails(broken_after_live_server):
                pass

            def test_fails_on_the_session_server(live_server_session):
                assert httpx.get(live_server_session.url).text == "hello from session_app"
                assert False, "the test failed"

            def test_only_the_session_server_is_left():
                servers = [thread.name for thread in threading.enumerate() if thread.name.startswith("liveasgi")]
                assert len(servers) == 1
                assert "session_app" in servers[0]
            """
        )
    )
    result, _ = run(rapps)
    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines_random(["*ValueError: the test body failed*", "*RuntimeError: this fixture is broken*"])
    log = lifespan_log(rapps)
    assert log.count("startup function_app") == log.count("shutdown function_app") == 2
    assert log.count("startup session_app") == log.count("shutdown session_app") == 1
    assert log[-1] == "shutdown session_app"


@pytest.mark.usefixtures("ctrl_c")
@pytest.mark.parametrize("waiting_in", ["sleep", "request"])
def test_ctrl_c_during_a_test_stops_every_server_promptly(rapps: pytest.Pytester, waiting_in: str) -> None:
    rapps.makeini("[pytest]\nasgi_app = rapps:session_app\nasgi_shutdown_timeout = 1\n")
    rapps.makepyfile(
        dedent(
            f"""
            import pathlib
            import time

            import httpx
            import pytest

            @pytest.mark.asgi_app("rapps:function_app")
            def test_waits(live_server, live_server_session):
                assert httpx.get(live_server_session.url).status_code == 200
                pathlib.Path("ready").touch()
                if {waiting_in!r} == "sleep":
                    time.sleep(60)
                else:
                    httpx.get(live_server.url + "/slow", timeout=60)

            def test_never_reached():
                pass
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(rapps.path), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error::ResourceWarning"],
        cwd=rapps.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + PROMPT
        while not (rapps.path / "ready").exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the test never got going"
            time.sleep(0.02)
        time.sleep(0.1)  # into the sleep or the request
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=PROMPT)
        took = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # The documented worst case is two stops of shutdown_timeout + 1.5 s (5 s); a hang
    # would wait out the 60 s sleep or request. 20 s tells them apart on a busy machine too.
    assert took < 20, output
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert "test_never_reached" not in output
    log = lifespan_log(rapps)
    assert sorted(log) == [
        "shutdown function_app",
        "shutdown session_app",
        "startup function_app",
        "startup session_app",
    ]
    print(f"Ctrl-C while the test waits in a {waiting_in}: pytest exited {took:.2f} s later")
