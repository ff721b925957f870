"""What the plugin makes of a test's servers: stopping them, the server exceptions that
fail the test, the exchange log in its report, and warnings that point at the test."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from ._errors import LiveServerError, LiveServerWarning

if TYPE_CHECKING:
    from ._recorder import ServerException
    from ._server import LiveServer

OFF_SWITCH = (
    "(turn this off with @pytest.mark.asgi_app(raise_server_exceptions=False) or "
    "'asgi_raise_server_exceptions = false' in the ini file)"
)


class ServerUse:
    """The live servers of one attempt of one test (a rerun starts afresh)."""

    # Not a dataclass: every pytest run imports this module (see _settings.Settings).
    __slots__ = ("exchanges_shown", "resolved_app", "settled", "started", "uses_session_server")

    def __init__(self) -> None:
        # Servers started for this test, each with whether its exceptions fail the test.
        self.started: list[tuple[LiveServer, bool]] = []
        # The test uses the session server (or is the last test of the session).
        self.uses_session_server = False
        # The app our `asgi_app` fixture gave, and how to name it.
        self.resolved_app: tuple[Any, str] | None = None
        self.settled = False
        self.exchanges_shown = False

    def settle(self, session_server: LiveServer | None) -> None:
        """Let the servers finish what this test's requests started (once per test)."""
        self.settled = True
        for server, _ in self.started:
            server.settle()
        if session_server is not None and self.uses_session_server:
            session_server.settle()


SERVER_USE = pytest.StashKey[ServerUse]()


def server_use(item: pytest.Item) -> ServerUse:
    """This attempt's servers, created on first use."""
    found = item.stash.get(SERVER_USE, None)
    if found is None:
        found = item.stash[SERVER_USE] = ServerUse()
    return found


def fail(error: LiveServerError) -> NoReturn:
    """Fail the current test phase with the error's message and no traceback."""
    __tracebackhide__ = True
    pytest.fail(f"pytest-liveasgi: {error}", pytrace=False)


# -- stopping servers -------------------------------------------------------------------------


def stop_servers(servers: Sequence[tuple[LiveServer, bool]], item: pytest.Item) -> None:
    """Stop `servers` in reverse order of start, then fail the current test (at teardown)
    with what their apps raised during it, including requests drained while stopping,
    and with any error from stopping them."""
    __tracebackhide__ = True
    exceptions: list[ServerException] = []
    problems: list[str] = []
    for server, report_exceptions in reversed(servers):
        problems += stop(server, location(item))
        taken = server.take_exceptions()
        if report_exceptions:
            exceptions += taken
    if exceptions:
        problems.insert(0, exceptions_text(exceptions, item.nodeid))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def stop(server: LiveServer, where: tuple[str, int] | None) -> list[str]:
    """Stop one server; return what went wrong. Its warnings point at `where` (the test)."""
    try:
        with _warnings_pointing_at(where):
            server.stop()
    except LiveServerError as error:
        return [f"pytest-liveasgi: {error}"]
    except Exception as error:  # e.g. a LiveServerWarning under filterwarnings=error
        return [f"pytest-liveasgi: stopping {server.app_description}: {type(error).__name__}: {error}"]
    return []


def location(item: pytest.Item) -> tuple[str, int]:
    """The test's file and line, for warnings about it."""
    line = item.location[1]
    return str(item.path), (line + 1 if line is not None else 1)


@contextlib.contextmanager
def _warnings_pointing_at(where: tuple[str, int] | None) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LiveServerWarning)
        yield
    for warning in caught:
        if where is not None and issubclass(warning.category, LiveServerWarning):
            warnings.warn_explicit(warning.message, warning.category, where[0], where[1])
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


# -- what goes into the report --------------------------------------------------------------


def exceptions_text(exceptions: list[ServerException], nodeid: str, what: str = "the app") -> str:
    """The server tracebacks, each naming the test its request arrived during if not this one."""
    from ._recorder import format_server_exceptions

    during = "while serving this test" if nodeid else "while the session server stopped"
    text = format_server_exceptions(exceptions, label=nodeid or None, what=what, during=during)
    return f"{text}\n\n{OFF_SWITCH}"


def report_session_server_exceptions(
    report: pytest.TestReport, state: ServerUse, server: LiveServer, nodeid: str, wanted: bool
) -> None:
    """Make the teardown report of this test fail with what the session server's app raised."""
    if not server.running:
        return
    if not state.settled:
        server.settle()
    exceptions = server.take_exceptions()
    if not exceptions or not wanted:
        return
    text = exceptions_text(exceptions, nodeid)
    if report.passed:
        report.outcome = "failed"
        report.longrepr = text
    else:
        report.sections.append(("pytest-liveasgi: server exceptions (session server)", text))


def exchange_sections(state: ServerUse, session: LiveServer | None, nodeid: str) -> list[tuple[str, str]]:
    """Report sections listing what each server handled for this test."""
    from ._exchanges import format_exchanges

    sections = []
    for server, _ in state.started:
        if server.exchange_log_size > 0:
            text = format_exchanges(server.exchanges(), server.running_requests(), server.exchange_log_size)
            sections.append((f"live server exchanges ({server.app_description})", text))
    if session is not None and session.exchange_log_size > 0:
        mine = session.exchanges(label=nodeid)
        if mine:
            text = format_exchanges(mine, [], session.exchange_log_size)
            sections.append((f"live server exchanges (session: {session.app_description})", text))
    return sections


# -- the end of the session -----------------------------------------------------------------


def stop_at_session_end(server: LiveServer | None) -> list[str]:
    """Stop the session server and any server nobody stopped; say what went wrong."""
    problems: list[str] = []
    if server is not None:
        problems += stop(server, None)
        exceptions = server.take_exceptions()
        if exceptions:
            problems.append(
                exceptions_text(exceptions, "", f"the app of the session server ({server.app_description})")
            )
    core = sys.modules.get("pytest_liveasgi._server")
    if core is not None:  # else no server was ever started
        for description in core.stop_forgotten_servers():
            problems.append(f"a server for {description} was still running at the end of the session; stopped it")
    return problems


def warn_at_session_end(config: pytest.Config, problems: list[str]) -> None:
    """Warn about each problem; under ``-W error`` say it on the terminal instead of crashing."""
    for problem in problems:
        try:
            # No test to point at: name the plugin as the place.
            warnings.warn_explicit(
                LiveServerWarning(problem.removeprefix("pytest-liveasgi: ")), None, "pytest-liveasgi", 0
            )
        except Warning:
            terminal = config.pluginmanager.get_plugin("terminalreporter")
            if terminal is not None:
                terminal.write_line(f"pytest-liveasgi: {problem}", red=True)
