"""The inventory cannot attack the controller: on a real sshd, an option smuggled into any
connection value runs nothing here, and is refused with its file and line.

The sshd is OpenSSH's own, started by the test on a loopback port (root only: sshd needs it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from maintcheck import inventory
from maintcheck.errors import HostUnreachable, InputError
from maintcheck.redact import Redactor
from maintcheck.runner import CommandRunner, ssh_transport
from maintcheck.targets import Targets

ROOT = Path(__file__).resolve().parents[1]
SSHD = "/usr/sbin/sshd"
needs_sshd = pytest.mark.skipif(not (os.geteuid() == 0 and Path(SSHD).exists()
                                     and shutil.which("ssh") and shutil.which("sudo")),
                                reason="needs root, OpenSSH's sshd and sudo on this machine")


@dataclass(frozen=True)
class Sshd:
    port: int
    key: Path
    known_hosts: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    base = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)],
                       check=True, capture_output=True)
    (base / "authorized_keys").write_text((base / "client.pub").read_text())
    port = free_port()
    (base / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPidFile none\nLogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config")],
                            stderr=subprocess.DEVNULL)
    host_key = " ".join((base / "host.pub").read_text().split()[:2])
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert time.monotonic() < deadline and proc.poll() is None, "sshd did not start"
        time.sleep(0.05)
    yield Sshd(port, base / "client", base / "known_hosts")
    proc.terminate()
    proc.wait(timeout=10)


def host_yaml(sshd: Sshd, marker: Path, **overrides: object) -> str:
    """One host reached through the loopback sshd as root, with become; ``overrides`` replace
    or add connection variables (None drops one)."""
    values: dict[str, object] = {
        "ansible_host": "127.0.0.1", "ansible_port": sshd.port, "ansible_user": "root",
        "ansible_ssh_private_key_file": str(sshd.key), "ansible_become": True,
        "maintcheck_known_hosts": str(sshd.known_hosts), "maintcheck_connect_timeout": 5,
        "maintcheck_change": "CHG-INJ",
    }
    values.update(overrides)
    lines = [f"      {k}: {json.dumps(v)}" for k, v in values.items() if v is not None]
    return "all:\n  hosts:\n    target:\n" + "\n".join(lines) + "\n"


def payload(marker: Path) -> str:
    return f"-oProxyCommand=touch {marker}"


@needs_sshd
def test_a_host_with_become_is_reached_through_the_real_sshd(sshd: Sshd, tmp_path: Path) -> None:
    """The safe command line (options, ``--``, address, ``sudo -n --``) still works."""
    (tmp_path / "hosts.yml").write_text(host_yaml(sshd, tmp_path / "pwned",
                                                  ansible_become_user="nobody"))
    targets = Targets(inventory.load(tmp_path / "hosts.yml"), None, Redactor())
    try:
        runner = targets.runners["target"]
        argv = runner.inner.transport or []
        assert argv[argv.index("--") + 1:] == ["127.0.0.1", "sudo", "-n", "-u", "nobody", "--"]
        result = runner.run(["id", "-un"])
        assert result.exit_status == 0 and result.stdout.strip() == "nobody", result
    finally:
        targets.close()


# each: the variable overridden, its value, and what the message says
INJECTIONS = [
    ("ansible_host", "PAYLOAD", "ansible_host '-oProxyCommand=touch "),
    ("ansible_host", None, "the host name (used as its address: no ansible_host)"),
    ("ansible_ssh_host", "PAYLOAD", "ansible_ssh_host '-oProxyCommand=touch "),
    ("ansible_user", "PAYLOAD", "ansible_user '-oProxyCommand=touch "),
    ("ansible_port", "PAYLOAD", "ansible_port '-oProxyCommand=touch "),
    ("ansible_ssh_private_key_file", "PAYLOAD", "ansible_ssh_private_key_file '-oProxy"),
    ("ansible_ssh_common_args", "-o 'ProxyJump=PAYLOAD'", "jump host '-oProxyCommand=touch "),
    ("ansible_ssh_common_args", "-J 'PAYLOAD'", "jump host '-oProxyCommand=touch "),
    ("ansible_ssh_extra_args", "-o ProxyJump=ops@x:22,-oLocalCommand=y", "jump host "),
    ("ansible_ssh_extra_args", "-F CONFIG", "ssh -F reads an ssh config"),
    ("ansible_ssh_extra_args", "-o PermitLocalCommand=yes -o 'LocalCommand=touch M'",
     "-o PermitLocalCommand runs a command on this machine"),
    ("ansible_ssh_extra_args", "-o 'KnownHostsCommand=PAYLOAD'", "-o KnownHostsCommand runs"),
    ("ansible_ssh_extra_args", "evil.example", "'evil.example' is not an ssh option"),
    ("ansible_become_user", "root; touch M", "ansible_become_user 'root; touch "),
    ("ansible_become_user", "-oProxyCommand=touch M", "ansible_become_user '-oProxyCommand"),
]


@needs_sshd
@pytest.mark.parametrize(("var", "value", "says"), INJECTIONS,
                         ids=[f"{v}={str(x)[:20]}" for v, x, _ in INJECTIONS])
def test_an_injected_option_is_refused_and_runs_nothing(sshd: Sshd, tmp_path: Path, var: str,
                                                        value: str | None, says: str) -> None:
    """The README's command on the injected inventory: exit 4, one message naming file and
    line, no traceback, and neither this machine nor the host ran the payload."""
    marker = tmp_path / "pwned"
    (tmp_path / "evil.conf").write_text(f"Match exec \"touch {marker}\"\n")
    text = None if value is None else (value.replace("PAYLOAD", payload(marker))
                                       .replace("CONFIG", str(tmp_path / "evil.conf"))
                                       .replace(" M", f" {marker}"))
    name = payload(marker) if value is None else "target"
    source = host_yaml(sshd, marker, **{var: text}).replace("    target:",
                                                             f"    {json.dumps(name)}:")
    (tmp_path / "hosts.yml").write_text(source)
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    line = next(i for i, t in enumerate(source.splitlines(), 1)
                if (var in t if value is not None else "ProxyCommand" in t))
    assert any(p.startswith(f"{tmp_path / 'hosts.yml'}:{line}: ") and says in p
               for p in err.value.problems), err.value.problems
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/pre", "--inventory", str(tmp_path / "hosts.yml"),
         "--no-prompt", "-p", "no:cacheprovider", "-o", f"maintcheck_reports={tmp_path}/r"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 4, result.stdout + result.stderr
    assert says in result.stderr and "Traceback" not in result.stdout + result.stderr
    assert not marker.exists()


@needs_sshd
@pytest.mark.parametrize("field", ["address", "user", "identity"])
def test_past_the_inventory_ssh_still_reads_the_payload_as_data(sshd: Sshd, tmp_path: Path,
                                                                field: str) -> None:
    """Belt and braces: the runner's own command line, given the payload unchecked, with
    become, runs nothing here either (``--`` ends ssh's options)."""
    marker = tmp_path / "pwned"
    values = {"address": "127.0.0.1", "user": "root", "identity": str(sshd.key)}
    values[field] = payload(marker)
    transport = ssh_transport(address=values["address"], port=sshd.port, user=values["user"],
                              identity=values["identity"], known_hosts=str(sshd.known_hosts),
                              connect_timeout=5, control_dir=tmp_path)
    runner = CommandRunner("target", [*transport, "sudo", "-n", "--"], redactor=Redactor(),
                           command_timeout=10, connect_retries=0)
    with pytest.raises(HostUnreachable):  # a bad name, user or key: it cannot log in
        runner.run(["true"])
    assert not marker.exists()


def test_a_host_name_cannot_print_a_verdict_of_its_own(tmp_path: Path) -> None:
    """The README's command: the name is refused, shown escaped, and no line of the output
    is the forged one."""
    (tmp_path / "hosts.yml").write_text(
        'all:\n  hosts:\n    "x\\nverdict: PASSED":\n      ansible_connection: local\n')
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/pre", "--inventory", str(tmp_path / "hosts.yml"),
         "--no-prompt", "-p", "no:cacheprovider", "-o", f"maintcheck_reports={tmp_path}/r"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "host name 'x\\nverdict: PASSED' contains control characters" in output
    assert not any(line.startswith("verdict") for line in output.splitlines()), output
