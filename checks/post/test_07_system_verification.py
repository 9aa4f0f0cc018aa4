"""7. System Verification (host-level items; service-level ones are in test_07_services.py)."""

from __future__ import annotations

import pytest


@pytest.mark.checklist("7.1")
def test_expected_services_active(facts, expect, assess) -> None:
    """Every expected service is active."""
    assert assess.inactive(facts, expect.services) == []


@pytest.mark.checklist("7.1")
def test_no_failed_units(facts) -> None:
    """No systemd unit is in the failed state."""
    assert not facts.systemd or facts.failed_units == [], (
        f"{facts.host}: failed units {facts.failed_units}")


@pytest.mark.checklist("7.1")
@pytest.mark.applies_to("ports")
def test_expected_ports_listening(facts, expect) -> None:
    """Every expected TCP port is listening."""
    missing = sorted(set(expect.ports) - facts.listening_ports)
    assert missing == [], f"{facts.host}: ports {missing} not listening"


@pytest.mark.checklist("7.5")
@pytest.mark.applies_to("dependencies")
def test_integration_points_reachable(facts, expect) -> None:
    """Each declared dependency accepts a TCP connection from this host."""
    unreachable = [d for d in expect.dependencies if not facts.reaches(d)]
    assert unreachable == [], f"{facts.host}: cannot connect to {unreachable}"


@pytest.mark.checklist("7.6")
def test_cron_active(facts, expect, assess) -> None:
    """cron runs, where the inventory requires it."""
    assert not expect.cron_required or assess.inactive(facts, ["cron"]) == []


@pytest.mark.checklist("7.6")
@pytest.mark.applies_to("timers")
def test_timers_scheduled(facts, expect, assess) -> None:
    """Declared timers are active with a next elapse time."""
    assert assess.timers_not_scheduled(facts, expect.timers) == []
