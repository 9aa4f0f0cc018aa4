"""The fleet's network: one bridge in the root namespace, one veth pair per host.

A host's network namespace is the anonymous one of its PID 1, so it vanishes with the host,
and the veth pair with it.  Hosts get no default route: their traffic stays on the bridge.
"""

from __future__ import annotations

import subprocess

from .spec import Addressing
from .state import RunState, delete_link, link_exists


class NetworkError(RuntimeError):
    """An ``ip`` command failed."""


def _ip(*args: str, netns_pid: int | None = None) -> None:
    cmd = ["ip", *args]
    if netns_pid is not None:
        cmd = ["nsenter", "-t", str(netns_pid), "-n", "--", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if r.returncode:
        raise NetworkError(f"`{' '.join(cmd)}` failed: {r.stderr.strip()}")


def create_bridge(addr: Addressing, state: RunState) -> None:
    """Create the slot's bridge with the gateway address, replacing a stale one."""
    state.record("links", addr.bridge)
    delete_link(addr.bridge)
    # A fixed address: a bridge otherwise takes its lowest port's, which changes as hosts come
    # and go, and the hosts' ARP entries for the gateway would go stale.
    _ip("link", "add", addr.bridge, "address", addr.mac(addr.gateway), "type", "bridge")
    _ip("addr", "add", f"{addr.gateway}/{addr.network.prefixlen}", "dev", addr.bridge)
    _ip("link", "set", addr.bridge, "up")


def attach_host(addr: Addressing, state: RunState, name: str, ip: str, pid1: int) -> str:
    """Give the namespace of ``pid1`` an ``eth0`` with ``ip`` on the bridge; return the veth."""
    veth = addr.veth(name)
    state.record("links", veth)
    delete_link(veth)
    _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", addr.mac(ip),
        "netns", str(pid1))
    _ip("link", "set", veth, "master", addr.bridge)
    _ip("link", "set", veth, "up")
    _ip("link", "set", "lo", "up", netns_pid=pid1)
    _ip("addr", "add", f"{ip}/{addr.network.prefixlen}", "dev", "eth0", netns_pid=pid1)
    _ip("link", "set", "eth0", "up", netns_pid=pid1)
    return veth


def set_link(veth: str, up: bool) -> None:
    """Take a host's link down or up from the root namespace side."""
    if link_exists(veth):
        _ip("link", "set", veth, "up" if up else "down")
