"""2. System Health Verification."""

from __future__ import annotations

import pytest

from maintcheck import assess, assess_services, probes
from maintcheck.baseline import Declared
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations, Host
from maintcheck.probes.prometheus import Target
from maintcheck.runner import Runner
from maintcheck.secret import HttpOptions


@pytest.mark.checklist("2.2")
def test_capacity_within_thresholds(facts: Facts, expect: Expectations) -> None:
    """Disk, inodes, memory and load are within the host's thresholds."""
    assert assess.capacity(facts, expect) == []


@pytest.mark.checklist("2.4")
@pytest.mark.applies_to("backup_unit")
def test_backup_unit_last_run_succeeded(facts: Facts, expect: Expectations) -> None:
    """The backup unit is loaded and its last run ended in success."""
    assert assess.backup_run_failed(facts, expect.backup_unit) == []


@pytest.mark.checklist("2.1")
@pytest.mark.applies_to("alertmanager_url")
def test_no_critical_alerts_firing(target: Host, expect: Expectations,
                                   http_options: HttpOptions) -> None:
    """Alertmanager has no active, unsilenced alert at or above the configured severity."""
    alerts = probes.prometheus.firing_alerts(expect.alertmanager_url, **http_options)
    assert assess_services.alerts_firing(target.name, alerts, expect.alert_min_severity) == []


@pytest.mark.checklist("2.3")
@pytest.mark.applies_to("postgres_role", "primary")
def test_primary_streams_to_every_replica(target: Host, expect: Expectations,
                                          runner: Runner) -> None:
    """pg_stat_replication on the primary shows each expected replica streaming."""
    seen = probes.postgres.replication(runner, timeout=expect.command_timeout)
    assert assess_services.replicas_streaming(target.name, seen, expect.postgres_replicas) == []


@pytest.mark.checklist("2.3")
@pytest.mark.applies_to("postgres_role", "replica")
def test_replica_replays_within_lag(target: Host, expect: Expectations, runner: Runner) -> None:
    """The replica is in recovery, receiving WAL, and replays within the lag bound."""
    seen = probes.postgres.replica_status(runner, timeout=expect.command_timeout)
    assert assess_services.replica_lag(target.name, seen,
                                       expect.replication_max_lag_seconds) == []


@pytest.mark.checklist("2.5")
@pytest.mark.applies_to("prometheus_url")
def test_monitoring_scrapes_every_host(target: Host, prometheus_targets: list[Target],
                                       inventory_addresses: dict[str, str]) -> None:
    """Prometheus answers and has an up target for every selected inventory host."""
    assert assess_services.targets_down(target.name, prometheus_targets,
                                        inventory_addresses) == []


@pytest.mark.checklist("2.6")
@pytest.mark.applies_to("haproxy_backends")
def test_load_balancer_backends_up(target: Host, expect: Expectations, declared: Declared,
                                   http_options: HttpOptions) -> None:
    """HAProxy's stats show every declared backend server UP, READY and weighted."""
    servers = probes.haproxy.stats(expect.haproxy_stats_url, timeout=http_options["timeout"],
                                   on_retry=http_options["on_retry"],
                                   credentials=http_options["credentials"])
    assert assess_services.backends_up(target.name, servers, expect.haproxy_backends,
                                       declared.servers) == []
