"""A catalog item without a check is asked, never dropped: a manual item, its title the question."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest
from test_plugin import read_until

pytest_plugins = ["pytester"]

CATALOG = """
title: A team's checklist
sections:
  - number: 1
    title: Planning
    phase: pre
    items:
      - {id: "1.1", title: "Window approved", kind: manual}
      - {id: "1.2", title: "Host is named", kind: automated}
      - {id: "1.3", title: "Vendor engineer on call", kind: manual}
      - {id: "1.4", title: "Runbook printed", kind: automated}
  - number: 7
    title: Verification
    phase: post
    items:
      - {id: "7.1", title: "Users can log in", kind: manual}
  - number: 12
    title: Security Updates
    maintenance_type: security
    items:
      - {id: "12.1", title: "Security team told", kind: manual, phase: pre}
"""

CHECKS = '''
import pytest

@pytest.mark.checklist("1.1")
@pytest.mark.manual
def test_window_approved():
    """Is the window approved?"""

@pytest.mark.checklist("1.2")
def test_host_is_named(target):
    assert target.name
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nstrict = true\n'
        'empty_parameter_set_mark = "fail_at_collect"\n'
        'maintcheck_inventory = "inventory/hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    (pytester.path / "checks" / "pre").mkdir(parents=True)
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG)
    (pytester.path / "checks" / "pre" / "test_one.py").write_text(CHECKS)
    (pytester.path / "inventory").mkdir()
    (pytester.path / "inventory" / "hosts.yml").write_text(
        "all:\n  vars: {maintcheck_change: CHG-1}\n"
        "  hosts:\n    local-a: {ansible_connection: local}\n")
    return pytester


def evidence(project: pytest.Pytester) -> dict:
    return json.loads((project.path / "reports" / "CHG-1" / "pre.json").read_text())


def item(doc: dict, item_id: str) -> dict:
    return next(i for i in doc["items"] if i["id"] == item_id)


def test_an_item_without_a_check_is_pending_and_counted(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "-v", "--no-prompt")
    result.stdout.fnmatch_lines([
        "*checks/checklist.yml::question?1.3? PENDING*",
        "*checks/checklist.yml::question?1.4? PENDING*",
        "*no automated check: 4 of 5 items, asked of the operator (1.1, 1.3, 1.4, 12.1)*",
        "*checklist incomplete: 3 items pending (1.1, 1.3, 1.4)*",
    ])
    doc = evidence(project)
    assert [(o["test"], o["outcome"], o["manual"]) for o in item(doc, "1.3")["outcomes"]] == [
        ("question", "pending", True)]
    assert item(doc, "1.4")["state"] == "pending"  # automated, but no check yet: asked too
    assert item(doc, "12.1")["state"] == "not applicable"  # its type was not selected
    assert "7.1" not in {i["id"] for i in doc["items"]}  # post's question waits for post
    assert doc["summary"]["without_automated_check"] == ["1.1", "1.3", "1.4", "12.1"]
    html = (project.path / "reports" / "CHG-1" / "pre.html").read_text()
    assert "no automated check: 4 items, asked of the operator (1.1, 1.3, 1.4, 12.1)" in html


def test_an_answer_confirms_it_and_a_selected_type_asks_its_own(project: pytest.Pytester
                                                                ) -> None:
    (project.path / "answers.yml").write_text(
        "- {id: '1.1', status: no, by: ada, note: not yet}\n"
        "- {id: '1.3', status: yes, by: ada, note: Bob}\n")
    project.runpytest("checks/pre", "--answers", "answers.yml", "--maintenance-type", "security",
                      "--no-prompt")
    doc = evidence(project)
    assert item(doc, "1.3")["state"] == "passed"
    assert item(doc, "1.3")["confirmation"]["note"] == "Bob"
    assert item(doc, "1.1")["state"] == "failed"
    assert item(doc, "12.1")["state"] == "pending"


def test_a_run_of_one_file_asks_nothing_beyond_it(project: pytest.Pytester) -> None:
    project.runpytest("checks/pre/test_one.py", "--no-prompt")
    assert {i["id"] for i in evidence(project)["items"] if i["outcomes"]} == {"1.1", "1.2"}


def test_the_prompt_asks_the_title(project: pytest.Pytester) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "checks/pre", "--operator", "dana"],
                            cwd=project.path, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    try:
        seen = b""
        for _ in range(3):  # 1.1, then the two items without a check
            seen += read_until(leader, b"confirmed?")
            os.write(leader, b"y\n")
            read_until(leader, b"note")
            os.write(leader, b"\n")
        read_until(leader, b"evidence:")
        proc.wait(timeout=60)
    finally:
        proc.kill()
        os.close(leader)
    assert b"[1.3] Vendor engineer on call -- confirmed?" in seen
    assert item(evidence(project), "1.3")["confirmation"]["by"] == "dana"
