"""The benchmarks behind SPEC §3, issue 13 and docs/performance.md.

    .venv/bin/python benchmarks/run.py           # the full run (~5 minutes)
    .venv/bin/python benchmarks/run.py --quick   # a smoke run (rough figures)

Everything runs in this one process, interleaved, so each figure has a baseline measured
in the same run, on the same machine state: the plugin's import against pytest's own;
`LiveServer` against the naive pattern (a thread running `uvicorn.Server.run`, polling
`server.started`, then `should_exit = True` and `join()`), against uvicorn started as a
subprocess, and against bare uvicorn (bare_server.py: uvicorn's own floor); a generated
200-test suite run without a server, with `live_server`, and with a plain fixture around
bare uvicorn; `stop()` with an idle keep-alive connection against `stop()` without one
(plain and TLS); and memory after 1,000 servers against after 10 (asyncio and uvloop,
plain and through pytest). Prints a table of median / p10 / p90, then each target: the
figure, its baseline, and the ratio, judged PASS or MISS. Absolute milliseconds depend
on how busy the machine is: read each beside its baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_app  # noqa: E402
from bare_server import BareServer, bound_socket  # noqa: E402

from pytest_liveasgi import LiveServer  # noqa: E402
from pytest_liveasgi._recorder import Recorder  # noqa: E402

APP = bench_app.app
MS = 1000.0


@dataclass(frozen=True)
class Sizes:
    cycles: int
    subprocess_cycles: int
    suite_tests: int
    suite_repeats: int
    stops: int
    naive_stops: int
    requests: int
    rounds: int
    clients: int
    imports: int  # fresh interpreters importing pytest, then the plugin
    tls_stops: int
    memory_mark: int  # RSS is read after this many servers ...
    memory_servers: int  # ... and after this many


FULL = Sizes(200, 20, 200, 5, 100, 10, 2000, 5, 300, 20, 20, 10, 1000)
QUICK = Sizes(10, 1, 10, 1, 5, 1, 100, 1, 20, 2, 1, 10, 30)


# -- the table ------------------------------------------------------------------


@dataclass
class Row:
    name: str
    samples: list[float]  # seconds
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def percentile(self, which: int) -> float:
        if len(self.samples) < 2:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=10, method="inclusive")[which // 10 - 1]


ROWS: list[Row] = []


def report(name: str, samples: list[float], note: str = "") -> Row:
    row = Row(name, samples, note)
    ROWS.append(row)
    print(
        f"  {name:<60} {len(samples):>5} {row.median * MS:>10.3f} {row.percentile(10) * MS:>10.3f} "
        f"{row.percentile(90) * MS:>10.3f}  {note}",
        flush=True,
    )
    return row


def section(title: str) -> None:
    print(f"\n{title}", flush=True)
    print(f"  {'':<60} {'n':>5} {'median ms':>10} {'p10 ms':>10} {'p90 ms':>10}", flush=True)


# -- servers ----------------------------------------------------------------------


def raw_request(port: int) -> None:
    """One request on a plain socket, read to the end: a client that costs next to nothing."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        while sock.recv(65536):
            pass


class NaiveServer:
    """The usual recipe: uvicorn.Server.run in a thread, poll `started`, set `should_exit`, join."""

    def __init__(self, app: Any) -> None:
        self.socket = bound_socket()
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self) -> NaiveServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.001)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()
        self.socket.close()

    def __enter__(self) -> NaiveServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def uvicorn_subprocess() -> Iterator[str]:
    """uvicorn on the command line, on a free port, polled until it answers."""
    with bound_socket() as probe:
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", "bench_app:app", "--app-dir", str(HERE)]
    command += ["--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start: exit code {process.poll()}") from None
                time.sleep(0.001)
        yield url
    finally:
        process.terminate()
        process.wait()


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# -- 0. import cost ------------------------------------------------------------------------

# What a pytest run that starts no server must not pay for: the server, the client, and
# what they pull in.
HEAVY_MODULES = ("uvicorn", "httpx", "httpcore", "h11", "click", "ssl")

IMPORT_CHILD = """
import json, sys, time
began = time.perf_counter()
import pytest
imported_pytest = time.perf_counter()
import pytest_liveasgi.plugin
imported_plugin = time.perf_counter()
heavy = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps([imported_pytest - began, imported_plugin - imported_pytest, heavy]))
"""

# A pytest session in this very interpreter (pytest.main), then: which heavy modules are
# loaded, and what did the session cost (the interpreter's start is the same either way)?
SESSION_CHILD = """
import json, sys, time
began, cpu = time.perf_counter(), time.process_time()
import pytest
code = pytest.main(sys.argv[2:])
wall, cpu = time.perf_counter() - began, time.process_time() - cpu
heavy = [name for name in {heavy!r} if name in sys.modules]
with open(sys.argv[1], "w") as out:
    json.dump([int(code), heavy, wall, cpu], out)
"""


def child_env() -> dict[str, str]:
    """Only this plugin, the same for every run: no playwright, xdist, asyncio, anyio, ..."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def bench_import(sizes: Sizes) -> dict[str, Any]:
    section(
        f"0. import cost: `import pytest`, then `import pytest_liveasgi.plugin`, in {sizes.imports} fresh interpreters"
    )
    code = IMPORT_CHILD.format(heavy=HEAVY_MODULES)
    pytest_times: list[float] = []
    plugin_times: list[float] = []
    heavy_after_import: set[str] = set()
    # An installed plugin is imported from its bytecode (pip compiles it); a checkout with
    # PYTHONDONTWRITEBYTECODE set would compile the plugin's source on every import, which
    # costs more than importing it. The children keep their bytecode in a folder of their own.
    env = {**os.environ, "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="liveasgi-bench-pyc-")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # warm the caches
    for _ in range(sizes.imports):
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        pytest_time, plugin_time, heavy = json.loads(result.stdout)
        pytest_times.append(pytest_time)
        plugin_times.append(plugin_time)
        heavy_after_import.update(heavy)
    plugin = report("import pytest_liveasgi.plugin (after pytest)", plugin_times)
    base = report("import pytest (pytest's own import)", pytest_times, "the baseline")
    share = [mine / theirs for mine, theirs in zip(plugin_times, pytest_times, strict=True)]
    print(f"  the plugin's import is {statistics.median(share):.1%} of pytest's (median of per-run ratios)")
    shutil.rmtree(env["PYTHONPYCACHEPREFIX"], ignore_errors=True)
    loaded = ", ".join(sorted(heavy_after_import)) or "none"
    print(f"  loaded after importing the plugin: {loaded} (of {', '.join(HEAVY_MODULES)})")
    heavy_after_session, sessions = no_op_sessions(sizes)
    print(
        f"  loaded after a pytest session that uses no live-server fixture: {', '.join(heavy_after_session) or 'none'}"
    )
    report("pytest session, 20 no-op tests, with the plugin", sessions["with"], "CPU time, header shown")
    without = report("pytest session, 20 no-op tests, without it", sessions["without"], "the baseline")
    added = [mine - theirs for mine, theirs in zip(sessions["with"], sessions["without"], strict=True)]
    print(
        f"  the plugin adds {statistics.median(added) * MS:.1f} ms of CPU to a session that starts no server "
        f"({statistics.median(added) / without.median:.1%}; median of paired runs, import included)"
    )
    return {
        "plugin": plugin,
        "pytest": base,
        "share": statistics.median(share),
        "after import": sorted(heavy_after_import),
        "after session": sorted(heavy_after_session),
    }


def no_op_sessions(sizes: Sizes) -> tuple[list[str], dict[str, list[float]]]:
    """Run 20 no-op tests with the plugin loaded and an app configured, and without the
    plugin, alternately; return the heavy modules the plugin's runs loaded and the CPU
    time of each run's session."""
    folder = Path(tempfile.mkdtemp(prefix="liveasgi-bench-"))
    try:
        shutil.copy(HERE / "bench_app.py", folder / "bench_app.py")
        (folder / "with.ini").write_text("[pytest]\nasgi_app = bench_app:app\npythonpath = .\n")
        (folder / "without.ini").write_text("[pytest]\npythonpath = .\n")
        (folder / "test_noop.py").write_text("".join(f"def test_{i}():\n    pass\n" for i in range(20)))
        out = folder / "session.json"
        code = SESSION_CHILD.format(heavy=HEAVY_MODULES)
        # Not -q: the report header is printed, as in a user's run.
        runs = {
            "with": ["-c", "with.ini", "-p", "no:cacheprovider", "-p", "pytest_liveasgi.plugin", "test_noop.py"],
            "without": ["-c", "without.ini", "-p", "no:cacheprovider", "test_noop.py"],
        }
        env = {**child_env(), "PYTHONPYCACHEPREFIX": str(folder / "pyc")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as in bench_import: an installed plugin has its bytecode
        heavy: set[str] = set()
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for round_ in range(sizes.imports + 1):  # the first round warms the caches
            for name, args in runs.items():
                result = subprocess.run(
                    [sys.executable, "-c", code, str(out), *args], cwd=folder, env=env, capture_output=True, text=True
                )
                if not out.exists() or json.loads(out.read_text())[0] != 0:
                    raise RuntimeError(f"the no-op session failed:\n{result.stdout}\n{result.stderr}")
                _, loaded, _, seconds = json.loads(out.read_text())
                out.unlink()
                if name == "with":
                    heavy.update(loaded)
                if round_:
                    cpu[name].append(seconds)
        return sorted(heavy), cpu
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- 1. start → first response → stop ---------------------------------------------------


def bench_cycle(sizes: Sizes, client: httpx.Client) -> dict[str, Row]:
    rounds = max(min(4, sizes.cycles // 10), 1)
    block = max(sizes.cycles // rounds, 1)
    section(
        f"1. start -> first response -> stop ({rounds * block} cycles each, in {rounds} rounds of alternating "
        f"blocks of {block}; {sizes.subprocess_cycles} subprocess cycles)"
    )
    close = {"connection": "close"}
    live: list[float] = []
    parts: dict[str, list[float]] = {"start": [], "response": [], "stop": [], "start + stop, CPU time": []}
    naive: list[float] = []
    spawned: list[float] = []
    raw: list[float] = []
    bare: list[float] = []
    # Variants run in blocks, alternating block order each round: back to back, as the
    # servers of a test suite start one after another. A cycle right after ~200 ms of a
    # mostly idle CPU (what a naive cycle is) runs markedly slower on this VM, whatever
    # the code; that case is measured apart, in the "after 200 ms idle" row.
    idle: list[float] = []

    def live_cycle() -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        server = LiveServer(APP).start()
        t1, c1 = time.perf_counter(), time.process_time()
        client.get(server.url + "/", headers=close).raise_for_status()
        t2, c2 = time.perf_counter(), time.process_time()
        server.stop()
        t3, c3 = time.perf_counter(), time.process_time()
        live.append(t3 - t0)
        parts["start"].append(t1 - t0)
        parts["response"].append(t2 - t1)
        parts["stop"].append(t3 - t2)
        # All threads' CPU time: the caller's and the server thread's.
        parts["start + stop, CPU time"].append((c1 - c0) + (c3 - c2))

    def raw_cycle() -> None:
        def cycle() -> None:
            with LiveServer(APP) as server:
                raw_request(server.port)

        raw.append(timed(cycle))

    def bare_cycle() -> None:
        def cycle() -> None:
            with BareServer(APP) as server:
                raw_request(server.port)

        bare.append(timed(cycle))

    def naive_cycle() -> None:
        def cycle() -> None:
            with NaiveServer(APP) as server:
                raw_request(server.port)

        naive.append(timed(cycle))

    def subprocess_cycle() -> None:
        def cycle() -> None:
            with uvicorn_subprocess() as url:
                client.get(url + "/", headers=close).raise_for_status()

        spawned.append(timed(cycle))

    for _ in range(3):  # warm up imports and caches
        live_cycle()
        raw_cycle()
        bare_cycle()
        naive_cycle()
    for samples in (live, raw, bare, naive, *parts.values()):
        samples.clear()
    for round_index in range(rounds):
        order = (live_cycle, raw_cycle, bare_cycle, naive_cycle)
        for cycle in order if round_index % 2 == 0 else order[::-1]:
            for _ in range(block):
                cycle()
        spawns = sizes.subprocess_cycles // rounds + (round_index < sizes.subprocess_cycles % rounds)
        for _ in range(spawns):
            subprocess_cycle()
    for _ in range(max(block // 5, 3)):
        time.sleep(0.2)
        live_cycle()
        idle.append(live.pop())
        for samples in parts.values():
            samples.pop()
    rows = {"live": report("LiveServer cycle", live, "httpx request, Connection: close")}
    rows["start"] = report("  of which start()", parts["start"])
    report("  of which first response", parts["response"])
    rows["stop"] = report("  of which stop()", parts["stop"])
    rows["floor cpu"] = report(
        "  start() + stop() in CPU time", parts["start + stop, CPU time"], "all threads (time.process_time)"
    )
    report("LiveServer cycle after 200 ms idle", idle, "a cold CPU: not the steady state of a suite")
    rows["raw"] = report("LiveServer cycle, raw socket request", raw, "the same without httpx: the server's share")
    rows["bare"] = report("bare uvicorn cycle, raw socket request", bare, "uvicorn's own floor (BareServer)")
    rows["naive"] = report("naive thread cycle, raw socket request", naive, "poll started, set should_exit, join")
    rows["subprocess"] = report("uvicorn subprocess cycle (poll port)", spawned, "httpx request")
    speedup = rows["naive"].median / rows["raw"].median
    print(f"  LiveServer is {speedup:.0f}x faster than the naive pattern (medians, a raw socket request in both)")
    return rows


# -- 2. a 200-test suite -------------------------------------------------------------------

# The first test of every suite: one server and one request, so that what a process pays
# once (importing the server and client modules, the first SSL context) is in every suite
# alike and the differences between suites are per-test costs only.
WARM_UP = 'def test_0(live_server_client):\n    assert live_server_client.get("/").text == "ok"\n'
# The least that a fixture giving each test a fresh uvicorn server can cost: bare uvicorn
# (bare_server.py) in a plain fixture. The suites' conftest.py defines it.
BARE_FIXTURE = """\
import bench_app
import pytest
from bare_server import BareServer


@pytest.fixture
def bare_uvicorn():
    with BareServer(bench_app.app) as server:
        yield server
"""
SUITE_BODIES = {
    "no server": "def test_{i}():\n    pass\n",
    "a plain fixture around bare uvicorn": "def test_{i}(bare_uvicorn):\n    pass\n",
    "live_server": "def test_{i}(live_server):\n    pass\n",
    "live_server_session": "def test_{i}(live_server_session):\n    pass\n",
    "live_server + a request": (
        'def test_{i}(live_server_client):\n    assert live_server_client.get("/").text == "ok"\n'
    ),
    "live_server_session + a request": (
        "def test_{i}(live_server_session):\n"
        "    with live_server_session.client() as client:\n"
        '        assert client.get("/").text == "ok"\n'
    ),
}


def bench_suite(sizes: Sizes) -> dict[str, Row]:
    n = sizes.suite_tests
    section(
        f"2. a {n}-test suite: wall time of pytest in a subprocess ({sizes.suite_repeats} runs each, interleaved; "
        "the first test of each takes a server and makes a request)"
    )
    folder = Path(tempfile.mkdtemp(prefix="liveasgi-bench-"))
    try:
        shutil.copy(HERE / "bench_app.py", folder / "bench_app.py")
        shutil.copy(HERE / "bare_server.py", folder / "bare_server.py")
        (folder / "conftest.py").write_text(BARE_FIXTURE)
        (folder / "pytest.ini").write_text("[pytest]\nasgi_app = bench_app:app\npythonpath = .\n")
        for index, body in enumerate(SUITE_BODIES.values()):
            source = WARM_UP + "".join(body.format(i=i) for i in range(1, n))
            (folder / f"test_suite{index}.py").write_text(source)
        env = child_env()
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_liveasgi.plugin"]
        walls: dict[str, list[float]] = {name: [] for name in SUITE_BODIES}
        cpus: dict[str, list[float]] = {name: [] for name in SUITE_BODIES}
        for _ in range(sizes.suite_repeats):
            for index, name in enumerate(SUITE_BODIES):
                started, cpu_before = time.perf_counter(), children_cpu()
                result = subprocess.run(
                    [*command, f"test_suite{index}.py"], cwd=folder, env=env, capture_output=True, text=True
                )
                walls[name].append(time.perf_counter() - started)
                cpus[name].append(children_cpu() - cpu_before)
                if result.returncode != 0 or f"{n} passed" not in result.stdout:
                    raise RuntimeError(f"the {name!r} suite did not pass:\n{result.stdout}\n{result.stderr}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for name, samples in walls.items():
        report(f"suite: {name}", samples, "whole run")
    base = walls["no server"]
    overheads: dict[str, Row] = {}
    with_servers = ("a plain fixture around bare uvicorn", "live_server", "live_server_session")
    for name in (*with_servers, "live_server + a request", "live_server_session + a request"):
        # Paired by round, so that a slow spell of the machine hits both sides.
        per_test = [(wall - bare) / (n - 1) for wall, bare in zip(walls[name], base, strict=True)]
        overheads[name] = report(f"  per-test overhead: {name}", per_test, "(suite - no server) / (tests - 1)")
    # CPU time (user + system, all threads) hardly grows when other processes compete for
    # the CPU, and the fixture's work is CPU-bound: on a busy machine this is the figure
    # closest to what a quiet machine's wall clock would show.
    for name in with_servers:
        per_test = [(cpu - bare) / (n - 1) for cpu, bare in zip(cpus[name], cpus["no server"], strict=True)]
        overheads[f"{name} cpu"] = report(f"  per-test CPU overhead: {name}", per_test, "CPU time, same runs")
    return overheads


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    times = os.times()
    return times.children_user + times.children_system


# -- 3. stop latency ---------------------------------------------------------------------------


def bench_stop(sizes: Sizes) -> dict[str, Row]:
    section("3. stop() latency")
    bare: list[float] = []
    idle: list[float] = []
    naive_idle: list[float] = []
    in_flight: list[float] = []
    drained = 0
    slow = 0.02
    for index in range(sizes.stops):
        with LiveServer(APP) as server:
            bare.append(timed(server.stop))
        with LiveServer(APP) as server, server.client() as client:
            client.get("/").raise_for_status()  # leaves an idle keep-alive connection
            idle.append(timed(server.stop))
        if index < sizes.naive_stops:
            server_n = NaiveServer(APP).start()
            with httpx.Client(base_url=server_n.url, trust_env=False) as client:
                client.get("/").raise_for_status()
                naive_idle.append(timed(server_n.stop))

        server = LiveServer(APP).start()
        outcome: list[int] = []
        bench_app.SLOW_STARTED.clear()

        def slow_request(url: str = server.url, outcome: list[int] = outcome) -> None:
            with httpx.Client(trust_env=False) as client:
                outcome.append(client.get(f"{url}/slow?seconds={slow}").status_code)

        requester = threading.Thread(target=slow_request)
        requester.start()
        bench_app.SLOW_STARTED.wait(5)
        in_flight.append(timed(server.stop))
        requester.join()
        drained += outcome == [200]
    rows = {
        "bare": report("LiveServer, no connection", bare, "the baseline"),
        "idle": report("LiveServer, an idle keep-alive connection open", idle),
    }
    report("naive thread, an idle keep-alive connection open", naive_idle)
    report(
        f"LiveServer, a {slow * MS:.0f} ms request in flight",
        in_flight,
        f"{drained}/{sizes.stops} answered 200 (graceful drain)",
    )
    rows.update(bench_tls_stop(sizes))
    return rows


def bench_tls_stop(sizes: Sizes) -> dict[str, Row]:
    """The same over TLS (`https=True`): an idle TLS connection must not hold `stop()` up either."""
    # A stop() that waits out shutdown_timeout takes 5 s by default: a --quick run caps it.
    options = {"shutdown_timeout": 0.5} if sizes is QUICK else {}
    bare: list[float] = []
    idle: list[float] = []
    warned = 0
    for _ in range(sizes.tls_stops):
        with LiveServer(APP, https=True) as server:
            bare.append(timed(server.stop))
        with LiveServer(APP, https=True, **options) as server, server.client() as client:
            client.get("/").raise_for_status()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                idle.append(timed(server.stop))
            warned += bool(caught)
        if len(idle) >= 2 and min(idle) > 1.0:
            break  # stop() waits for a timeout: more samples would say nothing new
    note = f"{warned}/{len(idle)} warned" if warned else ""
    if len(idle) < sizes.tls_stops:
        note += f"; stopped after {len(idle)}: each took > 1 s"
    return {
        "tls bare": report("LiveServer https=True, no connection", bare, "the baseline"),
        "tls idle": report("LiveServer https=True, an idle keep-alive connection open", idle, note.lstrip("; ")),
    }


# -- 4. requests through the server --------------------------------------------------------------


def sequential(url: str, count: int) -> list[float]:
    with httpx.Client(base_url=url, trust_env=False) as client:
        client.get("/")
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            client.get("/")
            latencies.append(time.perf_counter() - started)
    return latencies


def concurrent(url: str, count: int, failed: list[str], width: int = 16) -> float:
    """Seconds per request with `width` requests in flight on an AsyncClient.

    A request that fails on the wire (e.g. a keep-alive connection closed by the server
    as the client reuses it, on a very busy machine) is counted in `failed`, not fatal.
    """

    async def run() -> float:
        limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
        async with httpx.AsyncClient(base_url=url, trust_env=False, limits=limits) as client:
            await asyncio.gather(*(client.get("/") for _ in range(width)))
            gate = asyncio.Semaphore(width)

            async def one() -> None:
                async with gate:
                    try:
                        (await client.get("/")).raise_for_status()
                    except httpx.TransportError as error:
                        failed.append(f"{type(error).__name__}: {error}")

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(count)))
            return (time.perf_counter() - started) / count

    return asyncio.run(run())


def bench_requests(sizes: Sizes) -> None:
    section(f"4. requests: LiveServer vs bare uvicorn (naive thread), same app ({sizes.rounds} interleaved rounds)")
    latency: dict[str, list[float]] = {"live": [], "bare": []}
    per_request: dict[str, list[float]] = {"live": [], "bare": []}
    failed: dict[str, list[str]] = {"live": [], "bare": []}
    with LiveServer(APP) as live, NaiveServer(APP) as bare:
        urls = {"live": live.url, "bare": bare.url}
        for index in range(sizes.rounds):
            order = ("live", "bare") if index % 2 else ("bare", "live")
            for name in order:
                latency[name] += sequential(urls[name], sizes.requests)
            for name in order:
                per_request[name].append(concurrent(urls[name], sizes.requests, failed[name]))
    for name, label in (("live", "LiveServer"), ("bare", "bare uvicorn")):
        samples = latency[name]
        report(f"{label}: sequential keep-alive request", samples, f"{len(samples) / sum(samples):,.0f} req/s")
    for name, label in (("live", "LiveServer"), ("bare", "bare uvicorn")):
        samples = per_request[name]
        note = f"{1 / statistics.median(samples):,.0f} req/s"
        if failed[name]:
            note += f"; {len(failed[name])} failed on the wire, e.g. {failed[name][0]}"
        report(f"{label}: 16 concurrent (time per request)", samples, note)
    delta = statistics.median(latency["live"]) - statistics.median(latency["bare"])
    print(f"  sequential median, LiveServer minus bare uvicorn: {delta * 1e6:+.1f} us per request")
    report("Recorder middleware alone, per request", recorder_cost(sizes.requests * 5), "direct ASGI calls, no socket")


def recorder_cost(count: int) -> list[float]:
    """Per-request cost of the recording middleware: the app called through it minus called bare."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    scope = {"type": "http", "method": "GET", "path": "/", "root_path": "", "query_string": b""}
    # The middleware exactly as LiveServer builds it around the app (a private attribute).
    with LiveServer(APP) as server:
        wrapped = server._recorder
    assert isinstance(wrapped, Recorder)
    inner = wrapped.app  # what uvicorn would call without us

    async def run() -> list[float]:
        costs = []
        for _ in range(20):
            started = time.perf_counter()
            for _ in range(count // 20):
                await inner(scope, receive, send)
            bare = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(count // 20):
                await wrapped(scope, receive, send)
            costs.append((time.perf_counter() - started - bare) / (count // 20))
        return costs

    return asyncio.run(run())


# -- 5. client cost -------------------------------------------------------------------------------


def bench_clients(sizes: Sizes) -> dict[str, Row]:
    section("5. creating (and closing) a client")
    ours: list[float] = []
    plain: list[float] = []
    with LiveServer(APP) as server:
        server.client().close()
        for _ in range(sizes.clients):
            ours.append(timed(lambda: server.client().close()))
            plain.append(timed(lambda: httpx.Client().close()))
    rows = {
        "client": report("live_server.client()", ours, "reuses one SSL context"),
        "httpx": report("httpx.Client()", plain, "builds an SSL context per client"),
    }
    return rows


# -- 6. memory -----------------------------------------------------------------------------------

RSS_FUNCTION = """
def rss():
    import gc, os, resource
    gc.collect()
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak, which for growth is what matters
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""

MEMORY_CHILD = (
    RSS_FUNCTION
    + """
import json, sys
sys.path.insert(0, sys.argv[4])
import httpx
import bench_sync_app
from pytest_liveasgi import LiveServer
loop, mark, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
readings = []
with httpx.Client(trust_env=False) as client:
    for count in range(1, total + 1):
        with LiveServer(bench_sync_app.app, loop=loop) as server:
            client.get(server.url + "/sync", headers={"connection": "close"}).raise_for_status()
        if count in (mark, total):
            readings.append(rss())
print(json.dumps(readings))
"""
)

MEMORY_CONFTEST = (
    RSS_FUNCTION
    + """
import json, os
_finished = 0
_readings = []

def pytest_runtest_logfinish(nodeid, location):
    global _finished
    _finished += 1
    if _finished in ({mark}, {total}):
        _readings.append(rss())

def pytest_unconfigure(config):
    with open(os.environ["LIVEASGI_BENCH_RSS"], "w") as out:
        json.dump(_readings, out)
"""
)

MEMORY_TEST = 'def test_{i}(live_server_client):\n    assert live_server_client.get("/sync").text == "ok"\n'
NOOP_TEST = "def test_{i}():\n    pass\n"


@dataclass
class Growth:
    name: str
    before: int  # bytes, after `mark` servers
    after: int  # bytes, after `total` servers
    servers: int  # between the two readings

    @property
    def growth(self) -> int:
        return self.after - self.before


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def bench_memory(sizes: Sizes) -> dict[str, Growth | None]:
    mark, total = sizes.memory_mark, sizes.memory_servers
    print(
        f"\n6. memory: RSS after {total} servers against after {mark} "
        "(fresh interpreters; a Starlette app, its sync endpoint)"
    )
    print(f"  {'':<60} {'after ' + str(mark):>10} {'after ' + str(total):>10} {'growth':>10} {'per server':>11}")
    loops = ["asyncio", "uvloop"] if uvloop_installed() else ["asyncio"]
    results: dict[str, Growth | None] = {"cycles uvloop": None, "pytest uvloop": None}
    for loop in loops:
        command = [sys.executable, "-c", MEMORY_CHILD, loop, str(mark), str(total), str(HERE)]
        result = subprocess.run(command, capture_output=True, text=True, env=child_env())
        if result.returncode != 0:
            raise RuntimeError(f"the memory run on {loop} failed:\n{result.stdout}\n{result.stderr}")
        before, after = json.loads(result.stdout)
        results[f"cycles {loop}"] = report_growth(
            Growth(f"LiveServer cycles, loop={loop}", before, after, total - mark)
        )
    folder = Path(tempfile.mkdtemp(prefix="liveasgi-bench-"))
    try:
        shutil.copy(HERE / "bench_sync_app.py", folder / "bench_sync_app.py")
        (folder / "pytest.ini").write_text("[pytest]\nasgi_app = bench_sync_app:app\npythonpath = .\n")
        (folder / "conftest.py").write_text(MEMORY_CONFTEST.replace("{mark}", str(mark)).replace("{total}", str(total)))
        (folder / "test_servers.py").write_text("".join(MEMORY_TEST.format(i=i) for i in range(total)))
        (folder / "test_noop.py").write_text("".join(NOOP_TEST.format(i=i) for i in range(total)))
        runs = [("pytest noop", "no-op tests (the baseline)", "test_noop.py", "asyncio")]
        runs += [
            (f"pytest {loop}", f"live_server_client tests, loop={loop}", "test_servers.py", loop) for loop in loops
        ]
        for key, label, path, loop in runs:
            out = folder / "rss.json"
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_liveasgi.plugin"]
            command += ["-o", f"asgi_server_options=loop = {loop}", path]
            env = {**child_env(), "LIVEASGI_BENCH_RSS": str(out)}
            result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
            if result.returncode != 0 or f"{total} passed" not in result.stdout:
                raise RuntimeError(f"the {label!r} suite did not pass:\n{result.stdout}\n{result.stderr}")
            before, after = json.loads(out.read_text())
            results[key] = report_growth(Growth(f"pytest, {total} {label}", before, after, total - mark))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not uvloop_installed():
        print("  uvloop: not installed, skipped (pip install 'uvicorn[standard]' to measure it)")
    return results


def report_growth(growth: Growth) -> Growth:
    mib = 1024 * 1024
    print(
        f"  {growth.name:<60} {growth.before / mib:>6.1f} MiB {growth.after / mib:>6.1f} MiB "
        f"{growth.growth / mib:>+6.1f} MiB {growth.growth / growth.servers / 1024:>+7.1f} KiB",
        flush=True,
    )
    return growth


# -- targets ---------------------------------------------------------------------------------------


MIB = 1024 * 1024
CYCLE_TARGET = 0.002  # seconds, SPEC section 3
OVERHEAD_TARGET = 0.0015  # seconds of CPU per test, issue 13
MEMORY_BUDGET = 5 * MIB  # "within a few MB" over 1,000 servers
IDLE_STOP_FACTOR = 2.0  # an idle keep-alive connection may not make stop() twice as slow


@dataclass
class Target:
    name: str
    figure: str
    baseline: str
    ratio: str
    verdict: str  # PASS, MISS or SKIP


def ms(value: float) -> str:
    return f"{value * MS:.3f} ms"


def ratio_target(
    name: str, figure: float, baseline: float, ok: Callable[[float], bool], speedup: bool = False
) -> Target:
    """A target judged on figure / baseline (or baseline / figure, a speed-up), both in seconds."""
    ratio = baseline / figure if speedup else figure / baseline
    return Target(name, ms(figure), ms(baseline), f"{ratio:.0f}x" if speedup else f"{ratio:.2f}x", verdict(ok(ratio)))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def targets(results: dict[str, Any]) -> list[Target]:
    """Judge each target whose sections ran; `results` maps a section's name to what it returned."""
    found: list[Target] = []
    if "import" in results:
        found += import_targets(results["import"])
    if "cycle" in results:
        cycle = results["cycle"]
        # The absolute figure is the server's share: httpx's own request costs more than
        # 1 ms of CPU on these machines. The baseline is uvicorn's floor, for scale.
        server_share = cycle["raw"].median
        found.append(
            ratio_target(
                "cycle <= 2 ms (raw socket; baseline: bare uvicorn)",
                server_share,
                cycle["bare"].median,
                lambda _: server_share <= CYCLE_TARGET,
            )
        )
        # Like with like: the same raw socket request in both cycles. With httpx in both,
        # httpx's own ~1.5 ms per new connection would be most of the LiveServer side.
        found.append(
            ratio_target(
                "cycle >= 100x faster than naive (raw socket, both)",
                server_share,
                cycle["naive"].median,
                lambda speedup: speedup >= 100,
                speedup=True,
            )
        )
    if "suite" in results:
        # CPU time: the fixture's work is CPU-bound, and CPU time grows least on a busy
        # machine. The baseline is the least a fresh uvicorn per test costs through pytest:
        # bare uvicorn in a plain fixture.
        mine = results["suite"]["live_server cpu"].median
        found.append(
            ratio_target(
                "live_server overhead <= 1.5 ms/test (CPU)",
                mine,
                results["suite"]["a plain fixture around bare uvicorn cpu"].median,
                lambda _: mine <= OVERHEAD_TARGET,
            )
        )
    if "stop" in results:
        stop = results["stop"]
        for key, label in (("", "plain"), ("tls ", "TLS")):
            found.append(
                ratio_target(
                    f"stop() with an idle keep-alive conn., {label} (<= 2x)",
                    stop[f"{key}idle"].median,
                    stop[f"{key}bare"].median,
                    lambda ratio: ratio <= IDLE_STOP_FACTOR,
                )
            )
    if "memory" in results:
        found += memory_targets(results["memory"])
    if "clients" in results:
        clients = results["clients"]
        mine = clients["client"].median
        found.append(
            ratio_target("client() <= 1 ms", mine, clients["httpx"].median, lambda _: mine <= 0.001, speedup=True)
        )
    if not found:
        return found
    print("\nTargets: the figure, its baseline from this run, and the ratio the verdict is on")
    print(f"  {'':<56} {'figure':>12} {'baseline':>12} {'ratio':>10}")
    for target in found:
        print(f"  {target.name:<56} {target.figure:>12} {target.baseline:>12} {target.ratio:>10}  {target.verdict}")
    return found


def import_targets(imports: dict[str, Any]) -> list[Target]:
    share = imports["share"]
    found = []
    found.append(
        Target(
            "plugin import <= 5% of pytest's",
            ms(imports["plugin"].median),
            ms(imports["pytest"].median),
            f"{share:.1%}",
            verdict(share <= 0.05),
        )
    )
    for when in ("after import", "after session"):
        heavy = imports[when]
        found.append(
            Target(
                f"no uvicorn/httpx/... loaded {when}" + (" (no fixture)" if when == "after session" else ""),
                f"{len(heavy)} loaded" if heavy else "none",
                "-",
                "-",
                verdict(not heavy),
            )
        )
    return found


def memory_targets(memory: dict[str, Growth | None]) -> list[Target]:
    found = []
    noop = memory["pytest noop"]
    for loop in ("asyncio", "uvloop"):
        for kind in ("cycles", "pytest"):
            growth = memory.get(f"{kind} {loop}")
            name = f"RSS growth, {memory_label(kind, loop)} <= 5 MiB"
            if growth is None:
                found.append(Target(name, "-", "-", "-", "SKIP"))
                continue
            extra = growth.growth - (noop.growth if kind == "pytest" and noop is not None else 0)
            baseline = f"{noop.growth / MIB:+.1f} MiB" if kind == "pytest" and noop is not None else "-"
            found.append(
                Target(
                    name,
                    f"{growth.growth / MIB:+.1f} MiB",
                    baseline,
                    f"{extra / MIB:+.1f} MiB",
                    verdict(extra <= MEMORY_BUDGET),
                )
            )
    return found


def memory_label(kind: str, loop: str) -> str:
    return f"{'LiveServer cycles' if kind == 'cycles' else 'pytest suite'}, {loop}"


def run_cycle(sizes: Sizes) -> dict[str, Row]:
    with httpx.Client(trust_env=False) as client:
        return bench_cycle(sizes, client)


SECTIONS: dict[str, Callable[[Sizes], Any]] = {
    "import": bench_import,
    "cycle": run_cycle,
    "suite": bench_suite,
    "stop": bench_stop,
    "requests": bench_requests,
    "clients": bench_clients,
    "memory": bench_memory,
}


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.python_implementation()} {platform.python_version()}, "
        f"uvicorn {uvicorn.__version__}, httpx {httpx.__version__}, {platform.system()} {platform.release()}"
    )


def load_average() -> str:
    """Other processes on the machine skew every figure: say how busy it was."""
    try:
        return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "load average unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with few samples")
    parser.add_argument(
        "--only",
        metavar="SECTION,...",
        help=f"run only these sections (of {', '.join(SECTIONS)}), e.g. --only memory",
    )
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    sizes = QUICK if args.quick else FULL
    print(f"pytest-liveasgi benchmarks{' (--quick: figures are rough)' if args.quick else ''}")
    print(f"machine: {machine()}")
    print(f"before: {load_average()}")
    started = time.perf_counter()
    results = {name: SECTIONS[name](sizes) for name in SECTIONS if name in chosen}
    targets(results)
    print(f"\n(took {time.perf_counter() - started:.0f} s; after: {load_average()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
