"""14. Infrastructure Changes, before the window (with --maintenance-type infrastructure)."""

from __future__ import annotations

import pytest


@pytest.mark.checklist("14.1")
@pytest.mark.manual
def test_infrastructure_changes_documented() -> None:
    """Are the infrastructure changes documented?"""


@pytest.mark.checklist("14.2")
@pytest.mark.manual
def test_capacity_planning_completed() -> None:
    """Is capacity planning completed?"""


@pytest.mark.checklist("14.3")
@pytest.mark.manual
def test_network_changes_coordinated() -> None:
    """Are the network changes coordinated?"""
