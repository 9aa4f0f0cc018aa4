"""--wait: failing checks are re-run until they pass, and the time to converge is recorded."""

from __future__ import annotations

import json
import time

import pytest

pytest_plugins = ["pytester"]

CATALOG = """
sections:
  - number: 7
    title: System Verification
    phase: post
    items:
      - {id: "7.1", title: "File appears", kind: automated}
      - {id: "7.2", title: "Never", kind: automated}
      - {id: "7.3", title: "Asked", kind: manual}
"""


def project(pytester: pytest.Pytester, appear_after: float) -> None:
    flag = pytester.path / "flag"
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nmaintcheck_inventory = "hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    (pytester.path / "checks" / "post").mkdir(parents=True)
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG)
    (pytester.path / "hosts.yml").write_text(
        f"all:\n  hosts:\n    h1:\n      ansible_connection: local\n"
        f"      maintcheck_change: W-1\n      maintcheck_status_file: {flag}\n"
        f"      maintcheck_temp_paths: [/]\n")
    (pytester.path / "checks" / "post" / "test_w.py").write_text(f'''
import os, time
import pytest
START = time.time()

@pytest.mark.checklist("7.1")
def test_flag_appears(facts, expect):
    if time.time() - START > {appear_after} and not os.path.exists(expect.status_file):
        open(expect.status_file, "w").close()   # the "service" comes back
    assert facts.path(expect.status_file).exists, "not yet"

@pytest.mark.checklist("7.2")
def test_root_is_empty(facts, expect, assess):
    assert assess.not_empty(facts, expect.temp_paths) == []

@pytest.mark.checklist("7.3")
@pytest.mark.manual
def test_asked():
    """Asked once?"""
''')


def test_wait_converges_and_records_time(pytester: pytest.Pytester) -> None:
    project(pytester, appear_after=3)
    started = time.monotonic()
    result = pytester.runpytest_subprocess("checks/post", "--no-prompt", "--wait", "12s")
    elapsed = time.monotonic() - started
    doc = json.loads((pytester.path / "reports" / "W-1" / "post.json").read_text())
    items = {i["id"]: i for i in doc["items"]}
    assert items["7.1"]["state"] == "passed"
    converged = items["7.1"]["outcomes"][0]["observed"]["converged_after_seconds"]
    assert 3 <= converged <= 12  # the file appears after 3 s; the deadline is 12 s
    # the one that never passes is FAILED with its last observation, at the deadline
    assert items["7.2"]["state"] == "failed" and "expected empty" in items["7.2"]["outcomes"][0][
        "message"]
    assert 11 <= elapsed < 40
    assert items["7.3"]["state"] == "pending"  # manual items are never re-asked or re-run
    result.stdout.fnmatch_lines(["*1 failed*"])


def test_wait_is_refused_for_pre_and_bad_durations(pytester: pytest.Pytester) -> None:
    project(pytester, appear_after=0)
    result = pytester.runpytest("checks/post", "--wait", "soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "'soon' is not a duration" in result.stderr.str()
