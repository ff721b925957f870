"""Every code sample in the docs is a file under docs/samples/, and runs here.

Each folder `docs/samples/<name>/` is a small pytest project of its own (its own
`pytest.ini`, app module and test files). The docs include its files with
pymdownx.snippets; this test runs each folder's suite in a copy of the folder and
requires it to pass. What the samples need from this machine (Chromium, IPv6) is
checked by the plugin in docs_samples_harness.py, loaded into each run, which skips
with the reason; the samples themselves carry no test scaffolding.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "docs" / "samples"
SAMPLE_FOLDERS = sorted(folder for folder in SAMPLES.iterdir() if (folder / "pytest.ini").exists())
HARNESS = Path(__file__).with_name("docs_samples_harness.py")
# Samples written for a project that has pytest-django or pytest-flask installed and on.
PLUGINS = {"django": ("-p", "django"), "migrating-django": ("-p", "django"), "migrating-flask": ("-p", "flask")}
# A sample's run happens in this process (tests/conftest.py), but for these: what they set
# up stays with the process (Django's settings, Playwright's browser and its plugin's
# globals, litestar's logging queue thread, a logging configuration, xdist workers,
# coverage's tracer).
IN_A_SUBPROCESS = {
    "coverage",
    "django",
    "https-playwright",
    "litestar",
    "migrating-django",
    "migrating-flask",
    "playwright",
    "screenshots",
    "sse",
    "troubleshooting-logs",
    "xdist",
}


def copy_sample(name: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample folder, with the harness plugin importable (not in the copy)."""
    copy = pytester.path / name
    shutil.copytree(SAMPLES / name, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    harness = pytester.path / "_harness"
    harness.mkdir(exist_ok=True)
    shutil.copy(HARNESS, harness)
    monkeypatch.setenv("PYTHONPATH", str(harness))  # for a run in a subprocess
    monkeypatch.syspath_prepend(harness)  # for a run in this process
    pytester.chdir()
    return copy


def run_sample(copy: Path, pytester: pytest.Pytester, config: str = "pytest.ini") -> pytest.RunResult:
    return pytester.runpytest(
        "-c",
        str(copy / config),
        "--rootdir",
        str(copy),
        "-p",
        "docs_samples_harness",
        "-p",
        "no:cacheprovider",
        "-rs",
        *PLUGINS.get(copy.name, ()),
        str(copy),
    )


def assert_passed(result: pytest.RunResult) -> None:
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) > 0, result.stdout.str()


@pytest.mark.parametrize(
    "folder",
    [
        pytest.param(folder, id=folder.name, marks=[pytest.mark.subprocess] if folder.name in IN_A_SUBPROCESS else [])
        for folder in SAMPLE_FOLDERS
    ],
)
def test_docs_sample_suite_passes(folder: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = copy_sample(folder.name, pytester, monkeypatch)
    assert_passed(run_sample(copy, pytester))


def test_configuration_pyproject_toml_works_like_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/configuration.md shows the same settings as pytest.ini and as pyproject.toml."""
    copy = copy_sample("configuration-ini", pytester, monkeypatch)
    (copy / "pytest.ini").unlink()
    assert_passed(run_sample(copy, pytester, config="pyproject.toml"))


def test_liveserver_api_script_prints_the_url_and_the_answer(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/api.md's serve.py, run as the page says: `python serve.py`."""
    copy = copy_sample("liveserver-api", pytester, monkeypatch)
    run = subprocess.run(
        [sys.executable, "serve.py"], cwd=copy, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"serving on http://127\.0\.0\.1:\d+\nok\n", run.stdout), run.stdout


def version_free(line: str) -> str:
    """The line with version numbers (0.54.0, 3.11.7, 9.2.0.dev1) replaced by a marker."""
    return re.sub(r"\d+(\.\d+)+[\w.+-]*", "<version>", line)


def test_the_documented_run_of_the_first_test_is_the_real_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/getting-started.md shows `pytest` run in the getting-started sample: the
    `liveasgi:` header line the page explains, and the outcome, match a real run."""
    page = (ROOT / "docs" / "getting-started.md").read_text()
    documented = [line for line in page.splitlines() if line.startswith("liveasgi:")]
    assert len(documented) == 1, "the page shows one `liveasgi:` header line"
    copy = copy_sample("getting-started", pytester, monkeypatch)
    result = run_sample(copy, pytester)
    real = [line for line in result.outlines if line.startswith("liveasgi:")]
    assert [version_free(line) for line in real] == [version_free(documented[0])], result.stdout.str()
    documented_passed = re.search(r"=+ (\d+) passed in", page)
    assert documented_passed is not None
    result.assert_outcomes(passed=int(documented_passed.group(1)))
