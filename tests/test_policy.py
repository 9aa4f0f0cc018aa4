"""The read-only policy is one table and one reading of it; the team's rows are the same shape."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from maintcheck import policy, team
from maintcheck.errors import NotReadOnly
from maintcheck.policy import PROGRAMS, WRAPPERS, Program, permit

# The allowlist as it stood before it became a table: the table must keep exactly these.
ALLOWLIST_BEFORE = {
    "cat", "test", "stat", "ls", "find", "sha256sum", "getent", "id", "df", "ss", "uname",
    "systemctl", "journalctl", "dpkg-query", "rpm", "apt-get", "dnf", "nginx", "haproxy",
    "sshd", "nft", "iptables-save", "psql", "true", "hostname", "grep", "head", "tail", "date",
    "sort", "wc", "findmnt", "visudo", "getconf", "nproc", "curl", "pg_isready"}


def test_the_table_holds_the_allowlist_once_each_and_no_interpreter() -> None:
    names = [p.program for p in PROGRAMS]
    assert sorted(names) == sorted(ALLOWLIST_BEFORE)
    assert {w.program for w in WRAPPERS} == {"timeout", "sudo", "env", "runuser"}
    assert not (policy.NEVER - {"sudo", "env"}) & set(names)  # those two are wrappers


def test_the_table_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROGRAMS[0].verbs = ("anything",)  # type: ignore[misc]


@pytest.mark.parametrize("argv", [
    ["/bin/cat", "/etc/hostname"], ["/usr/sbin/sshd", "-T"], ["nginx", "-tq"],
    ["sudo", "-n", "timeout", "5", "env", "A=1", "systemctl", "show", "x"],
    ["date", "-r", "/etc/hostname", "+%s"], ["hostname", "-s"],
])
def test_a_row_allows_what_reads(argv: list[str]) -> None:
    assert permit(argv) is None  # maintcheck's own row: nothing to mark in the audit


@pytest.mark.parametrize(("argv", "why"), [
    (["timeout", "5"], "nothing to run"),
    (["env", "-i", "cat", "/x"], "'-i' is not on the read-only allowlist"),
    (["runuser", "-m", "cat", "/x"], "'-m' is not on the read-only allowlist"),
    (["sudo", "--shell"], "sudo --shell edits or opens a shell"),
    (["hostname", "-F", "/tmp/name"], "renames the host"),
    (["dnf", "upgrade"], r"dnf only runs simulated \(-s\)"),
    # two rules broken: the first in the table's order is the one named
    (["systemctl", "stop", "a;b"], "not a read-only verb"),
    (["nft", "list", "ruleset", "-f", "x;y"], "changes the host"),
])
def test_a_row_refuses_what_writes(argv: list[str], why: str) -> None:
    with pytest.raises(NotReadOnly, match=why):
        permit(argv)


@pytest.fixture
def declared(tmp_path: Path) -> tuple[Program, ...]:
    (tmp_path / "commands.yml").write_text(
        "commands:\n  - {program: /opt/tool/bin/tool, verbs: [info], reason: '1.1 reads it'}\n")
    return team.load(tmp_path).commands


def test_a_teams_row_is_a_row_of_the_same_table(declared: tuple[Program, ...],
                                                 tmp_path: Path) -> None:
    (row,) = declared
    assert isinstance(row, Program)
    assert (row.program, row.verbs, row.reason) == ("/opt/tool/bin/tool", ("info",), "1.1 reads it")
    assert row.origin == f"{tmp_path}/commands.yml:2" and row.write_words
    assert permit(["tool", "info"], declared) is row
    assert permit(["/opt/tool/bin/tool", "info", "--verbose"], declared) is row


def test_a_teams_row_answers_only_to_the_program_declared(declared: tuple[Program, ...]) -> None:
    with pytest.raises(NotReadOnly, match="'tool' is not on the read-only allowlist"):
        permit(["/tmp/elsewhere/tool", "info"], declared)
    with pytest.raises(NotReadOnly, match="is not a verb the team declared"):
        permit(["tool", "dump"], declared)


def test_a_teams_row_never_overrides_a_shipped_one() -> None:
    for program in ("timeout", "runuser", "/usr/sbin/sshd", "/bin/cat"):
        assert policy.is_shipped(program)
    assert not policy.is_shipped("timedatectl")
