"""15. Final Approval."""

from __future__ import annotations

from datetime import datetime

import pytest

from maintcheck.change import Change


@pytest.mark.checklist("15.1")
@pytest.mark.manual
def test_technical_lead_approval() -> None:
    """Has the technical lead approved?"""


@pytest.mark.checklist("15.2")
@pytest.mark.manual
def test_operations_team_sign_off() -> None:
    """Has the operations team signed off?"""


@pytest.mark.checklist("15.3")
@pytest.mark.manual
def test_security_team_approval() -> None:
    """Has the security team approved?"""


@pytest.mark.checklist("15.4")
@pytest.mark.manual
def test_business_stakeholder_approval() -> None:
    """Has the business stakeholder approved?"""


@pytest.mark.checklist("15.5")
@pytest.mark.manual
def test_change_advisory_board_approval() -> None:
    """Has the change advisory board approved?"""


@pytest.mark.checklist("15.6")
def test_window_declared_and_not_over(change: Change, now: datetime) -> None:
    """A window is declared and has not ended yet."""
    assert change.window is not None, "no maintenance window given (--window or maintcheck_window)"
    assert now < change.window.end, (f"the window {change.window} ended already (now "
                                     f"{now:%FT%TZ}), expected it still open")


@pytest.mark.checklist("15.6")
@pytest.mark.manual
def test_maintenance_window_confirmed() -> None:
    """Is the maintenance window confirmed with everyone involved?"""
