"""The server lifecycle: `LiveServer` runs an app with uvicorn in a background thread.

This module never imports pytest: `LiveServer` works in scripts too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import ssl
import threading
import warnings
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from ._errors import LiveServerError, LiveServerWarning, OptionError, StartupError
from ._exchanges import DEFAULT_EXCHANGE_LOG_SIZE, Exchange, ExchangeLog
from ._loading import describe_app, load_app
from ._logcapture import ThreadLogCollector, ThreadLogFilter
from ._options import check_flag, check_timeout, check_uvicorn_options
from ._recorder import Recorder, ServerException, format_server_exceptions
from ._serving_loop import close_loop, guarded_startup, refresh_headers_every_second, startup_cause
from ._tls import GeneratedCertificate
from ._uvicorn_compat import (
    ConnectionTracker,
    lifespan_shutdown_failed,
    loop_factory,
    refresh_default_headers,
    shutdown_wsgi_executor,
)

DEFAULT_STARTUP_TIMEOUT = 10.0
DEFAULT_SHUTDOWN_TIMEOUT = 5.0
# Lifespan shutdown runs after in-flight work, with what is left of the shutdown
# timeout but never less than this, so a stuck request cannot starve it.
LIFESPAN_SHUTDOWN_MINIMUM = 0.5
# Time for cancelled tasks to unwind and the loop to close after the budget above.
_JOIN_SLACK = 1.0

_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}

_default_client_context: ssl.SSLContext | None = None


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
        description: how messages name the app (default: the import string or the
            app's module and name).
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
        self._app_spec = app
        self.app_description = describe_app(app) if description is None else description
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
        self._certificate: GeneratedCertificate | None = None
        self._recorder: Recorder | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._startup_task: asyncio.Future[None] | None = None
        self._started = threading.Event()
        self._startup_failure: str | None = None
        self._shutdown_failure: str | None = None
        self._cut_off: list[str] = []
        self._loop_answered: threading.Event | None = None
        self._log = ThreadLogCollector()
        self._access_filter: ThreadLogFilter | None = None
        self._state = "new"

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
        return self._certificate.ca_path if self._certificate else None

    @property
    def running(self) -> bool:
        """True between a successful `start()` and `stop()`."""
        return self._state == "running"

    def __str__(self) -> str:
        return self.url if self.running else repr(self)

    def __add__(self, path: str) -> str:
        return self.url + path

    def __repr__(self) -> str:
        where = f" url={self.url}" if self.running else ""
        return f"<LiveServer app={self.app_description}{where} {self._state}>"

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
        options = {"base_url": self.url, "trust_env": False, **kwargs}
        # httpx builds a new SSL context (~several ms) per client unless given one.
        options.setdefault("verify", self._client_ssl_context())
        return options

    def _client_ssl_context(self) -> ssl.SSLContext:
        if self._certificate is not None:
            return self._certificate.client_context
        global _default_client_context
        if _default_client_context is None:
            _default_client_context = ssl.create_default_context()
        return _default_client_context

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

        Raises `StartupError` within `startup_timeout` if the app cannot be loaded,
        its lifespan startup fails or hangs, or the address cannot be bound.
        """
        if self._state != "new":
            raise LiveServerError(f"{self!r} was already started; create a new LiveServer")
        self._state = "starting"
        try:
            config = self._load()
            self._socket = self._bind()
        except BaseException:
            self._release()
            self._state = "failed"
            raise
        self._thread = threading.Thread(
            target=self._run, args=(config, self._socket), name=f"liveasgi {self.app_description}", daemon=True
        )
        self._log.attach()
        self._thread.start()
        if not self._started.wait(self.startup_timeout):
            self._abort_startup()
            cause = f"did not start within startup_timeout={self.startup_timeout:g} s"
            raise StartupError(self._startup_message(cause))
        if self._startup_failure is not None:
            self._thread.join(self.shutdown_timeout + _JOIN_SLACK)
            self._release()
            self._state = "failed"
            raise StartupError(self._startup_message(self._startup_failure))
        self._log.detach()  # attached again while stopping
        self._state = "running"
        return self

    def stop(self) -> None:
        """Stop serving; return once the thread has ended and the socket is closed.

        Requests, streams and WebSockets still open get `shutdown_timeout` seconds,
        then are cut off (with a `LiveServerWarning` naming them); lifespan shutdown
        runs after that. Raises `LiveServerError` if lifespan shutdown failed or, with
        ``raise_server_exceptions``, if the app raised exceptions nobody took.
        Calling it again does nothing.
        """
        if self._state != "running":
            return
        self._state = "stopping"
        assert self._loop is not None
        assert self._stop_requested is not None
        assert self._thread is not None
        self._log.attach()
        self._loop.call_soon_threadsafe(self._stop_requested.set)
        self._thread.join(self.shutdown_timeout + LIFESPAN_SHUTDOWN_MINIMUM + _JOIN_SLACK)
        problems: list[str] = []
        if self._thread.is_alive():
            problems.append(
                f"the server thread did not end within {self.shutdown_timeout:g} s: the app blocks "
                "its event loop (a blocking call in an async handler?); the thread is left behind"
            )
            # Its loop still serves on the socket: closing it underneath would make the late
            # shutdown fail and leak the open connections. The thread closes it when it ends.
            self._socket = None
        self._release()
        self._state = "stopped"
        if self._shutdown_failure is not None:
            problems.append(self._shutdown_failure)
        leftover = self.take_exceptions() if self.raise_server_exceptions else []
        if leftover:
            problems.append(format_server_exceptions(leftover))
        cut_off = ""
        if self._cut_off:
            cut_off = (
                f"cut off what was still running after shutdown_timeout={self.shutdown_timeout:g} s: "
                + "; ".join(self._cut_off)
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
            warnings.warn(LiveServerWarning(f"stopping the server for {self.app_description} {cut_off}"), stacklevel=2)

    # -- what the app did --------------------------------------------------------

    def take_exceptions(self) -> list[ServerException]:
        """Return and forget the exceptions that escaped the app since the last call."""
        return self._recorder.take_exceptions() if self._recorder else []

    def exchanges(self) -> list[Exchange]:
        """The last requests and WebSocket sessions this server handled, oldest first
        (at most ``exchange_log_size``)."""
        return self._exchange_log.snapshot()

    def running_requests(self) -> list[str]:
        """The requests and WebSocket sessions the app is serving right now."""
        return self._recorder.running_calls() if self._recorder else []

    def label_requests(self, label: str | None) -> None:
        """Tag the requests that arrive from now on (e.g. with a test id); each
        `ServerException` carries the label that was active when its request arrived."""
        if self._recorder is not None:
            self._recorder.label = label

    def settle(self, timeout: float = 1.0) -> None:
        """Wait (at most `timeout` s) until requests whose response was already sent
        have finished, so that an exception raised after the response is recorded."""
        if not self.running or self._loop is None or self._recorder is None:
            return
        if self._loop_answered is not None and not self._loop_answered.is_set():
            return  # the loop has not come back since the last timeout: it is blocked
        waiting = asyncio.run_coroutine_threadsafe(asyncio.wait_for(self._recorder.settle(), timeout), self._loop)
        try:
            # No slack on top: with the app blocking the loop, the wait_for above cannot fire.
            waiting.result(timeout)
        except (asyncio.TimeoutError, concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            waiting.cancel()
            self._loop_answered = threading.Event()
            self._loop.call_soon_threadsafe(self._loop_answered.set)

    # -- internals ---------------------------------------------------------------

    def _load(self) -> uvicorn.Config:
        options = dict(self.uvicorn_options)
        self.app = load_app(self._app_spec, factory=bool(options.pop("factory", False)))
        if self.https:
            try:
                self._certificate = GeneratedCertificate(_WILDCARD_HOSTS.get(self.host, self.host))
            except StartupError:
                raise
            except Exception as exc:
                raise StartupError(
                    f"cannot make a TLS certificate for host {self.host!r} ({self.app_description}): {exc}"
                ) from exc
            options.update(ssl_certfile=self._certificate.certfile, ssl_keyfile=self._certificate.keyfile)
        if options.get("access_log", True) is False:
            # uvicorn would empty the 'uvicorn.access' logger's handlers for the whole
            # process; drop only this server's access lines instead.
            options["access_log"] = True
            self._access_filter = ThreadLogFilter("uvicorn.access")
        try:
            config = uvicorn.Config(self.app, host=self.host, port=self.port, log_config=None, **options)
            config.load()
        except (Exception, SystemExit) as exc:
            raise StartupError(
                f"uvicorn could not configure the server for {self.app_description}: {type(exc).__name__}: {exc}"
            ) from exc
        self._recorder = Recorder(config.loaded_app, self._exchange_log)
        config.loaded_app = self._recorder
        return config

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

    def _run(self, config: uvicorn.Config, sock: socket.socket) -> None:
        self._log.thread_id = threading.get_ident()
        if self._access_filter is not None:
            self._access_filter.attach(threading.get_ident())
        loop = loop_factory(config)()
        try:
            loop.run_until_complete(self._serve(config, sock))
        except BaseException as exc:  # the thread must always report back
            if self._startup_failure is None and not self._started.is_set():
                self._startup_failure = f"the server thread crashed: {type(exc).__name__}: {exc}"
            else:
                self._shutdown_failure = f"the server thread crashed: {type(exc).__name__}: {exc}"
        finally:
            close_loop(loop, LIFESPAN_SHUTDOWN_MINIMUM)
            sock.close()
            self._started.set()

    async def _serve(self, config: uvicorn.Config, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        server = uvicorn.Server(config)
        tracker = ConnectionTracker(server)
        server.lifespan = config.lifespan_class(config)
        self._startup_task = asyncio.ensure_future(guarded_startup(server, sock))
        try:
            await self._startup_task
        except asyncio.CancelledError:
            self._startup_failure = self._startup_failure or "startup was cancelled"
            return
        except Exception as exc:
            self._startup_failure = startup_cause(exc, server)
            return
        if not server.started:
            self._startup_failure = "lifespan startup failed"
            return
        await refresh_default_headers(server)
        ticker = asyncio.ensure_future(refresh_headers_every_second(server))
        self._started.set()
        await self._stop_requested.wait()
        ticker.cancel()
        await self._shutdown(server, tracker)

    async def _shutdown(self, server: uvicorn.Server, tracker: ConnectionTracker) -> None:
        assert self._loop is not None
        assert self._recorder is not None
        deadline = self._loop.time() + self.shutdown_timeout
        self._log.take()
        for listener in server.servers:
            listener.close()
        if tracker.supported:
            tracker.begin_shutdown()
            if not await tracker.wait_closed(self.shutdown_timeout):
                self._cut_off = self._recorder.running_calls() or ["an open connection"]
                await tracker.cut_off(grace=LIFESPAN_SHUTDOWN_MINIMUM)
        else:
            server.config.timeout_graceful_shutdown = max(int(self.shutdown_timeout), 1)
            await server.shutdown()
            return
        shutdown_wsgi_executor(self._recorder.app)
        budget = max(deadline - self._loop.time(), LIFESPAN_SHUTDOWN_MINIMUM)
        try:
            await asyncio.wait_for(server.lifespan.shutdown(), budget)
        except asyncio.TimeoutError:
            self._shutdown_failure = f"lifespan shutdown did not finish within {budget:.1f} s"
            return
        if lifespan_shutdown_failed(server):
            logged = self._log.take()
            self._shutdown_failure = "lifespan shutdown failed" + (f":\n{logged}" if logged else "")

    def _abort_startup(self) -> None:
        loop, task, stop_requested = self._loop, self._startup_task, self._stop_requested
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        if loop is not None and stop_requested is not None:
            # Startup may have completed just as the wait timed out: then stop normally.
            loop.call_soon_threadsafe(stop_requested.set)
        if self._thread is not None:
            self._thread.join(self.shutdown_timeout + LIFESPAN_SHUTDOWN_MINIMUM + _JOIN_SLACK)
            if self._thread.is_alive():
                self._socket = None  # still in use by a blocked loop; the thread closes it
        self._release()
        self._state = "failed"

    def _startup_message(self, cause: str) -> str:
        message = f"the server for {self.app_description} failed to start: {cause}"
        logged = self._log.take()
        if logged:
            message += "\nuvicorn logged:\n" + "\n".join("    " + line for line in logged.splitlines())
        return message

    def _release(self) -> None:
        self._log.detach()
        if self._access_filter is not None:
            self._access_filter.detach()
        if self._socket is not None:
            self._socket.close()
        if self._certificate is not None:
            self._certificate.remove()
