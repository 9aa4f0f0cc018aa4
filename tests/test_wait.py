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


def project(pytester: pytest.Pytester, appear_after: float, host_vars: str = "") -> None:
    flag = pytester.path / "flag"
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nmaintcheck_inventory = "hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    (pytester.path / "checks" / "post").mkdir(parents=True)
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG)
    (pytester.path / "hosts.yml").write_text(
        f"all:\n  hosts:\n    h1:\n      ansible_connection: local\n"
        f"      maintcheck_change: W-1\n      maintcheck_status_file: {flag}\n"
        f"      maintcheck_temp_paths: [/]\n{host_vars}")
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
    with open(expect.status_file + ".calls", "a") as calls:
        calls.write("x")
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


def test_inventory_wait_applies_to_its_item_only(pytester: pytest.Pytester) -> None:
    """maintcheck_wait gives 7.1 time to converge; 7.2, not listed and with no --wait, is
    FAILED at its first look and never re-run."""
    project(pytester, appear_after=3, host_vars='      maintcheck_wait: {"7.1": 30s}\n')
    pytester.runpytest_subprocess("checks/post", "--no-prompt")
    doc = json.loads((pytester.path / "reports" / "W-1" / "post.json").read_text())
    items = {i["id"]: i for i in doc["items"]}
    assert items["7.1"]["state"] == "passed"
    assert 3 <= items["7.1"]["outcomes"][0]["observed"]["converged_after_seconds"] <= 30
    assert items["7.2"]["state"] == "failed"
    assert "converged_after_seconds" not in items["7.2"]["outcomes"][0].get("observed", {})
    assert (pytester.path / "flag.calls").read_text() == "x"  # run once


def test_a_check_passing_at_once_converged_at_zero(pytester: pytest.Pytester) -> None:
    project(pytester, appear_after=0, host_vars='      maintcheck_wait: {"7.1": 30s}\n')
    (pytester.path / "flag").touch()
    pytester.runpytest_subprocess("checks/post", "--no-prompt")
    doc = json.loads((pytester.path / "reports" / "W-1" / "post.json").read_text())
    first = next(i for i in doc["items"] if i["id"] == "7.1")["outcomes"][0]
    assert first["outcome"] == "passed" and first["observed"]["converged_after_seconds"] == 0


def test_bad_inventory_waits_are_one_usage_error_with_their_lines(
        pytester: pytest.Pytester) -> None:
    project(pytester, appear_after=0, host_vars=(
        '      maintcheck_wait:\n        "7.1": soon\n        seven: 5m\n        "7.3": 5m\n'
        '        "9.9": 5m\n        "1.1": 5m\n'))
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG + """\
  - number: 1
    title: Planning
    phase: pre
    items:
      - {id: "1.1", title: "Backups", kind: automated}
""")
    result = pytester.runpytest("checks/post", "--no-prompt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "hosts.yml:9: maintcheck_wait: 7.1: 'soon' is not a duration" in err, err
    assert "hosts.yml:9: maintcheck_wait: 'seven' is not a checklist item id" in err, err
    # the catalog's verdicts come once the durations are right
    (pytester.path / "hosts.yml").write_text((pytester.path / "hosts.yml").read_text().replace(
        "soon", "1m").replace("        seven: 5m\n", ""))
    result = pytester.runpytest("checks/post", "--no-prompt")
    err = result.stderr.str()
    assert "hosts.yml:9: maintcheck_wait: 7.3 is a manual item" in err, err
    assert "hosts.yml:9: maintcheck_wait: 9.9 is not in" in err, err
    assert "hosts.yml:9: maintcheck_wait: 1.1 is checked before the window" in err, err


def test_junit_tells_the_same_story(pytester: pytest.Pytester) -> None:
    """One testcase per check with its last outcome; retries are properties, not failures; and
    no warning about record_property under xunit2."""
    import xml.etree.ElementTree as ET

    project(pytester, appear_after=2)
    (pytester.path / "checks" / "post" / "test_w.py").write_text(
        (pytester.path / "checks" / "post" / "test_w.py").read_text().replace(
            "def test_flag_appears(facts, expect):",
            "def test_flag_appears(facts, expect, record_property):\n"
            "    record_property('looked_at', expect.status_file)"))
    result = pytester.runpytest_subprocess("checks/post", "--no-prompt", "--wait", "8s",
                                           "-W", "error::pytest.PytestWarning")
    assert "PytestWarning" not in result.stdout.str() + result.stderr.str()
    assert "warning" not in result.stdout.lines[-1]
    suite = ET.parse(pytester.path / "reports" / "W-1" / "post.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert len(suite.findall("testcase")) == 3 == len(cases)
    assert suite.get("tests") == "3" and suite.get("failures") == "1"  # 7.2 never passes
    props = {name: {p.get("name"): p.get("value") for p in case.iter("property")}
             for name, case in cases.items()}
    flag = props["test_flag_appears[h1]"]
    assert flag["outcome"] == "passed" and cases["test_flag_appears[h1]"].find("failure") is None
    assert int(flag["attempts"]) >= 2 and set(flag["earlier_attempts"].split(", ")) == {"failure"}
    assert flag["looked_at"].endswith("flag")
    assert props["test_root_is_empty[h1]"]["outcome"] == "failed"
    assert props["test_asked"]["outcome"] == "pending"
