"""pytest-xdist: every worker binds its own ports, for function and session servers."""

from __future__ import annotations

import pytest
from conftest import dedent

# Subprocess runs: the inner run starts xdist workers.
pytestmark = pytest.mark.subprocess


def test_two_workers_use_their_own_ports(apps: pytest.Pytester) -> None:
    apps.makeini("[pytest]\nasgi_app = apps:app\n")
    apps.makepyfile(
        dedent(
            """
            import os
            import time

            import httpx
            import pytest

            def record(kind, server):
                worker = os.environ["PYTEST_XDIST_WORKER"]
                with open(f"ports-{worker}.txt", "a") as out:
                    out.write(f"{kind} {server.port}\\n")

            @pytest.mark.parametrize("n", range(6))
            def test_function_and_session_servers(n, live_server, live_server_session):
                assert httpx.get(live_server.url).text == "hello"
                assert httpx.get(live_server_session.url).text == "hello"
                assert live_server.port != live_server_session.port
                record("function", live_server)
                record("session", live_server_session)
                time.sleep(0.05)  # let the other worker take its share
            """
        )
    )
    result = apps.runpytest("-p", "xdist", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    files = sorted(apps.path.glob("ports-gw*.txt"))
    assert [path.name for path in files] == ["ports-gw0.txt", "ports-gw1.txt"], "both workers ran tests"
    session_ports: list[set[str]] = []
    for path in files:
        lines = [line.split() for line in path.read_text().splitlines()]
        session_ports.append({port for kind, port in lines if kind == "session"})
        function_ports = {port for kind, port in lines if kind == "function"}
        assert len(session_ports[-1]) == 1, "one session server per worker"
        assert not function_ports & session_ports[-1]
    assert session_ports[0] != session_ports[1], "each worker has its own session server on its own port"
