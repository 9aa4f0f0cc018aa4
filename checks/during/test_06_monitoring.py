"""6. Monitoring & Alerts (host-level items; service-level ones are in test_06_services.py)."""

from __future__ import annotations

import pytest

from maintcheck import assess, assess_services, probes
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations, Host
from maintcheck.probes.prometheus import Target
from maintcheck.secret import HttpOptions


@pytest.mark.checklist("6.3")
@pytest.mark.applies_to("log_shipper")
def test_log_shipper_active_with_recent_entries(facts: Facts, expect: Expectations) -> None:
    """The log shipper runs and the newest log entry is recent."""
    assert assess.inactive(facts, [expect.log_shipper]) == []
    age = facts.newest_log_age_seconds
    assert age is not None and age <= expect.log_max_age_minutes * 60, (
        f"{facts.host}: newest log entry is {age if age is not None else 'missing'} s old, "
        f"expected at most {expect.log_max_age_minutes} min")


@pytest.mark.checklist("6.4")
@pytest.mark.applies_to("security_units")
def test_security_monitoring_units_active(facts: Facts, expect: Expectations) -> None:
    """Security monitoring units (auditd, fail2ban, ...) are active."""
    assert assess.inactive(facts, expect.security_units) == []


@pytest.mark.checklist("6.5")
@pytest.mark.manual
def test_performance_dashboards_updated() -> None:
    """Have the performance dashboards been updated for the change?"""


@pytest.mark.checklist("6.6")
def test_capacity_utilisation_within_thresholds(facts: Facts, expect: Expectations) -> None:
    """Disk, inodes, memory and load are within thresholds during the window."""
    assert assess.capacity(facts, expect) == []


@pytest.mark.checklist("6.1")
@pytest.mark.applies_to("prometheus_url")
def test_monitoring_restored_for_every_host(target: Host, prometheus_targets: list[Target],
                                            inventory_addresses: dict[str, str]) -> None:
    """Prometheus has an up target again for every selected inventory host."""
    assert assess_services.targets_down(target.name, prometheus_targets,
                                        inventory_addresses) == []


@pytest.mark.checklist("6.2")
@pytest.mark.applies_to("alert_rules")
def test_alert_rules_loaded_and_healthy(target: Host, expect: Expectations,
                                        http_options: HttpOptions) -> None:
    """The expected alert rules are loaded in Prometheus and evaluate without error."""
    rules = probes.prometheus.rules(expect.prometheus_url, **http_options)
    assert assess_services.rules_unhealthy(target.name, rules, expect.alert_rules) == []
