"""The fleet: boot every host of a :class:`FleetSpec`, hand them out, tear them all down.

>>> with Fleet(DEMO) as fleet:
...     fleet.host("web-01").exec("systemctl is-active nginx")
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from . import cgroups, image, network, observe, pki
from .host import Host, HostError, Preboot, bounded_wait
from .inventory import write_inventory
from .roles import roles_of
from .spec import APP_NAME, DEMO, DEMO_SLOT, TEST_SLOTS, Addressing, FleetSpec, HostSpec
from .state import (
    RUN_DIR,
    WORKDIR_MARKER,
    RunState,
    SlotLock,
    alive,
    cleanup,
    remove_cgroup_tree,
)

WORK_ROOT = Path("/var/lib/maintcheck-fleet")
T = TypeVar("T")


class FleetError(RuntimeError):
    """The fleet could not be brought up."""


def _log(msg: str) -> None:
    print(f"fleet: {msg}", file=sys.stderr, flush=True)


class Fleet:
    """A set of booted hosts in one slot (own bridge, subnet, state file and workdir)."""

    def __init__(self, spec: FleetSpec = DEMO, *, slot: int | None = None,
                 workdir: Path | None = None, persistent: bool = False,
                 verbose: bool = True, keep_on_error: bool = False) -> None:
        problems = spec.problems()
        if problems:
            raise FleetError("; ".join(problems))
        self.spec = spec
        self.slot = slot
        self.persistent = persistent
        self.verbose = verbose
        self.keep_on_error = keep_on_error
        self._workdir = workdir
        self._lock: SlotLock | None = None
        self.state: RunState | None = None
        self.hosts: dict[str, Host] = {}
        self.host_keys: dict[str, pki.SshKey] = {}
        self.boot_seconds: float | None = None
        self._cg_slot: list[Path] = []
        self.ca: pki.TestCA
        self.client_key: pki.SshKey

    # --- paths -------------------------------------------------------------------------------

    @property
    def addr(self) -> Addressing:
        assert self.slot is not None, "fleet has no slot before up()"
        return Addressing(self.slot)

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            name = "demo" if self.slot == DEMO_SLOT else f"slot-{self.slot}"
            self._workdir = WORK_ROOT / name
        return self._workdir

    @property
    def ssh_key_path(self) -> Path:
        return self.workdir / "ssh" / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.workdir / "ssh" / "known_hosts"

    @property
    def ca_path(self) -> Path:
        return self.workdir / "pki" / "ca.pem"

    @property
    def inventory_path(self) -> Path:
        return self.workdir / "inventory" / "hosts.yml"

    def ssh_argv(self) -> list[str]:
        """The ssh command line that reaches fleet hosts with host keys checked."""
        opts = {
            "IdentitiesOnly": "yes", "UserKnownHostsFile": str(self.known_hosts_path),
            "GlobalKnownHostsFile": "/dev/null", "StrictHostKeyChecking": "yes",
            "BatchMode": "yes", "ConnectTimeout": "5", "ServerAliveInterval": "5",
            "ServerAliveCountMax": "2", "LogLevel": "ERROR",
        }
        argv = ["ssh", "-F", "/dev/null", "-i", str(self.ssh_key_path)]
        for k, v in opts.items():
            argv += ["-o", f"{k}={v}"]
        return argv

    # --- lookup ------------------------------------------------------------------------------

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def by_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts.values() if role in h.roles]

    def issue_cert(self, host: Host, names: Iterable[str] | None = None, *,
                   not_before: dt.datetime | None = None, not_after: dt.datetime | None = None
                   ) -> pki.Issued:
        """A TLS certificate for ``host`` from the fleet CA (its names and IP by default)."""
        ips = [host.ip] if names is None else []
        names = list(names or [host.fqdn, host.name, APP_NAME])
        return self.ca.issue(names, ips, not_before=not_before, not_after=not_after)

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.up()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()

    def _parallel(self, fn: Callable[[Host], T], hosts: Iterable[Host] | None = None
                  ) -> list[T]:
        todo = list(self.hosts.values() if hosts is None else hosts)
        if not todo:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            return list(pool.map(fn, todo))

    def _claim_slot(self) -> None:
        slots = [self.slot] if self.slot is not None else list(TEST_SLOTS)
        for slot in slots:
            lock = SlotLock(slot)
            # An explicit slot (the demo) waits for a concurrent up/down; test slots do not.
            if lock.try_acquire(timeout=60 if self.slot is not None else 0):
                state = RunState(slot)
                if state.exists and state.data.get("persistent") and self.slot is None:
                    lock.release()  # someone's demo fleet: leave it alone
                    continue
                self.slot, self._lock, self.state = slot, lock, state
                return
        raise FleetError(f"no free fleet slot among {slots} (see {RUN_DIR})")

    def clean_leftovers(self) -> None:
        """Remove whatever a crashed run left in this slot."""
        assert self.state is not None
        if self.state.exists:
            for line in cleanup(self.state):
                self._say(f"leftover: {line}")

    def _say(self, msg: str) -> None:
        if self.verbose:
            _log(msg)

    def up(self) -> Fleet:
        """Boot every host and wait until the whole fleet is healthy."""
        self._claim_slot()
        assert self.state is not None
        try:
            self.clean_leftovers()
            base = image.ensure_image(quiet=not self.verbose)
            t0 = time.monotonic()
            self.state.reset(workdir=str(self.workdir), persistent=self.persistent,
                             bridge=self.addr.bridge, image=str(base))
            if not self.persistent:
                atexit.register(self.down)
            self._boot(base)
            self.boot_seconds = time.monotonic() - t0
            self._say(f"{len(self.hosts)} hosts up in {self.boot_seconds:.1f} s "
                      f"(slot {self.slot}, {self.addr.network}); inventory: "
                      f"{self.inventory_path}")
        except BaseException:
            if self.keep_on_error:
                self._say(f"kept for inspection after an error: `python -m fleet down "
                          f"--slot {self.slot}` removes it")
                if self._lock is not None:
                    self._lock.release()
            else:
                self.down()
            raise
        if self.persistent and self._lock is not None:
            self._lock.release()
        return self

    def _boot(self, base: Path) -> None:
        problem = inotify_problem(len(self.spec.hosts))
        if problem:
            raise FleetError(problem)
        self._lay_out(base)
        self._say("preparing hosts")
        self._parallel(self._prepare)
        self._say("booting hosts")
        self._launch()
        states = self._parallel(lambda h: h.wait_booted(timeout=120))
        degraded = [h for h, s in zip(self.hosts.values(), states, strict=True) if s != "running"]
        if degraded:
            raise FleetError("degraded after boot: " + "; ".join(
                f"{h.name}: {h.exec('systemctl --failed --no-legend', check=False).stdout}"
                for h in degraded))
        self._say("running role steps")
        self._run_steps(list(self.hosts.values()))
        self._parallel(self._check_ssh)
        self.wait_healthy(timeout=60)
        write_inventory(self)

    def _lay_out(self, base: Path) -> None:
        """Everything before booting: workdir, keys, hosts, known_hosts, cgroups, bridge."""
        assert self.state is not None
        if self.workdir.exists():
            if any(self.workdir.iterdir()) and not (self.workdir / WORKDIR_MARKER).exists():
                raise FleetError(f"{self.workdir} is not empty and not a fleet workdir")
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        (self.workdir / WORKDIR_MARKER).write_text("")
        self.ca = pki.TestCA.create(self.workdir / "pki")
        self.client_key = pki.ssh_keypair("maintcheck-fleet")
        self.ssh_key_path.parent.mkdir(mode=0o700)
        self.ssh_key_path.write_bytes(self.client_key.private)
        self.ssh_key_path.chmod(0o600)
        self.ssh_key_path.with_suffix(".pub").write_text(self.client_key.public + "\n")
        for i, hs in enumerate(self.spec.hosts):
            self.hosts[hs.name] = self._new_host(i, hs, base)
            self.host_keys[hs.name] = pki.ssh_keypair(f"root@{hs.name}")
        self._write_known_hosts()
        for h in self.hosts.values():
            h.ssh_argv = self.ssh_argv()
        self._cg_slot = cgroups.slot_dirs(self.addr.slot)
        for cg in self._cg_slot:
            self.state.record("cgroups", str(cg))
        network.create_bridge(self.addr, self.state)

    def _launch(self) -> None:
        """Start every host and plug it into the bridge."""
        assert self.state is not None
        # Launchers are started from this thread: their parent-death signal follows it.
        for h in self.hosts.values():
            h.start(self._host_cgroups(h), cgroups.mode())
        for h in self.hosts.values():
            network.attach_host(self.addr, self.state, h.name, h.ip, h.find_pid1())
            h.veth = self.addr.veth(h.name)

    def _new_host(self, index: int, hs: HostSpec, base: Path) -> Host:
        assert self.state is not None
        return Host(hs, self.addr.host_ip(index), self.workdir / "hosts" / hs.name, base,
                    self.state, data_mib=self.spec.data_mount_mib, persistent=self.persistent)

    def _prepare(self, h: Host) -> None:
        plan = Preboot()
        for role in roles_of(h):
            for prepare in role.prepare:
                prepare(plan, h, self)
        h.preboot(plan)

    def _run_steps(self, hosts: list[Host]) -> None:
        phases = sorted({s.phase for h in hosts for r in roles_of(h) for s in r.steps})
        for phase in phases:
            def run(h: Host, phase: int = phase) -> None:
                for role in roles_of(h):
                    for step in role.steps:
                        if step.phase == phase:
                            try:
                                step.run(h, self)
                            except Exception as e:
                                raise FleetError(f"{h.name}: step {step.name!r}: {e}") from e
            self._parallel(run, hosts)

    def _check_ssh(self, h: Host) -> None:
        bounded_wait(f"ssh to {h.name}", lambda: h.ssh("true", check=False).returncode == 0,
                     timeout=30)

    def _host_cgroups(self, h: Host) -> list[Path]:
        return [cg / h.name for cg in self._cg_slot]

    def _write_known_hosts(self) -> None:
        lines = []
        for name, h in self.hosts.items():
            keytype, blob = self.host_keys[name].public.split()[:2]
            lines.append(f"{h.name},{h.fqdn},{h.ip} {keytype} {blob}")
        self.known_hosts_path.write_text("\n".join(lines) + "\n")

    def health_problems(self) -> list[str]:
        """What is unhealthy right now, fleet-wide; empty when all is well."""
        problems = []
        for h in self.hosts.values():
            if not h.is_alive:
                problems.append(f"{h.name}: not running")
                continue
            state = h.exec(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state != "running":
                problems.append(f"{h.name}: system {state}")
        for lb in self.by_role("lb"):
            seen = observe.haproxy_status(lb) if lb.is_alive else {}
            problems += [f"{lb.name}: web/{w.name} {seen.get(f'web/{w.name}', 'absent')}"
                         for w in self.by_role("web") if seen.get(f"web/{w.name}") != "UP"]
        for primary in self.by_role("db_primary"):
            seen = observe.replica_states(primary) if primary.is_alive else {}
            problems += [f"{primary.name}: replica {r.name} {seen.get(r.name, 'absent')}"
                         for r in self.by_role("db_replica") if seen.get(r.name) != "streaming"]
        for mon in self.by_role("monitoring"):
            seen = observe.prometheus_targets(mon) if mon.is_alive else {}
            problems += [f"{mon.name}: target {t} {v}" for t, v in seen.items() if v != "up"]
            if len(seen) != len(self.hosts) + 1:
                problems.append(f"{mon.name}: {len(seen)} targets")
            if mon.is_alive and not observe.alertmanagers(mon):
                problems.append(f"{mon.name}: Prometheus has no Alertmanager")
        return problems

    def wait_healthy(self, timeout: float = 120) -> None:
        """Wait (bounded) until :meth:`health_problems` is empty; raise FleetError if not."""
        last: list[str] = []

        def healthy() -> bool:
            try:
                last[:] = self.health_problems()
            except HostError as e:
                last[:] = [str(e)]
            return not last

        try:
            bounded_wait("a healthy fleet", healthy, timeout=timeout, interval=1)
        except HostError as e:
            raise FleetError(f"{e}: {'; '.join(last)}") from e

    def revive(self, name: str) -> Host:
        """Boot a killed host again from its upper layer and rerun its steps."""
        h = self.hosts[name]
        h.kill()
        for cg in self._host_cgroups(h):
            remove_cgroup_tree(cg)
        h.start(self._host_cgroups(h), cgroups.mode())
        assert self.state is not None
        network.attach_host(self.addr, self.state, h.name, h.ip, h.find_pid1())
        h.wait_booted(timeout=120)
        self._run_steps([h])
        self._check_ssh(h)
        return h

    def down(self) -> None:
        """Kill every host and remove everything this fleet created."""
        atexit.unregister(self.down)
        if self.state is not None:
            for line in cleanup(self.state):
                if not line.startswith("killed"):
                    self._say(line)
            self.state = None
        self.hosts.clear()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


INOTIFY_PER_HOST = 7  # measured on a systemd host: 6 (PID 1: 3, dbus, logind, a journal reader)


def inotify_in_use(uid: int = 0) -> int:
    """inotify instances held by ``uid``'s processes (the kernel limits them per uid)."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != uid:
                continue
            count += sum(os.readlink(fd) == "anon_inode:inotify" for fd in (proc / "fd").iterdir())
        except OSError:
            continue  # gone meanwhile, or a kernel thread
    return count


def inotify_problem(hosts: int) -> str | None:
    """Why ``hosts`` more hosts would run out of inotify instances, or None."""
    limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    used, need = inotify_in_use(), hosts * INOTIFY_PER_HOST
    if used + need <= limit:
        return None
    return (f"{hosts} hosts need about {need} inotify instances and root already holds {used} "
            f"of fs.inotify.max_user_instances={limit}; systemd units would fail at random. "
            f"Raise it (sysctl -w fs.inotify.max_user_instances={max(1024, 2 * (used + need))})"
            " or boot fewer hosts")


def down_slot(slot: int) -> list[str]:
    """Tear down whatever runs in ``slot`` (a persistent demo fleet, or leftovers)."""
    lock = SlotLock(slot)
    if not lock.try_acquire(timeout=60):
        raise FleetError(f"slot {slot} is in use by a running process")
    try:
        state = RunState(slot)
        return cleanup(state) if state.exists else []
    finally:
        lock.release()


def status(slot: int) -> dict[str, object]:
    """What the state file of ``slot`` says, with liveness of each recorded process."""
    state = RunState(slot)
    if not state.exists:
        return {}
    hosts = {name: {role: alive(*pid) for role, pid in entry.items()}
             for name, entry in state.data.get("hosts", {}).items()}
    return {**state.data, "alive": hosts}


def preflight() -> list[str]:
    """Why this machine cannot boot a fleet; empty when it can."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not root")
    for tool in ("unshare", "nsenter", "ip", "debootstrap", "chroot", "mount"):
        if shutil.which(tool) is None:
            problems.append(f"`{tool}` not found")
    for ns in ("pid", "mnt", "net", "uts", "ipc", "cgroup"):
        if not Path(f"/proc/self/ns/{ns}").exists():
            problems.append(f"no {ns} namespaces")
    if not problems:
        r = subprocess.run(["unshare", "-n", "-p", "-f", "-m", "-C", "true"], capture_output=True,
                           text=True, timeout=30, check=False)
        if r.returncode:
            problems.append(f"cannot create namespaces: {r.stderr.strip()}")
        if cgroups.mode() == "legacy" and not any(
                "name=systemd" in line for line in Path("/proc/self/cgroup").read_text().split()):
            problems.append("cgroup v1 without a name=systemd hierarchy")
    if "overlay" not in Path("/proc/filesystems").read_text():
        problems.append("no overlay filesystem")
    return problems
