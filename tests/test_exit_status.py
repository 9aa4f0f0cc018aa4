"""One verdict, one exit status: every row of the README's exit status table, produced by a run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import checklist_project
import pytest
from test_plugin import closed_port

from maintcheck import exitcodes, runs

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[1] / "README.md"

@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    return checklist_project.make(pytester, "EXIT-1")


def answers(project: pytest.Pytester, first: str = "yes", third: str = "yes") -> str:
    """An answers file for items 1.1 and 1.3."""
    path = project.path / "answers.yml"
    path.write_text(f"- {{id: '1.1', status: {first}, by: alice}}\n"
                    f"- {{id: '1.3', status: {third}, by: alice}}\n")
    return str(path)


def verdict(project: pytest.Pytester) -> str:
    latest = runs.latest(project.path / "reports" / "EXIT-1", "pre")
    assert latest is not None
    return str(json.loads(latest.read_text())["verdict"])


def test_passed_is_0(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--answers", answers(project))
    assert result.ret == 0 == exitcodes.BY_VERDICT["PASSED"]
    assert verdict(project) == "PASSED"


def test_a_skip_of_a_skippable_item_still_passes(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--answers", answers(project, third="skip"))
    assert (result.ret, verdict(project)) == (0, "PASSED")


def test_a_skip_of_an_approval_is_incomplete_11(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--answers", answers(project, first="skip"))
    assert (result.ret, verdict(project)) == (11, "INCOMPLETE")
    result.stdout.fnmatch_lines(["*1 item skipped that the checklist does not let skip (1.1)*",
                                 "*verdict: INCOMPLETE*"])


def test_pending_is_incomplete_11(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--no-prompt")
    assert (result.ret, verdict(project)) == (exitcodes.BY_VERDICT["INCOMPLETE"], "INCOMPLETE")


def test_a_narrowed_run_is_partial_and_incomplete_11(project: pytest.Pytester) -> None:
    given = answers(project)
    every_check = [f"checks/pre/test_pre.py::{name}" for name in (
        "test_window_approved", "test_hosts_named", "test_migrations_validated",
        "test_host_healthy")]
    # the last selects every check one by one: still a selection, so still partial
    for narrowing in (["checks/pre", "-k", "not healthy"], ["checks/pre", "--limit", "local-a"],
                      ["checks/pre/test_pre.py"], every_check):
        result = project.runpytest(*narrowing, "--answers", given)
        assert (result.ret, verdict(project)) == (11, "INCOMPLETE"), narrowing
        result.stdout.fnmatch_lines(["*partial run, never PASSED: narrowed by *"])


def test_failed_is_1(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXIT_TEST_BROKEN", "local-b")
    result = project.runpytest("checks/pre", "--answers", answers(project))
    assert (result.ret, verdict(project)) == (1, "FAILED")


def test_error_is_10(project: pytest.Pytester) -> None:
    hosts = project.path / "inventory" / "hosts.yml"
    hosts.write_text(hosts.read_text() + "    gone:\n      hosts:\n        dead-01: "
                     f"{{ansible_host: 127.0.0.1, ansible_port: {closed_port()}}}\n")
    result = project.runpytest("checks/pre", "--answers", answers(project))
    assert (result.ret, verdict(project)) == (10, "ERROR")


def test_usage_error_is_4_and_an_answer_from_the_future_is_one(project: pytest.Pytester) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = project.path / "answers.yml"
    path.write_text(f"- {{id: '1.1', status: yes, by: alice, at: {later}}}\n"
                    "- {id: '1.3', status: yes, by: alice, at: 2099-01-01T00:00:00Z}\n"
                    "- {id: '1.2', status: yes, by: alice, at: 1970-01-01T00:00:00Z}\n")
    result = project.runpytest("checks/pre", "--answers", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR == 4
    err = result.stderr.str()
    assert f"line 1: the answer for 1.1 is dated {later}, after now" in err
    assert "line 2: the answer for 1.3 is dated 2099-01-01T00:00:00Z, after now" in err
    assert "line 3:" in err and "more than 366 days ago" in err
    assert "Traceback" not in err
    assert not (project.path / "reports").exists()


def test_no_checks_selected_is_5(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--no-prompt", "-k", "no_such_check")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED == 5


def test_too_many_warnings_is_6_when_the_checks_pass(project: pytest.Pytester) -> None:
    project.makeconftest("import warnings\n\n"
                         "def pytest_runtest_call(item):\n"
                         "    warnings.warn(UserWarning('a noisy plugin'))\n")
    result = project.runpytest("checks/pre", "--answers", answers(project), "--max-warnings", "0")
    assert (result.ret, verdict(project)) == (pytest.ExitCode.MAX_WARNINGS_ERROR, "PASSED")


def test_an_internal_error_is_3(project: pytest.Pytester) -> None:
    project.makeconftest("def pytest_runtestloop(session):\n"
                         "    raise RuntimeError('a bug in a plugin')\n")
    result = project.runpytest("checks/pre", "--no-prompt")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR == 3


def test_ctrl_c_during_the_checks_is_2_and_the_evidence_says_incomplete(
        project: pytest.Pytester, tmp_path: Path) -> None:
    started = tmp_path / "sleeping"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "checks/pre", "--no-prompt"], cwd=project.path,
        env={**os.environ, "EXIT_TEST_SLEEP": str(started)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED == 2, out
    assert verdict(project) == "INCOMPLETE"
    doc = json.loads(next((project.path / "reports").rglob("pre.json")).read_text())
    assert doc["selection"]["partial"] is True  # never the latest complete run post compares with
    assert "interrupted (Ctrl-C) before every check ran" in doc["selection"]["narrowed_by"]


def test_the_readme_table_is_the_code() -> None:
    """Each status the README's table documents is the one the code gives."""
    section = README.read_text(encoding="utf-8").split("## Exit status", 1)[1].split("\n## ")[0]
    rows = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|", section, re.MULTILINE))
    for name, code in exitcodes.BY_VERDICT.items():
        assert rows[str(code)].startswith(name), (code, rows)
    assert set(rows) == {"0", "1", "2", "3", "4", "5", "6", "10", "11"}
