"""7. System Verification."""

from __future__ import annotations

import pytest

from maintcheck import assess, assess_services, baseline, probes
from maintcheck.baseline import Declared, Snapshot
from maintcheck.evidence import RecordProperty
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations, Host
from maintcheck.probes.http import Fetched
from maintcheck.probes.routing import Routed
from maintcheck.secret import HttpOptions


@pytest.mark.checklist("7.1")
def test_expected_services_active(facts: Facts, expect: Expectations) -> None:
    """Every expected service is active."""
    assert assess.inactive(facts, expect.services) == []


@pytest.mark.checklist("7.1")
def test_no_failed_units(facts: Facts) -> None:
    """No systemd unit is in the failed state."""
    assert not facts.systemd or facts.failed_units == [], (
        f"{facts.host}: failed units {facts.failed_units}, expected none")


@pytest.mark.checklist("7.1")
@pytest.mark.applies_to("ports")
def test_expected_ports_listening(facts: Facts, expect: Expectations) -> None:
    """Every expected TCP port is listening."""
    missing = sorted(set(expect.ports) - facts.listening_ports)
    assert missing == [], f"{facts.host}: ports {missing} not listening, expected listening"


@pytest.mark.checklist("7.1")
@pytest.mark.applies_to("http")
def test_endpoints_answer_as_declared(target: Host, endpoints: list[Fetched]) -> None:
    """Each declared endpoint answers its status and body again, over verified TLS."""
    assert assess_services.http_endpoints(target.name, endpoints) == []


@pytest.mark.checklist("7.1")
@pytest.mark.applies_to("lb_url")
def test_load_balancer_routes_to_every_backend(target: Host, expect: Expectations,
                                               routed: list[Routed], declared: Declared) -> None:
    """Requests through this load balancer's frontend reach every declared server again, and
    each answers as declared."""
    assert assess_services.lb_routing(target.name, routed, expect, declared.servers) == []


@pytest.mark.checklist("7.1")
def test_units_active_before_are_active_now(target: Host, before: Snapshot, after: Snapshot,
                                            record_property: RecordProperty) -> None:
    """Every unit that was active before the window is active again."""
    record_property("changed", baseline.changed("units", before, after))
    assert baseline.units_stopped(target.name, before, after) == []


@pytest.mark.checklist("7.1")
def test_listening_ports_as_before(target: Host, before: Snapshot, after: Snapshot,
                                   record_property: RecordProperty) -> None:
    """No port stopped listening, and none appeared, during the window."""
    record_property("changed", baseline.changed("ports", before, after))
    assert baseline.ports_changed(target.name, before, after) == []


@pytest.mark.checklist("7.1")
def test_package_changes_were_declared(target: Host, before: Snapshot, after: Snapshot,
                                       declared: Declared, record_property: RecordProperty) -> None:
    """Every package that changed version was declared by the change (--declare)."""
    record_property("changed", baseline.changed("packages", before, after))
    assert baseline.packages_changed(target.name, before, after, declared) == []


@pytest.mark.checklist("7.1")
@pytest.mark.applies_to("tls")
def test_certificate_changes_were_declared(target: Host, before: Snapshot, after: Snapshot,
                                           declared: Declared,
                                           record_property: RecordProperty) -> None:
    """Every certificate that changed was declared by the change (--declare cert:NAME)."""
    record_property("changed", baseline.changed("certificates", before, after))
    assert baseline.certificates_changed(target.name, before, after, declared) == []


@pytest.mark.checklist("7.1")
@pytest.mark.applies_to("alertmanager_url")
def test_no_new_alerts_firing(target: Host, expect: Expectations, before: Snapshot, after: Snapshot,
                              record_property: RecordProperty) -> None:
    """No alert at or above alert_min_severity fires that did not fire before the window."""
    record_property("changed", baseline.changed("alerts", before, after))
    assert baseline.alerts_new(target.name, before, after, expect.alert_min_severity) == []


@pytest.mark.checklist("7.5")
@pytest.mark.applies_to("dependencies")
def test_integration_points_reachable(facts: Facts, expect: Expectations) -> None:
    """Each declared dependency accepts a TCP connection from this host."""
    unreachable = [d for d in expect.dependencies if not facts.reaches(d)]
    assert unreachable == [], (f"{facts.host}: cannot connect to {unreachable}, expected every "
                               "dependency to accept a TCP connection")


@pytest.mark.checklist("7.6")
def test_cron_active(facts: Facts, expect: Expectations) -> None:
    """cron runs, where the inventory requires it."""
    assert assess.inactive(facts, ["cron"] if expect.cron_required else []) == []


@pytest.mark.checklist("7.6")
@pytest.mark.applies_to("timers")
def test_timers_scheduled(facts: Facts, expect: Expectations) -> None:
    """Declared timers are active with a next elapse time."""
    assert assess.timers_not_scheduled(facts, expect.timers) == []


@pytest.mark.checklist("7.2")
@pytest.mark.applies_to("http")
def test_latency_stable(target: Host, endpoints: list[Fetched],
                        record_property: RecordProperty) -> None:
    """Each endpoint answers within its max_latency_ms after the change."""
    record_property("latency_ms", assess_services.latencies(endpoints))
    assert assess_services.latency(target.name, endpoints) == []


@pytest.mark.checklist("7.2")
@pytest.mark.applies_to("http")
def test_latency_no_worse_than_before(target: Host, expect: Expectations, before: Snapshot,
                                      after: Snapshot) -> None:
    """No endpoint got slower than latency_max_ratio times its pre-window latency (and by at
    least latency_min_increase_ms)."""
    assert baseline.latency_regressed(target.name, before, after, expect.latency_max_ratio,
                                      expect.latency_min_increase_ms) == []


@pytest.mark.checklist("7.3")
@pytest.mark.applies_to("error_rate_query")
def test_error_rate_within_bound(target: Host, expect: Expectations,
                                 http_options: HttpOptions) -> None:
    """The declared error-rate query stays under its threshold."""
    rate = probes.prometheus.query_scalar(expect.prometheus_url, expect.error_rate_query,
                                          **http_options)
    assert rate is not None, f"{target.name}: {expect.error_rate_query!r} returned no value"
    assert rate <= expect.error_rate_max, (
        f"{target.name}: error rate {rate:g}, expected at most {expect.error_rate_max:g}")


@pytest.mark.checklist("7.4")
@pytest.mark.applies_to("journeys")
def test_user_journeys_succeed(target: Host, journey_steps: list[Fetched]) -> None:
    """Every step of each declared synthetic user journey answers as expected."""
    assert assess_services.http_endpoints(target.name, journey_steps) == []


@pytest.mark.checklist("7.4")
@pytest.mark.manual
def test_user_functionality_confirmed() -> None:
    """Has a person confirmed the main user functions work?"""
