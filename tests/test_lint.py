"""`make lint` as a test, so that CI (which runs `make test`) holds the tree to it: ruff on the
package, its tests and the checks; mypy strict on the package and the checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # this venv's, as the Makefile's $(VENV)/bin


@pytest.mark.parametrize("argv", [["ruff", "check", "src", "tests", "checks"],
                                  ["mypy", "src", "checks"]], ids=["ruff", "mypy"])
def test_lint_is_clean(argv: list[str]) -> None:
    tool = BIN / argv[0]
    if not tool.exists():
        pytest.skip(f"{argv[0]} is not installed in {BIN} (pip install -e '.[test]')")
    result = subprocess.run([str(tool), *argv[1:]], cwd=ROOT, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=600, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}{result.stderr}"
