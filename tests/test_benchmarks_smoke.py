"""`benchmarks/run.py --quick` still runs and prints its table (no timing is asserted:
machines are noisy; the figures are judged by a person reading docs/performance.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

ROWS = [
    "LiveServer cycle",
    "LiveServer cycle after 200 ms idle",
    "naive thread cycle (poll started, should_exit)",
    "uvicorn subprocess cycle (poll port)",
    "per-test overhead: live_server",
    "per-test overhead: live_server_session",
    "LiveServer, an idle keep-alive connection open",
    "LiveServer, a 20 ms request in flight",
    "LiveServer: sequential keep-alive request",
    "bare uvicorn: sequential keep-alive request",
    "Recorder middleware alone, per request",
    "live_server.client()",
]
TARGETS = [
    "cycle median <= 3 ms",
    "cycle >= 60x faster than naive",
    "live_server overhead <= 3 ms per test",
    "stop with idle keep-alive <= 5 ms",
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
    for target in TARGETS:
        pattern = rf"^\s+{re.escape(target)}\s+{NUMBER} (ms|x)\s+(PASS|MISS)$"
        assert re.search(pattern, output, re.MULTILINE), f"target {target!r} missing:\n{output}"
    # Every request in flight at stop() was answered: the drain is graceful.
    assert re.search(r"\b(\d+)/\1 answered 200", output), output
