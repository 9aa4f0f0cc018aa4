"""A team's own variables and read-only commands: declared beside its catalog, held to the
shipped rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from maintcheck import inventory, team
from maintcheck.errors import InputError, NotReadOnly
from maintcheck.redact import Redactor
from maintcheck.runner import CommandRunner, check_read_only

pytest_plugins = ["pytester"]

VARIABLES = """\
variables:
  - name: ntp_required
    type: bool
    default: true
    meaning: "The clock must be synchronised by NTP."
    items: ["2.7"]
  - {name: ntp_servers, type: "list[str]", meaning: "Servers chrony must use."}
"""
COMMANDS = """\
commands:
  - program: timedatectl
    verbs: [show, status]
    reason: "2.7 reads NTPSynchronized"
  - {program: uptime, reason: "how long the host has been up"}
"""


@pytest.fixture
def checks(tmp_path: Path) -> Path:
    folder = tmp_path / "checks"
    folder.mkdir()
    (folder / "variables.yml").write_text(VARIABLES)
    (folder / "commands.yml").write_text(COMMANDS)
    return folder


def test_declared_variables_are_validated_and_defaulted(checks: Path, tmp_path: Path) -> None:
    declared = team.load(checks)
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    a: {ansible_connection: local}\n"
        "    b: {ansible_connection: local, maintcheck_ntp_required: false}\n")
    hosts = inventory.load(tmp_path / "hosts.yml", declared.variables).hosts
    assert [h.expect.ntp_required for h in hosts] == [True, False]
    assert hosts[0].expect.ntp_servers == []
    (tmp_path / "bad.yml").write_text(
        "all:\n  hosts:\n    a:\n      ansible_connection: local\n"
        "      maintcheck_ntp_required: sometimes\n      maintcheck_ntp_server: [x]\n")
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "bad.yml", declared.variables)
    assert err.value.problems == [
        (f"{tmp_path}/bad.yml:5: maintcheck_ntp_required must be true or false, got str "
        "'sometimes'"),
        (f"{tmp_path}/bad.yml:6: unknown variable maintcheck_ntp_server; did you mean "
        "maintcheck_ntp_servers?")]
    with pytest.raises(InputError):  # without the team's file, it is unknown
        inventory.load(tmp_path / "hosts.yml")


def test_a_bad_declaration_is_every_problem_with_its_line(checks: Path) -> None:
    (checks / "variables.yml").write_text(
        "variables:\n  - {name: disk_max_percent, type: int, meaning: x}\n"
        "  - {name: Bad-Name, type: int, meaning: x}\n"
        "  - {name: level, type: number, meaning: x}\n"
        "  - {name: limit, type: int, default: high, meaning: x}\n")
    (checks / "commands.yml").write_text(
        "commands:\n  - {program: bash, reason: x}\n  - {program: systemctl, reason: x}\n"
        "  - {program: timedatectl, verbs: [show, set-ntp], reason: x}\n"
        "  - {program: 'ls; rm', reason: x}\n  - {program: chronyc}\n")
    with pytest.raises(InputError) as err:
        team.load(checks)
    v, c = checks / "variables.yml", checks / "commands.yml"
    assert err.value.problems == [
        f"{v}:2: maintcheck_disk_max_percent is maintcheck's own variable; choose another name",
        (f"{v}:3: name `Bad-Name` must be lower-case letters, digits and _ (it is read as "
        "maintcheck_<name>)"),
        (f"{v}:4: maintcheck_level: type must be one of str, int, float, bool, list[str], "
        "list[int], dict[str,str], dict, got `number`"),
        f"{v}:5: maintcheck_limit: the default must be an integer, got str 'high'",
        (f"{c}:2: bash runs anything, or writes whatever its arguments: it cannot be declared "
        "read-only"),
        (f"{c}:3: systemctl is on maintcheck's own allowlist already, with its own rules; "
        "declare only other programs"),
        f"{c}:4: timedatectl: set-ntp would write; only reading verbs can be declared",
        f"{c}:5: program `ls; rm` must be a program's name or path",
        f"{c}:6: chronyc: say why a check needs it (`reason:`)",
    ]


@pytest.mark.parametrize(("argv", "why"), [
    (["timedatectl", "set-ntp", "false"], "is not a verb the team declared (show, status"),
    (["timedatectl", "show", "--set-ntp"], "`set` is a write verb"),
    (["timedatectl", "show", "-p", "NTP;reboot"], "shell metacharacters"),
    (["chronyc", "tracking"], "is not on the read-only allowlist (nor declared"),
    (["uptime", "--delete"], "`delete` is a write verb"),
])
def test_declared_commands_are_still_refused_when_they_could_write(
        checks: Path, argv: list[str], why: str) -> None:
    with pytest.raises(NotReadOnly) as err:
        check_read_only(argv, team.load(checks))
    assert why in str(err.value)


def test_a_declared_command_runs_and_the_audit_marks_it_the_teams(checks: Path) -> None:
    runner = CommandRunner("local", None, redactor=Redactor(), team=team.load(checks))
    assert runner.run(["uptime"]).succeeded
    assert runner.run(["id", "-u"]).succeeded
    team_entry, own_entry = runner.audit.entries
    assert team_entry["command"] == "uptime"
    assert team_entry["allowlist"] == f"team: {checks}/commands.yml:5"
    assert "allowlist" not in own_entry  # maintcheck's own allowlist: unmarked, as before
    with pytest.raises(NotReadOnly):
        CommandRunner("local", None, redactor=Redactor()).run(["uptime"])


def test_maintcheck_vars_lists_the_teams_variables_and_commands(checks: Path) -> None:
    listed = subprocess.run([sys.executable, "-m", "maintcheck.cli", "vars", "--checks",
                             str(checks)], capture_output=True, text=True, timeout=60,
                            check=True).stdout
    assert "maintcheck_disk_max_percent  int  default 90" in listed
    assert (f"the team's, from {checks}/variables.yml (2):\n  maintcheck_ntp_required  bool  "
            "default true  items 2.7: The clock must be synchronised by NTP.\n") in listed
    assert "  timedatectl show|status: 2.7 reads NTPSynchronized\n" in listed


TEAM_CHECK = '''
import pytest

@pytest.mark.checklist("1.1")
def test_uptime_is_read_with_the_teams_command(target, runner, expect):
    shown = runner.run(["uptime"])
    assert shown.succeeded == expect.uptime_readable, f"{target}: uptime {shown.stderr}"
'''


@pytest.fixture
def project(pytester: pytest.Pytester, checks: Path) -> pytest.Pytester:
    pytester.makeini("[pytest]\nstrict = true\nmaintcheck_inventory = hosts.yml\n"
                     "addopts = -p no:cacheprovider --import-mode=importlib\n")
    folder = pytester.path / "checks"
    (folder / "pre").mkdir(parents=True)
    (folder / "checklist.yml").write_text(
        "title: T\nsections:\n  - number: 1\n    title: One\n    phase: pre\n    items:\n"
        "      - {id: '1.1', title: Uptime readable, kind: automated}\n")
    (folder / "variables.yml").write_text(
        "variables:\n  - {name: uptime_readable, type: bool, default: true, meaning: x}\n")
    (folder / "commands.yml").write_text((checks / "commands.yml").read_text())
    (folder / "pre" / "test_team.py").write_text(TEAM_CHECK)
    (pytester.path / "hosts.yml").write_text(
        "all:\n  vars: {maintcheck_change: CHG-1}\n"
        "  hosts:\n    a: {ansible_connection: local}\n"
        "    b: {ansible_connection: local, maintcheck_uptime_readable: false}\n")
    return pytester


def test_a_team_check_reads_its_variable_and_runs_its_command(project: pytest.Pytester) -> None:
    result = project.runpytest("checks/pre", "-v", "--no-prompt")
    result.stdout.fnmatch_lines(["*test_uptime_is_read_with_the_teams_command?a? PASSED*",
                                 "*test_uptime_is_read_with_the_teams_command?b? FAILED*"])

    doc = json.loads((project.path / "reports" / "CHG-1" / "pre.json").read_text())
    sent = [e for e in doc["audit"]["a"] if e["command"] == "uptime"]
    assert [e["allowlist"] for e in sent] == ["team: checks/commands.yml:5"]


def test_a_bad_team_file_stops_the_run_with_its_line(project: pytest.Pytester) -> None:
    (project.path / "checks" / "commands.yml").write_text("commands:\n  - {program: sh}\n")
    result = project.runpytest("checks/pre", "--no-prompt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*checks/commands.yml:2: sh runs anything*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
