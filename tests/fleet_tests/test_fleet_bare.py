"""Bare hosts (sshd only, for the benchmark): reachable with host keys checked, gone after down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fleet import faults
from fleet.bare import BareFleet, bare_spec
from fleet.host import bounded_wait
from fleet.state import RunState
from fleet_tests.checkrun import run_checks

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


def test_a_slow_host_holds_up_its_own_checks_only(bare: BareFleet, tmp_path: Path) -> None:
    """While one host is still being probed, every check of the hosts that answered runs;
    the slow host's checks come after, with the outcomes a healthy host gets."""
    slow = faults.slow_link(bare, "b-002")  # its probe's answer takes seconds to arrive
    try:
        seen = run_checks("pre", bare.inventory_path, tmp_path, change="BARE-ORDER", types="")
    finally:
        slow.revert()
    order = [case.get("name", "") for case in
             ElementTree.parse(tmp_path / "BARE-ORDER" / "pre.xml").iter("testcase")]
    hosts = [name.rpartition("[")[2].rstrip("]") for name in order]
    first_slow = hosts.index("b-002")
    assert {"b-000", "b-001"} & set(hosts[first_slow:]) == set(), order
    outcomes = {host: sorted((c.item, c.test, c.outcome) for c in seen.cells.values()
                             if c.host == host) for host in bare.hosts}
    assert outcomes["b-002"] == outcomes["b-000"] == outcomes["b-001"], seen.explain()
    slow_outcomes = {c.outcome for c in seen.automated() if c.host == "b-002"}
    assert "passed" in slow_outcomes and not {"error", "failed"} & slow_outcomes
