"""Several servers in one test, and the exchange log in the report of a failing test."""

from __future__ import annotations

import pytest
from conftest import dedent

SERVICES = """
import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def price(request):
    if request.path_params["sku"] == "broken":
        raise LookupError("price list is corrupt")
    return JSONResponse({"sku": request.path_params["sku"], "cents": 1250})


prices = Starlette(routes=[Route("/prices/{sku}", price)])


def create_shop(prices_url):
    async def product(request):
        async with httpx.AsyncClient(base_url=prices_url) as client:
            answer = await client.get("/prices/" + request.path_params["sku"])
        if answer.status_code != 200:
            return JSONResponse({"error": "pricing is down"}, status_code=502)
        return JSONResponse({"product": request.path_params["sku"], "price": answer.json()["cents"] / 100})

    return Starlette(routes=[Route("/products/{sku}", product)])
"""


def test_two_services_call_each_other_over_live_urls(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(services=SERVICES)
    pytester.makepyfile(
        dedent(
            """
            import httpx
            import services

            def test_shop_asks_the_price_service(live_server_factory):
                prices = live_server_factory("services:prices")
                shop = live_server_factory(services.create_shop(prices.url))
                assert prices.port != shop.port
                response = httpx.get(shop.url + "/products/tea")
                assert response.json() == {"product": "tea", "price": 12.5}

            def test_an_error_in_the_second_service_is_reported(live_server_factory):
                prices = live_server_factory("services:prices")
                shop = live_server_factory(services.create_shop(prices.url))
                assert httpx.get(shop.url + "/products/broken").status_code == 502

            def test_servers_stop_in_reverse_order(live_server_factory):
                import apps_log
                first = live_server_factory(apps_log.make("first"))
                second = live_server_factory(apps_log.make("second"))

            def test_order_was_reverse():
                import apps_log
                assert apps_log.STOPPED == ["second", "first"]
            """
        )
    )
    pytester.makepyfile(
        apps_log=dedent(
            """
            import contextlib
            from starlette.applications import Starlette

            STOPPED = []

            def make(name):
                @contextlib.asynccontextmanager
                async def lifespan(app):
                    yield
                    STOPPED.append(name)
                return Starlette(lifespan=lifespan)
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_an_error_in_the_second_service_is_reported*",
            "*server-side traceback of GET /prices/broken*",
            "*LookupError: price list is corrupt",
        ]
    )


def test_factory_start_failure_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(live_server_factory):\n    live_server_factory('nowhere:app')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["pytest-liveasgi: cannot load app 'nowhere:app': no module named 'nowhere'*"])


BROWSER_LIKE_TEST = """
import httpx
import pytest
from websockets.sync.client import connect

def test_checkout_flow(live_server):
    httpx.get(live_server.url + "/")
    httpx.get(live_server.url + "/scope?step=2")
    with connect(live_server.ws_url + "/ws") as websocket:
        websocket.send("ping")
        websocket.recv()
    httpx.get(live_server.url + "/boom")
    assert False, "the order confirmation never appeared"

def test_passing(live_server):
    httpx.get(live_server.url + "/")
"""


def test_failing_test_shows_its_exchange_log(apps: pytest.Pytester) -> None:
    apps.makepyfile(BROWSER_LIKE_TEST)
    result = apps.runpytest("--asgi-app", "apps:app", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_checkout_flow _*",
            "*AssertionError: the order confirmation never appeared*",
            "*- live server exchanges ('apps:app' from --asgi-app) -*",
            "GET / -> 200 in * ms",
            "GET /scope?step=2 -> 200 in * ms",
            "WebSocket /ws -> accepted, closed 1000 in * ms",
            "GET /boom -> 500 in * ms  !! RuntimeError: boom from the app",
        ]
    )
    # passing tests show theirs only when asked (-rP / -rA)
    assert result.stdout.str().count("live server exchanges") == 1


def test_exchange_log_for_passing_tests_with_rA_and_off_switch(apps: pytest.Pytester) -> None:
    apps.makepyfile(BROWSER_LIKE_TEST)
    result = apps.runpytest("--asgi-app", "apps:app", "-rA", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*PASSES*", "*_ test_passing _*", "*live server exchanges*", "GET / -> 200 in * ms"])
    result = apps.runpytest("--asgi-app", "apps:app", "-o", "asgi_exchange_log_size=0", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1, errors=1)
    assert "live server exchanges" not in result.stdout.str()


def test_exchange_log_is_bounded_and_shows_running_requests(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import threading, time
            import httpx

            def test_many(live_server):
                with live_server.client() as client:
                    for number in range(8):
                        client.get(f"/scope?n={number}")
                # Long enough to be still running when the report is made on a busy machine.
                threading.Thread(
                    target=lambda: httpx.get(live_server.url + "/slow?seconds=3", timeout=10), daemon=True
                ).start()
                # The last /scope call may still be ending after its response arrived.
                while not any("/slow" in call for call in live_server.running_requests()):
                    time.sleep(0.01)
                assert False
            """
        )
    )
    result = apps.runpytest("--asgi-app", "apps:app", "-o", "asgi_exchange_log_size=3", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*live server exchanges*",
            "(the last 3 exchanges; set asgi_exchange_log_size to keep more)",
            "GET /scope?n=5 -> 200 in * ms",
            "GET /scope?n=6 -> 200 in * ms",
            "GET /scope?n=7 -> 200 in * ms",
            "GET /slow?seconds=3 (no response yet, running * s)  (still running)",
        ]
    )


def test_session_server_exchanges_are_per_test(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        dedent(
            """
            import httpx

            def test_first(live_server_session):
                httpx.get(live_server_session.url + "/scope?test=first")

            def test_second(live_server_session):
                httpx.get(live_server_session.url + "/scope?test=second")
                assert False
            """
        )
    )
    result = apps.runpytest("--asgi-app", "apps:app", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*live server exchanges (session: 'apps:app' from --asgi-app)*", "GET /scope?test=second*"]
    )
    assert "test=first" not in result.stdout.str()


def test_factory_server_can_turn_off_server_exceptions(apps: pytest.Pytester) -> None:
    # shared/repro/core-review/r10_factory_flag: the option was accepted and ignored.
    apps.makepyfile(
        dedent(
            """
            async def failing(scope, receive, send):
                if scope["type"] == "http":
                    raise RuntimeError("expected by this test")

            def test_allowed_to_fail(asgi_live_server_factory):
                server = asgi_live_server_factory(failing, raise_server_exceptions=False, lifespan="off")
                with server.client() as client:
                    assert client.get("/").status_code == 500

            def test_only_the_strict_server_counts(asgi_live_server_factory):
                lenient = asgi_live_server_factory(failing, raise_server_exceptions=False, lifespan="off")
                strict = asgi_live_server_factory("apps:app")
                assert lenient.client().get("/").status_code == 500
                assert strict.client().get("/boom").status_code == 500
            """
        )
    )
    result = apps.runpytest("-p", "no:cacheprovider", "-p", "no:logging")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_only_the_strict_server_counts*",
            "the app raised 1 unhandled exception(s) while serving this test:",
            "*server-side traceback of GET /boom ---",
            "*RuntimeError: boom*",
        ]
    )
    result.stdout.no_fnmatch_line("*server-side traceback of GET / ---")


def test_a_rerun_test_shows_the_exchange_log_of_its_last_attempt_only(apps: pytest.Pytester) -> None:
    # shared/repro/real-suites/rerun-exchange-log: every attempt's log was stacked.
    apps.makepyfile(
        dedent(
            """
            import httpx

            ATTEMPT = {"n": 0}

            def test_flaky(live_server):
                ATTEMPT["n"] += 1
                httpx.get(live_server + f"/scope?attempt={ATTEMPT['n']}")
                assert False, f"attempt {ATTEMPT['n']}"
            """
        )
    )
    result = apps.runpytest("--asgi-app", "apps:app", "-p", "rerunfailures", "--reruns", "2", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert (outcomes["failed"], outcomes["rerun"]) == (1, 2)
    output = result.stdout.str()
    assert output.count("live server exchanges") == 1, output
    result.stdout.fnmatch_lines(["*AssertionError: attempt 3", "*live server exchanges*", "GET /scope?attempt=3 *"])
    assert "attempt=1" not in output
    assert "attempt=2" not in output


def test_the_last_test_on_the_session_server_keeps_its_exchange_log(apps: pytest.Pytester) -> None:
    # shared/repro/real-suites/session-last-test-no-exchange-log
    apps.makepyfile(
        dedent(
            """
            import httpx

            def test_boom_not_last(live_server_session):
                httpx.get(live_server_session + "/boom?first")

            def test_boom_last(live_server_session):
                httpx.get(live_server_session + "/boom?last")
            """
        )
    )
    for extra in ([], ["-p", "xdist", "-n", "2"]):
        result = apps.runpytest("--asgi-app", "apps:app", "-p", "no:cacheprovider", "-p", "no:logging", *extra)
        result.assert_outcomes(passed=2, errors=2)
        result.stdout.fnmatch_lines_random(
            [
                "*ERROR at teardown of test_boom_not_last*",
                "*ERROR at teardown of test_boom_last*",
                "GET /boom?first -> 500 in * ms  !! RuntimeError: boom from the app",
                "GET /boom?last -> 500 in * ms  !! RuntimeError: boom from the app",
            ]
        )
        assert result.stdout.str().count("live server exchanges (session: 'apps:app' from --asgi-app)") == 2


def test_a_request_drained_at_teardown_is_reported_in_that_test(apps: pytest.Pytester) -> None:
    apps.makepyfile(
        late=dedent(
            """
            import asyncio
            from apps import app
            from starlette.routing import Route

            async def slow_then_boom(request):
                await asyncio.sleep(0.3)
                raise ValueError("failed while the server stopped")

            app.router.routes.append(Route("/slow-then-boom", slow_then_boom))
            """
        )
    )
    apps.makepyfile(
        dedent(
            """
            import threading, time
            import httpx

            def test_leaves_a_request_running(live_server):
                threading.Thread(
                    target=lambda: httpx.get(live_server.url + "/slow-then-boom", timeout=5), daemon=True
                ).start()
                while not live_server.running_requests():
                    time.sleep(0.01)
            """
        )
    )
    result = apps.runpytest("--asgi-app", "late:app", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_a_request_running*",
            "*server-side traceback of GET /slow-then-boom ---",
            "*ValueError: failed while the server stopped",
        ]
    )
