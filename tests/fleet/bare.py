"""Bare hosts: nothing but sshd, in their own namespaces, for fleets of tens to 200 hosts.

>>> with BareFleet(bare_spec(200)) as fleet:
...     fleet.host("b-199").ssh("true")

A systemd host costs ~20 MB, a second of boot CPU and several inotify instances of the real
machine's 128 per user; 200 of them would starve every other fleet on the machine.  A bare host
is ``boot.sh`` with ``INIT=sshd``: the same namespaces, overlay root, bridge, slot and cleanup as
any host, but PID 1 is ``sshd -D``.  Every bare host shares one prepared layer (the common
role's files: the maintenance account, sudoers, rollback and maintenance scripts, a backup
set with its sha256 sidecar) under its own upper layer, which holds only its host key.  No
systemd runs, so units and timers cannot be checked on a bare host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import pki
from . import roles as r
from .harness import Fleet
from .host import Host, HostError, Preboot, bounded_wait
from .inventory import BACKUP, _dump, demo_window
from .observe import tcp_greeting
from .spec import FleetSpec, HostSpec

LAYER_HOST = HostSpec("layer", ())


def bare_spec(n: int) -> FleetSpec:
    """``n`` bare hosts named b-000 ... b-199: ``bare_spec(3).hosts[2].name == 'b-002'``."""
    return FleetSpec(hosts=tuple(HostSpec(f"b-{i:03d}", ()) for i in range(n)), data_mount_mib=8)


class BareHost(Host):
    """A host whose PID 1 is sshd, over the fleet's shared layer and the base image."""

    init = "sshd"

    def __init__(self, *args: Any, layer: Path, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.layer = layer

    def _layers(self) -> list[str]:
        lower, upper, work, merged = super()._layers()
        return [f"{self.layer}:{lower}", upper, work, merged]

    def write_host_key(self, key: pki.SshKey) -> None:
        """Put this host's own key in its upper layer (the only file that differs per host)."""
        ssh = self.upper / "etc" / "ssh"
        ssh.mkdir(parents=True, exist_ok=True)
        private = ssh / "ssh_host_ed25519_key"
        private.write_bytes(key.private)
        private.chmod(0o600)
        (ssh / "ssh_host_ed25519_key.pub").write_text(key.public + "\n")

    def wait_booted(self, timeout: float = 90) -> str:
        """Wait until sshd greets on port 22; return ``running`` as systemd hosts do."""

        def greets() -> bool:
            if not self.is_alive:
                raise HostError(f"{self.name}: PID 1 died: {self.console_tail()}")
            try:
                return (tcp_greeting(self.ip, 22, timeout=2) or b"").startswith(b"SSH-")
            except OSError:
                return False

        bounded_wait(f"{self.name}'s sshd", greets, timeout=timeout, interval=0.1)
        return "running"


class BareFleet(Fleet):
    """A fleet of :class:`BareHost`: same slot, bridge, state file and teardown as any fleet."""

    @property
    def layer(self) -> Path:
        return self.workdir / "layer" / "upper"

    def _boot(self, base: Path) -> None:
        self._lay_out(base)
        self._say("preparing the shared layer")
        self._prepare_layer(base)
        for h in self.hosts.values():
            assert isinstance(h, BareHost)
            h.write_host_key(self.host_keys[h.name])
        self._say(f"booting {len(self.hosts)} bare hosts")
        self._launch()
        self._parallel(lambda h: h.wait_booted(timeout=120))
        self._parallel(self._check_ssh)
        write_bare_inventory(self)

    def _new_host(self, index: int, hs: HostSpec, base: Path) -> Host:
        assert self.state is not None
        return BareHost(hs, self.addr.host_ip(index), self.workdir / "hosts" / hs.name, base,
                        self.state, data_mib=self.spec.data_mount_mib, layer=self.layer)

    def _prepare_layer(self, base: Path) -> None:
        """Apply the common role's files once, to the layer every bare host boots over."""
        assert self.state is not None
        self.host_keys[LAYER_HOST.name] = pki.ssh_keypair("root@layer")  # replaced per host
        try:
            template = Host(LAYER_HOST, "", self.layer.parent, base, self.state)
            plan = Preboot()
            r.prepare_common(plan, template, self)
            plan.file(r.MAINTENANCE_SCRIPT, r.MAINTENANCE_SH, 0o755)
            plan.run("/usr/local/sbin/fleet-backup.sh")  # one backup set, shared by every host
            template.preboot(plan)
        finally:
            del self.host_keys[LAYER_HOST.name]


def bare_vars(fleet: Fleet) -> dict[str, Any]:
    """What a bare host meets: every host-level item of the pre phase that needs no systemd."""
    return {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(fleet.ssh_key_path),
        "ansible_ssh_common_args": (
            f"-o UserKnownHostsFile={fleet.known_hosts_path} -o StrictHostKeyChecking=yes"),
        "maintcheck_known_hosts": str(fleet.known_hosts_path),
        "maintcheck_connect_timeout": 10,
        "maintcheck_change": f"BENCH-{len(fleet.hosts)}",
        "maintcheck_window": demo_window(),
        "maintcheck_lead": "Bench Lead",
        "maintcheck_technical_contact": "Ops on call <ops@fleet.test>",
        "maintcheck_business_contact": "Service owner <owner@fleet.test>",
        "maintcheck_emergency_contact": "NOC <noc@fleet.test>",
        # bare hosts share this machine's kernel, and so its load, which a benchmark drives up
        "maintcheck_load_max_per_cpu": 100.0,
        "maintcheck_filesystems": ["/", r.DATA_MOUNT],
        "maintcheck_cron_required": False,
        "maintcheck_packages": {"openssh-server": "1:9.2p1", "sudo": "1.9.13"},
        "maintcheck_backups": [BACKUP],
        "maintcheck_maintenance_user": "maint",
        "maintcheck_maintenance_group": "maintenance",
        "maintcheck_sudoers_file": "/etc/sudoers.d/maintenance",
        "maintcheck_command_guard": "molly-guard",
        "maintcheck_rollback_scripts": ["/usr/local/sbin/rollback.sh"],
        "maintcheck_maintenance_mode": r.MAINTENANCE_SCRIPT,
        "maintcheck_status_file": r.STATUS_FILE,
        "maintcheck_temp_paths": ["/var/tmp/maintenance"],
    }


def write_bare_inventory(fleet: Fleet) -> Path:
    """hosts.yml (group ``bare``) and group_vars/all.yml; return the hosts.yml path."""
    root = fleet.inventory_path.parent
    hosts = {h.name: {"ansible_host": h.ip} for h in fleet.hosts.values()}
    _dump(fleet.inventory_path, {"all": {"children": {"bare": {"hosts": hosts}}}},
          f"{len(hosts)} bare hosts (sshd only), {fleet.addr.network}")
    _dump(root / "group_vars" / "all.yml", bare_vars(fleet), "Every bare host.")
    return fleet.inventory_path
