"""The sdist is complete: it holds the tests with their conftest.py and helper apps, the
docs with their samples, and its own test suite runs from the unpacked folder.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

# Building the sdist and running tests from it takes a minute or two of CPU: run by CI
# (`-m slow`, .ci/run) and on demand, not by the default run.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked sdist, built from this checkout with `python -m build --sdist`."""
    if importlib.util.find_spec("build") is None:
        pytest.skip("build is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (archive,) = out.glob("pytest_liveasgi-*.tar.gz")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            tar.extractall(out, filter="data")
        else:
            tar.extractall(out)
    (folder,) = (path for path in out.iterdir() if path.is_dir())
    return folder


def test_the_sdist_holds_what_its_tests_and_docs_need(sdist: Path) -> None:
    shipped = {path.relative_to(sdist).as_posix() for path in sdist.rglob("*") if path.is_file()}
    for needed in [
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "mkdocs.yml",
        "tox.ini",
        ".readthedocs.yaml",
        "pytest_liveasgi/py.typed",
        "tests/conftest.py",
        "tests/sample_apps.py",
        "tests/docs_samples_harness.py",
        "tests/constraints-lowest.txt",
        "docs/index.md",
        "docs/samples/getting-started/pytest.ini",
        "examples/pytest.ini",
    ]:
        assert needed in shipped, f"the sdist lacks {needed}"
    assert not [name for name in shipped if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in shipped if name.startswith((".venv/", ".tox/", ".github/", "site/"))]


def test_the_sdist_test_suite_runs_from_the_unpacked_folder(sdist: Path) -> None:
    """A few tests, from the sdist's own files (python -m pytest puts its folder first on
    sys.path, so the sdist's pytest_liveasgi is the one tested)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "tests/test_docs_samples.py::test_docs_sample_suite_passes[getting-started]",
            "tests/test_docs_samples.py::test_the_documented_run_of_the_first_test_is_the_real_one",
            "tests/test_docs_lint.py",
        ],
        cwd=sdist,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout.splitlines()[-1], run.stdout
    tested = subprocess.run(
        [sys.executable, "-c", "import pytest_liveasgi; print(pytest_liveasgi.__file__)"],
        cwd=sdist,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(tested.stdout.strip()).is_relative_to(sdist)
