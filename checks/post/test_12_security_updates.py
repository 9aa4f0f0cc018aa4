"""12. Security Updates, after the window (with --maintenance-type security)."""

from __future__ import annotations

import pytest


@pytest.mark.checklist("12.4")
@pytest.mark.manual
def test_security_scan_after_patching() -> None:
    """Was a security scan run after patching, with no new findings?"""


@pytest.mark.checklist("12.5")
@pytest.mark.manual
def test_compliance_verified() -> None:
    """Is compliance verified after the change?"""


@pytest.mark.checklist("12.6")
@pytest.mark.manual
def test_security_team_notified() -> None:
    """Has the security team been notified?"""
