"""`benchmarks/run.py --quick` still runs and prints its table (no timing is asserted:
machines are noisy; the figures are judged by a person reading docs/performance.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# Tens of seconds of subprocesses: run by CI and `pytest -m slow`, not by default.
pytestmark = pytest.mark.slow

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

ROWS = [
    "import pytest_liveasgi.plugin (after pytest)",
    "import pytest (pytest's own import)",
    "pytest session, 20 no-op tests, with the plugin",
    "pytest session, 20 no-op tests, without it",
    "LiveServer cycle",
    "start() + stop() in CPU time",
    "LiveServer cycle after 200 ms idle",
    "LiveServer cycle, raw socket request",
    "bare uvicorn cycle, raw socket request",
    "naive thread cycle, raw socket request",
    "uvicorn subprocess cycle (poll port)",
    "per-test overhead: a plain fixture around bare uvicorn",
    "per-test overhead: live_server",
    "per-test overhead: live_server_session",
    "per-test CPU overhead: a plain fixture around bare uvicorn",
    "per-test CPU overhead: live_server",
    "LiveServer, no connection",
    "LiveServer, an idle keep-alive connection open",
    "LiveServer, a 20 ms request in flight",
    "LiveServer https=True, no connection",
    "LiveServer https=True, an idle keep-alive connection open",
    "LiveServer: sequential keep-alive request",
    "bare uvicorn: sequential keep-alive request",
    "Recorder middleware alone, per request",
    "live_server.client()",
]
MEMORY_ROWS = [
    "LiveServer cycles, loop=asyncio",
    "pytest, 30 no-op tests (the baseline)",
    "pytest, 30 live_server_client tests, loop=asyncio",
]
TARGETS = [
    "plugin import <= 5% of pytest's",
    "no uvicorn/httpx/... loaded after import",
    "no uvicorn/httpx/... loaded after session (no fixture)",
    "cycle <= 2 ms (raw socket; baseline: bare uvicorn)",
    "cycle >= 100x faster than naive (raw socket, both)",
    "live_server overhead <= 1.5 ms/test (CPU)",
    "stop() with an idle keep-alive conn., plain (<= 2x)",
    "stop() with an idle keep-alive conn., TLS (<= 2x)",
    "RSS growth, LiveServer cycles, asyncio <= 5 MiB",
    "RSS growth, pytest suite, asyncio <= 5 MiB",
    "RSS growth, LiveServer cycles, uvloop <= 5 MiB",
    "RSS growth, pytest suite, uvloop <= 5 MiB",
    "client() <= 1 ms",
]
NUMBER = r"-?\d+(\.\d+)?"  # overheads can come out negative in a --quick run


def test_quick_benchmark_prints_the_table() -> None:
    result = subprocess.run([sys.executable, str(RUN), "--quick"], capture_output=True, text=True, timeout=600)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    for row in ROWS:
        pattern = rf"^\s+{re.escape(row)}\s+\d+\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\b"
        assert re.search(pattern, output, re.MULTILINE), f"row {row!r} missing:\n{output}"
    for row in MEMORY_ROWS:
        pattern = rf"^\s+{re.escape(row)}\s+{NUMBER} MiB\s+{NUMBER} MiB\s+[-+]{NUMBER} MiB\s+[-+]{NUMBER} KiB$"
        assert re.search(pattern, output, re.MULTILINE), f"memory row {row!r} missing:\n{output}"
    for target in TARGETS:
        # The figure, its baseline, the ratio (each "-" where it has none), the verdict.
        pattern = rf"^\s+{re.escape(target)}\s+\S.*\s(PASS|MISS|SKIP)$"
        assert re.search(pattern, output, re.MULTILINE), f"target {target!r} missing:\n{output}"
    # Every request in flight at stop() was answered: the drain is graceful.
    assert re.search(r"\b(\d+)/\1 answered 200", output), output
