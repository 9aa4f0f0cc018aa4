"""8. Documentation & Reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from maintcheck import baseline
from maintcheck.baseline import Snapshot
from maintcheck.evidence import RecordProperty
from maintcheck.inventory import Host


@pytest.mark.checklist("8.1")
def test_pre_maintenance_report_exists(pre_evidence: Path) -> None:
    """The pre-maintenance evidence of this change was generated (reports/<change>/pre.json)."""
    assert pre_evidence.exists(), (f"no pre-maintenance evidence at {pre_evidence}, expected "
                                   "the pre run of this change to have written it")


@pytest.mark.checklist("8.2")
@pytest.mark.manual
def test_issues_and_resolutions_documented() -> None:
    """Are the issues met and their resolutions documented?"""


@pytest.mark.checklist("8.4")
@pytest.mark.manual
def test_lessons_learned_captured() -> None:
    """Have the lessons learned been captured?"""


@pytest.mark.checklist("8.5")
@pytest.mark.manual
def test_change_documentation_updated() -> None:
    """Is the change documentation updated?"""


@pytest.mark.checklist("8.6")
@pytest.mark.manual
def test_stakeholders_notified_of_completion() -> None:
    """Have the stakeholders been notified of completion?"""


@pytest.mark.checklist("8.3")
def test_performance_impact_assessed(target: Host, before: Snapshot, after: Snapshot,
                                     record_property: RecordProperty) -> None:
    """A pre-versus-post table of host metrics and endpoint latency, with deltas."""
    table = baseline.impact_table(before, after)
    record_property("impact", table)
    missing = baseline.missing_now(table)
    assert missing == [], (f"{target.name}: metrics measured before the window are missing now: "
                           f"{missing}")
