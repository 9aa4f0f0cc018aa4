"""The plugin end to end, in pytester projects with real local and unreachable hosts."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maintcheck import exitcodes, runs

pytest_plugins = ["pytester"]

CATALOG = """
title: Test checklist
sections:
  - number: 1
    title: Planning
    phase: pre
    items:
      - {id: "1.1", title: "Window approved", kind: manual}
      - {id: "1.2", title: "Capacity fine", kind: automated}
      - {id: "1.3", title: "Backups declared", kind: automated}
  - number: 12
    title: Security Updates
    maintenance_type: security
    items:
      - {id: "12.1", title: "Patches identified", kind: automated, phase: pre}
"""

CHECKS = '''
import pytest

@pytest.mark.checklist("1.1")
@pytest.mark.manual
def test_window_approved():
    """Is the window approved?"""

@pytest.mark.checklist("1.2")
def test_capacity(facts, expect, assess):
    assert assess.capacity(facts, expect) == []

@pytest.mark.checklist("1.3")
@pytest.mark.applies_to("backups")
def test_backups(facts, expect, assess):
    assert assess.backups(facts, expect.backups) == []

@pytest.mark.checklist("12.1")
def test_patches(facts):
    assert isinstance(facts.security_updates, list)
'''


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    inv = pytester.path / "inventory"
    inv.mkdir()
    (inv / "hosts.yml").write_text(f"""
all:
  vars:
    maintcheck_change: CHG-1
    maintcheck_known_hosts: {pytester.path}/known_hosts
    maintcheck_connect_timeout: 3
    # this machine runs the project's fleets beside these tests: judge plumbing, not its load
    maintcheck_load_max_per_cpu: 1000
    maintcheck_disk_max_percent: 100
    maintcheck_inode_max_percent: 100
    maintcheck_memory_max_percent: 100
  children:
    web:
      hosts:
        local-a: {{ansible_connection: local}}
        local-b: {{ansible_connection: local}}
    gone:
      hosts:
        dead-01: {{ansible_host: 127.0.0.1, ansible_port: {closed_port()}}}
""")
    return pytester


def without_dead_host(project: pytest.Pytester) -> None:
    """Leave the unreachable host out of the inventory, for a whole run that may pass (a run
    narrowed by --limit is partial and never PASSED)."""
    hosts = project.path / "inventory" / "hosts.yml"
    hosts.write_text(hosts.read_text().split("    gone:")[0])


def evidence(project: pytest.Pytester, phase: str = "pre") -> dict:
    """The evidence of the latest run of ``phase`` (each run has its own files)."""
    latest = runs.latest(project.path / "reports" / "CHG-1", phase)
    assert latest is not None
    return json.loads(latest.read_text())


def outcomes(doc: dict, item: str) -> dict[str, str]:
    entry = next(i for i in doc["items"] if i["id"] == item)
    return {o["host"]: o["outcome"] for o in entry["outcomes"]}


def test_hosts_become_parameters_and_unreachable_is_error(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "-v", "--no-prompt")
    result.stdout.fnmatch_lines([
        "*test_capacity?local-a? PASSED*", "*test_capacity?local-b? PASSED*",
        "*test_capacity?dead-01? ERROR*", "*unreachable: dead-01: *refused*",
    ])
    doc = evidence(project)
    assert outcomes(doc, "1.2") == {"local-a": "passed", "local-b": "passed", "dead-01": "error"}
    cause = next(o["message"] for i in doc["items"] if i["id"] == "1.2" for o in i["outcomes"]
                 if o["host"] == "dead-01")
    assert "dead-01" in cause and "refused" in cause
    assert "dead-01" in doc["unreachable"]
    # one probe per host: the dead host was tried once plus one recorded retry, not per test
    assert [e["attempt"] for e in doc["audit"]["dead-01"]] == [1, 2]


def test_empty_selection_is_not_applicable_with_reason(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "-v", "--no-prompt")
    result.stdout.fnmatch_lines(["*test_backups?n/a? N/A*"])
    doc = evidence(project)
    item = next(i for i in doc["items"] if i["id"] == "1.3")
    assert item["state"] == "not applicable"
    assert "maintcheck_backups" in item["outcomes"][0]["message"]


def test_unselected_maintenance_type_is_not_applicable(project: pytest.Pytester) -> None:
    project.runpytest("checks/pre", "--no-prompt", "--limit", "local-a")
    assert outcomes(evidence(project), "12.1") == {"local-a": "not applicable"}
    project.runpytest("checks/pre", "--no-prompt", "--limit", "local-a",
                      "--maintenance-type", "security")
    assert outcomes(evidence(project), "12.1") == {"local-a": "passed"}


def test_unconfirmed_manual_item_is_pending_and_run_incomplete(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--no-prompt", "--limit", "web")
    result.stdout.fnmatch_lines(["*checklist incomplete: 1 item pending (1.1)*",
                                 "*verdict: INCOMPLETE*"])
    assert result.ret == exitcodes.BY_VERDICT["INCOMPLETE"]
    doc = evidence(project)
    assert doc["verdict"] == "INCOMPLETE" and doc["summary"]["pending_items"] == ["1.1"]


def test_answers_file_confirms_with_who_when_and_note(project: pytest.Pytester) -> None:
    answers = project.path / "answers.yml"
    answers.write_text("answers:\n  - id: '1.1'\n    status: yes\n    by: alice\n"
                       "    note: CAB-42 approved\n    expires: 2099-01-01T00:00:00Z\n")
    without_dead_host(project)
    result = project.runpytest("checks/pre", "--answers", str(answers))
    assert result.ret == 0
    doc = evidence(project)
    confirmation = next(i for i in doc["items"] if i["id"] == "1.1")["confirmation"]
    assert confirmation["by"] == "alice" and confirmation["note"] == "CAB-42 approved"
    assert confirmation["status"] == "yes" and confirmation["at"].endswith("Z")
    assert doc["verdict"] == "PASSED"


def test_a_no_fails_the_item(project: pytest.Pytester) -> None:
    answers = project.path / "answers.yml"
    answers.write_text("- {id: '1.1', status: no, by: bob, note: not approved yet}\n")
    result = project.runpytest("checks/pre", "--limit", "web", "--answers", str(answers))
    result.stdout.fnmatch_lines(["*bob answered no at *: not approved yet*"])
    assert next(i for i in evidence(project)["items"] if i["id"] == "1.1")["state"] == "failed"


def test_expired_or_malformed_answers_are_refused_in_one_message(
        project: pytest.Pytester) -> None:
    answers = project.path / "answers.yml"
    answers.write_text("answers:\n"
                       "  - {id: '1.1', status: yes, by: alice, expires: 2020-01-01T00:00:00Z}\n"
                       "  - {id: '9.9', status: maybe}\n"
                       "  - {id: '1.2', status: yes, by: carol, expires: tomorrow}\n")
    result = project.runpytest("checks/pre", "--answers", str(answers))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "line 2: the answer for 1.1 expired at 2020-01-01T00:00:00Z" in err
    assert "line 3: '9.9' is not a checklist item" in err
    assert "line 3: status must be yes, no or skip" in err
    assert "line 3: missing `by`" in err
    assert "line 4: item 1.2 is automated" in err and "'tomorrow' is not an ISO 8601" in err
    assert "Traceback" not in err + result.stdout.str()


def test_bad_inventory_is_one_message_with_file_and_line(project: pytest.Pytester) -> None:
    group_vars = project.path / "inventory" / "group_vars"
    group_vars.mkdir()
    (group_vars / "web.yml").write_text("maintcheck_disk_max_percnt: 80\n"
                                        "maintcheck_ports: [443, http]\n"
                                        "maintcheck_memory_max_percent: 140\n")
    result = project.runpytest("checks/pre")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "group_vars/web.yml:1" in err and "did you mean maintcheck_disk_max_percent?" in err
    assert "group_vars/web.yml:2" in err and "must be a port number" in err
    assert "must be between 1 and 100, got 140" in err
    assert "Traceback" not in err


def test_bad_window_and_limit_are_usage_errors(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--window", "2026-11-27T03:00Z/2026-11-27T01:00Z",
                               "--limit", "nosuchgroup")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "ends before it starts" in err and "'nosuchgroup' matches no host" in err
    assert "Could not match" not in result.stdout.str() + err  # ansible's warning: ours says it


def test_a_misspelt_maintenance_type_gets_a_suggestion(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--maintenance-type", "securty,xyz")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "--maintenance-type securty: did you mean security?" in err
    assert "--maintenance-type xyz: choose from security,application,infrastructure" in err


def test_evidence_is_deterministic_json(project: pytest.Pytester) -> None:
    project.runpytest("checks/pre", "--no-prompt", "--limit", "web")
    text = (project.path / "reports" / "CHG-1" / "pre.json").read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert doc["inventory"]["sha256"] and doc["started_at"].endswith("Z")
    assert doc["change"]["id"] == "CHG-1" and doc["phase"] == "pre"
    assert [i["id"] for i in doc["items"]] == ["1.1", "1.2", "1.3", "12.1"]


def test_bare_pytest_does_not_run_checks(project: pytest.Pytester) -> None:
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_self.py").write_text("def test_ok():\n    assert True\n")
    result = project.runpytest("tests")
    result.assert_outcomes(passed=1)
    assert not (project.path / "reports").exists()


def read_until(fd: int, needle: bytes, timeout: float = 60.0) -> bytes:
    """Read a pty until ``needle`` shows up, within a bounded time."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def test_prompt_on_a_terminal_records_operator_and_utc_time(project: pytest.Pytester) -> None:
    without_dead_host(project)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "checks/pre", "--operator", "dana"],
        cwd=project.path, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    try:
        assert b"confirmed?" in read_until(leader, b"confirmed?")
        os.write(leader, b"y\n")
        assert b"note" in read_until(leader, b"note")
        os.write(leader, b"checked the CAB calendar\n")
        read_until(leader, b"evidence:")
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        os.close(leader)
    confirmation = next(i for i in evidence(project)["items"] if i["id"] == "1.1")["confirmation"]
    assert confirmation["by"] == "dana" and confirmation["source"] == "prompt"
    assert confirmation["note"] == "checked the CAB calendar"
    assert confirmation["at"].endswith("Z") and confirmation["status"] == "yes"


def test_unsafe_or_missing_signing_keys_are_usage_errors(project: pytest.Pytester,
                                                         tmp_path: Path) -> None:
    from maintcheck import signing

    keys = signing.generate_key(tmp_path / "op.key", common_name="Op", passphrase=None)
    keys.key.chmod(0o644)
    result = project.runpytest("checks/pre", "--sign-key", str(keys.key), "--sign-cert",
                               str(keys.certificate))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "chmod 600" in result.stderr.str() and "Traceback" not in result.stderr.str()
    result = project.runpytest("checks/pre", "--sign-key", str(tmp_path / "nope.key"),
                               "--sign-cert", str(keys.certificate))
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "nope.key" in result.stderr.str()
    assert not (project.path / "reports").exists()  # refused before anything was written


def test_under_xdist_the_evidence_still_has_audit_unreachable_and_baseline(
        project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = project.runpytest_subprocess("checks/pre", "--no-prompt", "-n", "2")
    result.stdout.fnmatch_lines(["*unreachable: dead-01: *refused*"])
    doc = evidence(project)
    assert outcomes(doc, "1.2") == {"local-a": "passed", "local-b": "passed", "dead-01": "error"}
    assert "dead-01" in doc["unreachable"]
    assert all(doc["audit"][h] for h in ("local-a", "local-b", "dead-01"))
    saved = json.loads((project.path / "reports" / "CHG-1" / "baseline.json").read_text())
    assert sorted(saved["hosts"]) == ["local-a", "local-b"]


def test_a_check_asking_for_a_mutating_command_is_an_error_and_nothing_is_sent(
        project: pytest.Pytester, tmp_path: Path) -> None:
    marker = tmp_path / "should-not-exist"
    (project.path / "checks" / "pre" / "test_one.py").write_text(CHECKS + f'''
@pytest.mark.checklist("1.3")
def test_restarts_nginx(runner):
    runner.run(["systemctl", "restart", "nginx"])

@pytest.mark.checklist("1.3")
def test_touches_a_file(runner):
    runner.run(["touch", "{marker}"])
''')
    result = project.runpytest("checks/pre", "-v", "--no-prompt", "--limit", "local-a")
    result.stdout.fnmatch_lines(["*test_restarts_nginx?local-a? ERROR*",
                                 "*test_touches_a_file?local-a? ERROR*"])
    doc = evidence(project)
    messages = {o["test"]: o["message"] for i in doc["items"] if i["id"] == "1.3"
                for o in i["outcomes"] if o["outcome"] == "error"}
    assert "local-a: refused, nothing sent" in messages["test_restarts_nginx"]
    assert "systemctl restart is not a read-only verb" in messages["test_restarts_nginx"]
    assert "'touch' is not on the read-only allowlist" in messages["test_touches_a_file"]
    assert not marker.exists()
    sent = [e["command"] for e in doc["audit"]["local-a"]]
    assert sent and not any("restart" in c or "touch" in c for c in sent), sent


def test_a_bad_signing_key_stops_the_run_before_any_host_is_asked(
        project: pytest.Pytester) -> None:
    """Hosts are probed while pytest collects, but only once options and keys are known good."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        hosts = project.path / "inventory" / "hosts.yml"
        hosts.write_text(hosts.read_text().replace(
            "        dead-01:", f"        watched-01: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n"
                               "        dead-01:"))
        (project.path / "key.pem").write_text("not a key\n")
        (project.path / "key.pem").chmod(0o600)
        (project.path / "cert.pem").write_text("not a certificate\n")
        result = project.runpytest("checks/pre", "--no-prompt", "--sign-key", "key.pem",
                                   "--sign-cert", "cert.pem")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert "cannot sign" in result.stderr.str()
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected: no host was asked


def test_the_inventorys_ssh_arguments_reach_ssh(project: pytest.Pytester) -> None:
    """ansible_ssh_common_args (here a ProxyCommand that fails) is what ssh runs with: the
    unreachable host's cause is the proxy's, not the closed port's."""
    hosts = project.path / "inventory" / "hosts.yml"
    hosts.write_text(hosts.read_text().replace(
        "    gone:\n", "    gone:\n      vars:\n"
                      "        ansible_ssh_common_args: -o ProxyCommand=false\n"))
    result = project.runpytest("checks/pre", "--no-prompt", "--limit", "gone")
    cause = evidence(project)["unreachable"]["dead-01"]
    assert "refused" not in cause and "closed" in cause.lower(), cause
    assert result.ret == exitcodes.BY_VERDICT["ERROR"]


def test_a_bug_in_a_check_is_an_error_with_its_traceback_not_a_finding(
        project: pytest.Pytester) -> None:
    """FAILED says the system is wrong: a check that breaks (here, a misspelt fact) is ERROR,
    named a bug, with pytest's traceback; a finding next to it is its lines, host first."""
    without_dead_host(project)
    (project.path / "checks" / "pre" / "test_bug.py").write_text('''
import pytest

@pytest.mark.checklist("1.3")
def test_misspelt(facts):
    assert facts.no_such_fact == []

@pytest.mark.checklist("1.2")
def test_too_strict(facts, expect):
    assert facts.cpus < 0, f"{facts.host}: {facts.cpus} CPUs, expected fewer than none"
''')
    result = project.runpytest("checks/pre/test_bug.py", "--no-prompt")
    out = result.stdout.str()
    doc = evidence(project)
    assert outcomes(doc, "1.3") == {"local-a": "error", "local-b": "error"}
    assert outcomes(doc, "1.2") == {"local-a": "failed", "local-b": "failed"}
    assert "ERROR 1.3 local-a: a bug in the check, not a finding: AttributeError: " in out
    assert "def test_misspelt(facts):" in out  # the bug keeps its traceback
    assert "FAILED 1.2 local-a: " in out and "CPUs, expected fewer than none" in out
    assert "assert " not in out.split("= FAILURES =")[1].split("= maintcheck =")[0]
    xml = next((project.path / "reports" / "CHG-1").glob("pre*.xml")).read_text()
    assert 'message="local-a: ' in xml and "CPUs, expected fewer than none" in xml


def test_lf_is_refused_for_what_it_cannot_do_and_rerun_failed_named(
        project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "--no-prompt", "--lf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lf: pytest's cache is off*--rerun-failed*"])
    assert not (project.path / "reports").exists()


def test_an_item_of_another_phase_is_a_usage_error_naming_its_phase(
        project: pytest.Pytester) -> None:
    catalog = project.path / "checks" / "checklist.yml"
    catalog.write_text(catalog.read_text().replace(
        '      - {id: "12.1", title: "Patches identified", kind: automated, phase: pre}',
        '      - {id: "12.1", title: "Patches identified", kind: automated, phase: pre}\n'
        '  - number: 7\n    title: Verification\n    phase: post\n    items:\n'
        '      - {id: "7.1", title: "Services up", kind: automated}'))
    (project.path / "checks" / "post").mkdir()
    (project.path / "checks" / "post" / "test_seven.py").write_text(
        'import pytest\n\n@pytest.mark.checklist("7.1")\ndef test_up(facts):\n    pass\n')
    result = project.runpytest("checks/pre", "--no-prompt", "--item", "7.1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([("*--item 7.1: no check of it in this run's pre; it is checked "
                                 "in post (pytest checks/post --item 7.1)*")])
