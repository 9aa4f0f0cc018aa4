"""Findings: facts measured against expectations, as sentences naming expected and found.

Each function returns the list of what is wrong (empty when all is well), so a check reads
``assert findings == []`` and its failure message is the list itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from maintcheck.errors import MissingData
from maintcheck.expectation_fields import BackupSet, ConfigFile
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations

HOUR = 3600


class Findings(list[str]):
    """What is wrong on one host; compares equal to ``[]`` when nothing is."""

    def __init__(self, host: str, found: Iterable[str] = ()) -> None:
        super().__init__(found)
        self.host = host

    def __repr__(self) -> str:
        return f"{self.host}: " + "; ".join(self) if self else f"{self.host}: nothing wrong"


def capacity(facts: Facts, expect: Expectations) -> Findings:
    """Disk, inode, memory and load use above the host's thresholds."""
    found = []
    for mount in facts.mounts(expect.filesystems):
        if mount.used_percent > expect.disk_max_percent:
            found.append(f"disk {mount.mount} {mount.used_percent}% used, expected at most "
                         f"{expect.disk_max_percent}%")
        if mount.inode_percent is not None and mount.inode_percent > expect.inode_max_percent:
            found.append(f"inodes {mount.mount} {mount.inode_percent}% used, expected at most "
                         f"{expect.inode_max_percent}%")
    memory = facts.memory_used_percent
    if memory > expect.memory_max_percent:
        found.append(f"memory {memory}% used, expected at most {expect.memory_max_percent}%")
    per_cpu = round(facts.load5 / max(1, facts.cpus), 2)
    if per_cpu > expect.load_max_per_cpu:
        found.append(f"5-minute load {facts.load5} on {facts.cpus} CPU(s) = {per_cpu} per CPU, "
                     f"expected at most {expect.load_max_per_cpu}")
    return Findings(facts.host, found)


def inactive(facts: Facts, units: Iterable[str]) -> Findings:
    """Declared services that are not running: systemd units, or processes without systemd."""
    if not facts.systemd:
        return Findings(facts.host, [f"{u}: no running process of that name (no systemd), "
                                     "expected one"
                                     for u in units
                                     if u.removesuffix(".service") not in facts.processes])
    return Findings(facts.host, [f"{u}: {facts.unit(u).active_state}/{facts.unit(u).sub_state}, expected active"
            + ("" if facts.unit(u).exists else " (unit not found)")
            for u in units if not facts.unit(u).is_active])


def still_running_or_failed(facts: Facts, units: Iterable[str]) -> Findings:
    """Units meant to be stopped that are still active, or that ended failed."""
    found = []
    for name in units:
        unit = facts.unit(name)
        if unit.is_active or unit.active_state in ("activating", "deactivating", "reloading"):
            found.append(f"{name}: {unit.active_state}, expected stopped for the window")
        elif unit.active_state == "failed" or unit.result not in ("success", ""):
            found.append(f"{name}: ended {unit.active_state} (result {unit.result}), expected a "
                         "clean stop")
    return Findings(facts.host, found)


def backup_run_failed(facts: Facts, name: str) -> Findings:
    """The backup unit when it is missing or its last run did not succeed.

    While a run is in progress systemd has already reset the unit's result to "success", so
    what the last run gave cannot be known: :class:`MissingData` (ERROR), not a pass or a fail.
    """
    unit = facts.unit(name)
    if not unit.exists:
        return Findings(facts.host, [f"backup unit {unit.name} not found, expected one"])
    if unit.active_state == "activating":
        raise MissingData(f"{facts.host}: {unit.name} is running now ({unit.sub_state}): the "
                          "result of its last run is known once this one ends; check again then")
    if unit.result == "success" and unit.active_state in ("inactive", "active"):
        return Findings(facts.host)
    finding = (f"{unit.name} is {unit.active_state} with result {unit.result}, expected its "
               "last run to have succeeded")
    return Findings(facts.host, [finding])


def backups(facts: Facts, sets: Iterable[BackupSet], *, since: int | None = None,
            default_max_age_hours: float = 26.0) -> Findings:
    """Backup sets whose newest file is missing, stale, too small or fails its checksum."""
    found = []
    for spec in sets:
        glob = spec["glob"]
        backup = facts.backups(glob)
        newest = backup.newest
        if newest is None:
            found.append(f"{glob}: no backup file found, expected at least one")
            continue
        mtime, size, path = newest
        age_hours = (facts.now - mtime) / HOUR
        max_age = float(spec.get("max_age_hours", default_max_age_hours))
        if since is not None and mtime < since:
            found.append(f"{path}: written {age_hours:.1f} h ago, before the window started; "
                         "expected a backup taken in the window")
        elif since is None and age_hours > max_age:
            found.append(f"{path}: {age_hours:.1f} h old, expected at most {max_age:g} h")
        if size < int(spec.get("min_bytes", 1)):
            found.append(f"{path}: {size} bytes, expected at least {spec.get('min_bytes', 1)}")
        if backup.sidecar_sha256 and backup.sidecar_sha256 != backup.newest_sha256:
            found.append(f"{path}: sha256 {backup.newest_sha256[:16]}... does not match its "
                         f".sha256 sidecar, expected {backup.sidecar_sha256[:16]}...")
    return Findings(facts.host, found)


def expired_backups(facts: Facts, sets: Iterable[BackupSet]) -> Findings:
    """Files older than their set's retention still in the hot backup path."""
    found = []
    for spec in sets:
        if "retention_days" not in spec:
            continue
        limit = float(spec["retention_days"]) * 24 * HOUR
        old = [path for mtime, _, path in facts.backups(spec["glob"]).files
               if facts.now - mtime > limit]
        if old:
            found.append(f"{spec['glob']}: {len(old)} file(s) older than "
                         f"{spec['retention_days']:g} days left unarchived, expected none: "
                         f"{', '.join(old[:3])}")
    return Findings(facts.host, found)


def paths_missing(facts: Facts, paths: Iterable[str], *, executable: bool = False) -> Findings:
    found = []
    for path in paths:
        info = facts.path(path)
        if not info.exists:
            found.append(f"{path}: absent, expected present")
        elif executable and not info.is_executable:
            found.append(f"{path}: mode {info.mode}, expected executable")
    return Findings(facts.host, found)


def sudo_rules_broken(facts: Facts, user: str, sudoers_file: str,
                      commands: Iterable[str]) -> Findings:
    """The account's sudo rules as sudo itself reads them: the drop-in parses (``visudo -c
    -f``), and ``sudo -l -U`` grants every declared command without a password."""
    if not sudoers_file:
        return Findings(facts.host)
    found = paths_missing(facts, [sudoers_file])
    if found:
        return found
    parses, said = facts.sudoers_check(sudoers_file)
    if not parses:
        found.append(f"{sudoers_file}: visudo -c rejects it ({said}), expected valid sudoers: "
                     "sudo skips its rules")
    readable, rules, said = facts.sudo_rules(user)
    if not readable:
        raise MissingData(f"{facts.host}: could not list the sudo rules of {user}: {said}")
    if not rules:
        found.append(f"{user}: sudo grants no rules ({said}), expected the rules of "
                     f"{sudoers_file}")
    for command in commands:
        if not any(_grants(rule, command) for rule in rules):
            found.append(f"{user}: sudo -l does not grant {command} without a password, "
                         f"expected it granted (sudo lists: {'; '.join(rules) or 'nothing'})")
    return Findings(facts.host, found)


def _grants(rule: str, command: str) -> bool:
    """Whether one ``sudo -l`` rule line lets its user run ``command`` with no password."""
    if "NOPASSWD:" not in rule:
        return False
    listed = rule.rsplit(":", 1)[1].split(",")
    return any(c.strip() == "ALL" or c.split()[:1] == [command] for c in listed)


def scripts_invalid(facts: Facts, scripts: Iterable[str]) -> Findings:
    """Rollback scripts that are absent, not executable or fail ``sh -n``."""
    found = paths_missing(facts, scripts, executable=True)
    for script in scripts:
        ok, said = facts.syntax(script)
        if facts.path(script).exists and not ok:
            found.append(f"{script}: sh -n rejects it, expected valid shell: "
                         f"{said or 'syntax error'}")
    return Findings(facts.host, found)


def config_mismatches(facts: Facts, files: Iterable[ConfigFile]) -> Findings:
    """Configuration files that are absent, have another sha256 or lack a line."""
    return Findings(facts.host, [f for spec in files for f in config_mismatch(facts, spec)])


def config_mismatch(facts: Facts, spec: ConfigFile) -> list[str]:
    path = spec["path"]
    info = facts.path(path)
    if not info.exists:
        return [f"{path}: absent, expected present"]
    found = []
    if spec.get("sha256") and info.sha256 != spec["sha256"]:
        found.append(f"{path}: sha256 {info.sha256[:16]}..., expected {spec['sha256'][:16]}...")
    if spec.get("contains"):
        # whole lines, compared without their leading and trailing blanks (an indented
        # directive is the same directive)
        lines = {line.strip() for line in (facts.content(path) or "").splitlines()}
        missing = [line for line in spec["contains"] if line.strip() not in lines]
        if missing:
            found.append(f"{path}: lacks line(s) {missing}, expected every line of contains")
    return found


def version_key(version: str) -> list[tuple[int, int | str]]:
    """A Debian-ish version as comparable parts: ``1.22.1-9`` < ``1.22.10``."""
    epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    parts: list[tuple[int, int | str]] = [(1, int(epoch) if epoch.isdigit() else 0)]
    for token in re.findall(r"\d+|[A-Za-z]+|~", rest):
        if token == "~":
            parts.append((-1, 0))
        elif token.isdigit():
            parts.append((1, int(token)))
        else:
            parts.append((0, token))
    return parts


def versions_below(facts: Facts, wanted: Mapping[str, str]) -> Findings:
    installed = facts.packages
    found = []
    for name, minimum in wanted.items():
        have = installed.get(name)
        if have is None:
            found.append(f"{name}: not installed, expected >= {minimum}")
        elif version_key(have) < version_key(str(minimum)):
            found.append(f"{name}: {have} installed, expected >= {minimum}")
    return Findings(facts.host, found)


def timers_not_scheduled(facts: Facts, timers: Iterable[str]) -> Findings:
    found = []
    for name in timers:
        unit = facts.unit(name if "." in name else f"{name}.timer")
        if not unit.is_active:
            found.append(f"{name}: {unit.active_state}, expected active")
        elif not unit.next_run_known and unit.sub_state != "running":
            # "running": it fired and its unit runs now; systemd sets the next time afterwards.
            # A timer on OnBootSec/OnUnitActiveSec has its next run on the monotonic clock.
            found.append(f"{name}: active but has no next elapse time (realtime or "
                         "monotonic), expected one")
    return Findings(facts.host, found)


def not_empty(facts: Facts, paths: Iterable[str]) -> Findings:
    found = []
    for path in paths:
        info = facts.path(path)
        if info.exists and (info.kind != "directory" or info.entries):
            what = f"{len(info.entries)}+ entries" if info.kind == "directory" else info.kind
            found.append(f"{path}: {what} left, expected empty or absent")
    return Findings(facts.host, found)


def dns_mismatches(facts: Facts, names: Mapping[str, Iterable[str]]) -> Findings:
    found = []
    for name, addresses in names.items():
        got = facts.resolves(name)
        if got != set(addresses):
            found.append(f"{name} resolves to {sorted(got) or 'nothing'}, expected "
                         f"{sorted(addresses)}")
    return Findings(facts.host, found)
