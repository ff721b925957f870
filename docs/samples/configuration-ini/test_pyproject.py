"""The same settings in pyproject.toml give the same result."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_pyproject_toml_works_the_same():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "pyproject.toml", "-p", "no:cacheprovider", "test_shop.py"],
        cwd=HERE,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
