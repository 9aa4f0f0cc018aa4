"""A small checklist project for pytester runs: two manual items (1.3 skippable), two automated
checks, two local hosts, an answers file confirming both manual items, and Ada's signing key."""

from __future__ import annotations

import pytest

from maintcheck.signing import generate_key

CATALOG = """
title: Exit status checklist
sections:
  - number: 1
    title: Planning
    phase: pre
    items:
      - {id: "1.1", title: "Window approved", kind: manual}
      - {id: "1.2", title: "Hosts named", kind: automated}
      - {id: "1.3", title: "Migration scripts validated", kind: manual, skippable: true}
      - {id: "1.4", title: "Host is healthy", kind: automated}
"""

CHECKS = '''
import os
import time
import pytest

@pytest.mark.checklist("1.1")
@pytest.mark.manual
def test_window_approved():
    """Is the window approved?"""

@pytest.mark.checklist("1.2")
def test_hosts_named(target):
    assert target.name

@pytest.mark.checklist("1.3")
@pytest.mark.manual
def test_migrations_validated():
    """Were the migration scripts validated?"""

@pytest.mark.checklist("1.4")
def test_host_healthy(facts, target):
    flag = os.environ.get("EXIT_TEST_SLEEP")
    if flag:
        open(flag, "w").close()
        time.sleep(60)
    assert target.name != os.environ.get("EXIT_TEST_BROKEN"), f"{target.name} is broken"
'''


def make(pytester: pytest.Pytester, change: str) -> pytest.Pytester:
    """The project in ``pytester``'s folder, for change ``change``."""
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nstrict = true\n'
        'empty_parameter_set_mark = "fail_at_collect"\n'
        'maintcheck_inventory = "inventory/hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    (pytester.path / "checks" / "pre").mkdir(parents=True)
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG)
    (pytester.path / "checks" / "pre" / "test_pre.py").write_text(CHECKS)
    (pytester.path / "inventory").mkdir()
    (pytester.path / "inventory" / "hosts.yml").write_text(f"""
all:
  vars:
    maintcheck_change: {change}
    maintcheck_known_hosts: {pytester.path}/known_hosts
    maintcheck_connect_timeout: 3
  children:
    web:
      hosts:
        local-a: {{ansible_connection: local}}
        local-b: {{ansible_connection: local}}
""")
    (pytester.path / "answers.yml").write_text(
        "- {id: '1.1', status: yes, by: alice, note: CAB-1}\n"
        "- {id: '1.3', status: yes, by: alice, note: checked in staging}\n")
    keys = generate_key(pytester.path / "ada.key", common_name="Ada Operator", passphrase=None)
    assert keys.certificate is not None
    return pytester
