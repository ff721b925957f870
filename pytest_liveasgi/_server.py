"""The server lifecycle: `LiveServer` runs an app with uvicorn in a background thread.

`LiveServer` is an explicit state machine (`State`) guarded by one lock. Starting,
stopping, a failed start and an interruption (Ctrl-C at any point) all end in the same
release path. What the server thread uses lives in `ServerThread`, which never refers
back to the `LiveServer`: a server dropped while running can be collected, and its
finalizer stops the thread.

This module never imports pytest: `LiveServer` works in scripts too.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import logging
import socket
import threading
import time
import warnings
import weakref
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from ._clients import DEFAULT_CLIENT_TLS
from ._errors import LiveServerError, LiveServerWarning, OptionError, StartupError
from ._exchanges import DEFAULT_EXCHANGE_LOG_SIZE, Exchange, ExchangeLog
from ._loading import describe_app, load_app
from ._logcapture import ThreadLogFilter
from ._options import check_flag, check_timeout, check_uvicorn_options
from ._recorder import Recorder, ServerException, format_server_exceptions
from ._server_thread import LIFESPAN_SHUTDOWN_MINIMUM, STARTUP_SLACK, STOP_SLACK, LifespanWatcher, ServerThread
from ._tls import GeneratedCertificate
from ._uvicorn_compat import (
    LoopOptionError,
    loop_factory,
    wsgi_adapter_made_by_uvicorn,
)

DEFAULT_STARTUP_TIMEOUT = 10.0
DEFAULT_SHUTDOWN_TIMEOUT = 5.0

_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


class State(enum.Enum):
    """Where a `LiveServer` is in its life."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    """Being stopped, or a stop (or failed start) was interrupted: `stop()` finishes it."""
    STOPPED = "stopped"
    FAILED = "failed"
    """`start()` raised; everything is released."""


_started_servers: weakref.WeakSet[LiveServer] = weakref.WeakSet()
_dropped_threads: set[ServerThread] = set()
"""The threads of servers dropped while running: told to stop, not waited for."""
_registry_lock = threading.Lock()


def stop_forgotten_servers() -> list[str]:
    """Stop every server that was started and is still running (or whose stop was
    interrupted); return their descriptions. Errors from stopping them are dropped:
    this is a safety net for the end of a session."""
    with _registry_lock:
        servers = list(_started_servers)
    stopped = []
    for server in servers:
        if server.state in (State.RUNNING, State.STOPPING):
            stopped.append(server.app_description)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", LiveServerWarning)
                    server.stop()
            except Exception:
                logging.getLogger(__name__).debug("error stopping %s", server.app_description, exc_info=True)
    return stopped


class LiveServer:
    """A real server for an ASGI (or WSGI) app, on a real socket, in a background thread.

    ```python
    with LiveServer("myproject.main:app") as server:
        response = server.client().get("/health")
    ```

    Args:
        app: the app object, or an import string ``"package.module:attribute"``.
        host: the address to bind: ``127.0.0.1`` (loopback only) unless told otherwise.
            Only an explicit ``host="0.0.0.0"`` (or ``"::"``) serves other machines too,
            e.g. a browser in a container; `url` still names loopback then.
        port: the port to bind; 0 lets the OS pick a free one.
        https: serve TLS with a throwaway CA and certificate (needs ``trustme``).
        startup_timeout: seconds `start()` waits for the app to accept connections.
        shutdown_timeout: seconds `stop()` gives in-flight requests, streams and
            WebSockets before cutting them off.
        raise_server_exceptions: make `stop()` raise when exceptions that escaped
            the app were not consumed with `take_exceptions()`.
        exchange_log_size: how many of the last requests and WebSocket sessions
            `exchanges()` keeps (0 keeps none).
        description: how messages name the app (default: derived from `app`, e.g.
            its import string).
        **uvicorn_options: keyword arguments of `uvicorn.Config` (``factory=True``,
            ``lifespan="off"``, ``root_path="/api"``, ``interface="wsgi"``, …).
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        https: bool = False,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        raise_server_exceptions: bool = True,
        exchange_log_size: int = DEFAULT_EXCHANGE_LOG_SIZE,
        description: str | None = None,
        **uvicorn_options: Any,
    ) -> None:
        if not isinstance(host, str):
            raise OptionError(f"LiveServer: host must be a string, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise OptionError(f"LiveServer: port must be an integer from 0 to 65535, got {port!r}")
        if description is not None and not isinstance(description, str):
            raise OptionError(f"LiveServer: description must be a string, got {description!r}")
        self._app_spec = app
        self.app_description = description if description is not None else describe_app(app)
        self.host = host
        self.port = port
        self.https = check_flag("https", https)
        self.startup_timeout = check_timeout("startup_timeout", startup_timeout)
        self.shutdown_timeout = check_timeout("shutdown_timeout", shutdown_timeout)
        self.raise_server_exceptions = check_flag("raise_server_exceptions", raise_server_exceptions)
        if isinstance(exchange_log_size, bool) or not isinstance(exchange_log_size, int) or exchange_log_size < 0:
            raise OptionError(f"LiveServer: exchange_log_size must be a whole number >= 0, got {exchange_log_size!r}")
        self.exchange_log_size = exchange_log_size
        self._exchange_log = ExchangeLog(exchange_log_size)
        self.uvicorn_options = check_uvicorn_options(uvicorn_options)
        if self.https and ("ssl_certfile" in uvicorn_options or "ssl_context_factory" in uvicorn_options):
            raise OptionError(
                "LiveServer: https=True makes its own certificate; give either https=True "
                "or your own ssl_certfile= / ssl_keyfile=, not both"
            )
        self.app: Any = None
        self._recorder: Recorder | None = None
        self._thread: ServerThread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # The one lock: every state change happens under it. The thread that runs start()
        # or the release path is the owner; others wait on the condition.
        self._lock = threading.Condition(threading.Lock())
        self._state = State.NEW
        self._owner: int | None = None
        self._end_state = State.STOPPED

    # -- addresses -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: ``http://127.0.0.1:43125``."""
        scheme = "https" if self._serves_tls() else "http"
        return f"{scheme}://{self._url_host()}:{self._running_port()}"

    @property
    def ws_url(self) -> str:
        """The base WebSocket URL: ``ws://127.0.0.1:43125`` (``wss://`` under TLS)."""
        scheme = "wss" if self._serves_tls() else "ws"
        return f"{scheme}://{self._url_host()}:{self._running_port()}"

    @property
    def ca_path(self) -> str | None:
        """With ``https=True``, the CA certificate (PEM) that clients should trust."""
        certificate = self._thread.certificate if self._thread else None
        return certificate.ca_path if certificate else None

    @property
    def running(self) -> bool:
        """True between a successful `start()` and `stop()`."""
        return self._state is State.RUNNING

    @property
    def state(self) -> State:
        """The lifecycle state: `State.NEW`, ``STARTING``, ``RUNNING``, ``STOPPING``,
        ``STOPPED`` or ``FAILED``."""
        return self._state

    def __str__(self) -> str:
        # Like `url`: raises when not running, so f"{server}/x" cannot build a wrong URL.
        return self.url

    def __add__(self, path: str) -> str:
        return self.url + path

    def __repr__(self) -> str:
        where = f" url={self.url}" if self.running else ""
        return f"<LiveServer app={self.app_description}{where} {self._state.value}>"

    def _serves_tls(self) -> bool:
        return self.https or "ssl_certfile" in self.uvicorn_options or "ssl_context_factory" in self.uvicorn_options

    def _url_host(self) -> str:
        host = _WILDCARD_HOSTS.get(self.host, self.host)
        return f"[{host}]" if ":" in host else host

    def _running_port(self) -> int:
        if not self.running:
            raise LiveServerError(f"{self!r} is not running: call start() or use it in a with block")
        return self.port

    # -- clients ---------------------------------------------------------------

    def client(self, **kwargs: Any) -> httpx.Client:
        """An `httpx.Client` with ``base_url`` set to this server (trusting its TLS
        certificate). Proxy settings from the environment are ignored unless you pass
        ``trust_env=True``. Close it, or use it in a ``with`` block."""
        return httpx.Client(**self._client_options(kwargs))

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient`, set up like `client()`."""
        return httpx.AsyncClient(**self._client_options(kwargs))

    def _client_options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        certificate = self._thread.certificate if self._thread else None
        tls = certificate.client_tls if certificate is not None else DEFAULT_CLIENT_TLS
        return tls.client_options(self.url, kwargs)

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LiveServer:
        """Start serving; return once the server accepts connections.

        Raises `StartupError` if the app cannot be loaded, its lifespan startup fails
        or hangs, or the address cannot be bound. Returns or raises within
        ``startup_timeout + STARTUP_SLACK`` (1.5 s) seconds, even when the app blocks
        the event loop during startup (then the server thread is left behind and ends
        on its own once the blocking call returns). An interruption (Ctrl-C) releases
        everything before it propagates.
        """
        with self._lock:
            if self._state is not State.NEW:
                raise LiveServerError(f"{self!r} was already started; create a new LiveServer")
            self._state = State.STARTING
            self._owner = threading.get_ident()
        deadline = time.monotonic() + self.startup_timeout + STARTUP_SLACK
        try:
            thread = self._thread = self._prepare()
            thread.launch()
            if not thread.started.wait(self.startup_timeout):
                thread.startup_timed_out = True
                cause: str | None = f"did not start within startup_timeout={self.startup_timeout:g} s"
            else:
                cause = thread.startup_failure
            if cause is None:
                thread.log.detach()  # attached again while stopping
                with _registry_lock:
                    _started_servers.add(self)
                self._finalizer = weakref.finalize(self, _stop_dropped_server, thread, self.app_description)
                with self._lock:
                    self._state = State.RUNNING
                    self._owner = None
                    self._lock.notify_all()
                return self
        except BaseException:
            if self._state is State.RUNNING:  # interrupted on the way out
                with contextlib.suppress(Exception):
                    self.stop()
            else:
                self._fail_start(deadline)
            raise
        self._fail_start(deadline)
        raise StartupError(self._startup_message(thread, cause))

    def stop(self) -> None:
        """Stop serving; return once the thread has ended and the socket is closed.

        Requests, streams and WebSockets still open get `shutdown_timeout` seconds,
        then are cut off (with a `LiveServerWarning` naming them); lifespan shutdown
        runs after that with what is left of the timeout, but at least
        ``LIFESPAN_SHUTDOWN_MINIMUM`` (0.5 s). `stop()` returns within
        ``shutdown_timeout + LIFESPAN_SHUTDOWN_MINIMUM + STOP_SLACK`` (1 s) seconds; a
        server thread still alive then is blocked by the app and is left behind.

        Raises `LiveServerError` if lifespan shutdown failed, the server's event loop
        died while running, or, with ``raise_server_exceptions``, if the app raised
        exceptions nobody took (including those raised while stopping drained requests).
        Calling it again does nothing; called from several threads at once, one stops
        the server and the others wait for it. After an interrupted stop (Ctrl-C),
        calling it again finishes the job.
        """
        with self._lock:
            if self._owner == threading.get_ident():
                return  # called from inside this thread's own start() or stop() (a signal handler)
            while self._owner is not None:
                self._lock.wait()
            if self._state is not State.RUNNING and self._state is not State.STOPPING:
                return
            if self._state is State.RUNNING:
                self._end_state = State.STOPPED
            self._state = State.STOPPING
            self._owner = threading.get_ident()
        self._release_path(self.shutdown_timeout + LIFESPAN_SHUTDOWN_MINIMUM + STOP_SLACK, abandon_startup=False)
        if self._end_state is State.STOPPED and self._thread is not None:
            self._raise_stop_problems(self._thread)

    def _fail_start(self, deadline: float) -> None:
        with self._lock:
            self._state = State.STOPPING
            self._end_state = State.FAILED
        self._release_path(max(deadline - time.monotonic(), 0.0), abandon_startup=True)

    def _release_path(self, budget: float, *, abandon_startup: bool) -> None:
        """The one way out, for stop(), a failed start and interruptions: ask the thread to
        stop, wait for it at most `budget` seconds, release. Interrupted (Ctrl-C), it still
        releases what it can and leaves the state at STOPPING for stop() to finish."""
        thread = self._thread
        finished = False
        try:
            if thread is not None:
                thread.collect_log()
                thread.request_stop(abandon_startup=abandon_startup)
                thread.join(budget)
            finished = True
        finally:
            try:
                if thread is not None:
                    self._release(thread)
            finally:
                self._hand_back(finished)

    def _hand_back(self, finished: bool) -> None:
        """End this thread's turn as owner; an interrupted turn leaves the state at STOPPING."""
        with self._lock:
            if finished:
                self._state = self._end_state
            self._owner = None
            self._lock.notify_all()

    def _release(self, thread: ServerThread) -> None:
        thread.release()
        if self._finalizer is not None:
            self._finalizer.detach()
        with _registry_lock:
            _started_servers.discard(self)

    def _raise_stop_problems(self, thread: ServerThread) -> None:
        problems: list[str] = []
        if thread.is_alive():
            problems.append(
                f"the server thread did not end within {self.shutdown_timeout:g} s: the app blocks its event "
                "loop (a blocking call in an async handler?); the thread is left behind (stop() waited "
                f"{self.shutdown_timeout + LIFESPAN_SHUTDOWN_MINIMUM + STOP_SLACK:g} s) and ends when the call returns"
            )
        if thread.crash is not None:
            problems.append(
                f"the server's event loop ended while it was running: {thread.crash} "
                "(raised by a task the app started?); requests after that got no answer"
            )
        if thread.shutdown_failure is not None:
            problems.append(thread.shutdown_failure)
        leftover = self.take_exceptions() if self.raise_server_exceptions else []
        if leftover:
            problems.append(format_server_exceptions(leftover))
        cut_off = ""
        if thread.cut_off:
            cut_off = (
                f"cut off what was still running after shutdown_timeout={self.shutdown_timeout:g} s: "
                + "; ".join(thread.cut_off)
            )
        if problems:
            error = LiveServerError(
                f"stopping the server for {self.app_description}: " + "\n".join([*problems, cut_off]).rstrip()
            )
            error.server_exceptions = leftover  # type: ignore[attr-defined]
            raise error
        if cut_off:
            # Last, once everything is released: a filterwarnings=error setting turns
            # this into an exception.
            warnings.warn(LiveServerWarning(f"stopping the server for {self.app_description} {cut_off}"), stacklevel=3)

    # -- what the app did --------------------------------------------------------

    def take_exceptions(self) -> list[ServerException]:
        """Return and forget the exceptions that escaped the app since the last call.

        Works after `stop()` too: it then returns what requests still running at the
        stop raised while they were drained."""
        return self._recorder.take_exceptions() if self._recorder else []

    def exchanges(self, label: str | None = None) -> list[Exchange]:
        """The last requests and WebSocket sessions this server handled, oldest first
        (at most ``exchange_log_size``); with `label`, only those that arrived while
        that label was set (see `label_requests`)."""
        return self._exchange_log.snapshot(label)

    def running_requests(self) -> list[str]:
        """The requests and WebSocket sessions the app is serving right now, one line each
        (``"GET /slow (no response yet, running 1.2 s)"``).

        A request stays listed until the app's call returns, which can be just after its
        client has the whole response: to wait for a request, look for its path."""
        return self._recorder.running_calls() if self._recorder else []

    def label_requests(self, label: str | None, *, report_exceptions: bool | None = None) -> None:
        """Tag the requests that arrive from now on (e.g. with a test id); each
        `ServerException` carries the label that was active when its request arrived.

        `report_exceptions` (default: unchanged, at first ``raise_server_exceptions``)
        says whether the caller reports the exceptions it takes: then uvicorn's log
        record of each ("Exception in ASGI application" and the same traceback) is left
        out of the logs, so that a report shows each traceback once."""
        if self._recorder is not None:
            self._recorder.label = label
            if report_exceptions is not None:
                self._recorder.drop_logged_exceptions = report_exceptions

    def settle(self, timeout: float = 1.0) -> None:
        """Wait (at most `timeout` s) until requests whose response was already sent
        have finished, so that an exception raised after the response is recorded.
        Returns at once when the server is not running or its event loop has ended."""
        if self.running and self._thread is not None:
            self._thread.settle(timeout)

    # -- internals ---------------------------------------------------------------

    def _prepare(self) -> ServerThread:
        """Load the app, configure uvicorn and bind the socket: everything but the thread."""
        options = dict(self.uvicorn_options)
        self.app = load_app(self._app_spec, factory=bool(options.pop("factory", False)))
        thread = ServerThread(self.app_description, self.shutdown_timeout)
        try:
            if self.https:
                try:
                    thread.certificate = GeneratedCertificate(_WILDCARD_HOSTS.get(self.host, self.host))
                except StartupError:
                    raise
                except Exception as exc:
                    raise StartupError(
                        f"cannot make a TLS certificate for host {self.host!r} ({self.app_description}): {exc}"
                    ) from exc
                options.update(ssl_certfile=thread.certificate.certfile, ssl_keyfile=thread.certificate.keyfile)
            if options.get("access_log", True) is False:
                # uvicorn would empty the 'uvicorn.access' logger's handlers for the whole
                # process; drop only this server's access lines instead.
                options["access_log"] = True
                thread.access_filter = ThreadLogFilter("uvicorn.access")
            try:
                config = uvicorn.Config(self.app, host=self.host, port=self.port, log_config=None, **options)
                config.load()
            except (Exception, SystemExit) as exc:
                raise StartupError(
                    f"uvicorn could not configure the server for {self.app_description}: {type(exc).__name__}: {exc}"
                ) from exc
            try:
                thread.new_loop = loop_factory(config)
            except LoopOptionError as exc:
                raise StartupError(
                    f"cannot make the event loop loop={config.loop!r} for {self.app_description}: {exc}"
                ) from None
            thread.wsgi_adapter = wsgi_adapter_made_by_uvicorn(config, self.app)
            # With raise_server_exceptions the report shows each app exception: uvicorn's
            # copy of the same traceback is left out of the logs (kept without it).
            self._recorder = thread.recorder = Recorder(
                config.loaded_app, self._exchange_log, drop_logged_exceptions=self.raise_server_exceptions
            )
            thread.recorder.log_filter.attach()
            thread.lifespan = LifespanWatcher(thread.recorder)
            config.loaded_app = thread.lifespan
            thread.config = config
            thread.socket = self._bind()
        except BaseException:
            thread.release()
            raise
        return thread

    def _bind(self) -> socket.socket:
        where = f"{self.host}:{self.port}"
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host or None, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
        except socket.gaierror as exc:
            raise StartupError(f"cannot bind {where} for {self.app_description}: unknown host ({exc})") from None
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise StartupError(f"cannot bind {where} for {self.app_description}: {exc.strerror or exc}") from None
        self.port = sock.getsockname()[1]
        return sock

    def _startup_message(self, thread: ServerThread, cause: str) -> str:
        if thread.startup_timed_out and thread.is_alive():
            cause += (
                "; the app blocks the server's event loop (a blocking call in lifespan startup?): "
                "the server thread is left behind and ends when the call returns"
            )
        message = f"the server for {self.app_description} failed to start: {cause}"
        logged = thread.log.take()
        if logged:
            message += "\nuvicorn logged:\n" + "\n".join("    " + line for line in logged.splitlines())
        return message


def _stop_dropped_server(thread: ServerThread, description: str) -> None:
    """The finalizer of a running `LiveServer` that nobody stopped.

    It runs wherever the garbage collector happens to run, in any thread and in the
    middle of anything, so it never waits: a wait there would hold up unrelated code and
    swallow a Ctrl-C (an exception in a finalizer is only printed). The thread releases
    what it holds when it ends; at exit, `_wait_for_dropped_servers` waits for it."""
    thread.request_stop()
    thread.release_when_ended = True
    if not thread.is_alive():
        thread.release()
    with _registry_lock:
        _dropped_threads.difference_update([each for each in _dropped_threads if not each.is_alive()])
        _dropped_threads.add(thread)
    warnings.warn(
        ResourceWarning(
            f"the LiveServer for {description} was still running when it was dropped; it was stopped now "
            "(call stop() or use it in a with block)"
        ),
        stacklevel=2,
    )


@atexit.register
def _wait_for_dropped_servers() -> None:
    """At exit, give every server still running its shutdown (lifespan shutdown included)."""
    stop_forgotten_servers()
    with _registry_lock:
        dropped = list(_dropped_threads)
    for thread in dropped:
        thread.join(thread.shutdown_timeout + LIFESPAN_SHUTDOWN_MINIMUM + STOP_SLACK)
