"""Bare hosts (sshd only, for the benchmark): reachable with host keys checked, gone after down."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet.bare import BareFleet, bare_spec
from fleet.state import RunState

pytestmark = pytest.mark.fleet


def test_bare_hosts_answer_ssh_with_their_own_keys_and_leave_nothing(fleet_available: None
                                                                    ) -> None:
    fleet = BareFleet(bare_spec(3), verbose=False)
    try:
        fleet.up()
        slot, workdir = fleet.slot, fleet.workdir
        seen = {h.name: h.ssh("uname -n; cat /proc/1/comm; id -nG maint").stdout.split()
                for h in fleet.hosts.values()}
        assert seen == {name: [name, "sshd", "maint", "maintenance"] for name in fleet.hosts}
        keys = {h.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout
                for h in fleet.hosts.values()}
        assert len(keys) == 3, "every bare host has a host key of its own"
        assert fleet.inventory_path.is_file()
    finally:
        fleet.down()
    assert slot is not None and not RunState(slot).exists
    assert not Path(workdir).exists()
