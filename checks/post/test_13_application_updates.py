"""13. Application Updates, after the window (with --maintenance-type application)."""

from __future__ import annotations

import pytest

from maintcheck import assess, assess_services, baseline, probes
from maintcheck.baseline import Snapshot
from maintcheck.evidence import RecordProperty
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations, Host
from maintcheck.secret import HttpOptions


@pytest.mark.checklist("13.1")
@pytest.mark.applies_to("packages")
def test_application_at_tested_version(facts: Facts, expect: Expectations) -> None:
    """The application packages run at least the versions that were tested."""
    assert assess.versions_below(facts, expect.packages) == []


@pytest.mark.checklist("13.4")
@pytest.mark.applies_to("feature_flags")
def test_feature_flags_configured(target: Host, expect: Expectations,
                                  http_options: HttpOptions) -> None:
    """Each feature flag endpoint reports the expected values."""
    observed = [(flag, probes.features.flags(flag["url"], **http_options))
                for flag in expect.feature_flags]
    assert assess_services.flags_mismatched(target.name, observed) == []


@pytest.mark.checklist("13.5")
@pytest.mark.manual
def test_user_acceptance_testing_completed() -> None:
    """Is user acceptance testing completed?"""


@pytest.mark.checklist("13.6")
@pytest.mark.applies_to("http")
def test_application_performance_impact_assessed(target: Host, before: Snapshot, after: Snapshot,
                                                 record_property: RecordProperty) -> None:
    """A pre-versus-post table of the application's endpoint latency, with deltas."""
    table = [row for row in baseline.impact_table(before, after)
             if row["metric"].startswith("latency")]
    record_property("impact", table)
    missing = baseline.missing_now(table)
    assert missing == [], (f"{target.name}: endpoints answered before the window and not now: "
                           f"{missing}")
