"""13. Application Updates, before the window (with --maintenance-type application)."""

from __future__ import annotations

import pytest


@pytest.mark.checklist("13.2")
@pytest.mark.manual
def test_database_migration_scripts_validated() -> None:
    """Are the database migration scripts validated?"""


@pytest.mark.checklist("13.3")
@pytest.mark.manual
def test_configuration_changes_reviewed() -> None:
    """Are the configuration changes reviewed?"""
