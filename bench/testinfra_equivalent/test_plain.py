"""The host-level facts of ``pytest checks/pre``, written as plain testinfra tests.

What a team would write without maintcheck: one test per fact, testinfra's ``host`` fixture,
its defaults (OpenSSH, ``ControlMaster=auto`` but no ``ControlPath``: one connection per
command), and the expectations read from the same Ansible inventory. ``bench/run.py`` runs it::

    pytest -p no:maintcheck bench/testinfra_equivalent/test_plain.py \\
        --ansible-inventory INVENTORY --hosts 'ansible://all'

Twenty checks per host, covering what the pre probe gathers for these hosts: capacity (disk,
inodes, memory, load), the backup set and its sidecar, the maintenance account, group and
sudoers, the command guard, rollback and maintenance-mode scripts, package versions, sshd
and the status file.
"""

from __future__ import annotations

import time
from typing import Any

import pytest


@pytest.fixture
def inv(host: Any) -> dict[str, Any]:
    """The host's inventory variables (testinfra reads them with ``ansible-inventory``)."""
    return host.ansible.get_variables()


def df_percent(host: Any, flag: str, mount: str) -> int:
    line = host.check_output(f"df -P {flag} {mount}").splitlines()[-1]
    return int(line.split()[4].rstrip("%"))


def newest_backup(host: Any, inv: dict[str, Any]) -> str:
    glob = inv["maintcheck_backups"][0]["glob"]
    return host.check_output(f"ls -1t {glob}").splitlines()[0]


def test_root_disk_below_threshold(host: Any, inv: dict[str, Any]) -> None:
    assert df_percent(host, "", "/") <= inv.get("maintcheck_disk_max_percent", 90)


def test_data_disk_below_threshold(host: Any, inv: dict[str, Any]) -> None:
    assert df_percent(host, "", "/srv/data") <= inv.get("maintcheck_disk_max_percent", 90)


def test_root_inodes_below_threshold(host: Any, inv: dict[str, Any]) -> None:
    assert df_percent(host, "-i", "/") <= inv.get("maintcheck_inode_max_percent", 90)


def test_memory_below_threshold(host: Any, inv: dict[str, Any]) -> None:
    info = {line.split(":")[0]: int(line.split()[1])
            for line in host.file("/proc/meminfo").content_string.splitlines()}
    used = 100 * (info["MemTotal"] - info["MemAvailable"]) / info["MemTotal"]
    assert used <= inv.get("maintcheck_memory_max_percent", 95)


def test_load_per_cpu_below_threshold(host: Any, inv: dict[str, Any]) -> None:
    load5 = float(host.file("/proc/loadavg").content_string.split()[1])
    cpus = int(host.check_output("getconf _NPROCESSORS_ONLN"))
    assert load5 / cpus <= inv.get("maintcheck_load_max_per_cpu", 2.0)


def test_newest_backup_is_recent(host: Any, inv: dict[str, Any]) -> None:
    newest = host.file(newest_backup(host, inv))
    assert time.time() - newest.mtime.timestamp() <= inv["maintcheck_backups"][0][
        "max_age_hours"] * 3600


def test_newest_backup_is_big_enough(host: Any, inv: dict[str, Any]) -> None:
    assert host.file(newest_backup(host, inv)).size >= inv["maintcheck_backups"][0]["min_bytes"]


def test_newest_backup_matches_its_sidecar(host: Any, inv: dict[str, Any]) -> None:
    newest = newest_backup(host, inv)
    assert host.file(newest).sha256sum == host.file(f"{newest}.sha256").content_string[:64]


def test_maintenance_account_exists(host: Any, inv: dict[str, Any]) -> None:
    assert host.user(inv["maintcheck_maintenance_user"]).exists


def test_maintenance_account_in_group(host: Any, inv: dict[str, Any]) -> None:
    user = host.user(inv["maintcheck_maintenance_user"])
    assert inv["maintcheck_maintenance_group"] in user.groups


def test_sudoers_file_present(host: Any, inv: dict[str, Any]) -> None:
    assert host.file(inv["maintcheck_sudoers_file"]).is_file


def test_command_guard_installed(host: Any, inv: dict[str, Any]) -> None:
    assert host.package(inv["maintcheck_command_guard"]).is_installed


def test_rollback_script_present(host: Any, inv: dict[str, Any]) -> None:
    assert host.file(inv["maintcheck_rollback_scripts"][0]).is_file


def test_rollback_script_executable(host: Any, inv: dict[str, Any]) -> None:
    assert host.file(inv["maintcheck_rollback_scripts"][0]).mode & 0o111


def test_rollback_script_parses(host: Any, inv: dict[str, Any]) -> None:
    assert host.run(f"sh -n {inv['maintcheck_rollback_scripts'][0]}").rc == 0


def test_maintenance_mode_script_present(host: Any, inv: dict[str, Any]) -> None:
    assert host.file(inv["maintcheck_maintenance_mode"]).exists


def at_least(host: Any, name: str, minimum: str) -> bool:
    package = host.package(name)
    return package.is_installed and host.run(
        "dpkg --compare-versions %s ge %s", package.version, minimum).rc == 0


def test_openssh_server_at_least_minimum(host: Any, inv: dict[str, Any]) -> None:
    assert at_least(host, "openssh-server", inv["maintcheck_packages"]["openssh-server"])


def test_sudo_at_least_minimum(host: Any, inv: dict[str, Any]) -> None:
    assert at_least(host, "sudo", inv["maintcheck_packages"]["sudo"])


def test_sshd_listening(host: Any) -> None:
    assert host.socket("tcp://0.0.0.0:22").is_listening


def test_status_file_absent_before_the_window(host: Any, inv: dict[str, Any]) -> None:
    assert not host.file(inv["maintcheck_status_file"]).exists
