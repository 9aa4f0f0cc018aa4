"""One host: boot it, run commands inside it, kill it.

A host is a copy-on-write overlay over the base image, booted by ``boot.sh`` inside fresh
namespaces with systemd as PID 1.  ``Host.exec`` enters those namespaces with ``nsenter``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .cgroups import create as create_cgroup
from .spec import DOMAIN, HostSpec
from .state import RunState, alive, kill_recorded, proc_start

BOOT_SCRIPT = Path(__file__).with_name("boot.sh")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Runs inside the chroot of a not-yet-booted host: writes files and runs commands.
_PREBOOT = r"""
import base64, json, os, shutil, subprocess, sys
plan = json.load(sys.stdin)
for f in plan["files"]:
    path = f["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path) and (f.get("link") or os.path.islink(path)):
        os.remove(path)
    if f.get("link"):
        os.symlink(f["link"], path)
        continue
    with open(path + ".fleet-tmp", "wb") as out:
        out.write(base64.b64decode(f["data"]))
    os.chmod(path + ".fleet-tmp", f["mode"])
    shutil.chown(path + ".fleet-tmp", *f["owner"].split(":"))
    os.replace(path + ".fleet-tmp", path)
for cmd in plan["commands"]:
    r = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode:
        sys.exit("preboot command failed (%d): %s\n%s" % (r.returncode, cmd, r.stdout.decode()))
"""


# Move this shell into each cgroup named before "--", then exec the rest.
_ENTER_CGROUPS = (
    'set -e; while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs"; shift; done; shift; exec "$@"'
)


class HostError(RuntimeError):
    """A host could not be booted, reached or commanded."""


class ExecError(HostError):
    """A command inside a host exited non-zero: carries the CompletedProcess."""

    def __init__(self, host: str, cmd: str, result: subprocess.CompletedProcess[str]):
        self.result = result
        super().__init__(
            f"{host}: `{cmd}` exited {result.returncode}\n"
            f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
        )


def bounded_wait(
    what: str, probe: Callable[[], bool], *, timeout: float, interval: float = 0.5
) -> None:
    """Call ``probe`` until it returns True, at most ``timeout`` seconds; raise HostError."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        if probe():
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise HostError(f"timed out after {timeout:.0f} s waiting for {what}")


class Preboot:
    """Files and commands applied to a host's upper layer before it boots."""

    def __init__(self) -> None:
        self.files: list[dict[str, object]] = []
        self.commands: list[str] = []

    def file(self, path: str, data: str | bytes, mode: int = 0o644, owner: str = "root:root"
             ) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.files.append({"path": path, "data": base64.b64encode(raw).decode(), "mode": mode,
                           "owner": owner})

    def link(self, path: str, target: str) -> None:
        self.files.append({"path": path, "link": target})

    def mask(self, *units: str) -> None:
        for unit in units:
            self.link(f"/etc/systemd/system/{unit}", "/dev/null")

    def run(self, command: str) -> None:
        self.commands.append(command)


class Host:
    """A booted (or bootable) host: ``fleet.host("web-01").exec("systemctl is-active nginx")``."""

    # What boot.sh execs once the root is in place: ``systemd`` or, for bare hosts, ``sshd``.
    init = "systemd"

    def __init__(self, spec: HostSpec, ip: str, hostdir: Path, image: Path, state: RunState,
                 *, data_mib: int = 64, persistent: bool = False) -> None:
        self.spec = spec
        self.ip = ip
        self.dir = hostdir
        self.image = image
        self.state = state
        self.data_mib = data_mib
        self.persistent = persistent
        self.launcher: subprocess.Popen[bytes] | None = None
        self.pid1: int | None = None
        self.veth: str | None = None
        self.ssh_argv: list[str] = []

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.ip} pid1={self.pid1}>"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"

    @property
    def roles(self) -> tuple[str, ...]:
        return self.spec.roles

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    # --- lifecycle ---------------------------------------------------------------------------

    def _layers(self) -> list[str]:
        for sub in ("upper", "work", "merged"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        return [str(self.image), str(self.dir / "upper"), str(self.dir / "work"),
                str(self.dir / "merged")]

    def preboot(self, plan: Preboot, timeout: float = 120) -> None:
        """Apply ``plan`` to the upper layer, in a private mount namespace (nothing leaks)."""
        lower, upper, work, merged = self._layers()
        script = (
            "set -e; mount --make-rprivate /; "
            f"mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work} "
            f"{merged}; exec chroot {merged} /usr/bin/env -i PATH={PATH} HOME=/root "
            f"LANG=C.UTF-8 python3 -c {shlex.quote(_PREBOOT)}"
        )
        payload = json.dumps({"files": plan.files, "commands": plan.commands}).encode()
        r = subprocess.run(["unshare", "-m", "--", "sh", "-c", script], input=payload,
                           capture_output=True, timeout=timeout, check=False)
        if r.returncode:
            raise HostError(f"{self.name}: preboot failed: {r.stderr.decode()[-3000:]}")

    def start(self, cgroups: list[Path], cgroup_mode: str) -> None:
        """Start the launcher: unshare + boot.sh, which ends as systemd (PID 1).

        ``cgroups`` are this host's cgroup in every hierarchy (see cgroups.py); ``cgroup_mode``
        is ``legacy`` or ``unified``, after the real machine's layout.
        """
        args = [*self._layers(), self.name, str(self.data_mib), cgroup_mode, self.init]
        for cg in cgroups:
            self.state.record("cgroups", str(cg))
            create_cgroup(cg)
        # Unless persistent, the host dies with us: setpriv sets a parent-death signal (it
        # follows the *thread* that started us, so start hosts from the main thread), and
        # unshare --kill-child passes it on to PID 1.
        orphan_guard = [] if self.persistent else ["setpriv", "--pdeathsig", "KILL"]
        argv = [
            "sh", "-c", _ENTER_CGROUPS, "launch", *map(str, cgroups), "--", *orphan_guard,
            "unshare", "--kill-child", "--cgroup", "--net", "--pid", "--mount", "--uts", "--ipc",
            "--", "sh", str(BOOT_SCRIPT), *args,
        ]
        with (self.dir / "console.log").open("ab") as console:
            self.launcher = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True, env={"PATH": PATH, "LANG": "C.UTF-8"},
            )
        self.state.record_process(self.name, "launcher", self.launcher.pid)

    def find_pid1(self, timeout: float = 10) -> int:
        """The pid (in our namespace) of the host's PID 1, once unshare has forked it."""
        assert self.launcher is not None
        launcher = self.launcher.pid
        children = Path(f"/proc/{launcher}/task/{launcher}/children")
        found: list[int] = []

        def probe() -> bool:
            if self.launcher is not None and self.launcher.poll() is not None:
                raise HostError(f"{self.name}: launcher exited: {self.console_tail()}")
            with contextlib.suppress(OSError):
                found.extend(int(p) for p in children.read_text().split())
            return bool(found)

        bounded_wait(f"{self.name}'s PID 1", probe, timeout=timeout, interval=0.02)
        self.pid1 = found[0]
        self.state.record_process(self.name, "pid1", self.pid1)
        return self.pid1

    def wait_systemd(self, timeout: float = 60) -> None:
        """Wait until PID 1 has become systemd (boot.sh is done) ."""
        pid1 = self.pid1

        def probe() -> bool:
            if not self.is_alive:
                raise HostError(f"{self.name}: PID 1 died: {self.console_tail()}")
            return Path(f"/proc/{pid1}/comm").read_text().strip() == "systemd"

        bounded_wait(f"{self.name}'s systemd", probe, timeout=timeout, interval=0.05)

    def wait_booted(self, timeout: float = 90) -> str:
        """Wait for ``systemctl is-system-running`` to settle; return running or degraded."""
        self.wait_systemd(timeout)
        seen: list[str] = []

        def probe() -> bool:
            r = self.exec(["systemctl", "is-system-running"], check=False, timeout=10)
            seen.append(r.stdout.strip())
            return seen[-1] in ("running", "degraded")

        bounded_wait(f"{self.name} to finish booting (last: {seen[-1:]})", probe,
                     timeout=timeout, interval=0.25)
        return seen[-1]

    @property
    def is_alive(self) -> bool:
        return self.pid1 is not None and proc_start(self.pid1) is not None

    def kill(self) -> None:
        """SIGKILL PID 1 (ending every process of the host) and the launcher."""
        for role in ("pid1", "launcher"):
            entry = self.state.data.get("hosts", {}).get(self.name, {}).get(role)
            if entry and alive(*entry):
                kill_recorded(*entry)
        if self.launcher is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.launcher.wait(timeout=10)
        self.pid1 = None

    def console_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "console.log").read_bytes()[-n:].decode(errors="replace")
        return ""

    # --- commands ----------------------------------------------------------------------------

    def exec(self, cmd: str | Sequence[str], *, check: bool = True, timeout: float = 60,
             input: str | bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` (a shell string, or argv) inside the host, bounded by ``timeout``.

        >>> host.exec("systemctl is-active ssh").stdout
        'active\\n'
        """
        if not self.is_alive:
            raise HostError(f"{self.name} is not running")
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        shown = cmd if isinstance(cmd, str) else shlex.join(cmd)
        full = [
            "nsenter", "-t", str(self.pid1), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "--",
            "/usr/bin/env", "-i", f"PATH={PATH}", "HOME=/root", "LANG=C.UTF-8", "USER=root",
            "LOGNAME=root", "TERM=dumb",
            # Bounded inside too: killing nsenter would not stop the command it forked.
            "timeout", "-k", "5", str(int(timeout)), *argv,
        ]
        data = input.encode() if isinstance(input, str) else input
        try:
            raw = subprocess.run(full, input=data, capture_output=True, timeout=timeout + 10,
                                 check=False)
        except subprocess.TimeoutExpired as e:
            raise HostError(f"{self.name}: `{shown}` timed out after {timeout} s") from e
        result = subprocess.CompletedProcess(
            raw.args, raw.returncode, raw.stdout.decode(errors="replace"),
            raw.stderr.decode(errors="replace"),
        )
        if check and result.returncode != 0:
            raise ExecError(self.name, shown, result)
        return result

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644,
                   owner: str = "root:root") -> None:
        """Atomically write a file inside the running host."""
        script = ('mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && chmod "$2" "$1.tmp"'
                  ' && chown "$3" "$1.tmp" && mv "$1.tmp" "$1"')
        self.exec(["sh", "-c", script, "write_file", path, f"{mode:o}", owner], input=data)

    def read_file(self, path: str) -> str:
        return self.exec(["cat", path]).stdout

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.exec(["systemctl", *args], check=check)

    def wait_for(self, what: str, cmd: str, *, timeout: float = 60, interval: float = 0.5
                 ) -> None:
        """Run ``cmd`` inside the host until it exits 0, bounded by ``timeout``."""
        bounded_wait(f"{self.name}: {what}",
                     lambda: self.exec(cmd, check=False, timeout=15).returncode == 0,
                     timeout=timeout, interval=interval)

    def wait_port(self, port: int, timeout: float = 60) -> None:
        """Wait until something listens on TCP ``port`` inside the host."""
        self.wait_for(f"port {port}", f"ss -Htln 'sport = :{port}' | grep -q .",
                      timeout=timeout, interval=0.25)

    def ssh(self, cmd: str, *, check: bool = True, timeout: float = 30
            ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` over real ssh with the fleet key and known_hosts (checking on)."""
        argv = [*self.ssh_argv, f"root@{self.ip}", cmd]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise ExecError(self.name, f"ssh {cmd}", r)
        return r
