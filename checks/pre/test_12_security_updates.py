"""12. Security Updates, before the window (with --maintenance-type security)."""

from __future__ import annotations

import pytest

from maintcheck.evidence import RecordProperty
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations


@pytest.mark.checklist("12.1")
def test_security_patches_identified(facts: Facts, expect: Expectations,
                                     record_property: RecordProperty) -> None:
    """The pending security updates are listed from package lists fresh enough to trust."""
    record_property("pending_security_updates", facts.security_updates)
    age_days = facts.package_lists_age_days
    assert age_days <= expect.package_lists_max_age_days, (
        f"{facts.host}: package lists are {age_days:.1f} days old, expected at most "
        f"{expect.package_lists_max_age_days}; refresh them before trusting this list")


@pytest.mark.checklist("12.2")
@pytest.mark.manual
def test_vulnerability_assessment_completed() -> None:
    """Is the vulnerability assessment completed?"""


@pytest.mark.checklist("12.3")
@pytest.mark.manual
def test_patches_tested_in_staging() -> None:
    """Were the patches tested in the staging environment?"""
