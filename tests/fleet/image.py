"""Build and cache the fleet's base root filesystem: ``ensure_image() -> Path``.

The image is keyed by the sha256 of its recipe, built in a temporary directory and renamed into
place, so a crashed build never leaves a half image under the final name.  Daemon packages are
installed in a second stage inside fresh pid, mount and network namespaces with a
``policy-rc.d`` that forbids starts: no maintainer script can start a daemon on the real
machine or its network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .state import RUN_DIR

CACHE_DIR = Path("/var/cache/maintcheck-fleet")
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"

# Stage 1: debootstrap.  Stage 2: apt-get install inside namespaces, scripts cannot start daemons.
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "procps", "iproute2", "ca-certificates")
PACKAGES = (
    "openssh-server", "openssh-client", "cron", "rsyslog", "sudo", "nftables", "curl", "openssl",
    "python3", "netcat-openbsd", "iputils-ping", "less", "logrotate", "molly-guard",
    "nginx", "haproxy", "postgresql-15", "postgresql-client-15",
    "prometheus", "prometheus-alertmanager", "prometheus-node-exporter",
)
# Units enabled by packages that only some roles want; roles enable their own.
DISABLED_UNITS = (
    "nginx.service", "haproxy.service", "postgresql.service", "prometheus.service",
    "prometheus-alertmanager.service", "prometheus-node-exporter.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
    "logrotate.timer", "man-db.timer",
)
POLICY_RC_D = "#!/bin/sh\n# maintcheck-fleet: no daemon starts while the image is built\nexit 101\n"

STAGE2 = """\
set -eu
mount -t proc proc "$ROOT/proc"
mount -t tmpfs tmpfs "$ROOT/run"
mount -t tmpfs tmpfs "$ROOT/tmp"
chmod 1777 "$ROOT/tmp"
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 $PACKAGES
"""


def recipe() -> dict[str, object]:
    """Everything that determines the image's content."""
    return {
        "suite": SUITE, "mirror": MIRROR, "base": BASE_PACKAGES, "packages": PACKAGES,
        "disabled": DISABLED_UNITS, "policy": POLICY_RC_D, "stage2": STAGE2, "version": 1,
    }


def recipe_digest() -> str:
    """sha256 of the recipe, first 12 hex digits: ``recipe_digest() == 'a1b2c3d4e5f6'``."""
    blob = json.dumps(recipe(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def image_path(cache_dir: Path = CACHE_DIR) -> Path:
    """Where the image for the current recipe lives, built or not."""
    return cache_dir / f"base-{recipe_digest()}"


def _run(cmd: list[str], log: Path, **kw: object) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]


def build(dest: Path, log: Path) -> None:
    """Build the image into ``dest`` (which must not exist)."""
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
          SUITE, str(dest), MIRROR], log)
    policy = dest / "usr/sbin/policy-rc.d"
    policy.write_text(POLICY_RC_D)
    policy.chmod(0o755)
    resolv = dest / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["chroot", str(dest), "apt-get", "update", "-q"], log, env=env)
    _run(["chroot", str(dest), "apt-get", "install", "-y", "-q", "--download-only",
          "--no-install-recommends", *PACKAGES], log, env=env)
    # -n: maintainer scripts see no network; -p -f: whatever they start dies with the namespace.
    _run(["unshare", "-f", "-p", "-m", "-n", "--", "sh", "-c", STAGE2], log,
         env={**env, "ROOT": str(dest), "PACKAGES": " ".join(PACKAGES)})
    _run(["systemctl", f"--root={dest}", "disable", *DISABLED_UNITS], log)
    _run(["chroot", str(dest), "apt-get", "clean"], log)
    policy.unlink()
    resolv.unlink()
    resolv.write_text("")
    for key in (dest / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # each host gets its own keys
    (dest / "etc/machine-id").write_text("")
    (dest / ".maintcheck-recipe.json").write_text(json.dumps(recipe(), indent=1, sort_keys=True))


def images_in_use() -> set[str]:
    """Images that a recorded fleet (running, or left by a crash) still boots from."""
    used = set()
    for state in RUN_DIR.glob("slot-*.json"):
        with contextlib.suppress(OSError, ValueError):
            used.add(json.loads(state.read_text()).get("image", ""))
    return used


def clean_old(cache_dir: Path = CACHE_DIR) -> list[Path]:
    """Remove images and failed builds of other recipes, unless in use; return what went."""
    keep = {str(image_path(cache_dir)), *images_in_use()}
    removed = []
    for path in cache_dir.glob("*base-*"):
        if str(path) in keep or str(path).removesuffix(".log") in keep:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def ensure_image(cache_dir: Path = CACHE_DIR, *, quiet: bool = False) -> Path:
    """The cached image for the current recipe, built first when missing."""
    final = image_path(cache_dir)
    if (final / ".maintcheck-recipe.json").is_file():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock(cache_dir):
        if (final / ".maintcheck-recipe.json").is_file():
            return final  # a concurrent run built it while we waited
        clean_old(cache_dir)
        _build_atomically(final, cache_dir, quiet)
    return final


@contextlib.contextmanager
def _build_lock(cache_dir: Path, timeout: float = 1800) -> Iterator[None]:
    """One build at a time per cache: others wait (bounded), then find the image built."""
    with (cache_dir / ".build.lock").open("w") as f:
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout) + 1):
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another image build held {cache_dir} for {timeout} s")
                time.sleep(1)
        yield


def _build_atomically(final: Path, cache_dir: Path, quiet: bool) -> None:
    tmp = cache_dir / f".build-{final.name}-{os.getpid()}"
    log = cache_dir / f"{final.name}.log"
    log.write_text("")
    if not quiet:
        print(f"fleet: building base image {final} (log: {log})", file=sys.stderr)
    try:
        build(tmp, log)
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(ensure_image())
