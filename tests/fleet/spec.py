"""The declarative description of a fleet: which hosts, which roles, which addresses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DOMAIN = "fleet.test"
APP_NAME = f"app.{DOMAIN}"
# Slot N uses 10.213.(7+N).0/24 and bridge mcfleetN; no other software on the machine uses these.
SUBNET_BASE = (10, 213, 7)
TEST_SLOTS = range(8)
DEMO_SLOT = 8
ROLE_NAMES = ("web", "lb", "db_primary", "db_replica", "monitoring")


@dataclass(frozen=True)
class HostSpec:
    """One host: ``HostSpec("web-01", ("web",))``."""

    name: str
    roles: tuple[str, ...]

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"


@dataclass(frozen=True)
class FleetSpec:
    """A fleet: its hosts, in address order."""

    hosts: tuple[HostSpec, ...]
    data_mount_mib: int = 64

    def problems(self) -> list[str]:
        """Everything wrong with the description, empty when it is usable."""
        out = []
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            out.append(f"duplicate host names in {names}")
        for h in self.hosts:
            if not h.name.replace("-", "").isalnum() or len(h.name) > 10:
                out.append(f"{h.name}: host names are alphanumeric with '-', at most 10 chars")
            out.extend(f"{h.name}: unknown role {r!r}" for r in h.roles if r not in ROLE_NAMES)
        if len(self.hosts) > 200:
            out.append("at most 200 hosts per fleet")
        return out

    def with_role(self, role: str) -> list[HostSpec]:
        return [h for h in self.hosts if role in h.roles]


DEMO = FleetSpec(
    hosts=(
        HostSpec("web-01", ("web",)),
        HostSpec("web-02", ("web",)),
        HostSpec("lb-01", ("lb",)),
        HostSpec("db-01", ("db_primary",)),
        HostSpec("db-02", ("db_replica",)),
        HostSpec("mon-01", ("monitoring",)),
    )
)


@dataclass(frozen=True)
class Addressing:
    """Network names and addresses of one slot: ``Addressing(0).host_ip(0) == '10.213.7.11'``."""

    slot: int

    @property
    def network(self) -> ipaddress.IPv4Network:
        a, b, c = SUBNET_BASE
        return ipaddress.IPv4Network(f"{a}.{b}.{c + self.slot}.0/24")

    @property
    def gateway(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def bridge(self) -> str:
        return f"mcfleet{self.slot}"

    def host_ip(self, index: int) -> str:
        return str(self.network.network_address + 11 + index)

    def mac(self, ip: str) -> str:
        """A fixed, locally administered MAC for ``ip``: a rebooted host keeps its ARP entries."""
        a, b, c, d = (int(x) for x in ip.split("."))
        return f"02:6d:{a:02x}:{b:02x}:{c:02x}:{d:02x}"

    def veth(self, name: str) -> str:
        return f"mcf{self.slot}-{name}"[:15]
