"""The one runner: read-only by construction, bounded, audited, honest about connections."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest

from maintcheck.errors import CommandTimeout, HostUnreachable, NotReadOnly
from maintcheck.redact import Redactor
from maintcheck.runner import CommandRunner, check_read_only, ssh_cause, ssh_transport

READ_ONLY_PSQL = ["runuser", "-u", "postgres", "--", "env",
                  "PGOPTIONS=-c default_transaction_read_only=on", "psql", "-XAtq", "-c"]


@pytest.mark.parametrize("argv", [
    ["systemctl", "is-active", "nginx"], ["systemctl", "--no-pager", "show", "-p", "MainPID", "x"],
    ["nginx", "-t"], ["sshd", "-t"], ["/usr/sbin/sshd", "-T"],
    ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"], ["apt-get", "-s", "dist-upgrade"],
    ["timeout", "-k", "5", "30", "cat", "/etc/hostname"], ["sudo", "-n", "nft", "list", "ruleset"],
    ["nft", "-s", "list", "ruleset"], ["ss", "-tlnp"], ["date", "-u", "+%s"],
    ["date", "-d", "yesterday", "+%F"], ["hostname", "-f"], ["rpm", "-qa"], ["visudo", "-c"],
    ["journalctl", "-u", "ssh", "--since", "-1h"], ["sort", "-u", "/etc/group"],
    ["curl", "-fsS", "--max-time", "5", "https://localhost/health"],
    [*READ_ONLY_PSQL, "SELECT 1"], [*READ_ONLY_PSQL, "-- why\nWITH x AS (SELECT 1) SELECT * FROM x;"],
])
def test_read_only_commands_pass(argv: list[str]) -> None:
    check_read_only(argv)


@pytest.mark.parametrize(("argv", "why"), [
    (["systemctl", "restart", "nginx"], "not a read-only verb"),
    (["systemctl", "--now", "disable", "nginx"], "not a read-only verb"),
    (["systemctl", "try-reload-or-restart", "nginx"], "not a read-only verb"),
    (["systemctl"], "not a read-only verb"),
    (["rm", "-rf", "/tmp/x"], "not on the read-only allowlist"),
    (["apt-get", "install", "nginx"], "only runs simulated"),
    (["apt-get", "dist-upgrade"], "only runs simulated"),
    (["sh", "-c", "echo hi > /etc/motd"], "not on the read-only allowlist"),
    (["sh", "-s"], "not on the read-only allowlist"),
    (["python3", "-m", "http.server"], "not on the read-only allowlist"),
    (["awk", "BEGIN{system(\"reboot\")}"], "not on the read-only allowlist"),
    (["cat", "/etc/passwd;reboot"], "shell metacharacters"),
    (["find", "/tmp", "-delete"], "changes the host"),
    (["find", "/", "-fprint0", "/etc/x"], "changes the host"),
    (["sudo", "-n", "systemctl", "stop", "ssh"], "not a read-only verb"),
    (["sudo", "-e", "/etc/hosts"], "edits or opens a shell"),
    (["nginx", "-s", "reload"], "test mode"),
    (["nginx"], "test mode"),
    (["/usr/sbin/sshd"], "test mode"),
    (["haproxy", "-f", "/etc/haproxy/haproxy.cfg"], "test mode"),
    (["visudo"], "test mode"),
    (["rpm", "-e", "nginx"], "test mode"),
    (["nft", "add table inet x"], "not a read-only verb"),
    (["nft", "-f", "/tmp/rules"], "not a read-only verb"),
    (["nft", "list", "ruleset", "-f", "/tmp/r"], "changes the host"),
    (["ss", "-tlnK"], "changes the host"),
    (["sort", "-o", "/etc/passwd", "/etc/passwd"], "changes the host"),
    (["sort", "--output=/etc/passwd", "/etc/passwd"], "changes the host"),
    (["date", "-s", "2020-01-01"], "changes the host"),
    (["date", "010100002020"], "sets the clock"),
    (["hostname", "evil"], "renames the host"),
    (["journalctl", "--vacuum-time=1s"], "changes the host"),
    (["journalctl", "--rotate"], "changes the host"),
    (["curl", "--request", "DELETE", "http://am:9093/api/v2/silence/1"], "changes the host"),
    (["curl", "-XPOST", "http://am:9093/api/v2/silences"], "changes the host"),
    (["curl", "--data-binary", "@x", "http://h/"], "changes the host"),
    (["curl", "-o", "/etc/motd", "http://h/"], "changes the host"),
    (["psql", "-c", "SELECT 1"], "runs only under env"),
    ([*READ_ONLY_PSQL, "DROP TABLE orders"], "only SELECT"),
    ([*READ_ONLY_PSQL, "SELECT 1; DROP TABLE orders"], "one statement"),
    ([*READ_ONLY_PSQL, "\\! rm -rf /"], "no meta-command"),
    ([*READ_ONLY_PSQL, "SELECT pg_terminate_backend(42)"], "side effects"),
    ([*READ_ONLY_PSQL, "SELECT pg_wal_replay_pause()"], "side effects"),
    ([*READ_ONLY_PSQL, "SELECT set_config('default_transaction_read_only', 'off', false)"],
     "side effects"),
    ([*READ_ONLY_PSQL, "SELECT * INTO copy FROM orders"], "side effects"),
    (["runuser", "-u", "postgres", "--", "env", "PGOPTIONS=-c default_transaction_read_only=on",
      "psql", "-f", "/tmp/x.sql"], "changes the host"),
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
    with pytest.raises(NotReadOnly, match="local: refused, nothing sent .*'touch' is not on"):
        runner.run(["touch", "/tmp/maintcheck-should-not-exist"])
    assert runner.audit.entries == []
    assert not Path("/tmp/maintcheck-should-not-exist").exists()


def test_a_script_on_stdin_needs_an_approved_probe() -> None:
    runner = local()
    with pytest.raises(NotReadOnly, match="only an approved probe reads a script on stdin"):
        runner.run(["grep", "-c", "x"], stdin="touch /tmp/maintcheck-should-not-exist\n")
    assert runner.audit.entries == []


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


UNKNOWN_KEY = """No ED25519 host key is known for 10.213.13.12 and you have requested strict checking.
Host key verification failed.
"""
CHANGED_KEY = """@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
The fingerprint for the ED25519 key sent by the remote host is
SHA256:b8XlF+Ay0aq2IEktoG/JV3BLK+AfNr6ibFMc3VE7XFQ.
Offending ED25519 key in /tmp/kh:2
  remove with:
  ssh-keygen -f "/tmp/kh" -R "10.213.13.13"
Host key for 10.213.13.13 has changed and you have requested strict checking.
Host key verification failed.
"""


def test_host_key_causes_say_unknown_or_changed_and_what_to_do() -> None:
    """OpenSSH 9.2's own words (captured on the fleet), as the runner reports them."""
    transport = ssh_transport(address="10.213.13.12", port=2222, user="root", identity=None,
                              known_hosts="/etc/mc/known_hosts", connect_timeout=2,
                              control_dir=Path("/tmp"))
    unknown = ssh_cause(UNKNOWN_KEY, transport)
    assert "no host key for 10.213.13.12 is known in /etc/mc/known_hosts (unknown host)" in unknown
    assert "`ssh-keyscan -p 2222 10.213.13.12 >> /etc/mc/known_hosts`" in unknown
    changed = ssh_cause(CHANGED_KEY, transport)
    assert "CHANGED since it was trusted" in changed and "man-in-the-middle" in changed
    assert "SHA256:b8XlF+Ay0aq2IEktoG/JV3BLK+AfNr6ibFMc3VE7XFQ" in changed
    assert "/tmp/kh:2 holds the old one" in changed
    assert "ssh-keygen -f /etc/mc/known_hosts -R HOST" in changed


def test_a_silent_ssh_exit_255_says_the_connection_was_lost() -> None:
    """A peer that dies mid-command: OpenSSH says why only below LogLevel=ERROR."""
    assert ssh_cause("").startswith("connection lost: ssh exited 255 without a message")
    assert ssh_cause("ssh: connect to host h port 22: Connection refused\n") == (
        "ssh: connect to host h port 22: Connection refused")
