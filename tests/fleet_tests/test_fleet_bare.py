"""Bare hosts (sshd only, for the benchmark): reachable with host keys checked, gone after down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet.bare import BareFleet, bare_spec
from fleet.host import bounded_wait
from fleet.state import RunState

from maintcheck import inventory
from maintcheck.redact import Redactor
from maintcheck.targets import Targets

pytestmark = pytest.mark.fleet


@pytest.fixture(scope="module")
def bare(fleet_available: None) -> Iterator[BareFleet]:
    fleet = BareFleet(bare_spec(3), verbose=False)
    try:
        yield fleet.up()
    finally:
        slot, workdir = fleet.slot, fleet.workdir
        fleet.down()
        assert slot is not None and not RunState(slot).exists
        assert not Path(workdir).exists()


def test_bare_hosts_answer_ssh_with_their_own_keys(bare: BareFleet) -> None:
    seen = {h.name: h.ssh("uname -n; cat /proc/1/comm; id -nG maint").stdout.split()
            for h in bare.hosts.values()}
    assert seen == {name: [name, "sshd", "maint", "maintenance"] for name in bare.hosts}
    keys = {h.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout
            for h in bare.hosts.values()}
    assert len(keys) == 3, "every bare host has a host key of its own"


def test_a_run_leaves_no_ssh_connection_behind(bare: BareFleet) -> None:
    targets = Targets(inventory.load(bare.inventory_path), None, Redactor())
    targets.facts.gather(targets.hosts)
    assert targets.facts.unreachable == {}
    sockets = sorted(targets.control_dir.iterdir())
    assert len(sockets) == 3  # one ControlMaster per host, kept for the run's later commands
    targets.close()
    assert not targets.control_dir.exists()
    bounded_wait("the masters to exit", lambda: not masters_of(targets.control_dir), timeout=10)


def masters_of(control_dir: Path) -> list[Path]:
    """Processes whose command line names ``control_dir`` (ssh masters show their socket)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(control_dir).encode() in (proc / "cmdline").read_bytes():
                found.append(proc)
        except OSError:
            continue
    return found
