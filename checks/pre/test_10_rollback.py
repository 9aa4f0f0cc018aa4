"""10. Rollback Procedures."""

from __future__ import annotations

import pytest

from maintcheck import assess
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations


@pytest.mark.checklist("10.1")
@pytest.mark.manual
def test_rollback_criteria_defined() -> None:
    """Are the rollback criteria defined?"""


@pytest.mark.checklist("10.2")
@pytest.mark.applies_to("rollback_scripts")
def test_rollback_scripts_ready(facts: Facts, expect: Expectations) -> None:
    """Rollback scripts exist, are executable and pass ``sh -n``."""
    assert assess.scripts_invalid(facts, expect.rollback_scripts) == []


@pytest.mark.checklist("10.2")
@pytest.mark.manual
def test_rollback_scripts_tested() -> None:
    """Have the rollback scripts been run in a test environment?"""


@pytest.mark.checklist("10.3")
@pytest.mark.applies_to("postgres_role")
def test_database_primary_has_recent_dump(facts: Facts, expect: Expectations) -> None:
    """A database primary has a recent dump or base backup (backup sets with database: true)."""
    dumps = [b for b in expect.backups if b.get("database")]
    assert expect.postgres_role != "primary" or dumps, (
        f"{facts.host}: primary declares no backup set with database: true")
    assert assess.backups(facts, dumps) == []


@pytest.mark.checklist("10.4")
@pytest.mark.manual
def test_service_rollback_order_documented() -> None:
    """Is the order in which services roll back documented?"""


@pytest.mark.checklist("10.5")
@pytest.mark.manual
def test_rollback_communication_plan() -> None:
    """Is there a communication plan for a rollback?"""


@pytest.mark.checklist("10.6")
@pytest.mark.manual
def test_post_rollback_validation_steps() -> None:
    """Are the post-rollback validation steps written down?"""
