"""The plugin's promise where no fleet can boot: a skip with the reason, a failure under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
CONFTEST = """
import fleet.plugin
fleet.plugin.preflight = lambda: ["not root (simulated)"]
pytest_plugins = ["fleet.plugin"]
"""


def run_without_fleet(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\nstrict = true\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_needs_fleet.py").write_text(
        "import pytest\n\n@pytest.mark.fleet\ndef test_it(fleet):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(TESTS)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rsE", "-p", "no:cacheprovider", "-p", "no:maintcheck",
         str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        check=False)


@pytest.mark.parametrize("ci", [False, True], ids=["local", "ci"])
def test_no_fleet_is_a_skip_locally_and_a_failure_under_ci(tmp_path: Path, ci: bool) -> None:
    r = run_without_fleet(tmp_path, ci)
    assert "not root (simulated)" in r.stdout, r.stdout + r.stderr
    if ci:
        assert r.returncode == 1 and "1 error" in r.stdout, r.stdout
        assert "CI is set" in r.stdout
    else:
        assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout
