"""A project whose run holds every state the HTML report must show."""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from maintcheck import runs

CHECKLIST = Path(__file__).parents[1] / "checks" / "checklist.yml"
TOKEN = "s3cr3t-t0ken-value"
CI_PASSWORD = "hunter2-in-the-url"
WINDOW = "2026-11-27T01:00:00Z/2026-11-27T03:00:00Z"

PRE_CHECKS = '''
import pytest

@pytest.mark.checklist("1.1")
@pytest.mark.manual
def test_window_approved():
    """Is the maintenance window approved?"""

@pytest.mark.checklist("1.2")
@pytest.mark.manual
def test_change_request_approved():
    """Is the change request approved?"""

@pytest.mark.checklist("2.1")
def test_every_host_is_named(target):
    assert target.name

@pytest.mark.checklist("2.2")
def test_only_local_b_misbehaves(target):
    assert target.name != "local-b", f"{target.name} rejected {target.variables['api_token']}"

@pytest.mark.checklist("2.3")
def test_facts_are_gathered(facts):
    assert facts is not None

@pytest.mark.checklist("2.4")
@pytest.mark.applies_to("backups")
def test_backups(facts, expect, assess):
    assert assess.backups(facts, expect.backups) == []
'''

POST_CHECKS = '''
import pytest

@pytest.mark.checklist("7.1")
def test_services_running(target):
    assert target.name
'''


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_project(root: Path) -> Path:
    """Two local hosts, one unreachable, the real checklist and an answers file."""
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nstrict = true\n'
        'empty_parameter_set_mark = "fail_at_collect"\n'
        'maintcheck_inventory = "inventory/hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    checks = root / "checks"
    for phase, source in (("pre", PRE_CHECKS), ("post", POST_CHECKS)):
        (checks / phase).mkdir(parents=True)
        (checks / phase / f"test_{phase}.py").write_text(source)
    (checks / "checklist.yml").write_text(CHECKLIST.read_text())
    (root / "inventory").mkdir()
    (root / "inventory" / "hosts.yml").write_text(f"""
all:
  vars:
    maintcheck_change: CHG-7
    maintcheck_window: {WINDOW}
    maintcheck_lead: Lee Lead
    maintcheck_known_hosts: {root}/known_hosts
    maintcheck_connect_timeout: 3
  hosts:
    local-a: {{ansible_connection: local}}
    local-b: {{ansible_connection: local, api_token: {TOKEN}}}
    dead-01: {{ansible_host: 127.0.0.1, ansible_port: {closed_port()}}}
""")
    (root / "answers.yml").write_text(
        "answers:\n  - {id: '1.1', status: yes, by: alice, note: CAB-42 approved}\n")
    return root


def run(root: Path, phase: str, *args: str) -> str:
    """Run one phase in a fresh pytest process and return its HTML report."""
    # Jenkins sets GIT_URL; pytest-metadata copies it into the environment table by itself
    # HOME: this machine's own operator key (~/.maintcheck) must not sign these runs
    env = {**os.environ, "GIT_URL": f"https://ci:{CI_PASSWORD}@git.example.org/ops.git",
           "HOME": str(root)}
    before = runs.latest(root / "reports" / "CHG-7", phase)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", f"checks/{phase}", "--answers", "answers.yml",
         "--operator", "dana", "--technical-contact", "Tess Tech", "--business-contact",
         "Bo Biz", "--emergency-contact", "Em +1-555-0100", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
    report = report_path(root, phase)
    assert report.exists() and report.with_suffix(".json") != before, done.stdout + done.stderr
    return report.read_text(encoding="utf-8")


def report_path(root: Path, phase: str) -> Path:
    """The HTML report of the latest run of ``phase`` (each run has its own files)."""
    latest = runs.latest(root / "reports" / "CHG-7", phase)
    return (latest or root / "reports" / "CHG-7" / f"{phase}.json").with_suffix(".html")


def text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def row(page: str, item_id: str) -> str:
    """The text of one item's row in the checklist view."""
    found = re.search(rf'<tr [^>]*data-item="{re.escape(item_id)}">(.*?)</tr>', page, re.DOTALL)
    assert found, f"no checklist row for {item_id}"
    return text(found.group(1))


def blob(page: str) -> dict[str, Any]:
    """pytest-html's data, from which its script draws the tables."""
    found = re.search(r'data-jsonblob="([^"]*)"', page)
    assert found
    return json.loads(html.unescape(found.group(1)))  # type: ignore[no-any-return]
