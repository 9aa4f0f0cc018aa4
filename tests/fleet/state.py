"""What a fleet run created, on disk, so that a crashed run can be cleaned up by the next one.

Every resource is recorded *before* it is created.  Cleanup kills only recorded pids whose start
time still matches, so a reused pid is never killed, and never looks processes up by name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

RUN_DIR = Path("/run/maintcheck-fleet")
CGROUP_ROOT_NAME = "maintcheck-fleet"
WORKDIR_MARKER = ".maintcheck-fleet-workdir"


def proc_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int, start: int | None) -> bool:
    """Whether the process recorded as ``(pid, start)`` still runs."""
    return start is not None and proc_start(pid) == start


def kill_recorded(pid: int, start: int | None, timeout: float = 10.0) -> bool:
    """SIGKILL a recorded process if it is still the same one; True once it is gone."""
    if not alive(pid, start):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.02) + 1):
        if not alive(pid, start) or time.monotonic() > deadline:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    return not alive(pid, start)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path``, deepest first."""
    found = []
    prefix = str(path).rstrip("/") + "/"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(path) or point.startswith(prefix):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_cgroup_tree(path: Path, timeout: float = 10.0) -> bool:
    """rmdir a cgroup directory and its children, bottom-up; True when it is gone."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        if not path.exists():
            return True
        dirs = sorted((p for p in path.rglob("*") if p.is_dir()),
                      key=lambda p: len(p.parts), reverse=True)
        for d in [*dirs, path]:
            with contextlib.suppress(OSError):
                d.rmdir()
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return not path.exists()


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def delete_link(name: str) -> None:
    if link_exists(name):
        subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


class SlotLock:
    """An exclusive ``flock`` on one slot: ``SlotLock(0).try_acquire()``."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self._fd: int | None = None

    def try_acquire(self, timeout: float = 0.0) -> bool:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(RUN_DIR / f"slot-{self.slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.2) + 1):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
                continue
            self._fd = fd
            return True
        os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


class RunState:
    """The state file of one slot: ``/run/maintcheck-fleet/slot-N.json``."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.path = RUN_DIR / f"slot-{slot}.json"
        self.data: dict[str, Any] = {}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.data = {"corrupt": True}

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def reset(self, **fields: Any) -> None:
        self.data = {"slot": self.slot, "owner": os.getpid(), "hosts": {}, "links": [],
                     "cgroups": [], **fields}
        self.save()

    def save(self) -> None:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    def record(self, key: str, value: str) -> None:
        """Append ``value`` to the list ``key`` (links, cgroups) before creating it."""
        if value not in self.data.setdefault(key, []):
            self.data[key].append(value)
            self.save()

    def record_process(self, host: str, role: str, pid: int) -> None:
        """Record a process we started: ``role`` is ``launcher`` or ``pid1``."""
        entry = self.data.setdefault("hosts", {}).setdefault(host, {})
        entry[role] = [pid, proc_start(pid)]
        self.save()

    def processes(self) -> list[tuple[str, int, int | None]]:
        out = []
        for host, entry in self.data.get("hosts", {}).items():
            for role in ("pid1", "launcher", *(r for r in entry if r not in ("pid1", "launcher"))):
                if role in entry:
                    pid, start = entry[role]
                    out.append((f"{host}/{role}", pid, start))
        return out


def cleanup(state: RunState) -> list[str]:
    """Undo everything ``state`` records, in reverse order of creation; return what was done."""
    done: list[str] = []
    for label, pid, start in state.processes():
        if alive(pid, start):
            ok = kill_recorded(pid, start)
            done.append(f"killed {label} pid {pid}" + ("" if ok else " (still alive!)"))
    for link in reversed(state.data.get("links", [])):
        if link_exists(link):
            delete_link(link)
            done.append(f"deleted link {link}")
    for cg in reversed(state.data.get("cgroups", [])):
        if Path(cg).exists():
            ok = remove_cgroup_tree(Path(cg))
            done.append(f"removed cgroup {cg}" + ("" if ok else " (busy!)"))
        if Path(cg).parent.name == CGROUP_ROOT_NAME:
            with contextlib.suppress(OSError):
                Path(cg).parent.rmdir()  # shared by all slots: goes once the last one does
    workdir = state.data.get("workdir")
    if workdir and Path(workdir, WORKDIR_MARKER).exists():
        for point in mounts_under(Path(workdir)):
            subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)
            done.append(f"unmounted {point}")
        if not state.data.get("keep_workdir"):
            shutil.rmtree(workdir, ignore_errors=True)
            done.append(f"removed {workdir}")
    state.path.unlink(missing_ok=True)
    state.data = {}
    return done
