"""maintcheck reaches each host at the address, port, user and jump host Ansible would.

Ansible itself is the reference: ``ansible all -m ping`` runs with a stand-in ``ssh`` first on
PATH that records its argv and fails (exit 255, as an unreachable host), and the destination,
``-o Port=``, ``-o User=`` and ``-o ProxyJump=`` of each call are compared with what maintcheck
resolved for the same inventory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from maintcheck import inventory

ANSIBLE = Path(sys.executable).with_name("ansible")
FAKE_SSH = """#!/bin/sh
{ for a in "$@"; do printf '%s\\0' "$a"; done; printf '\\n'; } >> "$SSH_ARGV_LOG"
exit 255
"""
# kubespray's INI shape: addresses in [all], the older ansible_ssh_* names, a bastion
KUBESPRAY = """\
[all]
node1 ansible_host=10.0.0.1 ip=10.0.0.1
node2 ansible_ssh_host=10.0.0.2 ansible_ssh_port=2222 ansible_ssh_user=core
node3 ansible_host=10.0.0.3 ansible_ssh_host=10.0.0.33 ansible_user=ubuntu
bastion ansible_host=10.0.0.9 ansible_user=ops

[kube_control_plane]
node1

[etcd]
node2
node3

[kube_control_plane:vars]
ansible_ssh_common_args='-o ProxyJump=ops@10.0.0.9'
"""
# ansible-examples' lamp_haproxy: groups of groups, variables in group_vars/ and host_vars/
LAMP = {
    "hosts": "[webservers]\nweb1\nweb2\n\n[dbservers]\ndb1\n\n[lbservers]\nlb1\n\n"
             "[monitoring]\nnagios\n\n[app:children]\nwebservers\ndbservers\n",
    "group_vars/all": "ansible_user: deploy\n",
    "group_vars/webservers": "ansible_port: 2200\n",
    "host_vars/web2.yml": "ansible_host: 192.0.2.12\nansible_port: 2202\n",
    "host_vars/db1": "ansible_host: 192.0.2.20\nansible_user: postgres\n",
    "host_vars/lb1.yaml": "ansible_host: '{{ lb_address }}'\nlb_address: 192.0.2.30\n",
}


def ansible_reaches(source: Path, tmp: Path) -> Counter[tuple[str, int, str | None, str | None]]:
    """(address, port, user, ProxyJump) of every ssh command ansible ran for ``source``."""
    (tmp / "bin").mkdir(exist_ok=True)
    fake = tmp / "bin" / "ssh"
    fake.write_text(FAKE_SSH)
    fake.chmod(0o755)
    log = tmp / "argv"
    log.write_bytes(b"")
    env = {**os.environ, "PATH": f"{tmp / 'bin'}:{os.environ['PATH']}", "SSH_ARGV_LOG": str(log),
           "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_SSH_RETRIES": "0",
           "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"), "ANSIBLE_SSH_CONTROL_PATH_DIR":
           str(tmp / "cp"), "ANSIBLE_NOCOLOR": "1"}
    subprocess.run([str(ANSIBLE), "all", "-i", str(source), "-m", "ping", "-c", "ssh", "-f", "1"],
                   env=env, capture_output=True, text=True, timeout=120, check=False)
    found: Counter[tuple[str, int, str | None, str | None]] = Counter()
    for record in log.read_bytes().split(b"\0\n"):
        argv = [a.decode() for a in record.split(b"\0") if a]
        if not argv:
            continue
        options = {o.split("=", 1)[0]: o.split("=", 1)[1] for o in argv if "=" in o
                   and o.split("=", 1)[0] in ("Port", "User", "ProxyJump")}
        found[(argv[-2], int(options.get("Port", 22)), options.get("User", "").strip('"') or None,
               options.get("ProxyJump"))] += 1
    return found


def maintcheck_reaches(source: Path) -> Counter[tuple[str, int, str | None, str | None]]:
    def jump(args: tuple[str, ...]) -> str | None:
        return next((a.split("=", 1)[1] for a in args if a.startswith("ProxyJump=")), None)

    return Counter((h.address, h.port, h.user, jump(h.ssh_args))
                   for h in inventory.load(source).hosts)


@pytest.mark.skipif(not ANSIBLE.exists(), reason="ansible-core's `ansible` is not installed")
@pytest.mark.parametrize("shape", ["kubespray", "lamp_haproxy"])
def test_each_host_is_reached_where_ansible_reaches_it(tmp_path: Path, shape: str) -> None:
    if shape == "kubespray":
        source = tmp_path / "inventory.ini"
        source.write_text(KUBESPRAY)
    else:
        source = tmp_path / "lamp"
        for name, text in LAMP.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_text(text)
    ansible = ansible_reaches(source, tmp_path)
    assert sum(ansible.values()) == len(inventory.load(source).hosts), ansible
    assert maintcheck_reaches(source) == ansible
