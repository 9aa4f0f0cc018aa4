"""Pre saves a baseline; post compares against it, on this machine, for real."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from maintcheck.baseline import Declared

ROOT = Path(__file__).resolve().parents[1]


def run(phase: str, reports: Path, *extra: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"checks/{phase}", "--no-prompt", "--change", "BL-1",
         "-o", f"maintcheck_reports={reports}", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        check=False)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout[-3000:]
    return json.loads((reports / "BL-1" / f"{phase}.json").read_text())


def outcome(doc: dict, item: str, test: str) -> tuple[str, str]:
    entry = next(i for i in doc["items"] if i["id"] == item)
    found = next(o for o in entry["outcomes"] if o["test"] == test)
    return found["outcome"], found["message"]


def test_a_new_listening_port_is_reported_after_the_window(tmp_path: Path) -> None:
    run("pre", tmp_path)
    baseline = json.loads((tmp_path / "BL-1" / "baseline.json").read_text())
    assert baseline["change"] == "BL-1" and "this-machine" in baseline["hosts"]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        doc = run("post", tmp_path, "-k", "ports_as_before or units_active_before or impact")
    state, message = outcome(doc, "7.1", "test_listening_ports_as_before")
    assert state == "failed" and f"ports [{port}] listen now and did not before" in message
    assert outcome(doc, "7.1", "test_units_active_before_are_active_now")[0] == "passed"
    impact = next(i for i in doc["items"] if i["id"] == "8.3")["outcomes"][0]
    assert impact["outcome"] == "passed"
    assert {"metric", "before", "after", "delta"} <= set(impact["observed"]["impact"][0])


def test_missing_baseline_is_an_error_unless_opted_out(tmp_path: Path) -> None:
    doc = run("post", tmp_path, "-k", "ports_as_before")
    state, message = outcome(doc, "7.1", "test_listening_ports_as_before")
    assert state == "error" and "no pre-maintenance baseline" in message
    doc = run("post", tmp_path, "-k", "ports_as_before", "--no-baseline")
    assert outcome(doc, "7.1", "test_listening_ports_as_before")[0] == "not applicable"


def test_declarations() -> None:
    declared = Declared.parse(["nginx>=1.22.2", "cert:app.example.com"])
    assert declared.packages == {"nginx": "1.22.2"}
    assert declared.certificates == {"app.example.com"}
    with pytest.raises(ValueError, match="NAME>=VERSION"):
        Declared.parse(["nginx=1.2"])


def test_report_shows_the_comparison_table(tmp_path: Path) -> None:
    run("pre", tmp_path)
    run("post", tmp_path, "-k", "impact")
    html = (tmp_path / "BL-1" / "post.html").read_text()
    assert 'id="maintcheck-impact"' in html and "memory %" in html and "this-machine" in html
