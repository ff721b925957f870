"""Every code sample in the docs is a file under docs/samples/, and runs here.

Each folder `docs/samples/<name>/` is a small pytest project of its own (its own
`pytest.ini`, app module and test files). The docs include its files with
pymdownx.snippets; this test runs each folder's suite in a copy of the folder and
requires it to pass (skips are allowed only where the sample says why, e.g. no browser).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "docs" / "samples"
# Samples written for a project that has pytest-django or pytest-flask installed and on.
PLUGINS = {"django": ("-p", "django"), "migrating-django": ("-p", "django"), "migrating-flask": ("-p", "flask")}
SAMPLE_FOLDERS = sorted(folder for folder in SAMPLES.iterdir() if (folder / "pytest.ini").exists())


@pytest.mark.parametrize("folder", SAMPLE_FOLDERS, ids=[folder.name for folder in SAMPLE_FOLDERS])
def test_docs_sample_suite_passes(folder: Path, pytester: pytest.Pytester) -> None:
    copy = pytester.path / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    pytester.chdir()
    plugins = PLUGINS.get(folder.name, ())
    result = pytester.runpytest_subprocess(
        "-c", str(copy / "pytest.ini"), "--rootdir", str(copy), str(copy), "-p", "no:cacheprovider", "-rs", *plugins
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) > 0, result.stdout.str()
