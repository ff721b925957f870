"""The pytest plugin, driven through real test files run by pytester."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest
from conftest import dedent


def test_asgi_app_option_serves_the_app(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx

            def test_hello(live_server):
                assert httpx.get(live_server.url).text == "hello"
            """
        )
    )
    result = apps.runpytest("--asgi-app", "apps:app")
    result.assert_outcomes(passed=1)


def test_ini_asgi_app_and_server_options(apps: pytest.Pytester) -> None:
    apps.makeini(
        """
        [pytest]
        asgi_app = apps:app
        asgi_startup_timeout = 2.5
        asgi_shutdown_timeout = 1
        asgi_server_options =
            root_path = /api
            headers = [("x-from-ini", "yes")]
        """
    )
    apps.makepyfile(
        dedent(
            """
            import httpx

            def test_options(live_server):
                assert live_server.startup_timeout == 2.5
                assert live_server.shutdown_timeout == 1.0
                response = httpx.get(live_server.url + "/scope")
                assert response.json()["root_path"] == "/api"
                assert response.headers["x-from-ini"] == "yes"
            """
        )
    )
    result = apps.runpytest()
    result.assert_outcomes(passed=1)


def test_cli_option_beats_the_ini_file(apps: pytest.Pytester) -> None:
    apps.makeini("[pytest]\nasgi_app = apps:app\n")
    apps.makepyfile("import httpx\ndef test_it(live_server):\n    assert httpx.get(live_server.url).text == 'plain'\n")
    apps.runpytest("--asgi-app", "apps:plain_app").assert_outcomes(passed=1)


def test_marker_on_function_class_and_module_closest_wins(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx
            import pytest

            pytestmark = pytest.mark.asgi_app("apps:plain_app", root_path="/module")

            def test_module_marker(live_server):
                assert httpx.get(live_server.url).text == "plain"

            @pytest.mark.asgi_app("apps:app")
            class TestClass:
                def test_class_marker_wins(self, live_server):
                    assert httpx.get(live_server.url).text == "hello"

                @pytest.mark.asgi_app(headers=[("x-inner", "1")])
                def test_options_merge_inwards(self, live_server):
                    response = httpx.get(live_server.url + "/scope")
                    assert response.json()["root_path"] == "/module"
                    assert response.headers["x-inner"] == "1"

                @pytest.mark.asgi_app(root_path="/function")
                def test_closest_option_wins(self, live_server):
                    assert httpx.get(live_server.url + "/scope").json()["root_path"] == "/function"
            """
        )
    )
    result = apps.runpytest("--asgi-app", "no_such_module:app")
    result.assert_outcomes(passed=4)


def test_marker_beats_an_overridden_asgi_app_fixture(apps: pytest.Pytester) -> None:
    apps.makeconftest(
        dedent(
            """
            import pytest
            import apps

            @pytest.fixture
            def asgi_app():
                return apps.plain_app
            """
        )
    )
    apps.makepyfile(
        dedent(
            """
            import httpx
            import pytest

            def test_fixture_override(live_server, asgi_app):
                assert live_server.app is asgi_app
                assert httpx.get(live_server.url).text == "plain"

            @pytest.mark.asgi_app("apps:app")
            def test_marker_first(live_server):
                assert httpx.get(live_server.url).text == "hello"
            """
        )
    )
    apps.runpytest("--asgi-app", "apps:app").assert_outcomes(passed=2)


def test_function_app_given_with_with_args(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx
            import pytest
            from apps import plain_app

            @pytest.mark.asgi_app.with_args(plain_app)
            def test_plain(live_server):
                assert httpx.get(live_server.url).text == "plain"
            """
        )
    )
    apps.runpytest().assert_outcomes(passed=1)


def test_function_app_given_directly_gets_a_hint(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import pytest
            from apps import plain_app

            @pytest.mark.asgi_app(plain_app)
            def test_plain(live_server):
                pass
            """
        )
    )
    result = apps.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pytest-liveasgi hint*", "*Write @pytest.mark.asgi_app.with_args(app)*"])


def test_other_type_errors_at_collection_get_no_hint(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import pytest
            from apps import plain_app

            plain_app({"type": "http"})  # the TypeError of the misuse, from another line

            @pytest.mark.asgi_app.with_args(plain_app)
            def test_plain(live_server):
                pass
            """
        )
    )
    result = apps.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TypeError: plain_app() missing 2 required positional arguments*"])
    result.stdout.no_fnmatch_line("*pytest-liveasgi hint*")


def test_no_app_names_all_four_ways(apps: pytest.Pytester) -> None:
    apps.makepyfile("def test_it(live_server):\n    pass\n")
    result = apps.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*no ASGI app is configured for this test*",
            "*1. @pytest.mark.asgi_app(*",
            "*2. an asgi_app fixture*",
            "*3. --asgi-app package.module:app*",
            "*4. asgi_app = package.module:app in the pytest ini file*",
        ]
    )


def test_session_server_is_shared_and_function_servers_are_fresh(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import gc, weakref
            import apps

            seen = {}
            function_servers = []

            def test_one(live_server_session, live_server):
                seen["session"] = live_server_session.port
                seen["function"] = live_server.port
                function_servers.append(weakref.ref(live_server))

            def test_two(live_server_session, live_server):
                assert live_server_session.port == seen["session"]
                assert live_server.port not in (seen["session"], seen["function"])
                function_servers.append(weakref.ref(live_server))

            def test_lifespan_per_function_server():
                # one session server start + two function servers, each started and stopped
                assert apps.EVENTS.count("startup") == 3
                assert apps.EVENTS.count("shutdown") == 2

            def test_a_finished_tests_server_is_let_go():
                gc.collect()  # not kept by its test item until the session ends
                assert [ref() for ref in function_servers] == [None, None]
            """
        )
    )
    apps.runpytest("--asgi-app", "apps:app", "-p", "no:randomly").assert_outcomes(passed=4)


def test_sync_pytest_asyncio_and_anyio_tests_reach_the_server(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx
            import pytest

            def test_sync(live_server):
                assert httpx.get(live_server.url).text == "hello"

            @pytest.mark.asyncio
            async def test_pytest_asyncio(live_server):
                async with live_server.async_client() as client:
                    assert (await client.get("/")).text == "hello"

            @pytest.mark.anyio
            async def test_anyio(live_server):
                async with live_server.async_client() as client:
                    assert (await client.get("/")).text == "hello"

            @pytest.mark.asyncio
            async def test_sync_client_inside_async_test(live_server):
                # blocking the test's loop does not block the server's
                assert httpx.get(live_server.url).text == "hello"
            """
        )
    )
    result = apps.runpytest("--asgi-app", "apps:app", "-p", "asyncio", "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=4)


def test_report_header_names_the_app_and_uvicorn(apps: pytest.Pytester) -> None:
    import uvicorn

    apps.makepyfile("def test_nothing():\n    pass\n")
    result = apps.runpytest("--asgi-app", "apps:app")
    result.stdout.fnmatch_lines(
        [f"liveasgi: app 'apps:app' (from --asgi-app), uvicorn {uvicorn.__version__}, startup_timeout 10 s*"]
    )


def test_fixtures_are_documented_and_nothing_internal_is_listed(apps: pytest.Pytester) -> None:
    output = apps.runpytest("--fixtures", "-v").stdout.str()
    for name, docstring in [
        ("asgi_app", "The ASGI app for this test"),
        ("asgi_live_server", "A fresh `LiveServer` for this test"),
        ("asgi_live_server_client", "An `httpx.Client` for `asgi_live_server`"),
        ("asgi_live_server_session [session scope]", "One `LiveServer` for the whole session"),
        ("asgi_live_server_factory", "Start any number of `LiveServer`s in one test"),
        ("live_server", "A fresh `LiveServer` for this test (the short name of `asgi_live_server`)"),
        ("live_server_client", "An `httpx.Client` for `live_server`"),
        ("live_server_session [session scope]", "One `LiveServer` for the whole session"),
        ("live_server_factory", "Start `LiveServer`s in a test"),
    ]:
        assert re.search(rf"^{re.escape(name)} -- .*\n    {re.escape(docstring)}", output, re.MULTILINE), name
    # The per-test bookkeeping is done in hooks, not by an autouse fixture.
    assert "liveasgi_" not in output
    assert "pytest_liveasgi/plugin.py" in output


def test_short_names_are_the_same_fixtures(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            def test_same_server(live_server, asgi_live_server, live_server_client, asgi_live_server_client):
                assert live_server is asgi_live_server
                assert live_server_client is asgi_live_server_client
                assert live_server_client.get("/").text == "hello"

            def test_same_session_server(live_server_session, asgi_live_server_session):
                assert live_server_session is asgi_live_server_session

            def test_same_factory(live_server_factory, asgi_live_server_factory):
                assert live_server_factory is asgi_live_server_factory
            """
        )
    )
    apps.runpytest("--asgi-app", "apps:app").assert_outcomes(passed=3)


def test_options_are_in_help(apps: pytest.Pytester) -> None:
    numeric = pytest.version_tuple >= (8, 4)  # type: ignore[attr-defined,operator,unused-ignore]
    result = apps.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*--asgi-app=MODULE:ATTRIBUTE*",
            "*asgi_app (string)*",
            f"*asgi_startup_timeout ({'float' if numeric else 'string'})*",
            f"*asgi_shutdown_timeout ({'float' if numeric else 'string'})*",
            "*asgi_raise_server_exceptions (bool)*",
            f"*asgi_exchange_log_size ({'int' if numeric else 'string'})*",
            "*asgi_server_options (linelist)*",
        ]
    )


def test_option_table_matches_the_keywords_of_live_server() -> None:
    from pytest_liveasgi import LiveServer
    from pytest_liveasgi._options import SERVER_OPTIONS

    parameters = inspect.signature(LiveServer.__init__).parameters
    keywords = {name: p.default for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords == {name: option.default for name, option in SERVER_OPTIONS.items()}


def test_a_run_without_live_servers_imports_no_uvicorn_or_httpx(pytester: pytest.Pytester) -> None:
    heavy = ["uvicorn", "httpx", "httpcore", "h11", "click", "pytest_liveasgi._server"]
    pytester.makeconftest(
        dedent(
            f"""
            import json, pathlib, sys

            def pytest_unconfigure(config):
                loaded = [name for name in {heavy!r} if name in sys.modules]
                pathlib.Path("loaded.json").write_text(json.dumps(loaded))
            """
        )
    )
    pytester.makeini("[pytest]\nasgi_app = apps:app\nasgi_startup_timeout = 3\n")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:anyio", "-p", "no:playwright")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["liveasgi: app 'apps:app' (from ini option asgi_app), uvicorn *"])
    assert json.loads((pytester.path / "loaded.json").read_text()) == []
    script = "import sys, pytest_liveasgi, pytest_liveasgi.plugin; print(sorted(set(sys.argv[1:]) & set(sys.modules)))"
    printed = subprocess.run([sys.executable, "-c", script, *heavy], capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == "[]"


def test_report_header_when_the_app_comes_from_a_fixture_or_markers(apps: pytest.Pytester) -> None:
    apps.makepyfile("def test_nothing():\n    pass\n")
    apps.runpytest().stdout.fnmatch_lines(
        ["liveasgi: app per test (@pytest.mark.asgi_app or an asgi_app fixture), uvicorn *"]
    )
    apps.makeconftest("import pytest\n\n@pytest.fixture\ndef asgi_app():\n    return 'not used'\n")
    result = apps.runpytest()
    result.stdout.fnmatch_lines(["liveasgi: app from the asgi_app fixture (conftest.py), uvicorn *"])
    result.stdout.no_fnmatch_line("*no app configured*")


def test_the_example_suite_passes(pytester: pytest.Pytester) -> None:
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent / "examples"
    result = pytester.runpytest_subprocess(
        str(examples), "-c", str(examples / "pytest.ini"), "--rootdir", str(examples)
    )
    result.assert_outcomes(passed=9)


@pytest.mark.slow  # ~15 s: the example suite, browser tests included, through the script
def test_the_readme_demo_command_passes_after_the_test_command() -> None:
    """The README's two commands share .venv: after scripts/test.sh installed pytest-django
    and pytest-flask (each owns `live_server`), scripts/demo.sh must still pass."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if Path(sys.prefix).resolve() != (root / ".venv").resolve():
        pytest.skip("runs in the .venv that scripts/test.sh makes (not under tox)")
    done = subprocess.run(["bash", "scripts/demo.sh"], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "9 passed" in done.stdout


def test_ini_flags_accept_on_off_words_and_reject_others(apps: pytest.Pytester) -> None:
    apps.makeini("[pytest]\nasgi_app = apps:app\nasgi_server_options =\n    https = off\n    lifespan = on\n")
    apps.makepyfile("def test_it(live_server):\n    assert live_server.url.startswith('http://')\n")
    apps.runpytest().assert_outcomes(passed=1)
    apps.makeini("[pytest]\nasgi_app = apps:app\nasgi_server_options = access_log = maybe\n")
    result = apps.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: ini option asgi_server_options: access_log must be true or false, got 'maybe'"]
    )
