"""2. System Health Verification."""

from __future__ import annotations

import pytest


@pytest.mark.checklist("2.2")
def test_capacity_within_thresholds(facts, expect, assess) -> None:
    """Disk, inodes, memory and load are within the host's thresholds."""
    assert assess.capacity(facts, expect) == []


@pytest.mark.checklist("2.4")
@pytest.mark.applies_to("backup_unit")
def test_backup_unit_last_run_succeeded(facts, expect) -> None:
    """The backup unit is loaded and its last run ended in success."""
    unit = facts.unit(expect.backup_unit)
    assert unit.exists, f"{facts.host}: backup unit {unit.name} not found"
    assert (unit.result, unit.active_state) in {("success", "inactive"), ("success", "active")}, (
        f"{facts.host}: {unit.name} is {unit.active_state} with result {unit.result}, "
        "expected its last run to have succeeded")
