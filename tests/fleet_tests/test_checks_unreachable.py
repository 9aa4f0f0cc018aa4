"""A host that cannot be reached: every check of it is an ERROR with the one cause, never a pass
or a fail, and the run still ends in bounded time."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet import Fleet, faults
from fleet_tests.checkfaults import together
from fleet_tests.checkrun import assert_unreachable, run_checks

pytestmark = pytest.mark.fleet
# connect_timeout is 5 s in the fleet's inventory: a connect, one retry, and the run's own cost.
BOUND_SECONDS = 60


def test_unreachable_hosts_are_errors_with_one_cause(fleet: Fleet, tmp_path: Path) -> None:
    """web-02's link is down (nothing answers); db-02's sshd hangs (TCP accepted, no greeting)."""
    with together(fleet, "unreachable", lambda: faults.link_down(fleet, "web-02"),
                  lambda: faults.hang_host(fleet, "db-02")):
        seen = run_checks("pre", fleet.inventory_path, tmp_path, change="CHG-UNREACHABLE")
    assert seen.seconds < BOUND_SECONDS, f"the run took {seen.seconds:.0f} s"
    assert sorted(seen.document["unreachable"]) == ["db-02", "web-02"]
    assert_unreachable(seen, "web-02")
    assert_unreachable(seen, "db-02")
