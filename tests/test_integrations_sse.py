"""Server-sent events with sse-starlette 3.x (issue 12 item 7), as docs/recipes/sse.md tells it.

- A stream still open when the server stops keeps `stop()` waiting for the whole shutdown
  timeout, then is cut off with a LiveServerWarning. Whether a stream is still open
  depends on fixture order: fixtures are torn down in the reverse order of their setup,
  so a client fixture listed *before* the server (``def test(page, asgi_live_server)``)
  still holds its stream when the server stops, and one listed after it does not.
- sse-starlette keeps process-wide shutdown state (``AppStatus.should_exit``), latched for
  good by any uvicorn server's ``handle_exit`` in the process; the recipe's autouse
  fixture resets it, which also fixes sse-starlette 1.8-2.4 (``should_exit_event``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import dedent

pytest.importorskip("sse_starlette")

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "samples" / "sse"
CHROMIUM = "/usr/bin/chromium"
PLUGINS = ("-p", "no:django", "-p", "no:flask", "-p", "no:cacheprovider")

FINITE_APP = """
import asyncio

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.routing import Route


async def three(request):
    async def numbers():
        for number in range(3):
            yield {"data": str(number)}
            await asyncio.sleep(0.01)

    return EventSourceResponse(numbers())


app = Starlette(routes=[Route("/three", three)])
"""


def _sample(pytester: pytest.Pytester, *names: str) -> None:
    for name in names:
        shutil.copy(SAMPLE / name, pytester.path / name)


def test_a_stream_open_at_teardown_depends_on_fixture_order(pytester: pytest.Pytester) -> None:
    _sample(pytester, "app.py")
    pytester.makeini("[pytest]\npythonpath = .\nasgi_app = app:app\nasgi_shutdown_timeout = 0.5\n")
    pytester.makeconftest(
        dedent(
            '''
            import httpx
            import pytest

            class Listener:
                """Like Playwright's `page`: keeps what it opened until its own teardown."""

                def __init__(self, client):
                    self.client = client
                    self.streams = []

                def listen(self, url):
                    response = self.client.send(self.client.build_request("GET", url), stream=True)
                    # Keep the line iterator too: collecting it would close the response.
                    lines = response.iter_lines()
                    self.streams.append((response, lines))
                    return next(lines)

            @pytest.fixture
            def listener():
                with httpx.Client() as client:
                    yield Listener(client)
            '''
        )
    )
    pytester.makepyfile(
        test_order=dedent(
            """
            def test_listener_first(listener, asgi_live_server):
                assert listener.listen(asgi_live_server + "/ticks") == "data: 0"

            def test_server_first(asgi_live_server, listener):
                assert listener.listen(asgi_live_server + "/ticks") == "data: 0"

            def test_closed_in_the_test(listener, asgi_live_server):
                assert listener.listen(asgi_live_server + "/ticks") == "data: 0"
                listener.streams.pop()[0].close()

            def test_left_open_on_the_servers_client(listener, asgi_live_server_client):
                # asgi_live_server_client depends on the server: it is closed first.
                client = asgi_live_server_client
                response = client.send(client.build_request("GET", "/ticks"), stream=True)
                lines = response.iter_lines()
                listener.streams.append((response, lines))
                assert next(lines) == "data: 0"
            """
        )
    )
    result = pytester.runpytest(*PLUGINS, "-W", "always::pytest_liveasgi.LiveServerWarning")
    result.assert_outcomes(passed=4)
    warnings = result.stdout.str().split("warnings summary")[-1]
    # Only the test whose stream outlived the server paid the shutdown timeout.
    assert warnings.count("LiveServerWarning") == 1, warnings
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            "test_order.py::test_listener_first",
            "*LiveServerWarning:*cut off*shutdown_timeout=0.5 s*GET /ticks*",
        ]
    )


# Subprocess: sse-starlette's AppStatus latch is process-wide; this run sets it.
@pytest.mark.subprocess
def test_the_recipe_fixture_fixes_the_appstatus_latch(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=FINITE_APP)
    pytester.makeini("[pytest]\npythonpath = .\nasgi_app = app:app\n")
    pytester.makepyfile(
        test_latch=dedent(
            """
            import signal

            import httpx
            import uvicorn

            def events(server):
                with httpx.stream("GET", server + "/three") as response:
                    return [line for line in response.iter_lines() if line.startswith("data:")]

            def test_1_another_uvicorn_server_handles_a_signal(asgi_live_server):
                # sse-starlette patches uvicorn's Server.handle_exit to set a process-wide
                # flag that nothing resets.
                uvicorn.Server(uvicorn.Config(app=None, log_config=None)).handle_exit(signal.SIGTERM, None)

            def test_2_a_later_server_streams(asgi_live_server):
                assert events(asgi_live_server) == ["data: 0", "data: 1", "data: 2"]
            """
        )
    )
    # Without the fixture, every later stream ends at once.
    without = pytester.runpytest(*PLUGINS)
    without.assert_outcomes(passed=1, failed=1)
    without.stdout.fnmatch_lines(["FAILED test_latch.py::test_2_a_later_server_streams*"])

    _sample(pytester, "conftest.py")
    pytester.runpytest(*PLUGINS).assert_outcomes(passed=2)


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no browser: {CHROMIUM} is missing")
def test_an_event_source_in_the_browser_and_fixture_order(pytester: pytest.Pytester) -> None:
    _sample(pytester, "app.py", "conftest.py")
    pytester.makeini("[pytest]\npythonpath = .\nasgi_app = app:app\nasgi_shutdown_timeout = 1\n")
    pytester.makepyfile(
        test_page=dedent(
            """
            from playwright.sync_api import expect

            def test_page_first(page, asgi_live_server):
                page.goto(asgi_live_server.url)
                expect(page.locator("#ticks")).to_contain_text("3")

            def test_server_first(asgi_live_server, page):
                page.goto(asgi_live_server.url)
                expect(page.locator("#ticks")).to_contain_text("3")
            """
        )
    )
    result = pytester.runpytest(*PLUGINS, "-W", "always::pytest_liveasgi.LiveServerWarning")
    result.assert_outcomes(passed=2)
    assert result.stdout.str().split("warnings summary")[-1].count("LiveServerWarning") == 1
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            "test_page.py::test_page_first*",
            "*LiveServerWarning:*cut off*GET /ticks*",
        ]
    )
