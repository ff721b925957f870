"""coverage.py measures the app code that runs in the server thread (`coverage run -m pytest`)."""

from __future__ import annotations

import sys

import coverage
import pytest
from conftest import dedent

APP = dedent(
    """
    import threading

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route


    async def served(request):
        thread = threading.current_thread().name
        message = "served in " + thread
        return PlainTextResponse(message)


    async def never_requested(request):
        unreached = "no test asks for this"
        return PlainTextResponse(unreached)


    app = Starlette(routes=[Route("/", served), Route("/never", never_requested)])
    """
)


def test_coverage_measures_the_server_thread(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(covered_app=APP)
    pytester.makepyfile(
        test_covered=dedent(
            """
            import threading

            def test_request(live_server_client):
                text = live_server_client.get("/").text
                assert text.startswith("served in ")
                assert text != "served in " + threading.current_thread().name
            """
        )
    )
    pytester.makeini("[pytest]\npythonpath = .\nasgi_app = covered_app:app\n")
    # No concurrency setting: coverage's default ("thread") follows threads started
    # after it, like the server's.
    (pytester.path / ".coveragerc").write_text("[run]\nsource = covered_app\n")
    result = pytester.run(sys.executable, "-m", "coverage", "run", "-m", "pytest", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*1 passed*"])

    data = coverage.CoverageData(basename=str(pytester.path / ".coverage"))
    data.read()
    app_file = str(pytester.path / "covered_app.py")
    measured = set(data.lines(app_file) or [])
    source = (pytester.path / "covered_app.py").read_text().splitlines()

    def line_of(text: str) -> int:
        return next(number for number, line in enumerate(source, 1) if text in line)

    for executed in (
        "thread = threading.current_thread()",
        'message = "served in "',
        "return PlainTextResponse(message)",
    ):
        assert line_of(executed) in measured, f"handler line not measured: {executed}"
    assert line_of("unreached = ") not in measured, "a handler no test requested must stay unmeasured"
