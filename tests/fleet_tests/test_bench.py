"""The benchmark runs as docs/benchmark.md says, on its own bare hosts, and reports every figure.

Speed is the benchmark's to measure and print; nothing here asserts a time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fleet

ROOT = Path(__file__).resolve().parents[2]


def test_bench_prints_its_table_and_every_goal(fleet_available: None, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--hosts", "3", "--repeat", "1",
         "--skip-testinfra", "--max-load", "1000", "--cpus", "0", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| N | a: maintcheck | b: testinfra | c: ssh floor | a/c |" in run.stdout
    goals = [line for line in run.stdout.splitlines() if line.startswith("goal: ")]
    assert len(goals) == 4 and all(line.endswith("not measured") for line in goals), goals
    [row] = json.loads(out.read_text())
    assert row["hosts"] == 3 and row["outcomes"].get("passed", 0) > 0, row
    assert "error" not in row["outcomes"] and "failed" not in row["outcomes"], row["outcomes"]
    phases = row["phases"]
    assert set(phases) == {"startup", "checks", "reports"}, phases
    # the phases are parts of a: each positive, together no more than the whole run
    assert all(v > 0 for v in phases.values()) and sum(phases.values()) <= row["a"], row
    assert row["own"] == pytest.approx(row["collect_seconds"] + phases["reports"])
    assert row["a_over_c"] == pytest.approx(row["a"] / row["c"])  # one round: its own ratio
    # --cpus 0: the hosts' sshd (one per host at least) and every run on CPU 0 alone
    pinned = re.search(r"on CPUs 0 only: the (\d+) threads of the hosts", run.stdout + run.stderr)
    assert pinned and int(pinned[1]) >= 3, run.stderr[-3000:]
    assert row["cpus"] == [0] and "| 3 (CPUs 0) |" in run.stdout, run.stdout
