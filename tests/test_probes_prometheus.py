"""The Prometheus and Alertmanager probe against real ones, with real firing alerts."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

import pytest
import requests
from probe_services import Monitoring, black_hole, free_port, monitoring, nginx, wait_for

from maintcheck.errors import CommandTimeout, HostUnreachable, MissingData
from maintcheck.probes import prometheus as prom


def silence_the_warning(alertmanager_url: str) -> None:
    now = dt.datetime.now(dt.UTC)
    requests.post(f"{alertmanager_url}/api/v2/silences", timeout=5, json={
        "matchers": [{"name": "alertname", "value": "SilencedWarning", "isRegex": False,
                      "isEqual": True}],
        "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(hours=1)).isoformat(),
        "createdBy": "maint-window", "comment": "CHG-1234 maintenance",
    }).raise_for_status()


@pytest.fixture(scope="module")
def mon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitoring]:
    with monitoring(tmp_path_factory.mktemp("monitoring"), silence_the_warning) as m:
        # both alerts must have reached Alertmanager, or "silenced is left out" proves nothing
        wait_for("alerts in alertmanager", lambda: {
            a["labels"]["alertname"] for a in requests.get(
                f"{m.alertmanager_url}/api/v2/alerts", timeout=2).json()
        } >= {"AlwaysCritical", "SilencedWarning"})
        # BrokenRule errs only once both targets have been scraped
        wait_for("scrapes and rule evaluation", lambda: {
            r.name: r.health for r in prom.rules(m.prometheus_url, timeout=2)
        }["BrokenRule"] == "err" and all(
            t.health != "unknown" for t in prom.targets(m.prometheus_url, timeout=2)))
        yield m


def test_firing_alerts_leave_out_silenced_ones(mon: Monitoring) -> None:
    alerts = {a.name: a for a in prom.firing_alerts(mon.alertmanager_url, timeout=5)}
    assert set(alerts) == {"AlwaysCritical"}
    critical = alerts["AlwaysCritical"]
    assert (critical.severity, critical.state, critical.summary) == (
        "critical", "active", "always firing")
    assert critical.starts_at is not None and critical.starts_at.tzinfo is not None


def test_prometheus_own_alerts_know_no_silences(mon: Monitoring) -> None:
    alerts = prom.firing_alerts(mon.prometheus_url, timeout=5, api="prometheus")
    assert {(a.name, a.state) for a in alerts} == {
        ("AlwaysCritical", "firing"), ("SilencedWarning", "firing")}


def test_severity_order() -> None:
    ranks = [prom.severity_rank(s) for s in ("none", "info", "warning", "critical", "page")]
    assert ranks == sorted(ranks) and len(set(ranks)) == 5
    assert prom.severity_rank("WARN") == prom.severity_rank("warning")
    # an alert nobody can rank is counted at every threshold, never ignored
    assert prom.severity_rank("sev1") > prom.severity_rank("page")
    assert prom.severity_rank("") > prom.severity_rank("page")
    assert prom.severity_rank("p1", order=("p3", "p2", "p1")) == 2


def test_targets_with_health_and_error(mon: Monitoring) -> None:
    found = {t.job: t for t in prom.targets(mon.prometheus_url, timeout=5)}
    assert found["prometheus"].health == "up"
    dead = found["dead"]
    assert (dead.instance, dead.health) == (mon.dead_target, "down")
    assert "refused" in dead.last_error


def test_rules_with_type_state_and_health(mon: Monitoring) -> None:
    found = {r.name: r for r in prom.rules(mon.prometheus_url, timeout=5)}
    assert (found["AlwaysCritical"].type, found["AlwaysCritical"].state,
            found["AlwaysCritical"].health) == ("alerting", "firing", "ok")
    assert found["NeverFires"].state == "inactive"
    assert (found["job:up:sum"].type, found["job:up:sum"].state) == ("recording", None)
    assert found["BrokenRule"].health == "err"
    assert "many-to-many" in found["BrokenRule"].last_error
    assert {r.group for r in found.values()} == {"probe-tests"}


def test_silences(mon: Monitoring) -> None:
    [silence] = prom.silences(mon.alertmanager_url, timeout=5)
    assert (silence.state, silence.created_by, silence.comment) == (
        "active", "maint-window", "CHG-1234 maintenance")
    assert silence.matchers == ('alertname="SilencedWarning"',)
    assert silence.starts_at is not None and silence.ends_at is not None
    assert silence.ends_at > silence.starts_at


@pytest.mark.parametrize(("promql", "value"), [
    ("vector(0.25)", 0.25), ("scalar(vector(2))", 2.0), ('up{job="nope"}', None),
])
def test_query_scalar(mon: Monitoring, promql: str, value: float | None) -> None:
    assert prom.query_scalar(mon.prometheus_url, promql, timeout=5) == value


def test_query_scalar_nan_is_a_number(mon: Monitoring) -> None:
    assert math.isnan(prom.query_scalar(mon.prometheus_url, "0/0", timeout=5) or 0.0)


@pytest.mark.parametrize(("promql", "why"), [
    ("up", "gives 2 series"), ("sum(", "HTTP 400"),
])
def test_query_that_is_not_one_number_is_error(mon: Monitoring, promql: str, why: str) -> None:
    with pytest.raises(MissingData, match=why):
        prom.query_scalar(mon.prometheus_url, promql, timeout=5)


def test_prometheus_down_is_error_never_no_alerts() -> None:
    port = free_port()
    with pytest.raises(HostUnreachable, match=f"127.0.0.1:{port}/api/v2/alerts"):
        prom.firing_alerts(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(HostUnreachable, match="connection refused"):
        prom.targets(f"http://127.0.0.1:{port}", timeout=2)


def test_a_silent_api_is_a_timeout() -> None:
    with black_hole() as port, pytest.raises(CommandTimeout, match="within 0.5s"):
        prom.rules(f"http://127.0.0.1:{port}", timeout=0.5)


def test_an_answer_that_is_not_the_api_is_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    with nginx(tmp_path_factory.mktemp("not-prometheus")) as web, \
            pytest.raises(MissingData, match="not JSON"):
        prom.silences(f"http://127.0.0.1:{web.plain_port}", timeout=5)
