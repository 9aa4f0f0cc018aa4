"""Per-host cgroups, one in every hierarchy, so that each host's systemd has a subtree of its own.

A host boots in a new cgroup namespace.  Its root in each hierarchy is the cgroup its launcher
sat in at that moment, so the launcher first moves into ``<our cgroup>/maintcheck-fleet/slot-N/
<host>`` of *every* mounted hierarchy (v1 controllers, ``name=systemd``, the v2 one).  Without
that, hosts would share the real machine's root cgroups and remove each other's unit cgroups.
"""

from __future__ import annotations

from pathlib import Path

from .state import CGROUP_ROOT_NAME


def mode() -> str:
    """``unified`` when the machine runs cgroup v2 only, else ``legacy``."""
    return "unified" if _is_cgroup2("/sys/fs/cgroup") else "legacy"


def _is_cgroup2(path: str) -> bool:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if left.split()[4] == path:
            return right.split(" ", 1)[0] == "cgroup2"
    return False


def _our_paths() -> dict[str, str]:
    """``{hierarchy key: our cgroup path}``; the key is the controller list, or "" for v2."""
    out = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


def hierarchies() -> list[Path]:
    """Directory of our own cgroup in every mounted hierarchy."""
    ours = _our_paths()
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        root, point = fields[3], fields[4]
        fstype, _source, rest = right.split(" ", 2)
        if fstype == "cgroup2":
            key = ""
        elif fstype == "cgroup":
            opts = rest.split(" ")[-1].split(",")
            key = next((k for k in ours if k and set(k.split(",")) <= set(opts)), "?")
        else:
            continue
        if key not in ours or key in found:
            continue
        rel = Path(ours[key]).relative_to(root) if ours[key].startswith(root) else None
        if rel is not None:
            found[key] = Path(point) / rel
    return list(found.values())


def slot_dirs(slot: int) -> list[Path]:
    """``maintcheck-fleet/slot-N`` below our cgroup, in every hierarchy."""
    return [h / CGROUP_ROOT_NAME / f"slot-{slot}" for h in hierarchies()]


def create(path: Path) -> None:
    """mkdir a cgroup and its parents; cpuset ones inherit cpus and mems from their parent."""
    missing = []
    p = path
    for _ in range(8):
        if p.exists():
            break
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (d / knob).exists():
                (d / knob).write_text((d.parent / knob).read_text())


def enter(paths: list[Path], pid: int) -> None:
    """Move ``pid`` into each cgroup of ``paths``."""
    for p in paths:
        (p / "cgroup.procs").write_text(str(pid))
