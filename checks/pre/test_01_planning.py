"""1. Planning & Preparation."""

from __future__ import annotations

import pytest

from maintcheck import assess
from maintcheck.change import Change
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations, Host


@pytest.mark.checklist("1.1")
@pytest.mark.manual
def test_maintenance_window_scheduled_and_approved() -> None:
    """Is the maintenance window scheduled and approved?"""


@pytest.mark.checklist("1.2")
@pytest.mark.manual
def test_change_request_submitted_and_approved() -> None:
    """Is the change request submitted and approved?"""


@pytest.mark.checklist("1.3")
@pytest.mark.manual
def test_stakeholders_notified_of_window() -> None:
    """Have the stakeholders been notified of the maintenance window?"""


@pytest.mark.checklist("1.4")
@pytest.mark.manual
def test_rollback_plan_documented_and_tested() -> None:
    """Is the rollback plan documented and tested?"""


@pytest.mark.checklist("1.5")
def test_emergency_contacts_are_named(change: Change) -> None:
    """The sign-off block names the technical, business and emergency contacts."""
    missing = [n for n in ("technical_contact", "business_contact", "emergency_contact")
               if not getattr(change, n)]
    assert missing == [], (f"contacts not given: {missing}, expected each named "
                           "(maintcheck_<name> or --<name>)")


@pytest.mark.checklist("1.5")
@pytest.mark.manual
def test_emergency_contacts_available() -> None:
    """Are the emergency contacts reachable and available during the window?"""


@pytest.mark.checklist("1.6")
@pytest.mark.applies_to("backups")
def test_newest_backups_are_recent_and_intact(target: Host, facts: Facts,
                                              expect: Expectations) -> None:
    """The newest file of each backup set is recent, big enough and matches its sha256."""
    assert assess.backups(facts, expect.backups) == [], target.name
