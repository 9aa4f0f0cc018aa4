"""13. Application Updates, after the window (with --maintenance-type application)."""

from __future__ import annotations

import pytest


@pytest.mark.checklist("13.1")
@pytest.mark.applies_to("packages")
def test_application_at_tested_version(facts, expect, assess) -> None:
    """The application packages run at least the versions that were tested."""
    assert assess.versions_below(facts, expect.packages) == []


@pytest.mark.checklist("13.5")
@pytest.mark.manual
def test_user_acceptance_testing_completed() -> None:
    """Is user acceptance testing completed?"""
