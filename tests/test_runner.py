"""The one runner: read-only by construction, bounded, audited, honest about connections."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest

from maintcheck.errors import CommandTimeout, HostUnreachable, NotReadOnly
from maintcheck.redact import Redactor
from maintcheck.runner import CommandRunner, check_read_only, ssh_transport


@pytest.mark.parametrize("argv", [
    ["systemctl", "is-active", "nginx"], ["nginx", "-t"], ["sshd", "-t"],
    ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"], ["apt-get", "-s", "dist-upgrade"],
    ["timeout", "-k", "5", "30", "cat", "/etc/hostname"], ["sudo", "-n", "nft", "list", "ruleset"],
    ["runuser", "-u", "postgres", "--", "psql", "-XAtc", "SELECT 1"],
])
def test_read_only_commands_pass(argv: list[str]) -> None:
    check_read_only(argv)


@pytest.mark.parametrize(("argv", "why"), [
    (["systemctl", "restart", "nginx"], "changes the host"),
    (["rm", "-rf", "/tmp/x"], "not on the read-only allowlist"),
    (["apt-get", "install", "nginx"], "only runs simulated"),
    (["apt-get", "dist-upgrade"], "only runs simulated"),
    (["sh", "-c", "echo hi > /etc/motd"], "inline shell is refused"),
    (["cat", "/etc/passwd;reboot"], "shell metacharacters"),
    (["find", "/tmp", "-delete"], "changes the host"),
    (["sudo", "-n", "systemctl", "stop", "ssh"], "changes the host"),
    (["nginx", "-s", "reload"], "changes the host"),
])
def test_mutating_commands_are_refused_before_sending(argv: list[str], why: str) -> None:
    with pytest.raises(NotReadOnly, match=why):
        check_read_only(argv)


def local() -> CommandRunner:
    return CommandRunner("local", None, redactor=Redactor({"s3cr3t-value"}), command_timeout=5)


def test_every_command_is_audited_with_secrets_masked() -> None:
    runner = local()
    result = runner.run(["grep", "-c", "s3cr3t-value", "/dev/null"])
    assert result.exit_status == 1
    entry = runner.audit.entries[-1]
    assert entry["command"] == "grep -c *** /dev/null" and entry["exit_status"] == 1


def test_a_refused_command_is_never_sent() -> None:
    runner = local()
    with pytest.raises(NotReadOnly):
        runner.run(["touch", "/tmp/maintcheck-should-not-exist"])
    assert runner.audit.entries == []
    assert not Path("/tmp/maintcheck-should-not-exist").exists()


def test_a_hung_command_times_out_on_both_sides() -> None:
    runner = CommandRunner("local", None, redactor=Redactor(), command_timeout=1)
    with pytest.raises(CommandTimeout, match="ran past 1s"):
        runner.run(["timeout", "20", "tail", "-f", "/dev/null"])


def test_ssh_refusal_is_unreachable_retried_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = ssh_transport(address="127.0.0.1", port=port, user="root", identity=None,
                              known_hosts="/dev/null", connect_timeout=2,
                              control_dir=Path(tempfile.mkdtemp()))
    runner = CommandRunner("dead", transport, redactor=Redactor(), command_timeout=5)
    with pytest.raises(HostUnreachable, match="dead: .*refused"):
        runner.run(["true"])
    assert [e["attempt"] for e in runner.audit.entries] == [1, 2]
    assert all(e["outcome"] == "connection failed" for e in runner.audit.entries)


def test_hanging_sshd_is_bounded_by_connect_timeout() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)  # accepts TCP, never speaks SSH
        transport = ssh_transport(address="127.0.0.1", port=server.getsockname()[1], user="root",
                                  identity=None, known_hosts="/dev/null", connect_timeout=2,
                                  control_dir=Path(tempfile.mkdtemp()))
        runner = CommandRunner("hung", transport, redactor=Redactor(), command_timeout=5,
                               connect_retries=0)
        with pytest.raises(HostUnreachable, match="hung: .*(timed out|banner)"):
            runner.run(["true"])
