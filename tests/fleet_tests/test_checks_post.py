"""Every automated post-maintenance item, run as a user runs it, on the real fleet.

As in a real window, checks/pre runs first for the same change (its evidence and baseline are
what 8.1 and the before/after comparisons read).  Healthy, every automated item passes; each
fault fails exactly its item on exactly its host, and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fleet import Fleet, faults
from fleet import inventory as fleet_inventory
from fleet import roles as r
from fleet_tests.checkfaults import (
    all_servers_down,
    create_file,
    delete_firewall_rule,
    errors_served,
    installed_version,
    lb_server_state,
    lb_server_weight_zero,
    maintenance_mode_everywhere,
    maintenance_page,
    newest,
    out_of_rotation,
    reject_tcp,
    rewrite,
    slow_connects,
)
from fleet_tests.checkrun import (
    ALL_TYPES,
    Allow,
    Case,
    Expect,
    Seen,
    assert_fails_exactly,
    not_applicable,
    run_checks,
    run_healthy,
    unhealthy,
)

pytestmark = pytest.mark.fleet
PHASE = "post"
CHANGE = "CHG-POST"
BACKUPS = fleet_inventory.BACKUP["glob"]


@pytest.fixture(scope="module")
def reports(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The evidence folder of the change, with its pre run (evidence and baseline) in it."""
    reports = tmp_path_factory.mktemp("post-evidence")
    run_healthy("pre", fleet.inventory_path, reports, change=CHANGE)
    return reports


@pytest.fixture(scope="module")
def healthy(fleet: Fleet, reports: Path) -> Seen:
    """One run of checks/post on the healthy fleet: what every fault is compared with."""
    return run_checks(PHASE, fleet.inventory_path, reports, change=CHANGE)


@pytest.fixture(scope="module")
def healthy_without_types(fleet: Fleet, reports: Path) -> Seen:
    """checks/post on the healthy fleet with no --maintenance-type: sections 12-14 N/A."""
    return run_checks(PHASE, fleet.inventory_path, reports, change=CHANGE, types="")


def test_healthy_fleet_passes_every_automated_post_item(healthy: Seen) -> None:
    assert unhealthy(healthy, PHASE) == [], healthy.explain()
    assert not_applicable(healthy) == {}
    assert healthy.document["unreachable"] == {}


def flag_off(text: str) -> str:
    return text.replace('"new_checkout": true', '"new_checkout": false')


def host_points_elsewhere(name: str, wrong: str) -> Callable[[str], str]:
    """/etc/hosts with ``name``'s line pointing at ``wrong``."""
    def change(text: str) -> str:
        return "\n".join(f"{wrong}\t{line.split(maxsplit=1)[1]}"
                         if name in line.split()[1:] else line for line in text.split("\n"))
    return change


def test_missing_pre_evidence_fails_8_1(fleet: Fleet, healthy: Seen, reports: Path) -> None:
    """The pre run's evidence is not in the change's folder (its baseline stays)."""
    pre = reports / CHANGE / "pre.json"
    aside = pre.with_suffix(".json.aside")
    pre.rename(aside)
    try:
        seen = run_checks(PHASE, fleet.inventory_path, reports, change=CHANGE)
    finally:
        aside.rename(pre)
    assert_fails_exactly(healthy, seen, [Expect("8.1", "-", ("pre.json", "expected"))])


# Every backend out of rotation: the lb's frontend answers 503 to everything users ask.
LB_SERVES_NOTHING = (
    Expect("7.1", "lb-01", ("received none", "served by no declared server", "HTTP 503")),
    Expect("7.2", "lb-01", ("no latency measured", "HTTP 503", "no latency now")),
    Expect("7.4", "lb-01", ("HTTP 503", "expected 200")),
    Expect("8.3", "lb-01", ("missing now",)),
)

CASES = [
    Case("7.1-service-stopped",
         lambda fl: faults.stop_unit(fl, "web-01", r.APP_WORKER_UNIT),
         (Expect("7.1", "web-01", (r.APP_WORKER_UNIT, "inactive", "expected active")),)),
    Case("7.1-unit-failed",
         lambda fl: faults.fail_unit(fl, "web-02", r.APP_WORKER_UNIT),
         (Expect("7.1", "web-02", (r.APP_WORKER_UNIT, "failed", "expected none")),)),
    Case("8.3-13.6-web-server-stopped",
         lambda fl: out_of_rotation(faults.stop_unit(fl, "web-01", "nginx"), "web-01"),
         (Expect("8.3", "web-01", ("measured before the window are missing now",)),
          Expect("13.6", "web-01", ("answered before the window and not now",)),
          # the unit and its port, and what users see: its endpoints and certificate refuse
          Expect("7.1", "web-01", ("nginx", "inactive", "expected active", "[443]",
                                   "health: connection refused, expected HTTP 200",
                                   "could not read it now", "connection refused")),
          # a refused request is the service failing, and never a latency sample
          Expect("7.2", "web-01", ("health: no latency measured", "connection refused",
                                   "no latency now")),
          Expect("13.4", "web-01", ("/flags.json: connection refused",)),
          # the lb declares web-01:443 as a dependency, and has it out of rotation
          Expect("7.5", "lb-01", ("443", "cannot connect", "expected")),
          Expect("7.1", "lb-01", ("web/web-01", "received none")),
          Expect("14.5", "lb-01", ("web/web-01", "DOWN", "expected UP")))),
    Case("7.2-slow-answers",
         lambda fl: out_of_rotation(slow_connects(fl, "web-02"), "web-02"),
         (Expect("7.2", "web-02", ("ms, expected at most 2000 ms", "before the window")),
          # HAProxy's checks time out: it took web-02 out, and users get none of it
          Expect("7.1", "lb-01", ("web/web-02", "received none")),
          Expect("14.5", "lb-01", ("web/web-02", "DOWN", "expected UP")))),
    Case("7.4-every-backend-down",
         lambda fl: all_servers_down(fl, ["web-01", "web-02"]),
         (Expect("7.4", "lb-01", ("HTTP 503", "expected 200")),
          *LB_SERVES_NOTHING, Expect("13.6", "lb-01", ("not now",)),
          Expect("14.5", "lb-01", ("web/web-01: MAINT", "web/web-02: MAINT")))),
    # The load balancer by its running state: a server out of rotation gets no traffic,
    # whatever its health checks say (2.6, 7.1 and 14.5 judge HAProxy as it runs).
    *[Case(f"7.1-lb-server-{state}", lambda fl, state=state: lb_server_state(fl, "web-01", state),
           (Expect("7.1", "lb-01", ("web/web-01", "received none", "expected a share")),
            Expect("14.5", "lb-01", ("web/web-01", shown, "expected UP, READY"))))
      for state, shown in (("drain", "DRAIN"), ("maint", "MAINT"))],
    Case("7.1-lb-server-weight-0", lambda fl: lb_server_weight_zero(fl, "web-02"),
         (Expect("7.1", "lb-01", ("web/web-02", "received none", "expected a share")),
          Expect("14.5", "lb-01", ("web/web-02", "weight 0", "expected UP, READY")))),
    # A backend serving a maintenance page with HTTP 200, still in rotation: web-02's own
    # endpoints fail, and so do the lb's requests that its round robin hands to web-02.
    Case("7.1-maintenance-page-200",
         lambda fl: maintenance_page(fl, "web-02"),
         (Expect("7.1", "web-02", ("web-02 app page", "body lacks", "maintcheck demo app")),
          Expect("7.1", "lb-01", ("served by web/web-02", "body lacks")),
          Expect("7.2", "web-02", ("web-02 app page: no latency measured", "no latency now")),
          Expect("8.3", "web-02", ("missing now",)),
          Expect("13.6", "web-02", ("not now",))),
         maybe=tuple(Allow("lb-01", "failed", item=i, says=("back soon",))
                     for i in ("7.2", "7.4")) + tuple(
             Allow("lb-01", "failed", item=i, says=("missing now",) if i == "8.3"
                   else ("not now",)) for i in ("8.3", "13.6"))),
    # Every backend in maintenance mode (503): post has nothing to pass, with or without
    # --maintenance-type.
    *[Case(f"7.1-maintenance-mode-everywhere{suffix}",
           lambda fl: maintenance_mode_everywhere(fl, r.MAINTENANCE_SCRIPT),
           (*[e for w in ("web-01", "web-02") for e in (
               Expect("7.1", w, ("HTTP 503, expected 200", "down for maintenance")),
               Expect("7.2", w, ("no latency measured", "HTTP 503", "no latency now")),
               Expect("8.3", w, ("missing now",)))],
            *LB_SERVES_NOTHING,
            *([e for w in ("web-01", "web-02") for e in (
                Expect("13.4", w, ("HTTP 503",)), Expect("13.6", w, ("not now",)))]
              + [Expect("13.6", "lb-01", ("not now",)),
                 Expect("14.5", "lb-01", ("web/web-01: DOWN", "web/web-02: DOWN"))]
              if types else [])),
           types=types)
      for suffix, types in (("", ALL_TYPES), ("-no-type", ""))],
    # The change declared a new certificate for web-02, and the one served does not verify
    # against the CA: declared or not, users' TLS fails.
    Case("7.1-untrusted-certificate-declared",
         lambda fl: out_of_rotation(faults.serve_untrusted_cert(
             fl, "web-02", fl.workdir / "untrusted-ca"), "web-02"),
         (Expect("7.1", "web-02", ("TLS verification failed", "expected HTTP 200")),
          Expect("7.2", "web-02", ("no latency measured", "TLS verification failed",
                                   "no latency now")),
          Expect("8.3", "web-02", ("missing now",)),
          Expect("13.6", "web-02", ("not now",)),
          Expect("13.4", "web-02", ("TLS verification failed",)),
          Expect("7.1", "lb-01", ("web/web-02", "received none")),
          Expect("14.5", "lb-01", ("web/web-02", "DOWN", "expected UP"))),
         extra=("--declare", "cert:web-02.fleet.test")),
    Case("7.5-database-unreachable",
         lambda fl: reject_tcp(fl, "web-01", port=5432, destination=fl.host("db-01").ip),
         (Expect("7.5", "web-01", ("5432", "cannot connect", "expected")),)),
    Case("7.6-timer-stopped",
         lambda fl: faults.stop_unit(fl, "db-01", "backup.timer"),
         (Expect("7.6", "db-01", ("backup.timer", "inactive, expected active")),
          # the timer was active before the window
          Expect("7.1", "db-01", ("backup.timer", "active before the window")))),
    Case("9.1-status-file-left",
         lambda fl: faults.leave_status_file(fl, "web-02"),
         (Expect("9.1", "web-02", (r.STATUS_FILE, "still present, expected removed")),)),
    Case("9.2-temporary-file-left",
         lambda fl: create_file(fl, "lb-01", "/var/tmp/maintenance/migration.tmp", "x\n"),
         (Expect("9.2", "lb-01", ("/var/tmp/maintenance", "expected empty or absent")),)),
    Case("9.3-old-backup-left",
         lambda fl: create_file(fl, "db-02", f"{r.BACKUP_DIR}/backup-20200101T000000Z.tar.gz",
                                copy_of=newest(fl, "db-02", BACKUPS), hours_old=10 * 24),
         (Expect("9.3", "db-02", ("older than 7 days", "backup-20200101T000000Z",
                                  "expected none")),)),
    Case("9.4-silence-left", faults.leave_silence,
         (Expect("9.4", "mon-01", ("silence", "HighLoad", "still active", "expected none")),)),
    Case("13.1-package-below-version",
         lambda fl: installed_version(fl, "web-02", "nginx", "1.18.0-6"),
         (Expect("13.1", "web-02", ("nginx: 1.18.0-6 installed, expected >= 1.22.1",)),
          # the version changed during the window and the change did not declare it
          Expect("7.1", "web-02", ("nginx", "not declared")))),
    Case("13.4-feature-flag-off",
         lambda fl: rewrite(fl, "web-01", r.FLAGS_PATH, flag_off),
         (Expect("13.4", "web-01", ("new_checkout", "False", "expected True")),)),
    Case("14.4-dns-wrong",
         lambda fl: rewrite(fl, "mon-01", "/etc/hosts",
                            host_points_elsewhere("db-01.fleet.test", "192.0.2.99")),
         (Expect("14.4", "mon-01", ("db-01.fleet.test", "192.0.2.99", "expected")),)),
    Case("14.5-lb-config-lacks-server",
         lambda fl: rewrite(fl, "lb-01", "/etc/haproxy/haproxy.cfg",
                            lambda text: "\n".join(line for line in text.split("\n")
                                                   if "server web-02 " not in line)),
         (Expect("14.5", "lb-01", ("web-02", "lacks server", "expected")),)),
    Case("14.6-firewall-rule-gone",
         lambda fl: delete_firewall_rule(fl, "db-02", "tcp dport 22 accept"),
         (Expect("14.6", "db-02", ("tcp dport 22 accept", "expected")),)),
    # Last: the error rate stays high for the query's range (a minute) after the errors.
    Case("7.3-error-rate-high",
         lambda fl: errors_served(fl, fleet_inventory.monitoring_vars(fl)[
             "maintcheck_error_rate_query"], above=0.01),
         (Expect("7.3", "mon-01", ("error rate", "expected at most 0.01")),)),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fault_fails_exactly_its_post_item(fleet: Fleet, healthy: Seen,
                                           healthy_without_types: Seen, reports: Path,
                                           case: Case) -> None:
    with case.inject(fleet):
        seen = run_checks(PHASE, fleet.inventory_path, reports, change=CHANGE,
                          window=case.window, limit=case.limit, types=case.types,
                          extra=case.extra)
    assert_fails_exactly(healthy if case.types else healthy_without_types, seen, case.expect,
                         limited=bool(case.limit), maybe=case.maybe)
    assert seen.document["verdict"] == "FAILED"
