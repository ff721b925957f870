"""What the plugin puts into test reports: server exceptions and the exchange log."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ._errors import LiveServerError
from ._exchanges import format_exchanges
from ._recorder import ServerException, format_server_exceptions
from ._server import LiveServer


def finish_servers(servers: list[LiveServer], nodeid: str, report_exceptions: bool) -> None:
    """Stop `servers` in reverse order of start, then fail the current test (at teardown)
    with what their apps raised during it and with any error from stopping them."""
    __tracebackhide__ = True
    exceptions: list[ServerException] = []
    stop_errors: list[str] = []
    for server in reversed(servers):
        server.settle()
        exceptions += server.take_exceptions()
        try:
            server.stop()
        except LiveServerError as error:
            stop_errors.append(f"pytest-liveasgi: {error}")
        except Exception as error:  # e.g. a LiveServerWarning under filterwarnings=error
            stop_errors.append(f"pytest-liveasgi: stopping {server.app_description}: {type(error).__name__}: {error}")
        # What requests still running at teardown raised while stop() drained them.
        exceptions += server.take_exceptions()
    if exceptions and report_exceptions:
        report_server_exceptions(exceptions, nodeid, extra=stop_errors)
    if stop_errors:
        pytest.fail("\n".join(stop_errors), pytrace=False)


def report_server_exceptions(exceptions: list[ServerException], nodeid: str, extra: Sequence[str] = ()) -> None:
    """Fail the current test (at teardown) with the server tracebacks."""
    __tracebackhide__ = True
    lines = [format_server_exceptions(exceptions, label=nodeid, serving="this test")]
    lines.append(
        "\n(turn this off with @pytest.mark.asgi_app(raise_server_exceptions=False) or "
        "'asgi_raise_server_exceptions = false' in the ini file)"
    )
    lines += extra
    pytest.fail("\n".join(lines), pytrace=False)


def exchange_sections(
    servers: list[LiveServer], session_server: LiveServer | None, nodeid: str
) -> list[tuple[str, str]]:
    """Report sections listing what each server handled for this test."""
    sections = []
    for server in servers:
        if server.exchange_log_size > 0:
            text = format_exchanges(server.exchanges(), server.running_requests(), server.exchange_log_size)
            sections.append((f"live server exchanges ({server.app_description})", text))
    if session_server is not None and session_server.exchange_log_size > 0:
        mine = [exchange for exchange in session_server.exchanges() if exchange.label == nodeid]
        if mine:
            text = format_exchanges(mine, [], session_server.exchange_log_size)
            sections.append((f"live server exchanges (session: {session_server.app_description})", text))
    return sections
