"""11. Incident Response."""

from __future__ import annotations

import pytest


@pytest.mark.checklist("11.1")
@pytest.mark.manual
def test_incident_response_team_contacts() -> None:
    """Are the incident response team's contacts at hand?"""


@pytest.mark.checklist("11.2")
@pytest.mark.manual
def test_escalation_procedures_documented() -> None:
    """Are the escalation procedures documented?"""


@pytest.mark.checklist("11.3")
@pytest.mark.manual
def test_emergency_communication_channels() -> None:
    """Are the emergency communication channels open?"""


@pytest.mark.checklist("11.4")
@pytest.mark.manual
def test_vendor_support_contacts_available() -> None:
    """Are the vendor support contacts available?"""


@pytest.mark.checklist("11.5")
@pytest.mark.manual
def test_recovery_time_objectives_defined() -> None:
    """Are the recovery time objectives defined?"""


@pytest.mark.checklist("11.6")
@pytest.mark.manual
def test_business_continuity_plan_ready() -> None:
    """Is the business continuity plan ready to activate?"""
