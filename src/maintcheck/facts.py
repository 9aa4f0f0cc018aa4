"""Host facts: gathered by one probe per host, many hosts at once, cached for the run."""

from __future__ import annotations

import hashlib
import shlex
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from importlib import resources

from maintcheck.errors import CheckError, MissingData
from maintcheck.inventory import Host
from maintcheck.progress import TICK, Probing, Watcher
from maintcheck.runner import Runner

PROBE = resources.files("maintcheck").joinpath("probe.sh").read_text(encoding="utf-8")
PROBE_SHA256 = hashlib.sha256(PROBE.encode()).hexdigest()
PROBE_APPROVAL = f"probe.sh sha256:{PROBE_SHA256}"
MARK = "@@maintcheck "
# The pending-update list needs a simulated upgrade: about a second of CPU per host, ten times
# the rest of the probe, for the two items that read it (4.6, 12.1). It is not part of the first
# probe; the first check that asks for it probes every host for it, all at once.
UPDATE_SECTIONS = frozenset({"apt_simulate", "dnf_security"})
VIRTUAL_FS = frozenset({"proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2",
                        "squashfs", "securityfs", "debugfs", "tracefs", "mqueue", "nsfs",
                        "fusectl", "configfs", "pstore", "bpf", "autofs", "hugetlbfs", "ramfs",
                        "binfmt_misc", "efivarfs", "rpc_pipefs"})


@dataclass(frozen=True)
class Unit:
    """A systemd unit as ``systemctl show`` sees it."""

    name: str
    load_state: str
    active_state: str
    sub_state: str
    result: str
    next_elapse: str
    exec_status: str
    next_elapse_monotonic: str = ""  # a timer on OnBootSec/OnUnitActiveSec: its next run

    @property
    def next_run_known(self) -> bool:
        """A timer with a next elapse on either clock (realtime or monotonic)."""
        return any(v not in ("", "0", "n/a", "infinity")
                   for v in (self.next_elapse, self.next_elapse_monotonic))

    @property
    def is_active(self) -> bool:
        return self.active_state == "active"

    @property
    def exists(self) -> bool:
        return self.load_state not in ("not-found", "")


@dataclass(frozen=True)
class PathInfo:
    """A path's ``stat``: kind, mode, size, mtime, owner; sha256 for readable files."""

    path: str
    exists: bool
    kind: str = ""
    mode: str = ""
    size: int = 0
    mtime: int = 0
    owner: str = ""
    group: str = ""
    sha256: str = ""
    entries: tuple[str, ...] = ()

    @property
    def is_executable(self) -> bool:
        return bool(self.mode) and int(self.mode, 8) & 0o111 != 0


@dataclass(frozen=True)
class Mount:
    mount: str
    fstype: str
    used_percent: int
    inode_percent: int | None


@dataclass(frozen=True)
class BackupSet:
    """Files matching one backup glob: ``files`` are (mtime, size, path), oldest first."""

    glob: str
    files: tuple[tuple[int, int, str], ...]
    newest_sha256: str
    sidecar_sha256: str

    @property
    def newest(self) -> tuple[int, int, str] | None:
        return self.files[-1] if self.files else None


@dataclass(frozen=True)
class Facts:
    """Everything the probe learnt about one host, parsed."""

    host: str
    raw: Mapping[str, str] = field(repr=False)
    # fetches the pending-update sections when the first probe left them out
    updates: Callable[[], Mapping[str, str]] | None = field(default=None, repr=False,
                                                             compare=False)

    def section(self, name: str) -> str:
        """The raw text of one probe section; a missing section is :class:`MissingData`."""
        try:
            return self.raw[name]
        except KeyError:
            raise MissingData(f"{self.host}: the probe gathered no {name!r}") from None

    @property
    def now(self) -> int:
        return int(self.section("now").strip())

    @property
    def systemd(self) -> bool:
        return self.section("pid1").strip() == "systemd"

    @property
    def cpus(self) -> int:
        """Online CPUs: counted from the kernel's list (``online 0-3,6`` is 5), or as given."""
        words = self.section("nproc").split()
        if words[:1] != ["online"]:
            return int(words[0])
        count = 0
        for span in words[1].split(","):
            first, _, last = span.partition("-")
            count += int(last or first) - int(first) + 1
        return count

    @property
    def load5(self) -> float:
        return float(self.section("loadavg").split()[1])

    @property
    def memory_used_percent(self) -> float:
        info = {}
        for line in self.section("meminfo").splitlines():
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0]) if rest.split() else 0
        total = info.get("MemTotal", 0)
        if not total:
            raise MissingData(f"{self.host}: /proc/meminfo has no MemTotal")
        available = info.get("MemAvailable", info.get("MemFree", 0))
        return round(100.0 * (total - available) / total, 1)

    def mounts(self, only: Iterable[str] = ()) -> list[Mount]:
        """Filesystems with their use; by default every local, non-virtual one."""
        inodes = {}
        for line in self.section("dfi").splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 6 and parts[4].rstrip("%").isdigit():
                inodes[parts[5]] = int(parts[4].rstrip("%"))
        wanted = set(only)
        out = []
        for line in self.section("df").splitlines()[1:]:
            parts = line.split()
            if len(parts) < 7 or not parts[5].rstrip("%").isdigit():
                continue
            fstype, mount = parts[1], parts[6]
            if wanted and mount not in wanted:
                continue
            if not wanted and fstype in VIRTUAL_FS:
                continue
            out.append(Mount(mount, fstype, int(parts[5].rstrip("%")), inodes.get(mount)))
        missing = wanted - {m.mount for m in out}
        if missing:
            raise MissingData(f"{self.host}: no mounted filesystem at {', '.join(sorted(missing))}")
        return out

    @property
    def listening_ports(self) -> set[int]:
        """TCP ports listened on: from ``ss -tn state listening``, or /proc/net/tcp where ss is missing."""
        ports = set()
        if "listen" in self.raw:
            for line in self.raw["listen"].splitlines():
                parts = line.split()  # 0 128 0.0.0.0:22 0.0.0.0:* (state listening: no State)
                port = parts[2].rpartition(":")[2] if len(parts) > 2 else ""
                if parts[0].isdigit() and port.isdigit():
                    ports.add(int(port))
            return ports
        for line in self.section("tcp").splitlines():
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A" and ":" in parts[1]:
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        return ports

    def unit(self, name: str) -> Unit:
        """A declared unit; ``.service`` is implied as systemctl implies it."""
        units = self.units
        full = name if "." in name else f"{name}.service"
        if full not in units:
            raise MissingData(f"{self.host}: unit {name} was not probed")
        return units[full]

    @property
    def units(self) -> dict[str, Unit]:
        out = {}
        for block in self.raw.get("units", "").split("\n\n"):
            props = dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)
            if "Id" in props:
                out[props["Id"]] = Unit(props["Id"], props.get("LoadState", ""),
                                        props.get("ActiveState", ""), props.get("SubState", ""),
                                        props.get("Result", ""),
                                        props.get("NextElapseUSecRealtime", ""),
                                        props.get("ExecMainStatus", ""),
                                        props.get("NextElapseUSecMonotonic", ""))
        return out

    @property
    def failed_units(self) -> list[str]:
        return [line.split()[0] for line in self.section("failed_units").splitlines()
                if line.strip() and not line.startswith("0 ")]

    @property
    def processes(self) -> set[str]:
        return {line.strip() for line in self.raw.get("processes", "").splitlines()}

    @property
    def packages(self) -> dict[str, str]:
        """Installed packages and versions (dpkg)."""
        out = {}
        for line in self.section("packages").splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[2].startswith("ii"):
                out[parts[0]] = parts[1]
        return out

    @property
    def security_updates(self) -> list[str]:
        """Pending security updates, ``pkg (new version)``, from a simulated upgrade."""
        raw = self.raw
        if not UPDATE_SECTIONS & raw.keys() and self.updates is not None:
            raw = self.updates()
        if "apt_simulate" in raw:
            return sorted(
                f"{line.split()[1]} ({line.split('(')[1].split()[0]})"
                for line in raw["apt_simulate"].splitlines()
                if line.startswith("Inst ") and "(" in line and "ecurity" in line)
        if "dnf_security" in raw:
            return sorted(line.split()[-1] for line in raw["dnf_security"].splitlines()
                          if line.strip())
        raise MissingData(f"{self.host}: no package manager to ask for security updates")

    @property
    def package_lists_age_days(self) -> float:
        """Age of the newest package list (apt's Release files)."""
        stamps = [int(x) for x in self.section("apt_lists").split() if x.isdigit()]
        if not stamps:
            raise MissingData(f"{self.host}: no apt package lists to date the update list by")
        return round((self.now - max(stamps)) / 86400, 2)

    def path(self, path: str) -> PathInfo:
        text = self.section(f"path {path}")
        lines = text.splitlines()
        if not lines:
            return PathInfo(path, exists=False)
        kind, mode, size, mtime, owner, group = (lines[0].split("|") + [""] * 6)[:6]
        rest = lines[1:]
        sha = rest[0] if rest and len(rest[0]) == 64 and kind == "regular file" else ""
        entries = tuple(rest) if kind == "directory" else ()
        return PathInfo(path, True, kind, mode, int(size or 0), int(mtime or 0), owner, group,
                        sha, entries)

    def content(self, path: str) -> str | None:
        text = self.section(f"content {path}")
        return text if text else None

    def syntax(self, path: str) -> tuple[bool, str]:
        """Whether ``sh -n`` accepted a script, and what it said."""
        text = self.section(f"syntax {path}")
        if "exit=" not in text:
            return False, "not a file"
        body, _, status = text.rpartition("exit=")
        return status.strip() == "0", body.strip()

    def backups(self, glob: str) -> BackupSet:
        files, newest_sha, sidecar = [], "", ""
        for line in self.section(f"glob {glob}").splitlines():
            if line.startswith("newest_sha256="):
                newest_sha = line.split("=", 1)[1]
            elif line.startswith("sidecar="):
                sidecar = line.split("=", 1)[1]
            elif line.count("|") >= 2:
                mtime, size, name = line.split("|", 2)
                files.append((int(mtime), int(size), name))
        return BackupSet(glob, tuple(sorted(files)), newest_sha, sidecar)

    def user(self, name: str) -> tuple[bool, set[str]]:
        """Whether an account exists, and its groups."""
        text = self.section(f"user {name}")
        groups = next((line[7:].split() for line in text.splitlines()
                       if line.startswith("groups=")), [])
        return bool(text.strip()), set(groups)

    def sudoers_check(self, path: str) -> tuple[bool, str]:
        """Whether ``visudo -c -f path`` accepts the file, and what it said."""
        text = self.section(f"sudoers {path}")
        if "exit=" not in text:
            raise MissingData(f"{self.host}: visudo is not installed, so {path} cannot be parsed")
        said, _, status = text.rpartition("exit=")
        return status.strip() == "0", " ".join(said.split())

    def sudo_rules(self, user: str) -> tuple[bool, list[str], str]:
        """What ``sudo -l -U user`` lists: (could be read, rule lines, what sudo said)."""
        text = self.section(f"sudo_list {user}")
        if "exit=" not in text:
            raise MissingData(f"{self.host}: sudo is not installed")
        said, _, _ = text.rpartition("exit=")
        lines = said.splitlines()
        if not any(" may run the following" in line or "is not allowed to run sudo" in line
                   for line in lines):
            return False, [], " ".join(said.split())
        start = next((i for i, line in enumerate(lines) if " may run the following" in line),
                     len(lines))
        rules = [line.strip() for line in lines[start + 1:] if line.strip()]
        return True, rules, " ".join(said.split())

    def resolves(self, name: str) -> set[str]:
        return {line.strip() for line in self.section(f"dns {name}").splitlines() if line.strip()}

    def reaches(self, endpoint: str) -> bool:
        return self.section(f"connect {endpoint}").strip() == "open"

    @property
    def firewall(self) -> str:
        return self.section("firewall")

    @property
    def newest_log_age_seconds(self) -> int | None:
        stamps = [float(x) for x in (self.raw.get("journal_last", "").split()
                                     + self.raw.get("syslog_mtime", "").split())
                  if x.replace(".", "", 1).isdigit()]
        return int(self.now - max(stamps)) if stamps else None


def probe_header(host: Host, *, updates: bool = False) -> dict[str, list[str] | str]:
    """What the probe must look at on this host, from the host's expectations."""
    e = host.expect
    units = [*e.services, *e.stopped_services, *e.security_units, *e.timers]
    units += [u for u in (e.log_shipper, e.backup_unit) if u]
    paths = [e.status_file, *e.rollback_scripts, *e.temp_paths]
    paths += [p for p in (e.maintenance_mode, e.sudoers_file) if p]
    if e.command_guard.startswith("/"):
        paths.append(e.command_guard)
    paths += [c["path"] for c in e.config_files]
    return {
        "UNITS": unique(units),
        "PATHS": unique(paths),
        "CONTENTS": unique([c["path"] for c in e.config_files if c.get("contains")]),
        "SYNTAX": unique(e.rollback_scripts),
        "GLOBS": unique([b["glob"] for b in e.backups]),
        "USERS": unique([e.maintenance_user] if e.maintenance_user else []),
        "SUDOERS": unique([e.sudoers_file] if e.sudoers_file else []),
        "SUDO_USERS": unique([e.maintenance_user] if e.maintenance_user and e.sudoers_file
                             else []),
        "NAMES": unique(list(e.dns)),
        "CONNECT": unique(e.dependencies),
        "SECURITY_UPDATES": "yes" if updates else "no",
        "FIREWALL": "yes" if e.firewall_rules else "no",
        "LOGS": "yes" if e.log_shipper else "no",
    }


def updates_header(host: Host) -> dict[str, list[str] | str]:
    """The probe's input for the pending-update list alone: every other list empty."""
    header: dict[str, list[str] | str] = {
        name: [] if isinstance(value, list) else "no" for name, value in probe_header(host).items()}
    header["SECURITY_UPDATES"] = "yes"
    return header


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def render_probe(header: Mapping[str, list[str] | str]) -> str:
    """The probe script with its variables: newline-separated lists, shell-quoted."""
    lines = []
    for name, value in header.items():
        text = "\n".join(value) if isinstance(value, list) else value
        lines.append(f"{name}={shlex.quote(text)}")
    return "\n".join(lines) + "\n" + PROBE


def parse(host: str, output: str) -> Facts:
    """Split probe output into its sections; a probe cut short is :class:`MissingData`."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(MARK):
            current = sections.setdefault(line[len(MARK):], [])
        elif current is not None:
            current.append(line)
    if "end" not in sections:
        raise MissingData(f"{host}: the probe's output was cut short")
    return Facts(host, {k: "\n".join(v).strip("\n") for k, v in sections.items()})


def gather_one(host: Host, runner: Runner, timeout: float, *, updates: bool = False) -> Facts:
    """Run the probe on one host and parse it (``updates``: only the pending-update list)."""
    header = updates_header(host) if updates else probe_header(host)
    result = runner.run(["sh", "-s"], stdin=render_probe(header), timeout=timeout,
                        approved=PROBE_APPROVAL)
    return parse(host.name, result.stdout)


@dataclass
class FactCache:
    """Facts of every host, gathered together on first use; a host's failure is kept too."""

    hosts: list[Host]
    runners: Mapping[str, Runner]
    timeout: float
    concurrency: int = 32
    results: dict[str, Facts | CheckError] = field(default_factory=dict)
    update_results: dict[str, Facts | CheckError] = field(default_factory=dict)
    probing: Probing = field(default_factory=Probing, repr=False)
    watcher: Watcher | None = None  # ticked while the main thread waits for probes
    _early: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        """Start gathering every host's facts in the background, while pytest collects.

        Every other method first waits for it; the gathering is bounded by the connect and
        command timeouts, so that wait is too.
        """
        if self._early is None and self.hosts:
            self._early = threading.Thread(target=self.gather, args=(list(self.hosts),),
                                           name="maintcheck-facts", daemon=True)
            self._early.start()

    def settle(self) -> None:
        early, self._early = self._early, None
        if early is not None:
            def gathered() -> bool:
                early.join(TICK)
                return not early.is_alive()

            self._await(gathered)

    def get(self, host: Host) -> Facts:
        self.settle()
        if host.name not in self.results:
            self.gather([h for h in self.hosts if h.name not in self.results] or [host])
        return self._found(self.results[host.name])

    def gather(self, hosts: list[Host], *, updates: bool = False) -> None:
        def one(host: Host) -> tuple[str, Facts | CheckError]:
            self.probing.started(host.name)
            try:
                found = gather_one(host, self.runners[host.name], self.timeout, updates=updates)
            except CheckError as exc:
                self.probing.finished(host.name, ok=False)
                return host.name, exc
            self.probing.finished(host.name, ok=True)
            return host.name, found if updates else replace(
                found, updates=partial(self.updates_of, host))

        self.probing.begin((h.name for h in hosts), "pending updates" if updates else "hosts")
        workers = max(1, min(self.concurrency, len(hosts)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, host) for host in hosts]
            self._await(lambda: not wait(futures, timeout=TICK).not_done)
            (self.update_results if updates else self.results).update(
                f.result() for f in futures)

    def _await(self, ready: Callable[[], bool]) -> None:
        """Wait until ``ready()`` (each call waits at most a tick); the main thread ticks the
        watcher meanwhile. The probes are bounded by their timeouts, so the wait is too."""
        watcher = self.watcher if threading.current_thread() is threading.main_thread() else None
        try:
            while not ready():
                if watcher is not None:
                    watcher.tick(self.probing)
        finally:
            if watcher is not None:
                watcher.done(self.probing)

    def updates_of(self, host: Host) -> Mapping[str, str]:
        """A host's pending-update sections; the first call probes every reachable host."""
        self.settle()
        if host.name not in self.update_results:
            reachable = [h for h in self.hosts if isinstance(self.results.get(h.name), Facts)
                         and h.name not in self.update_results]
            self.gather(reachable or [host], updates=True)
        return self._found(self.update_results[host.name]).raw

    def forget(self, name: str) -> None:
        """Drop what is known of a host, so that the next check probes it afresh."""
        self.settle()
        self.results.pop(name, None)
        self.update_results.pop(name, None)

    @staticmethod
    def _found(result: Facts | CheckError) -> Facts:
        if isinstance(result, CheckError):
            raise type(result)(str(result))
        return result

    @property
    def unreachable(self) -> dict[str, str]:
        self.settle()
        return {name: str(r) for name, r in self.results.items() if isinstance(r, CheckError)}

